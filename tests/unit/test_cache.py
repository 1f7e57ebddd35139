"""The team cache: upsert by call_id, state in the same transaction, range reads."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from teamcost.models import CallRecord
from teamcost.sync.cache import TeamCache

T0 = datetime(2026, 11, 2, 9, 30, 0, 123456, tzinfo=timezone.utc)


def make(i: int, team: str = "core", cost: int = 1_000) -> CallRecord:
    return CallRecord(call_id=f"c{i:04d}", ts=T0 + timedelta(hours=i), team=team,
                      member=f"m{i % 3}@x.io", ledger_id="lap-1", provider="openai",
                      model="gpt-4o", input_tokens=i, output_tokens=2 * i,
                      cost_nanos=cost * i, priced=True, price_source="test",
                      tags={"k": str(i)})


def test_upsert_counts_only_new_and_round_trips(tmp_path: Path) -> None:
    cache = TeamCache(tmp_path / "cache.db")
    recs = [make(i) for i in range(10)]
    assert cache.upsert((r, 1_000 + i) for i, r in enumerate(recs)) == 10
    # the overlap of a later pull re-offers the same calls: nothing is added twice
    assert cache.upsert((r, 5) for r in recs[5:]) == 0
    assert cache.count() == 10
    assert cache.totals() == (10, sum(1_000 * i for i in range(10)))
    assert cache.calls() == recs
    assert cache.pushed_at_of("c0003") == 1_003


def test_range_and_team_filters(tmp_path: Path) -> None:
    cache = TeamCache(tmp_path / "cache.db")
    cache.upsert([(make(i), 1) for i in range(6)] + [(make(100, team="other"), 1)])
    got = cache.calls(team="core", since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4))
    assert [c.call_id for c in got] == ["c0002", "c0003"]
    assert cache.count("other") == 1 and cache.count("core") == 6


def test_state_commits_with_rows_and_rolls_back_with_them(tmp_path: Path) -> None:
    cache = TeamCache(tmp_path / "cache.db")
    cache.upsert([(make(1), 7)], {"watermark": "7"})
    assert cache.get_state("watermark") == "7"

    def bad_items():
        yield make(2), 8
        raise RuntimeError("connection dropped mid-page")

    with pytest.raises(RuntimeError):
        cache.upsert(bad_items(), {"watermark": "8"})
    # neither the half page nor its watermark survived
    assert cache.get_state("watermark") == "7"
    assert cache.count() == 1
    cache.close()
    assert TeamCache(tmp_path / "cache.db").get_state("watermark") == "7"
