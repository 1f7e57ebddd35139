"""The Parquet mirror of the team cache: complete, never double counting, crash-safe."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from teamcost.reports import columnar
from teamcost.sync.cache import TeamCache

from tests.sync_support import make_calls

T0 = datetime(2026, 11, 16, 8, 0, tzinfo=timezone.utc)
FAR = T0 + timedelta(days=400)


def _sum(table) -> int:
    return sum(table.column("cost_nanos").to_pylist())


def test_mirror_matches_the_cache_across_many_refreshes_and_compaction(tmp_path: Path) -> None:
    cache = TeamCache(tmp_path / "team-cache.db")
    everything = []
    for batch in range(columnar.COMPACT_AT + 3):  # forces a compaction on the way
        calls = make_calls(40, f"m{batch}@x.io", "l", seed=batch)
        cache.upsert((c, 1) for c in calls)
        cache.upsert((c, 1) for c in calls[:10])  # overlap re-reads add nothing
        everything += calls
        columnar.refresh(cache)
    table = columnar.read(cache, "core", T0 - timedelta(days=1), FAR)
    assert table.num_rows == len(everything)
    assert _sum(table) == sum(c.cost_nanos for c in everything)
    assert sorted(table.column("call_id").to_pylist()) == sorted(c.call_id for c in everything)
    parts = columnar.live_parts(columnar.mirror_dir(cache), int(cache.get_state(columnar.STATE_KEY)))
    assert len(parts) < columnar.COMPACT_AT


def test_window_and_filters(tmp_path: Path) -> None:
    cache = TeamCache(tmp_path / "team-cache.db")
    calls = make_calls(200, "ana@x.io", "l")  # 37 s apart from T0
    cache.upsert((c, 1) for c in calls)
    lo, hi = T0 + timedelta(seconds=37 * 50), T0 + timedelta(seconds=37 * 120)
    got = columnar.read(cache, "core", lo, hi, {"model": "gpt-4o"})
    expected = [c for c in calls if lo <= c.ts < hi and c.model == "gpt-4o"]
    assert sorted(got.column("call_id").to_pylist()) == [c.call_id for c in expected]
    assert columnar.read(cache, "other-team", T0, FAR).num_rows == 0


def test_crash_leftovers_are_ignored_and_replaced(tmp_path: Path) -> None:
    cache = TeamCache(tmp_path / "team-cache.db")
    first = make_calls(30, "a@x.io", "l", seed=1)
    cache.upsert((c, 1) for c in first)
    columnar.refresh(cache)
    # a refresh that wrote its part and died before recording the mark
    more = make_calls(20, "b@x.io", "l", seed=2)
    cache.upsert((c, 1) for c in more)
    rows = cache.conn.execute(f"SELECT {', '.join(columnar.COLUMNS)} FROM team_calls "
                              "WHERE rowid > 30").fetchall()
    columnar._write(columnar.mirror_dir(cache), columnar._table(rows), 31, 50)
    # ... and a compaction that died after writing the merged part, before deleting
    columnar._write(columnar.mirror_dir(cache), columnar._table(rows[:0]), 1, 5)
    table = columnar.read(cache, "core", T0 - timedelta(days=1), FAR)  # refreshes first
    assert table.num_rows == 50
    assert _sum(table) == sum(c.cost_nanos for c in first + more)


def test_live_parts_choose_non_overlapping_cover(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    for a, b in [(1, 10), (11, 20), (1, 20), (21, 30), (31, 40)]:
        (d / f"part-{a:012d}-{b:012d}.parquet").write_bytes(b"")
    chosen = [(p.start, p.end) for p in columnar.live_parts(d, 30)]
    assert chosen == [(1, 20), (21, 30)]  # compacted part wins; 31-40 is beyond the mark
