"""Rollup documents as pure data: budget windows in any zone are exact signed sums."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from teamcost.models import CallRecord
from teamcost.periods import period_bounds
from teamcost.sync.rollup_doc import (
    MAX_TRANSFORMS,
    MAX_WRITES,
    OTHER,
    ROLLUPS,
    TOTALS,
    RollupBatch,
    budget_terms,
    cell_from_doc,
    cells_from_calls,
    chunk_for_commit,
    eval_terms,
    materialize,
    rollup_writes,
)

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def calls(n: int, seed: int = 1, span: timedelta = timedelta(days=70)) -> list[CallRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = T0 + timedelta(microseconds=rng.randrange(int(span.total_seconds() * 1e6)))
        out.append(CallRecord(
            call_id=f"c{seed}-{i}", ts=ts, team="core", member=f"m{i % 3}",
            ledger_id=f"L{i % 4}", provider="openai", model=["a", "b"][i % 2],
            input_tokens=rng.randrange(100), output_tokens=rng.randrange(100),
            cache_read_tokens=0, cache_write_tokens=rng.randrange(5),
            cost_nanos=rng.randrange(1, 10**9), priced=bool(i % 5), price_source="t",
            success=bool(i % 7), session_id=f"s{i % 9}",
            tags={"project": f"p{i % 2}", "repo": "r"} if i % 3 else {}))
    return out


def brute(recs: list[CallRecord], start: datetime, end: datetime) -> tuple[int, int]:
    inside = [r for r in recs if start <= r.ts < end]
    return len(inside), sum(r.cost_nanos for r in inside)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/Los_Angeles",
                                "Pacific/Chatham", "Australia/Lord_Howe", "Pacific/Kiritimati",
                                "America/St_Johns"])
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_budget_periods_in_any_zone_equal_the_calls(tz: str, period: str) -> None:
    recs = calls(300, seed=len(tz) * 3 + len(period))
    docs = [d for (coll, _), d in materialize(rollup_writes(recs)).items() if coll == TOTALS]
    rng = random.Random(7)
    for _ in range(25):
        now = T0 + timedelta(seconds=rng.randrange(60 * 86400))
        start, end = period_bounds(now, period, tz)
        terms = budget_terms(start, end)
        assert terms is not None
        # a handful of fields, whatever the zone: the check's reads do not grow
        assert len({(base, sign) for _, base, sign in terms}) <= 5
        assert eval_terms(terms, docs) == brute(recs, start, end)
        # and the check up to now (the agent's "today so far" window is on quarter-hours
        # only when now is; any quarter-hour is exact)
        q_now = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)
        t2 = budget_terms(start, q_now)
        assert t2 is not None and eval_terms(t2, docs) == brute(recs, start, q_now)


def test_a_window_off_quarter_hours_has_no_rollup_answer() -> None:
    assert budget_terms(T0 + timedelta(minutes=7), T0 + timedelta(days=1)) is None


def test_cells_sum_to_the_calls_and_slots_are_utc_quarter_hours() -> None:
    recs = calls(2000, seed=3)
    cells = cells_from_calls(recs)
    tot = [0] * 10
    for c in cells.values():
        for i, v in enumerate(c.totals()):
            tot[i] += v
    assert tot[0] == len(recs) and tot[5] == sum(r.cost_nanos for r in recs)
    assert tot[6] == sum(1 for r in recs if not r.priced)
    assert tot[7] == sum(1 for r in recs if not r.success)
    # the document form agrees with the slot form
    docs = materialize(rollup_writes(recs))
    for (coll, doc_id), d in docs.items():
        if coll == ROLLUPS:
            row = cell_from_doc(doc_id, d)
            assert row.totals() == tuple(d.get(k, 0) for k in ("n", "i", "o", "cr", "cw", "c",
                                                                "u", "f", "ui", "uo"))


def test_commits_stay_within_firestore_limits() -> None:
    # a backfill: 500 calls of one session spread over 20 hours touch many quarter-hours
    recs = calls(1500, seed=4, span=timedelta(hours=20))
    chunks = chunk_for_commit(recs)
    assert [r for ch in chunks for r in ch] == recs
    for ch in chunks:
        b = RollupBatch()
        for r in ch:
            b.add(r)
        assert len(ch) + len(b) <= MAX_WRITES
        assert b.transforms() <= MAX_TRANSFORMS


def test_folded_values_move_calls_never_out_of_totals() -> None:
    recs = calls(500, seed=5)
    def fold(day: str, dim: str, value: str, call_id: str) -> str:
        return value if dim != "session_id" or value in ("s0", "s1") else OTHER
    folded = cells_from_calls(recs, fold)
    assert {c.dims["session_id"] for c in folded.values()} == {"s0", "s1", OTHER}
    assert sum(c.totals()[5] for c in folded.values()) == sum(r.cost_nanos for r in recs)
