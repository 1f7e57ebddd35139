"""The price cache file: a cached price is the price genai-prices gives, to the nano-dollar,
for every token kind and billed extra, on the call's own day where prices change on dates;
stale, foreign or broken files are never trusted and never overwritten."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from genai_prices import data_snapshot
from genai_prices.types import StartDateConstraint

from teamcost.pricing import (
    PRICE_CACHE_SCHEMA,
    Price,
    Pricer,
    genai_prices_identity,
    reference_price_nanos,
)

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _models() -> list[tuple[str, str]]:
    """Every model genai-prices prices the same at any time, with its provider."""
    out = []
    for provider in data_snapshot.get_snapshot().providers:
        for m in provider.models:
            if not isinstance(m.prices, list) and m.match is not None:
                out.append((provider.id, m.id))
    return out


def _dated_models() -> list[tuple[str, str, list[datetime]]]:
    """Every model whose prices change on dates only, with the first instant of each change."""
    out = []
    for provider in data_snapshot.get_snapshot().providers:
        for m in provider.models:
            if isinstance(m.prices, list) and m.match is not None and all(
                    c.constraint is None or isinstance(c.constraint, StartDateConstraint)
                    for c in m.prices):
                starts = [datetime.combine(c.constraint.start_date, datetime.min.time(), UTC)
                          for c in m.prices if c.constraint is not None]
                out.append((provider.id, m.id, starts))
    return out


def _warm(path: Path, calls: list[tuple[str | None, str]], when: datetime = WHEN) -> None:
    pricer = Pricer(cache_file=path)
    for provider, model in calls:
        pricer.price(provider, model, 10, 10, ts=when)
    pricer.save_cache()


def _no_resolving(pricer: Pricer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricer, "_resolve", lambda *a: pytest.fail("resolved genai-prices"))


def test_cached_prices_equal_genai_prices_for_every_model(tmp_path: Path) -> None:
    path = tmp_path / "price-cache.json"
    models = _models()
    assert len(models) > 200
    _warm(path, models)
    doc = json.loads(path.read_text())
    assert doc["schema"] == PRICE_CACHE_SCHEMA and doc["genai_prices"] == genai_prices_identity()
    cached, plain = Pricer(cache_file=path), Pricer()
    rng = random.Random(17)
    hits = 0
    for provider, model in models:
        # around the long-context tiers too: 200k total input is where most of them start
        for tokens in [(0, 0, 0, 0), (1, 1, 1, 1), (199_999, 10, 1, 0), (200_000, 10, 0, 0),
                       (150_000, 7, 50_001, 0),
                       tuple(rng.randrange(1_000_000) for _ in range(4))]:
            want = plain.price(provider, model, *tokens, ts=WHEN)
            got = cached.price(provider, model, *tokens, ts=WHEN)
            assert got == want, (provider, model, tokens)
            # the billed extras: one-hour cache writes (part of the writes) and searches
            extras = {"cache_write_1h_tokens": tokens[3] // 3, "web_search_requests": 7}
            want = plain.price(provider, model, *tokens, ts=WHEN, **extras)
            got = cached.price(provider, model, *tokens, ts=WHEN, **extras)
            assert got == want, (provider, model, tokens, extras)
        hits += json.dumps([provider, model]) in doc["models"]
    assert hits > 200   # most models were served from the file


def test_a_warm_cache_prices_without_resolving(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "price-cache.json"
    _warm(path, [(None, "gpt-4o"), ("anthropic", "claude-sonnet-4-5")])
    pricer = Pricer(cache_file=path)
    monkeypatch.setattr(pricer, "_resolve", lambda *a: pytest.fail("resolved genai-prices"))
    # gpt-4o: 1000 in x $2.50/Mtok + 500 out x $10/Mtok = $0.0075
    p = pricer.price(None, "gpt-4o", 1000, 500, ts=WHEN)
    assert p == Price(7_500_000, True, json.loads(path.read_text())["source"], "openai")
    # sonnet 4.5 above 200k input: $6 in, $22.50 out per Mtok:
    # 250_000 x 6 / 1e6 = $1.50; 1000 x 22.5 / 1e6 = $0.0225 -> $1.5225
    assert pricer.price("anthropic", "claude-sonnet-4-5", 250_000, 1000,
                        ts=WHEN).cost_nanos == 1_522_500_000


def test_one_hour_writes_and_searches_from_the_cache(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "price-cache.json"
    _warm(path, [("anthropic", "claude-sonnet-4-5")])
    pricer = Pricer(cache_file=path)
    _no_resolving(pricer, monkeypatch)
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 read, $3.75 5-minute write, $6 1-hour write
    # ($/Mtok), $10 per 1,000 searches. 100 in, 200 out, 1,000 read, 1,000 + 2,000 writes:
    #   300 + 3,000 + 300 + 3,750 + 12,000 = 19,350 -> 19_350_000 nanos
    #   3 searches x $0.01 = 30_000_000 nanos                          total 49_350_000
    p = pricer.price("anthropic", "claude-sonnet-4-5", 100, 200, 1_000, 3_000,
                     cache_write_1h_tokens=2_000, web_search_requests=3, ts=WHEN)
    assert p.cost_nanos == 49_350_000 == reference_price_nanos(
        "anthropic", "claude-sonnet-4-5", 100, 200, 1_000, 3_000, WHEN,
        cache_write_1h_tokens=2_000, web_search_requests=3)


def test_dated_prices_are_cached_by_the_calls_utc_day(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # claude-opus-4-6 lost its long-context tier on 2026-03-13 (a UTC date in genai-prices):
    # 300,000 input tokens cost 300,000 x $10 the day before and 300,000 x $5 from that day
    path = tmp_path / "price-cache.json"
    before = datetime(2026, 3, 12, 23, 59, 59, 999_999, tzinfo=UTC)
    on = datetime(2026, 3, 13, tzinfo=UTC)
    for ts in (before, on):
        _warm(path, [("anthropic", "claude-opus-4-6")], ts)
    models = json.loads(path.read_text())["models"]
    assert {k for k in models if "claude-opus-4-6" in k} == {
        json.dumps(["anthropic", "claude-opus-4-6", day]) for day in ("2026-03-12", "2026-03-13")}
    pricer = Pricer(cache_file=path)
    _no_resolving(pricer, monkeypatch)
    opus = ("anthropic", "claude-opus-4-6", 300_000, 0)
    assert pricer.price(*opus, ts=before).cost_nanos == 3_000_000_000
    assert pricer.price(*opus, ts=on).cost_nanos == 1_500_000_000
    assert pricer.price(*opus, ts=on + timedelta(hours=23, minutes=59)).cost_nanos \
        == 1_500_000_000
    # 00:30 on the 13th in Berlin is 23:30 on the 12th in UTC: the old price
    berlin = datetime(2026, 3, 13, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert pricer.price(*opus, ts=berlin).cost_nanos == 3_000_000_000
    # a day the file does not hold is priced from genai-prices (and kept)
    monkeypatch.undo()
    later = datetime(2026, 5, 1, tzinfo=UTC)
    assert pricer.price(*opus, ts=later).cost_nanos == 1_500_000_000
    pricer.save_cache()
    assert json.dumps(["anthropic", "claude-opus-4-6", "2026-05-01"]) in json.loads(
        path.read_text())["models"]


def test_every_dated_model_is_priced_from_the_cache_as_genai_prices_prices_it(
        tmp_path: Path) -> None:
    path = tmp_path / "price-cache.json"
    dated = _dated_models()
    assert len(dated) > 20
    # around each change: the last microsecond before it, its first, and a week either side
    times = {(p, m): [t + d for t in starts for d in (timedelta(microseconds=-1), timedelta(0),
                                                      timedelta(days=-7), timedelta(days=7))]
             for p, m, starts in dated}
    warm = Pricer(cache_file=path)
    for (provider, model), ts_list in times.items():
        for ts in ts_list:
            warm.price(provider, model, 10, 10, ts=ts)
    warm.save_cache()
    cached, plain = Pricer(cache_file=path), Pricer()
    for (provider, model), ts_list in times.items():
        for ts in ts_list:
            for tokens in [(1_000, 500, 0, 0), (250_000, 1_000, 3_000, 2_000)]:
                kw = {"cache_write_1h_tokens": tokens[3] // 2, "web_search_requests": 2}
                assert cached.price(provider, model, *tokens, ts=ts, **kw) \
                    == plain.price(provider, model, *tokens, ts=ts, **kw), (provider, model, ts)


def test_prices_by_time_of_day_are_never_cached(tmp_path: Path) -> None:
    path = tmp_path / "price-cache.json"
    _warm(path, [("deepseek", "deepseek-chat"), (None, "gpt-4o")])
    models = json.loads(path.read_text())["models"]
    assert [k for k in models if "deepseek" in k] == []
    assert json.dumps([None, "gpt-4o"]) in models
    cached, plain = Pricer(cache_file=path), Pricer()
    for hour in range(0, 24, 3):   # DeepSeek's off-peak hours change the price
        ts = WHEN.replace(hour=hour)
        assert cached.price("deepseek", "deepseek-chat", 10_000, 1_000, ts=ts) \
            == plain.price("deepseek", "deepseek-chat", 10_000, 1_000, ts=ts)


def test_an_older_cache_of_ours_is_replaced(tmp_path: Path) -> None:
    """A cache written by an earlier teamcost (four prices, no days) is ours: never read,
    and replaced by the next save."""
    path = tmp_path / "price-cache.json"
    old = {"flat": ["999", "999", None, None], "provider": "openai", "tiers": []}
    path.write_text(json.dumps({"schema": "teamcost.price-cache/1",
                                "genai_prices": genai_prices_identity(), "source": "x",
                                "models": {json.dumps([None, "gpt-4o"]): old}}))
    pricer = Pricer(cache_file=path)
    assert pricer.price(None, "gpt-4o", 1000, 500, ts=WHEN).cost_nanos == 7_500_000
    pricer.save_cache()
    doc = json.loads(path.read_text())
    assert doc["schema"] == PRICE_CACHE_SCHEMA
    assert doc["models"][json.dumps([None, "gpt-4o"])]["flat"] == [
        "2.5", "10", "1.25", None, None, "10"]   # gpt-4o: $10 per 1,000 searches


def test_unknown_models_are_cached_and_stay_unpriced(tmp_path: Path) -> None:
    path = tmp_path / "price-cache.json"
    _warm(path, [(None, "no-such-model-cache-1")])
    assert json.loads(path.read_text())["models"][json.dumps([None, "no-such-model-cache-1"])] \
        is None
    p = Pricer(cache_file=path).price(None, "no-such-model-cache-1", 100, 100, ts=WHEN)
    assert p == Price(0, False, "unpriced", None)


def test_a_cache_of_other_genai_prices_data_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "price-cache.json"
    wrong = {"flat": ["999", "999", None, None], "provider": "openai", "tiers": []}
    path.write_text(json.dumps({"schema": PRICE_CACHE_SCHEMA, "genai_prices": "elsewhere:1:2",
                                "source": "genai-prices 0.0.1",
                                "models": {json.dumps([None, "gpt-4o"]): wrong}}))
    pricer = Pricer(cache_file=path)
    assert pricer.price(None, "gpt-4o", 1000, 500, ts=WHEN).cost_nanos == 7_500_000
    pricer.save_cache()  # replaced by this installation's entry
    doc = json.loads(path.read_text())
    assert doc["genai_prices"] == genai_prices_identity()
    assert doc["models"][json.dumps([None, "gpt-4o"])]["flat"][0] == "2.5"


@pytest.mark.parametrize("content", [b"not json", b'{"schema": "someone else"}', b"[1, 2]",
                                     b"\xff\xfe"])
def test_a_file_that_is_not_ours_is_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "price-cache.json"
    path.write_bytes(content)
    pricer = Pricer(cache_file=path)
    assert pricer.price(None, "gpt-4o", 1000, 500, ts=WHEN).cost_nanos == 7_500_000
    pricer.save_cache()
    assert path.read_bytes() == content


def test_a_directory_or_a_missing_home_only_means_no_cache(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    for path in (tmp_path / "dir", tmp_path / "missing" / "price-cache.json"):
        pricer = Pricer(cache_file=path)
        assert pricer.price(None, "gpt-4o", 1000, 500, ts=WHEN).cost_nanos == 7_500_000
        pricer.save_cache()
    assert (tmp_path / "dir").is_dir() and not (tmp_path / "missing").exists()


def test_a_damaged_entry_is_priced_afresh(tmp_path: Path) -> None:
    path = tmp_path / "price-cache.json"
    _warm(path, [(None, "gpt-4o")])
    doc = json.loads(path.read_text())
    doc["models"][json.dumps([None, "gpt-4o"])] = {"flat": ["x"], "provider": "openai"}
    path.write_text(json.dumps(doc))
    assert Pricer(cache_file=path).price(None, "gpt-4o", 1000, 500, ts=WHEN).cost_nanos \
        == 7_500_000
