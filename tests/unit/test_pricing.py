"""Pricing: hand-worked costs, overrides, local and unknown models, reported costs,
and the fast path checked against genai-prices' own full computation.

Every expected figure below is worked out by hand in the comments from the
published per-million-token (Mtok) prices; 1 USD = 1_000_000_000 nanos, so
``tokens x $/Mtok`` = ``tokens x price x 1000`` nanos.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from genai_prices import data_snapshot

from teamcost.errors import ConfigError, InvalidValue
from teamcost.pricing import GENAI_PRICES_SOURCE, Price, PriceOverride, Pricer, reference_price_nanos

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def pricer() -> Pricer:
    return Pricer()


def test_gpt_4o(pricer: Pricer) -> None:
    # gpt-4o: $2.50 / Mtok in, $10 / Mtok out
    #   1000 in  x 2.50 / 1e6 = $0.0025
    #    500 out x 10   / 1e6 = $0.0050
    #   total                   $0.0075 = 7_500_000 nanos
    p = pricer.price(None, "gpt-4o", 1000, 500, ts=WHEN)
    assert p == Price(7_500_000, True, GENAI_PRICES_SOURCE, "openai")


def test_gpt_4o_cache_read(pricer: Pricer) -> None:
    # cached input $1.25 / Mtok: 4000 x 1.25 / 1e6 = $0.005 on top of $0.0075
    p = pricer.price("openai", "gpt-4o", 1000, 500, cache_read_tokens=4000, ts=WHEN)
    assert p.cost_nanos == 7_500_000 + 5_000_000


def test_claude_sonnet_with_cache_read_and_write(pricer: Pricer) -> None:
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write (per Mtok)
    #   1000 uncached in x 3.00 / 1e6 = $0.00300
    #   2000 cache read  x 0.30 / 1e6 = $0.00060
    #   3000 cache write x 3.75 / 1e6 = $0.01125
    #    500 out         x 15   / 1e6 = $0.00750
    #   total                           $0.02235 = 22_350_000 nanos
    p = pricer.price("anthropic", "claude-sonnet-4-5", 1000, 500, 2000, 3000, ts=WHEN)
    assert p.cost_nanos == 22_350_000
    assert p.priced and p.provider == "anthropic"
    # provider guessed from the model name gives the same price
    assert pricer.price(None, "claude-sonnet-4-5", 1000, 500, 2000, 3000, ts=WHEN) == p


def test_claude_sonnet_long_context_tier(pricer: Pricer) -> None:
    # Above 200k total input tokens (uncached + cache read + cache write) every token of
    # the call is billed at the long-context prices: $6 in, $22.50 out, $0.60 / $7.50 cache.
    #   250000 in x 6.00 / 1e6 = $1.50000
    #     2000 cr x 0.60 / 1e6 = $0.00120
    #     3000 cw x 7.50 / 1e6 = $0.02250
    #      500 out x 22.5 / 1e6 = $0.01125
    #   total                    $1.53495 = 1_534_950_000 nanos
    assert pricer.price("anthropic", "claude-sonnet-4-5", 250_000, 500, 2000, 3000,
                        ts=WHEN).cost_nanos == 1_534_950_000


def test_claude_sonnet_tier_boundary(pricer: Pricer) -> None:
    # exactly 200_000 total input tokens is still the base tier:
    #   195000 x 3.00 / 1e6 = $0.5850 ; 5000 cache read x 0.30 / 1e6 = $0.0015 -> $0.5865
    assert pricer.price("anthropic", "claude-sonnet-4-5", 195_000, 0, 5000, 0,
                        ts=WHEN).cost_nanos == 586_500_000
    # one more token crosses it: 195001 x 6 / 1e6 = $1.170006 ; 5000 x 0.60 / 1e6 = $0.003
    #   -> $1.173006
    assert pricer.price("anthropic", "claude-sonnet-4-5", 195_001, 0, 5000, 0,
                        ts=WHEN).cost_nanos == 1_173_006_000


def test_gemini_flash(pricer: Pricer) -> None:
    # gemini-2.5-flash: $0.30 / Mtok in, $2.50 / Mtok out
    #   6000 in  x 0.30 / 1e6 = $0.00180
    #    500 out x 2.50 / 1e6 = $0.00125
    #   total                   $0.00305 = 3_050_000 nanos
    p = pricer.price(None, "gemini-2.5-flash", 6000, 500, ts=WHEN)
    assert p.cost_nanos == 3_050_000
    assert p.provider == "google" and p.priced


def test_override_pattern() -> None:
    ov = PriceOverride.from_mapping({"pattern": r"^acme-", "input": 0.5, "output": "1.5"})
    pricer = Pricer([ov])
    # acme-large: $0.50 in, $1.50 out, no cache prices -> cache tokens bill as input
    #   1_000_000 in x 0.50 / 1e6 = $0.5
    #           2 out x 1.50 / 1e6 = $0.000003
    #           3 cr  x 0.50 / 1e6 = $0.0000015
    #   total $0.5000045 = 500_004_500 nanos
    p = pricer.price("internal", "acme-large", 1_000_000, 2, 3, 0, ts=WHEN)
    assert p == Price(500_004_500, True, r"override:^acme-", "internal")
    # the pattern also matches provider/model
    pv = Pricer([PriceOverride.from_mapping({"pattern": r"^vllm/", "input": 1, "output": 2})])
    # 10 x 1 + 20 x 2 = 50 token-dollars per Mtok = $0.00005 = 50_000 nanos
    assert pv.price("vllm", "mistral-7b", 10, 20).cost_nanos == 50_000
    assert not pv.price("other", "mistral-7b-no-such", 10, 20).priced


def test_override_with_cache_prices_and_precedence_over_genai_prices() -> None:
    ov = PriceOverride.from_mapping({"pattern": "gpt-4o", "input": 1, "output": 2,
                                     "cache_read": "0.1", "cache_write": 3})
    # 100 x 1 + 10 x 2 + 1000 x 0.1 + 10 x 3 = 250 -> $0.000250 = 250_000 nanos
    p = Pricer([ov]).price("openai", "gpt-4o", 100, 10, 1000, 10)
    assert p.cost_nanos == 250_000 and p.source == "override:gpt-4o"


def test_rounding_happens_once_at_the_end() -> None:
    ov = PriceOverride.from_mapping({"pattern": "tiny", "input": "0.0005", "output": "0.0005"})
    pricer = Pricer([ov])
    # 1 token at $0.0005/Mtok = 0.5 nanos. Rounded per part: 0 + 0 = 0; once: 1.0 -> 1.
    assert pricer.price(None, "tiny", 1, 1).cost_nanos == 1
    # 0.5 -> 0 and 1.5 -> 2 (half to even)
    assert pricer.price(None, "tiny", 1, 0).cost_nanos == 0
    assert pricer.price(None, "tiny", 3, 0).cost_nanos == 2
    assert pricer.price(None, "tiny", 5, 0).cost_nanos == 2


@pytest.mark.parametrize("provider,model", [("ollama", "llama3.1:8b"), ("local", "my-model"),
                                            (None, "ollama/llama3"), (None, "local:qwen"),
                                            ("Ollama", "gpt-4o")])
def test_local_models_cost_zero_and_are_priced(pricer: Pricer, provider: str | None,
                                               model: str) -> None:
    assert pricer.price(provider, model, 10_000, 5_000) == Price(0, True, "local", provider)


def test_unknown_model_is_unpriced_and_warned_once_per_process(
        pricer: Pricer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="teamcost.pricing")
    name = f"frobnicator-{uuid.uuid4().hex[:8]}"     # not warned about by any earlier test

    def warnings() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "teamcost.pricing"]

    for _ in range(3):
        p = pricer.price(None, name, 1000, 500)
        assert p == Price(0, False, "unpriced", None)
    assert Pricer().price(None, name, 1, 1).priced is False   # a second pricer: no new warning
    assert len(warnings()) == 1
    assert name in warnings()[0].getMessage()
    pricer.price("acme", name + "-b", 1, 1)
    assert len(warnings()) == 2 and f"acme/{name}-b" in warnings()[1].getMessage()


def test_provider_reported_cost(pricer: Pricer) -> None:
    # $0.0123 reported -> 12_300_000 nanos, whatever the tokens say
    p = pricer.price("openai", "gpt-4o", 1000, 500, reported_cost_usd="0.0123")
    assert p == Price(12_300_000, True, "reported", "openai")
    # also for a model nobody can price, and ahead of an override
    ov = Pricer([PriceOverride.from_mapping({"pattern": ".*", "input": 9, "output": 9})])
    assert ov.price(None, "frobnicator", 1, 1, reported_cost_usd=0.25).cost_nanos == 250_000_000
    assert ov.price(None, "frobnicator", 1, 1, reported_cost_usd=0.25).source == "reported"
    with pytest.raises(InvalidValue):
        pricer.price("openai", "gpt-4o", 1, 1, reported_cost_usd="-1")


@pytest.mark.parametrize("data,msg", [
    ({"input": 1, "output": 1}, "no 'pattern'"),
    ({"pattern": "(", "input": 1, "output": 1}, "not a valid regular expression"),
    ({"pattern": "x", "output": 1}, "needs 'input'"),
    ({"pattern": "x", "input": -1, "output": 1}, "not a non-negative number"),
    ({"pattern": "x", "input": "cheap", "output": 1}, "not a non-negative number"),
    ({"pattern": "x", "input": True, "output": 1}, "not a non-negative number"),
    ({"pattern": "x", "input": 1, "output": 1, "per_request": 2}, "unknown keys"),
])
def test_bad_override_is_a_config_error(data: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        PriceOverride.from_mapping(data)


# -- the fast path against genai-prices' own calc_price --

USAGES = [
    (1000, 500, 2000, 3000),
    (250_000, 500, 2000, 3000),     # over the 200k long-context tiers
    (199_000, 7, 600, 400),         # exactly at 200k: base tier
    (199_000, 7, 600, 401),         # just over
    (123_457, 3, 0, 0),
]


def _sample_models() -> list[tuple[str, str]]:
    chosen = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"),
              ("anthropic", "claude-haiku-5-5"), ("google", "gemini-2.5-flash"),
              ("google", "gemini-2.5-pro"), ("perplexity", "sonar")]  # sonar: a fee per request
    every = [(p.id, m.id) for p in data_snapshot.get_snapshot().providers for m in p.models]
    return chosen + every[::17]   # a deterministic spread over every provider


def test_fast_path_matches_genai_prices_calc_price(pricer: Pricer) -> None:
    compared = tiered_seen = 0
    mismatches = []
    for provider, model in _sample_models():
        for usage in USAGES:
            try:
                want = reference_price_nanos(provider, model, *usage, ts=WHEN)
            except LookupError:  # genai-prices cannot resolve its own id back: skip
                continue
            got = pricer.price(provider, model, *usage, ts=WHEN)
            compared += 1
            if (got.cost_nanos, got.provider) != (want, provider):
                mismatches.append((provider, model, usage, got.cost_nanos, want))
        if model == "claude-sonnet-4-5":
            tiered_seen += 1
    assert not mismatches
    assert compared > 300 and tiered_seen == 1


def test_reference_counts_cache_tokens_as_input() -> None:
    # the ledger's input_tokens excludes cache tokens; genai-prices' Usage includes them.
    # reference_price_nanos converts, so its figure equals the hand-worked $0.02235.
    assert reference_price_nanos("anthropic", "claude-sonnet-4-5", 1000, 500, 2000, 3000,
                                 ts=WHEN) == 22_350_000


def test_prices_are_exact_decimals() -> None:
    ov = PriceOverride.from_mapping({"pattern": "x", "input": 0.1, "output": 0.2})
    assert ov.input_mtok == Decimal("0.1") and ov.output_mtok == Decimal("0.2")
    # 0.1 + 0.2 in floats is 0.30000000000000004; exact: 1e6 x (0.1 + 0.2) = $0.3
    assert Pricer([ov]).price(None, "x", 1_000_000, 1_000_000).cost_nanos == 300_000_000


# -- billed extras: one-hour cache writes and web searches; prices of the call's day --

EXTRA_USAGES = [   # (input, output, cache read, cache write, of which 1h, web searches)
    (1000, 500, 2000, 3000, 1000, 0),
    (1000, 500, 2000, 3000, 3000, 2),
    (250_000, 500, 2000, 3000, 2500, 1),      # over the 200k long-context tiers
    (199_000, 7, 600, 400, 400, 5),           # exactly at 200k
    (10, 10, 0, 0, 0, 7),
]


def test_fast_path_matches_genai_prices_with_one_hour_writes_and_searches(pricer: Pricer) -> None:
    compared = searched = 0
    mismatches = []
    for provider, model in _sample_models():
        for *tokens, w1h, web in EXTRA_USAGES:
            try:
                want = reference_price_nanos(provider, model, *tokens, ts=WHEN,
                                             cache_write_1h_tokens=w1h, web_search_requests=web)
            except LookupError:
                continue
            got = pricer.price(provider, model, *tokens, cache_write_1h_tokens=w1h,
                               web_search_requests=web, ts=WHEN)
            compared += 1
            searched += web > 0 and got.cost_nanos != pricer.price(
                provider, model, *tokens, cache_write_1h_tokens=w1h, ts=WHEN).cost_nanos
            if got.cost_nanos != want:
                mismatches.append((provider, model, tokens, w1h, web, got.cost_nanos, want))
    assert not mismatches
    assert compared > 300 and searched > 3


def test_one_hour_writes_and_searches_by_hand(pricer: Pricer) -> None:
    # claude-haiku-4-5: $1 in, $5 out, $0.10 read, $1.25 5m write, $2 1h write, $10 / 1000
    # searches. 100 in + 10 out + 0 read + 400 5m + 600 1h + 4 searches:
    #   100 x 1 + 10 x 5 + 400 x 1.25 + 600 x 2 = 100 + 50 + 500 + 1200 = 1850 -> 1_850_000
    #   4 x $0.01 = $0.04 = 40_000_000                               total 41_850_000 nanos
    p = pricer.price("anthropic", "claude-haiku-4-5", 100, 10, 0, 1000,
                     cache_write_1h_tokens=600, web_search_requests=4, ts=WHEN)
    assert p.cost_nanos == 41_850_000
    with pytest.raises(InvalidValue, match="cache_write_1h_tokens"):
        pricer.price("anthropic", "claude-haiku-4-5", 1, 1, 0, 10, cache_write_1h_tokens=11)


def test_prices_are_those_of_the_calls_day(pricer: Pricer) -> None:
    # claude-opus-4-6 lost its long-context tier on 2026-03-13 (genai-prices' start date):
    # 300,000 input tokens cost 300,000 x $10 the day before and 300,000 x $5 that day
    before = datetime(2026, 3, 12, 23, 59, 59, tzinfo=timezone.utc)
    on = datetime(2026, 3, 13, 0, 0, tzinfo=timezone.utc)
    assert pricer.price("anthropic", "claude-opus-4-6", 300_000, 0, ts=before).cost_nanos \
        == 3_000_000_000
    assert pricer.price("anthropic", "claude-opus-4-6", 300_000, 0, ts=on).cost_nanos \
        == 1_500_000_000
    for ts in (before, on):
        assert pricer.price("anthropic", "claude-opus-4-6", 300_000, 0, ts=ts).cost_nanos \
            == reference_price_nanos("anthropic", "claude-opus-4-6", 300_000, 0, ts=ts)


def test_override_one_hour_and_search_prices() -> None:
    ov = PriceOverride.from_mapping({"pattern": "^acme-", "input": 1, "output": 2,
                                     "cache_write": "1.25", "cache_write_1h": 2,
                                     "web_search": 5})
    # 10 x 1 + 10 x 2 + 40 x 1.25 + 60 x 2 = 10 + 20 + 50 + 120 = 200 -> 200_000 nanos
    # 3 searches x $5 / 1000 = $0.015 = 15_000_000 nanos
    assert Pricer([ov]).price(None, "acme-1", 10, 10, 0, 100, cache_write_1h_tokens=60,
                              web_search_requests=3).cost_nanos == 15_200_000
    # without a 1h price, 1h writes bill as cache writes; without a cache write price, as
    # input: 10 x 1 + 10 x 2 + 100 x 1 = 130 -> 130_000
    plain = PriceOverride.from_mapping({"pattern": "^acme-", "input": 1, "output": 2})
    assert Pricer([plain]).price(None, "acme-1", 10, 10, 0, 100,
                                 cache_write_1h_tokens=60).cost_nanos == 130_000
    # an override without a search price: genai-prices' for the model ($10 / 1000), else none
    claude = PriceOverride.from_mapping({"pattern": "claude", "input": 1, "output": 1})
    assert Pricer([claude]).price("anthropic", "claude-sonnet-4-5", 0, 0,
                                  web_search_requests=2, ts=WHEN).cost_nanos == 20_000_000
    assert Pricer([plain]).price(None, "acme-1", 0, 0, web_search_requests=2).cost_nanos == 0
