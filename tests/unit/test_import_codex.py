"""`teamcost import codex`: the hand-written rollouts in tests/fixtures/codex, whose every
request is written out below by hand and priced here with per-million prices typed in,
independently of the importer and of genai-prices."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teamcost.capture.logs import codex
from teamcost.capture.logs.codex import Reader, import_codex
from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.tracker import Tracker

from tests.cli_support import one_error_line, run

UTC = timezone.utc
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "codex"
A = "01a1fb1d-da00-7a1b-82c3-d4e5f6a7b8c9"     # gpt-5-codex, then gpt-5.2-codex; resumed
B = "01a1fd8c-6900-7b0b-80b0-b0b0b0b0b0b0"     # a fork of A: A's history copied in first
C = "01a20244-e800-7c0c-80c0-c0c0c0c0c0c0"     # older Codex; archived and a stray copy
FILE_A = FIXTURE / "sessions/2026/11/20" / f"rollout-2026-11-20T22-40-00-{A}.jsonl"
FILE_B = FIXTURE / "sessions/2026/11/21" / f"rollout-2026-11-21T10-00-00-{B}.jsonl"
FILE_C = FIXTURE / "archived_sessions" / f"rollout-2026-11-22T08-00-00-{C}.jsonl"
FILE_C2 = FIXTURE / "sessions/2026/11/22" / f"rollout-2026-11-22T08-00-00-{C}.jsonl"

# USD per million tokens: (input, output, cached input). Checked against genai-prices 0.2.3
# (the pinned price table): gpt-5-codex resolves to gpt-5 at $1.25 / $10 / $0.125;
# gpt-5.2-codex to gpt-5.2 at $1.75 / $14 / $0.175; gpt-5-mini at $0.25 / $2 / $0.025.
PRICES = {"gpt-5-codex": ("1.25", "10", "0.125"),
          "gpt-5.2-codex": ("1.75", "14", "0.175"),
          "gpt-5-mini": ("0.25", "2", "0.025")}

# Every request in the fixture, by hand from the log: (time, session, model, input
# without cached, cached, output (reasoning included), reasoning). Input is the log's
# input_tokens minus cached_input_tokens; the request is last_token_usage, or for A's
# 09:30 event (no last_token_usage) the growth of total_token_usage since 09:01.
CALLS = [
    ("2026-11-20T22:40:30.415", A, "gpt-5-codex", 12000, 0, 800, 300),
    ("2026-11-20T23:10:00.305", A, "gpt-5-codex", 4000, 11000, 1200, 500),
    ("2026-11-21T00:05:00.705", A, "gpt-5.2-codex", 4000, 16000, 2500, 1500),
    ("2026-11-21T00:40:00.105", A, "gpt-5.2-codex", 5000, 4000, 700, 200),
    ("2026-11-21T09:01:00", A, "gpt-5.2-codex", 30000, 0, 400, 0),
    ("2026-11-21T09:30:00", A, "gpt-5.2-codex", 2000, 3000, 600, 100),
    ("2026-11-21T10:01:00.005", B, "gpt-5-mini", 2000, 6000, 300, 100),
    ("2026-11-21T10:05:00", B, "gpt-5-mini", 2000, 8000, 500, 0),
    ("2026-11-22T08:01:00", C, "gpt-5-codex", 4000, 0, 250, 50),
    ("2026-11-22T08:03:00", C, "gpt-5-codex", 2500, 3500, 900, 400),
]


def nanos(model: str, inp: int, cached: int, out: int) -> int:
    p_in, p_out, p_cached = (Decimal(p) for p in PRICES[model])
    usd = (inp * p_in + out * p_out + cached * p_cached) / Decimal(1_000_000)
    return int(usd * 1_000_000_000)     # every price here is a whole number of nanos/token


def expected() -> list[tuple[Any, ...]]:
    return sorted((datetime.fromisoformat(ts).replace(tzinfo=UTC), s, m, i, c, o,
                   nanos(m, i, c, o), {"source": "codex", "project": "api" if s == C else "shop",
                                       # session_meta.git of every fixture session
                                       "repo": "example.com/ana/shop", "branch": "main",
                                       **({"reasoning_tokens": str(r)} if r else {})})
                  for ts, s, m, i, c, o, r in CALLS)


def ledger_rows(home: Path) -> list[tuple[Any, ...]]:
    with Ledger.for_config(load_config(home)) as ledger:
        return sorted((c.ts, c.session_id, c.model, c.input_tokens, c.cache_read_tokens,
                       c.output_tokens, c.cost_nanos, dict(c.tags)) for c in ledger.calls())


def test_every_request_counted_once_per_day_and_model_with_its_cost(teamcost_home: Path) -> None:
    res = import_codex(FIXTURE, load_config())
    # 10 requests; 8 lines seen again: A's 6 requests copied into the fork B, C's 2 in
    # its stray copy. The repeated rate-limit events, the compaction estimate and the
    # context-window fill are not requests at all (nothing billed), so not counted.
    assert (res.files, res.imported, res.already, res.skipped) == (4, 10, 8, 3)
    assert res.bad == [
        f"{FILE_C}:6: not a JSON object",
        f"{FILE_A}:22: not valid JSON (Invalid control character at column 131)",
        f"{FILE_C2}:6: not a JSON object"]
    rows = ledger_rows(teamcost_home)
    assert rows == expected()
    assert Counter(r[0].date().isoformat() for r in rows) == {
        "2026-11-20": 2, "2026-11-21": 6, "2026-11-22": 2}
    assert Counter(r[2] for r in rows) == {"gpt-5-codex": 4, "gpt-5.2-codex": 4, "gpt-5-mini": 2}
    # the sums, by hand: 23.0 + 18.375 + 44.8 + 19.25 + 58.1 + 12.425 + 1.25 + 1.7 + 7.5
    # + 12.5625 thousandths of a dollar
    assert sum(r[6] for r in rows) == res.cost_nanos == 198_962_500
    with Ledger.for_config(load_config()) as ledger:
        calls = list(ledger.calls())
    assert {(c.provider, c.priced, c.cache_write_tokens) for c in calls} == {("openai", True, 0)}
    assert all(len(c.call_id) <= 128 and "/" not in c.call_id
               and not any(ch.isspace() for ch in c.call_id) for c in calls)

    again = import_codex(FIXTURE, load_config())     # every file known and unchanged: read nothing
    assert (again.imported, again.already, again.skipped, again.cost_nanos) == (0, 0, 0, 0)
    assert (again.lines, again.bytes_read) == (0, 0)
    assert ledger_rows(teamcost_home) == expected()


def test_call_ids_do_not_depend_on_the_file_or_the_machine(tmp_path: Path,
                                                          monkeypatch) -> None:
    """The fork's copy of A's history alone gives A's call ids: whichever file is read
    first, the parent's requests count once (and any two ledgers agree on the ids)."""
    def ids(path: Path, home: Path) -> set[str]:
        home.mkdir()
        monkeypatch.setenv("TEAMCOST_HOME", str(home))
        import_codex(path, load_config(home))
        with Ledger.for_config(load_config(home)) as ledger:
            return {c.call_id for c in ledger.calls() if c.session_id == A}

    from_a = ids(FILE_A, tmp_path / "h1")
    from_fork = ids(FILE_B, tmp_path / "h2")
    assert len(from_a) == 6 and from_a == from_fork


