"""The demo team generator: deterministic, complete, shaped like a real month."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from teamcost.demo.generate import (AGENTS, MEMBERS, all_models, daily_totals, generate_calls,
                                    write_ledgers)
from teamcost.ledger import Ledger

NOW = datetime(2026, 11, 23, 15, 30, tzinfo=timezone.utc)  # a Monday afternoon


@pytest.fixture(scope="module")
def data():
    return generate_calls(NOW)


def test_same_seed_same_calls_and_other_seed_differs(data):
    again = generate_calls(NOW)
    assert [c.to_dict() for c in again.calls] == [c.to_dict() for c in data.calls]
    other = generate_calls(NOW, seed=7)
    assert {c.call_id for c in other.calls}.isdisjoint({c.call_id for c in data.calls})
    assert other.total_nanos != data.total_nanos


def test_every_member_machine_agent_and_model_present(data):
    calls = data.calls
    assert {c.member for c in calls} == {m.name for m in MEMBERS}
    assert set(data.calls_by_machine) == {mc for m in MEMBERS for mc in m.machines}
    assert len(data.calls_by_machine) >= 6
    assert {c.agent for c in calls} == set(AGENTS)
    assert {(c.provider, c.model) for c in calls} == {(m.provider, m.model) for m in all_models()}
    assert {c.provider for c in calls} == {"openai", "anthropic", "google"}
    # cache usage is part of the mix, and Anthropic sessions write the cache
    assert sum(c.cache_read_tokens for c in calls) > sum(c.input_tokens for c in calls) / 2
    assert any(c.cache_write_tokens and c.provider == "anthropic" for c in calls)
    # each machine's calls belong to its one member
    for machine, cs in data.calls_by_machine.items():
        assert {c.member for c in cs} == {data.machine_member[machine]}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_member_and_model_in_the_last_seven_days_even_when_tiny(seed):
    now = datetime(2026, 11, 2, 0, 30, tzinfo=timezone.utc)   # a Monday just after midnight
    d = generate_calls(now, seed=seed, scale=0.02)
    recent = [c for c in d.calls if c.ts >= now - timedelta(days=6)]
    assert {c.member for c in recent} == {m.name for m in MEMBERS}
    assert {c.model for c in recent} == {m.model for m in all_models()}
    assert all(c.ts <= now for c in d.calls)


def test_window_is_thirty_days_ending_now(data):
    calls = data.calls
    assert calls[-1].ts <= NOW
    assert calls[0].ts >= NOW.replace(hour=0, minute=0, second=0) - timedelta(days=29)
    assert len({c.call_id for c in calls}) == len(calls)


def test_spike_day_is_the_most_expensive_day_by_far(data):
    per_day = daily_totals(data.calls)
    spike = per_day.pop(data.spike_day)
    assert spike > 2 * max(per_day.values())
    assert data.spike_day.weekday() < 5


def test_weekday_rhythm(data):
    per_day = daily_totals(data.calls)
    days = [NOW.replace(hour=0, minute=0, second=0) - timedelta(days=i) for i in range(1, 29)]
    weekday = [per_day.get(d, 0) for d in days if d.weekday() < 5 and d != data.spike_day]
    weekend = [per_day.get(d, 0) for d in days if d.weekday() >= 5]
    assert sum(weekday) / len(weekday) > 4 * (sum(weekend) / len(weekend))


def test_costs_are_exact_prices_of_the_tokens(data):
    """A few calls re-priced independently with genai-prices' own calc_price."""
    calls = data.calls
    for c in calls[:: max(1, len(calls) // 25)]:
        assert c.priced and c.price_source.startswith("genai-prices")
        usage = Usage(input_tokens=c.input_tokens + c.cache_read_tokens + c.cache_write_tokens,
                      output_tokens=c.output_tokens, cache_read_tokens=c.cache_read_tokens,
                      cache_write_tokens=c.cache_write_tokens)
        expected = calc_price(usage, c.model, provider_id=c.provider, genai_request_timestamp=c.ts)
        nanos = int((Decimal(expected.total_price) * 10**9).to_integral_value())
        assert abs(c.cost_nanos - nanos) <= 1, c


def test_write_ledgers_one_file_per_machine_idempotent(tmp_path):
    written = write_ledgers(tmp_path / "ledgers", NOW, scale=0.25)
    assert set(written.paths) == {mc for m in MEMBERS for mc in m.machines}
    total = n = 0
    ids = set()
    for machine, path in written.paths.items():
        with sqlite3.connect(path) as conn:
            cnt, nanos = conn.execute("SELECT count(*), sum(cost_nanos) FROM calls").fetchone()
            lids = {r[0] for r in conn.execute("SELECT DISTINCT ledger_id FROM calls")}
        with Ledger(path) as led:
            assert lids == {led.ledger_id}
            ids.add(led.ledger_id)
        assert cnt == len(written.data.calls_by_machine[machine])
        total += nanos
        n += cnt
    assert len(ids) == len(written.paths)            # a ledger id per machine
    assert total == written.data.total_nanos and n == written.inserted
    again = write_ledgers(tmp_path / "ledgers", NOW, scale=0.25)
    assert again.inserted == 0
