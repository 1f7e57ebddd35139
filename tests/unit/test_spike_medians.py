"""The fast spike baseline (costs keyed by day ordinal) gives day_baseline's medians."""

from __future__ import annotations

import random
from datetime import date, timedelta

from teamcost.reports import aggregate as agg


def test_day_medians_match_day_baseline_on_random_histories() -> None:
    rng = random.Random(28)
    for _ in range(40):
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
        costs = {start + timedelta(days=i): rng.choice([0, rng.randrange(1, 10**9)])
                 for i in range(rng.randrange(1, 120)) if rng.random() < 0.8}
        by_ordinal = {d.toordinal(): c for d, c in costs.items()}
        for i in range(-20, 140):
            day = start + timedelta(days=i)
            assert agg._day_medians(day, by_ordinal) == agg.day_baseline(day, costs)[:2], day


def test_a_spike_names_its_same_kind_days() -> None:
    # Monday 2026-03-16: the 14 days before hold 10 weekdays at 100 each
    monday = date(2026, 3, 16)
    costs = {monday - timedelta(days=k): 100 for k in range(1, 15)
             if (monday - timedelta(days=k)).weekday() < 5}
    days = [{"day": monday.isoformat(), "cost_nanos": 1000}]
    (spike,) = agg.spike_days(days, {**costs, monday: 1000})
    assert spike["baseline_nanos"] == 100 and spike["working_day_nanos"] == 100
    assert spike["baseline_kind"] == "weekday" and spike["baseline_days"] == 10
    assert (spike["baseline_from"], spike["baseline_to"]) == ("2026-03-02", "2026-03-13")