_trackers: dict[str, Tracker] = {}


def build() -> Any:
    """One Tracker per TEAMCOST_HOME (each test has its own), so records compare equal."""
    home = os.environ["TEAMCOST_HOME"]
    if home not in _trackers:
        _trackers[home] = Tracker(load_config())
    return _trackers[home].build


def read_all(path: Path, state: dict | None = None, start: int = 0) -> tuple[list, dict]:
    reader = Reader(path, path.parent, build(), state)
    out = []
    for no, line in enumerate(path.read_bytes().splitlines(keepends=True)[start:], start + 1):
        try:
            out += reader.feed(line, no)
        except ValueError:
            pass
    return out, reader.state()


@pytest.mark.parametrize("path", [FILE_A, FILE_B, FILE_C], ids=["A", "fork", "old"])
def test_a_reader_resumed_from_its_state_at_every_line_reads_what_one_pass_reads(
        path: Path) -> None:
    whole, _ = read_all(path)
    assert whole
    for k in range(len(path.read_bytes().splitlines()) + 1):
        head, state = read_all_upto(path, k)
        state = json.loads(json.dumps(state))          # what a tailer stores
        tail, _ = read_all(path, state, k)
        assert head + tail == whole, f"resumed after line {k}"


def read_all_upto(path: Path, k: int) -> tuple[list, dict]:
    reader = Reader(path, path.parent, build())
    out = []
    for no, line in enumerate(path.read_bytes().splitlines(keepends=True)[:k], 1):
        try:
            out += reader.feed(line, no)
        except ValueError:
            pass
    return out, reader.state()


# -- the counting rules, on small made-up rollouts --

def meta(sid: str, created: str = "2026-11-20T10:00:00.000Z", **extra: Any) -> dict:
    return {"timestamp": created, "type": "session_meta",
            "payload": {"id": sid, "timestamp": created, "cwd": "/w/proj", **extra}}


