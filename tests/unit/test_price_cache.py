"""The price cache file: a cached price is the price genai-prices gives, to the nano-dollar;
stale, foreign or broken files are never trusted and never overwritten."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from genai_prices import data_snapshot

from teamcost.pricing import PRICE_CACHE_SCHEMA, Price, Pricer, genai_prices_identity

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _models() -> list[tuple[str, str]]:
    """Every model genai-prices prices the same at any time, with its provider."""
    out = []
    for provider in data_snapshot.get_snapshot().providers:
        for m in provider.models:
            if not isinstance(m.prices, list) and m.match is not None:
                out.append((provider.id, m.id))
    return out


def _warm(path: Path, calls: list[tuple[str | None, str]]) -> None:
    pricer = Pricer(cache_file=path)
    for provider, model in calls:
        pricer.price(provider, model, 10, 10, ts=WHEN)
    pricer.save_cache()


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
