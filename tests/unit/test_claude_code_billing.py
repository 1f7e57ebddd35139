"""Claude Code, exactly as billed: hand-worked costs for one-hour cache writes, web searches,
the long-context tier at and just above its threshold, a call streaming across midnight
(on the day, and at the prices, of its request), and interleaved streaming snapshots of
several messages whatever the ledger batch size and wherever a scan stops.

Prices, USD per million tokens (Mtok) unless said otherwise, as genai-prices has them
(each test checks the ones it uses against genai-prices' own data and full computation):

claude-sonnet-4-5        base     above 200,000 input tokens (input + cache read + write)
  input                  3.00     6.00
  output                15.00    22.50
  cache read             0.30     0.60
  cache write, 5 min     3.75     7.50     (1.25x input)
  cache write, 1 hour    6.00    12.00     (2x input)
  web search            10.00 per 1,000 searches = $0.01 a search, any tier

claude-opus-4-6: until 2026-03-12 tiered like sonnet (5 / 10 in, 25 / 37.5 out, 0.5 / 1
cache read, 6.25 / 12.5 write, 10 / 20 1h write); from 2026-03-13 one flat price
(5 in, 25 out, 0.5 read, 6.25 write, 10 1h write).

1 USD = 1e9 nanos, so N tokens at $P/Mtok cost N x P x 1000 nanos.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from teamcost.capture.logs import base as importers
from teamcost.capture.logs.claude_code import import_claude_code
from teamcost.compat.genai_prices import TieredPrices, find_provider_model
from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.pricing import GENAI_PRICES_SOURCE, Pricer, reference_price_nanos

SONNET = "claude-sonnet-4-5-20250929"
OPUS_46 = "claude-opus-4-6"
DAY = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def genai_price(model: str, key: str, when: datetime, above: bool = False) -> Decimal:
    """genai-prices' price ``key`` for ``model`` at ``when`` (the long-context tier's when
    ``above``)."""
    _, info = find_provider_model(model, "anthropic")
    price = getattr(info.get_prices(when), key)
    if isinstance(price, TieredPrices):
        assert [t.start for t in price.tiers] == [200_000]
        return price.tiers[0].price if above else price.base
    assert isinstance(price, Decimal)
    return price


def test_the_prices_worked_with_are_genai_prices() -> None:
    for above, want in ((False, ("3", "15", "0.3", "3.75", "6")),
                        (True, ("6", "22.5", "0.6", "7.5", "12"))):
        got = tuple(genai_price(SONNET, k, DAY, above) for k in (
            "input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok",
            "cache_write_1h_mtok"))
        assert got == tuple(Decimal(w) for w in want)
    assert genai_price(SONNET, "web_searches_kcount", DAY) == Decimal(10)
    before, after = datetime(2026, 3, 12, 23, 59, tzinfo=UTC), datetime(2026, 3, 13, tzinfo=UTC)
    assert [genai_price(OPUS_46, k, before, True) for k in (
        "input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")] == [
        Decimal(10), Decimal("37.5"), Decimal(1), Decimal("12.5")]
    assert [genai_price(OPUS_46, k, after) for k in (
        "input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")] == [
        Decimal(5), Decimal(25), Decimal("0.5"), Decimal("6.25")]


# -- transcripts in Claude Code's format --

def usage(inp: int, out: int, *, read: int = 0, w5m: int = 0, w1h: int = 0,
          searches: int = 0) -> dict[str, Any]:
    """A Messages API usage object as Claude Code logs it."""
    return {"input_tokens": inp, "cache_creation_input_tokens": w5m + w1h,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": w5m, "ephemeral_1h_input_tokens": w1h},
            "output_tokens": out, "service_tier": "standard",
            "server_tool_use": {"web_search_requests": searches, "web_fetch_requests": 0}}


def line(msg: str, req: str, ts: datetime, u: dict[str, Any], stop: str | None = "end_turn",
         model: str = SONNET) -> str:
    return json.dumps({
        "parentUuid": None, "isSidechain": False, "userType": "external",
        "cwd": "/home/ana/src/shop", "sessionId": "0b1c2d3e-sess", "version": "2.0.14",
        "gitBranch": "main", "type": "assistant", "requestId": req, "uuid": f"u-{msg}-{ts:%S}",
        "timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": {"id": msg, "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": "..."}], "stop_reason": stop,
                    "stop_sequence": None, "usage": u}})


USER = json.dumps({"type": "user", "sessionId": "0b1c2d3e-sess", "cwd": "/home/ana/src/shop",
                   "timestamp": "2026-11-20T09:59:59.000Z",
                   "message": {"role": "user", "content": "go"}})


def import_lines(tmp_path: Path, lines: list[str], name: str = "s") -> dict[str, CallRecord]:
    root = tmp_path / name / "projects"
    log = root / "-home-ana-src-shop" / "session.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join(lines) + "\n")
    with Ledger(tmp_path / name / "ledger.db") as ledger:
        res = import_claude_code(root, load_config(), ledger=ledger)
        assert (res.skipped, res.pending) == (0, 0), res.bad
        return {c.call_id: c for c in ledger.calls()}


# -- hand-worked costs --

def test_a_one_hour_cache_write_costs_twice_the_input_price(tmp_path: Path,
                                                            teamcost_home: Path) -> None:
    u = usage(100, 200, read=1_000, w5m=1_000, w1h=2_000)
    calls = import_lines(tmp_path, [USER, line("msg_01h", "req_01h", DAY, u)])
    c = calls["cc-req-req_01h"]
    #    100 input           x 3.00 =    300
    #    200 output          x 15   =  3,000
    #  1,000 cache read      x 0.30 =    300
    #  1,000 5-minute write  x 3.75 =  3,750
    #  2,000 1-hour write    x 6.00 = 12,000
    #                          total  19,350 x 1000 = 19_350_000 nanos ($0.01935)
    assert c.cost_nanos == 19_350_000
    # all writes at the 5-minute price would have been 3,000 x 3.75 = 11,250 (-3,750)
    assert (c.cache_write_tokens, c.tags["cache_write_1h_tokens"]) == (3_000, "2000")
    assert (c.input_tokens, c.output_tokens, c.cache_read_tokens) == (100, 200, 1_000)
    assert c.priced and c.price_source == GENAI_PRICES_SOURCE
    assert reference_price_nanos("anthropic", SONNET, 100, 200, 1_000, 3_000, DAY,
                                 cache_write_1h_tokens=2_000) == 19_350_000


def test_a_web_search_is_billed_per_search(tmp_path: Path, teamcost_home: Path) -> None:
    u = usage(50, 400, searches=3)
    calls = import_lines(tmp_path, [line("msg_ws", "req_ws", DAY, u)])
    c = calls["cc-req-req_ws"]
    #     50 input  x 3.00 =   150
    #    400 output x 15   = 6,000
    #                        6,150 x 1000 =  6_150_000 nanos
    #      3 searches x $10 / 1,000       = $0.03 = 30_000_000 nanos
    #                                total  36_150_000 nanos
    assert c.cost_nanos == 36_150_000
    assert c.tags["web_search_requests"] == "3"
    assert "cache_write_1h_tokens" not in c.tags        # no one-hour writes: no tag
    assert reference_price_nanos("anthropic", SONNET, 50, 400, ts=DAY,
                                 web_search_requests=3) == 36_150_000


def test_long_context_at_exactly_the_threshold_and_one_token_above(
        tmp_path: Path, teamcost_home: Path) -> None:
    # input + cache read + cache write = 10,000 + 150,000 + 40,000 = 200,000: not above the
    # threshold, every token at the base price
    at = usage(10_000, 1_000, read=150_000, w5m=30_000, w1h=10_000, searches=2)
    # one more input token: 200,001 is above it, every token of the call at the tier price
    above = usage(10_001, 1_000, read=150_000, w5m=30_000, w1h=10_000, searches=2)
    calls = import_lines(tmp_path, [line("msg_at", "req_at", DAY, at),
                                    line("msg_up", "req_up", DAY, above)])
    #  10,000 input     x 3.00 =  30,000        10,001 input     x 6.00 =  60,006
    # 150,000 read      x 0.30 =  45,000       150,000 read      x 0.60 =  90,000
    #  30,000 5m write  x 3.75 = 112,500        30,000 5m write  x 7.50 = 225,000
    #  10,000 1h write  x 6.00 =  60,000        10,000 1h write  x 12   = 120,000
    #   1,000 output    x 15   =  15,000         1,000 output    x 22.5 =  22,500
    #                            262,500                                 517,506
    # x 1000 = 262_500_000 nanos              x 1000 = 517_506_000 nanos
    # plus 2 searches at $0.01 (not tiered) = 20_000_000 nanos on each
    assert calls["cc-req-req_at"].cost_nanos == 262_500_000 + 20_000_000
    assert calls["cc-req-req_up"].cost_nanos == 517_506_000 + 20_000_000
    for inp, want in ((10_000, 282_500_000), (10_001, 537_506_000)):
        assert reference_price_nanos("anthropic", SONNET, inp, 1_000, 150_000, 40_000, DAY,
                                     cache_write_1h_tokens=10_000,
                                     web_search_requests=2) == want


def test_a_call_streaming_across_midnight_is_on_the_day_and_price_of_its_request(
        tmp_path: Path, teamcost_home: Path) -> None:
    # claude-opus-4-6's long-context tier ended on 2026-03-13. This call was sent at
    # 23:59:58 on the 12th and finished streaming at 00:00:04 on the 13th.
    start = datetime(2026, 3, 12, 23, 59, 58, tzinfo=UTC)
    final = usage(20_000, 2_000, read=180_000, w5m=1_000)
    lines = [line("msg_mid", "req_mid", start, dict(final, output_tokens=3), None, OPUS_46),
             line("msg_mid", "req_mid", start + timedelta(seconds=3),
                  dict(final, output_tokens=900), None, OPUS_46),
             line("msg_mid", "req_mid", start + timedelta(seconds=6), final, "end_turn",
                  OPUS_46)]
    calls = import_lines(tmp_path, lines)
    c = calls["cc-req-req_mid"]
    assert c.ts == start and c.ts.date().isoformat() == "2026-03-12"
    assert c.output_tokens == 2_000                     # the final snapshot's usage
    # 20,000 + 180,000 + 1,000 = 201,000 input tokens: above 200,000, at the 12th's tier
    #  20,000 input    x 10    = 200,000
    # 180,000 read     x 1     = 180,000
    #   1,000 5m write x 12.5  =  12,500
    #   2,000 output   x 37.5  =  75,000
    #                            467,500 x 1000 = 467_500_000 nanos
    assert c.cost_nanos == 467_500_000
    assert reference_price_nanos("anthropic", OPUS_46, 20_000, 2_000, 180_000, 1_000,
                                 start) == 467_500_000
    # the same call sent a few seconds later, on the 13th, is at the new flat price:
    #  20,000 x 5 + 180,000 x 0.5 + 1,000 x 6.25 + 2,000 x 25
    #  = 100,000 + 90,000 + 6,250 + 50,000 = 246,250 x 1000 = 246_250_000 nanos
    later = [ln.replace("msg_mid", "msg_new").replace("req_mid", "req_new").replace("2026-03-12T23:59:58", "2026-03-13T00:00:01")
             for ln in lines]
    c2 = import_lines(tmp_path, later, "later")["cc-req-req_new"]
    assert c2.ts == datetime(2026, 3, 13, 0, 0, 1, tzinfo=UTC)
    assert c2.cost_nanos == 246_250_000
    assert Pricer().price("anthropic", OPUS_46, 20_000, 2_000, 180_000, 1_000,
                          ts=c2.ts).cost_nanos == 246_250_000


# -- interleaved streaming snapshots at every flush position --

T = DAY
A_FINAL = usage(10, 350, read=20_000, w5m=1_000, w1h=2_000, searches=1)
B_FINAL = usage(5, 777, w5m=8_000, searches=2)
INTERLEAVED = [
    USER,
    line("msg_A", "req_A", T, dict(A_FINAL, output_tokens=1, server_tool_use={
        "web_search_requests": 0}), None),
    line("msg_B", "req_B", T + timedelta(seconds=1), dict(B_FINAL, output_tokens=2,
                                                           server_tool_use={}), None),
    line("msg_A", "req_A", T + timedelta(seconds=2), dict(A_FINAL, output_tokens=40,
                                                           server_tool_use={}), None),
    line("msg_B", "req_B", T + timedelta(seconds=3), dict(B_FINAL, output_tokens=30), None),
    line("msg_A", "req_A", T + timedelta(seconds=4), A_FINAL, "tool_use"),
    line("msg_C", "req_C", T + timedelta(seconds=5), usage(100, 12)),
    line("msg_B", "req_B", T + timedelta(seconds=6), B_FINAL, "end_turn"),
    line("msg_A", "req_A", T + timedelta(seconds=4), A_FINAL, "tool_use"),   # logged twice
]
# The rows by hand: each message's final usage, at its first line's time.
#  A: 10 x 3 + 20,000 x 0.3 + 1,000 x 3.75 + 2,000 x 6 + 350 x 15
#     = 30 + 6,000 + 3,750 + 12,000 + 5,250 = 27,030 x 1000 = 27_030_000, + 1 search
#     10_000_000 = 37_030_000 nanos
#  B: 5 x 3 + 8,000 x 3.75 + 777 x 15 = 15 + 30,000 + 11,655 = 41,670 x 1000 = 41_670_000,
#     + 2 searches 20_000_000 = 61_670_000 nanos
#  C: 100 x 3 + 12 x 15 = 480 x 1000 = 480_000 nanos
EXPECTED = {
    "cc-req-req_A": (T, 10, 350, 20_000, 3_000, 37_030_000,
                       {"cache_write_1h_tokens": "2000", "web_search_requests": "1"}),
    "cc-req-req_B": (T + timedelta(seconds=1), 5, 777, 0, 8_000, 61_670_000,
                       {"web_search_requests": "2"}),
    "cc-req-req_C": (T + timedelta(seconds=5), 100, 12, 0, 0, 480_000, {}),
}


def rows(ledger: Ledger) -> dict[str, tuple]:
    out = {}
    for c in ledger.calls():
        extra = {k: v for k, v in c.tags.items()
                 if k not in ("project", "source", "request_id", "repo", "branch", "ticket", "pr")}
        out[c.call_id] = (c.ts, c.input_tokens, c.output_tokens, c.cache_read_tokens,
                          c.cache_write_tokens, c.cost_nanos, extra)
    return out


class Log:
    """One transcript written in steps, each step followed by an import into one ledger."""

    def __init__(self, base: Path) -> None:
        self.root = base / "projects"
        self.file = self.root / "-home-ana-src-shop" / "session.jsonl"
        self.file.parent.mkdir(parents=True)
        self.file.write_bytes(b"")
        self.ledger = Ledger(base / "ledger.db")

    def append_and_scan(self, data: str) -> dict[str, tuple]:
        with self.file.open("a") as fh:
            fh.write(data)
        # written "now" by this process's clock (the kernel stamps files with the real one,
        # which differs under faketime): a live log whose half line waits
        now = time.time()
        os.utime(self.file, (now, now))
        res = import_claude_code(self.root, load_config(), ledger=self.ledger)
        assert res.skipped == 0, res.bad
        got = rows(self.ledger)
        # whenever a scan stops, a call in the ledger is already its final row: never a
        # partial output stored (and later skipped as "already present")
        assert {k: EXPECTED[k] for k in got} == got
        return got


@pytest.mark.parametrize("batch", [1, 2, 3, 2000])
def test_interleaved_snapshots_keep_each_final_usage_at_every_flush_position(
        tmp_path: Path, teamcost_home: Path, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importers, "BATCH", batch)
    text = [ln + "\n" for ln in INTERLEAVED]

    one = Log(tmp_path / "one-pass")
    assert one.append_and_scan("".join(text)) == EXPECTED

    # two scans, split after every line (and once more in the middle of the next line:
    # a half-written line waits for the next scan; and once just before its newline: a
    # whole JSON object is read at once, the newline arriving later reads as blank)
    for k in range(1, len(text)):
        for cut in (0, len(text[k]) // 2, len(text[k]) - 1):
            log = Log(tmp_path / f"split-{k}-{cut}")
            log.append_and_scan("".join(text[:k]) + text[k][:cut])
            assert log.append_and_scan(text[k][cut:] + "".join(text[k + 1:])) == EXPECTED

    # Claude Code writing line by line, the agent scanning after each one
    log = Log(tmp_path / "line-by-line")
    for ln in text:
        got = log.append_and_scan(ln)
    assert got == EXPECTED


def test_the_extras_ride_in_tags_and_bad_counts_are_bad_lines(tmp_path: Path,
                                                             teamcost_home: Path) -> None:
    from teamcost.errors import InvalidValue
    from teamcost.models import CALL_FIELDS
    from teamcost.tracker import Tracker

    # the call record's fields (and so the Firestore document's) are unchanged
    assert "cache_write_1h_tokens" not in CALL_FIELDS and "web_search_requests" not in CALL_FIELDS
    rec = Tracker(load_config()).build(SONNET, 1, 1, provider="anthropic",
                                       cache_write_tokens=10, cache_write_1h_tokens=4,
                                       web_search_requests=2, ts=DAY, tags={"team_tag": "x"})
    assert rec.tags == {"team_tag": "x", "cache_write_1h_tokens": "4", "web_search_requests": "2"}
    # 1 x 3 + 1 x 15 + 6 x 3.75 + 4 x 6 = 3 + 15 + 22.5 + 24 = 64.5 -> 64_500 + 20_000_000
    assert rec.cost_nanos == 20_064_500
    with pytest.raises(InvalidValue, match="web_search_requests"):
        Tracker(load_config()).build(SONNET, 1, 1, web_search_requests=-1)

    root = tmp_path / "projects"
    log = root / "p" / "s.jsonl"
    log.parent.mkdir(parents=True)
    bad_ttl = usage(1, 1, w1h=5)
    bad_ttl["cache_creation"] = [5]
    bad_search = usage(1, 1, searches=1)
    bad_search["server_tool_use"]["web_search_requests"] = "1"
    more = usage(1, 1, w5m=5, w1h=5)
    more["cache_creation_input_tokens"] = 4      # the breakdown says 10: 10 it is
    log.write_text("\n".join([line("m1", "r1", DAY, bad_ttl), line("m2", "r2", DAY, bad_search),
                              line("m3", "r3", DAY, more)]) + "\n")
    with Ledger(tmp_path / "l.db") as ledger:
        res = import_claude_code(root, load_config(), ledger=ledger)
        assert res.bad == [
            f"{log}:1: invalid message.usage.cache_creation: [5]; expected an object of "
            "token counts",
            f"{log}:2: invalid message.usage.server_tool_use.web_search_requests: '1'; "
            "expected a non-negative integer"]
        m3 = ledger.get("cc-req-r3")
        assert m3 is not None and (m3.cache_write_tokens, m3.tags["cache_write_1h_tokens"]) \
            == (10, "5")