def ctx(model: str, turn_id: str | None = None) -> dict:
    p: dict[str, Any] = {"cwd": "/w/proj", "model": model}
    if turn_id:
        p["turn_id"] = turn_id
    return {"timestamp": "2026-11-20T10:00:01.000Z", "type": "turn_context", "payload": p}


def usage(i: int, c: int = 0, o: int = 0, r: int = 0) -> dict:
    return {"input_tokens": i, "cached_input_tokens": c, "output_tokens": o,
            "reasoning_output_tokens": r, "total_tokens": i + o}


def tc(total: dict | None, last: dict | None, ts: str = "2026-11-20T10:01:00.000Z",
       **info_extra: Any) -> dict:
    info: dict[str, Any] = dict(info_extra)
    if total is not None:
        info["total_token_usage"] = total
    if last is not None:
        info["last_token_usage"] = last
    return {"timestamp": ts, "type": "event_msg",
            "payload": {"type": "token_count", "info": info, "rate_limits": None}}


def feed(lines: list[dict | str], path: Path = Path("rollout-x.jsonl")) -> list:
    reader = Reader(path, path.parent, build())
    out = []
    for no, d in enumerate(lines, 1):
        out += reader.feed((d if isinstance(d, str) else json.dumps(d)).encode(), no)
    return out


def tokens(recs: list) -> list[tuple[int, int, int]]:
    return [(r.input_tokens, r.cache_read_tokens, r.output_tokens) for r in recs]


def test_repeats_resets_and_missing_last_usage() -> None:
    recs = feed([meta("s1"), ctx("gpt-5-codex"),
                 tc(None, None),                                   # no info: rate limits only
                 tc(usage(100, 40, 10), usage(100, 40, 10)),
                 tc(usage(100, 40, 10), usage(100, 40, 10)),       # the same, again
                 tc(usage(100, 40, 10), usage(0, 0, 0)),           # an estimate, same total
                 tc(usage(250, 90, 30), None),                     # growth: 150 in, 50 cached
                 tc(usage(20, 0, 5), usage(20, 0, 5)),             # restarted: not -230
                 tc(usage(50, 0, 9), usage(900, 0, 900))])         # last exceeds the growth
    assert tokens(recs) == [(60, 40, 10), (100, 50, 20), (20, 0, 5), (30, 0, 4)]
    assert len({r.call_id for r in recs}) == 4


def test_a_total_reset_to_the_window_size_is_not_a_request() -> None:
    # an overflowing context: Codex sets the total to the window size, the last to the gap
    recs = feed([meta("s1"), ctx("gpt-5"),
                 tc(usage(1000, 0, 100), usage(1000, 0, 100)),
                 tc({**usage(0), "total_tokens": 272000}, {**usage(0), "total_tokens": 271000}),
                 tc({**usage(5, 0, 1), "total_tokens": 272006}, usage(5, 0, 1)),
                 # newer Codex leaves the total and marks the window full in the last
                 tc({**usage(5, 0, 1), "total_tokens": 272006}, usage(272000))])
    assert tokens(recs) == [(1000, 0, 100), (5, 0, 1)]


def test_model_comes_from_the_turn_or_the_event_else_unknown_and_unpriced() -> None:
    recs = feed([meta("s1"),
                 tc(usage(10, 0, 1), usage(10, 0, 1)),                       # no turn yet
                 tc(usage(20, 0, 2), usage(10, 0, 1), model="gpt-5-mini"),   # named in info
                 ctx("gpt-5-codex"),
                 tc(usage(30, 0, 3), usage(10, 0, 1))])
    assert [(r.model, r.priced) for r in recs] == [("unknown", False), ("gpt-5-mini", True),
                                                   ("gpt-5-codex", True)]
    assert recs[0].cost_nanos == 0


def test_cache_writes_and_other_providers_as_the_log_reports_them() -> None:
    recs = feed([meta("s1", model_provider="azure"), ctx("gpt-5"),
                 tc(None, {**usage(1000, 600, 10), "cache_write_input_tokens": 300})])
    r = recs[0]
    assert (r.input_tokens, r.cache_read_tokens, r.cache_write_tokens) == (100, 600, 300)
    assert r.provider == "azure"


def test_a_fork_without_turn_ids_still_counts_each_request_once() -> None:
    """Older forks: no time-bearing turn ids, so the copied session keeps the fork's own
    requests too: the parent's copies match its ids, the fork's requests are new."""
    parent = [meta("p", "2026-11-20T09:00:00.000Z"), ctx("gpt-5"),
              tc(usage(100, 0, 10), usage(100, 0, 10)), tc(usage(300, 0, 30), usage(200, 0, 20))]
    child = [meta("c", "2026-11-20T11:00:00.000Z", forked_from_id="p"), *parent, ctx("gpt-5"),
             tc(usage(350, 0, 33), usage(50, 0, 3))]
    p_ids = [r.call_id for r in feed(parent)]
    c_recs = feed(child)
    assert [r.call_id for r in c_recs][:2] == p_ids
    assert tokens(c_recs[2:]) == [(50, 0, 3)] and c_recs[2].call_id not in p_ids


def test_no_session_meta_takes_the_session_from_the_file_name() -> None:
    recs = feed([ctx("gpt-5"), tc(usage(10, 0, 1), usage(10, 0, 1))],
                Path(f"rollout-2026-11-20T10-00-00-{A}.jsonl"))
    assert recs[0].session_id == A and recs[0].call_id.startswith(f"codex-{A}-")


@pytest.mark.parametrize("line,why", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"type": "event_msg", "payload": {"type": "token_count", "info": 3}}', "payload.info"),
    (json.dumps(tc(usage(-5), None)), "info.total_token_usage.input_tokens"),
    (json.dumps(tc(usage(5), None, ts="yesterday")), "timestamp"),
    (json.dumps({"type": "session_meta", "payload": {"id": 7}}), "session_meta.payload.id"),
])
def test_a_bad_line_raises_and_leaves_the_reader_as_it_was(line: str, why: str) -> None:
    reader = Reader(Path("r.jsonl"), Path("."), build())
    reader.feed(json.dumps(meta("s1")).encode(), 1)
    before = reader.state()
    with pytest.raises(ValueError, match=why):
        reader.feed(line.encode(), 2)
    assert reader.state() == before


def test_a_deeply_nested_line_is_one_bad_line_of_the_import(tmp_path: Path) -> None:
    f = tmp_path / "rollout-x.jsonl"
    f.write_text("\n".join([json.dumps(meta("s1")), json.dumps(ctx("gpt-5")),
                            "[" * 100_000 + "]" * 100_000,
                            json.dumps(tc(usage(10, 0, 1), usage(10, 0, 1)))]) + "\n")
    res = import_codex(f, load_config())
    assert (res.imported, res.bad) == (1, [f"{f}:3: not readable JSON (nested too deeply)"])


# -- a property: any rollout, resumed anywhere, reads the same; repeats add nothing --

@st.composite
def rollouts(draw: Any) -> list[str]:
    lines = [json.dumps(meta("s1"))]
    total = [0, 0, 0, 0]
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["call", "call", "repeat", "reset", "model", "bad", "copy"]))
        if kind == "model":
            lines.append(json.dumps(ctx(draw(st.sampled_from(["gpt-5", "gpt-5-mini"])))))
        elif kind == "bad":
            lines.append('{"type": "event_msg", "payload": {"ty')
        elif kind == "copy":
            lines.append(json.dumps(meta("p", "2026-11-20T08:00:00.000Z")))
        elif kind == "repeat" and any(total):
            lines.append(lines[-1] if '"token_count"' in lines[-1] else json.dumps(
                tc(usage(*total), None)))
        else:
            if kind == "reset":
                total = [0, 0, 0, 0]
            i, o = draw(st.integers(0, 5000)), draw(st.integers(0, 500))
            c = draw(st.integers(0, i))
            total = [total[0] + i, total[1] + c, total[2] + o, total[3]]
            last = usage(i, c, o) if draw(st.booleans()) else None
            lines.append(json.dumps(tc(usage(*total), last)))
    return lines


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rollouts())
def test_property_resuming_anywhere_reads_the_same(tmp_path_factory: Any,
                                                    lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("r") / "rollout-x.jsonl"
    path.write_text("\n".join(lines) + "\n")
    whole, _ = read_all(path)
    for k in range(len(lines) + 1):
        head, state = read_all_upto(path, k)
        tail, _ = read_all(path, json.loads(json.dumps(state)), k)
        assert head + tail == whole
    doubled = path.with_name("rollout-y.jsonl")
    doubled.write_text("".join(ln + "\n" + (ln + "\n" if '"token_count"' in ln else "")
                               for ln in lines))
    assert [r.call_id for r in read_all(doubled)[0]] == [r.call_id for r in whole]
    assert all(min(r.input_tokens, r.output_tokens, r.cache_read_tokens) >= 0 for r in whole)


# -- paths and the CLI --

def test_default_root_is_codex_home_and_lists_its_rollouts(tmp_path: Path, monkeypatch,
                                                          teamcost_home: Path) -> None:
    home = tmp_path / "codex-home"
    shutil.copytree(FIXTURE, home)
    (home / "history.jsonl").write_text('{"session_id": "x", "text": "not a rollout"}\n')
    monkeypatch.setenv("CODEX_HOME", str(home))
    assert codex.default_roots() == [home]
    assert [p.relative_to(home).parts[0] for p in codex.list_files(home)] == [
        "archived_sessions", "sessions", "sessions", "sessions"]
    one = home / FILE_A.relative_to(FIXTURE)
    assert codex.list_files(one) == [one]
    res = run("import", "codex")
    assert res.exit_code == 0, res.output
    assert "imported 10 calls (8 already present, 3 bad lines skipped) from 4 files" in res.stdout
    assert f"{home}/archived_sessions/" in res.stderr and ":6: not a JSON object" in res.stderr
    monkeypatch.delenv("CODEX_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert codex.default_roots() == [tmp_path / ".codex"]


def test_cli_json_output_and_a_second_run(teamcost_home: Path) -> None:
    doc = json.loads(run("import", "codex", str(FIXTURE), "--format", "json").stdout)
    assert (doc["source"], doc["imported"], doc["skipped"], doc["cost_nanos"]) == (
        "codex", 10, 3, 198_962_500)
    again = run("import", "codex", "--path", str(FIXTURE), "--format", "json")
    assert json.loads(again.stdout)["imported"] == 0 and again.exit_code == 0


def test_bad_dirs_exit_2_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    db = tmp_path / "costs.db"
    sqlite3.connect(db).execute("CREATE TABLE t (a)").connection.commit()
    (tmp_path / "config.toml").write_text('model = "gpt-5"\n')
    (tmp_path / "calls.jsonl").write_text('{"call_id": "x", "model": "gpt-5"}\n')
    (tmp_path / "blank.jsonl").write_text("\n\n")
    cases = [(tmp_path / "nope", "(no such file or directory)"),
             (tmp_path / "empty", "it holds no codex session logs"),
             (db, "this is a SQLite database (use 'teamcost import sqlite')"),
             (tmp_path / "config.toml", "its first line is not a JSON object"),
             (tmp_path / "calls.jsonl", "not a Codex rollout line"),
             (tmp_path / "blank.jsonl", "it is empty")]
    for path, needle in cases:
        res = run("import", "codex", str(path))
        assert res.exit_code == 2, (path, res.output)
        line = one_error_line(res)
        assert f"invalid DIR: '{path}'" in line and needle in line, line
    res = run("import", "codex", str(FIXTURE), "--path", str(tmp_path))
    assert res.exit_code == 2 and "give DIR or --path, not both" in res.stderr


def test_an_unfinished_last_line_of_a_live_log_waits_for_the_next_import(
        tmp_path: Path) -> None:
    f = tmp_path / "rollout-live.jsonl"
    first = json.dumps(tc(usage(10, 0, 1), usage(10, 0, 1)))
    second = json.dumps(tc(usage(30, 0, 3), usage(20, 0, 2), ts="2026-11-20T10:02:00.000Z"))
    f.write_text("\n".join([json.dumps(meta("s1")), json.dumps(ctx("gpt-5")), first,
                            second[:40]]))                 # Codex is writing this line now
    now = time.time()    # just now by this process's clock (faketime: not the kernel's)
    os.utime(f, (now, now))
    res = import_codex(f, load_config())
    assert (res.imported, res.pending, res.skipped) == (1, 1, 0)
    assert "1 still streaming left for the next import" in res.summary()
    f.write_text(f.read_text() + second[40:] + "\n")
    os.utime(f, (time.time(), time.time()))
    res = import_codex(f, load_config())     # reads on from the end of the first call's line
    assert (res.imported, res.already, res.pending, res.skipped) == (1, 0, 0, 0)
    # a log nobody has written for an hour ends with a broken line: that is a bad line
    f.write_text(f.read_text() + second[:40])
    os.utime(f, (0, 1_000_000))
    res = import_codex(f, load_config())
    # the 40 characters end just after the timestamp's value
    assert (res.pending, res.bad) == (0, [f"{f}:5: not valid JSON (Expecting ',' delimiter "
                                          "at column 41)"])


def test_a_model_in_the_session_meta_is_used_until_a_turn_names_one() -> None:
    recs = feed([meta("s1", model="gpt-5-mini"), tc(usage(10, 0, 1), usage(10, 0, 1)),
                 ctx("gpt-5"), tc(usage(20, 0, 2), usage(10, 0, 1))])
    assert [r.model for r in recs] == ["gpt-5-mini", "gpt-5"]
