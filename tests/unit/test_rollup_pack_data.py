"""Packs as pure data: the chain a reader plans, the bytes round trip and hostile bytes,
and the local copy that never replaces a cell's state by an older one."""

from __future__ import annotations

import json
import struct
import zlib
from array import array
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teamcost.sync.rollup_cache import RollupCache, unpack
from teamcost.sync.rollup_doc import CELL_DIMS
from teamcost.sync.rollup_packs import (
    Pack,
    PackError,
    complete_packs,
    decode,
    encode,
    from_us,
    plan,
    split,
    to_us,
)


def _slots(*vals: int) -> bytes:
    return zlib.compress(array("q", [5, *vals, *[0] * (10 - len(vals))]).tobytes())


def _row(doc: str, updated_us: int, calls: int) -> tuple:
    return (doc, "core", "ana@example.com", "L1", "2026-11-16",
            *[f"{d}-x" for d in CELL_DIMS], _slots(calls, 7), updated_us)


def test_plan_takes_the_fewest_chunks_to_the_newest_end() -> None:
    month = Pack(2, 0, 100, 9)
    day = Pack(1, 100, 200, 4)
    fine = [Pack(0, 100 + 10 * i, 110 + 10 * i, 1) for i in range(10)]
    later = Pack(0, 200, 210, 1)
    packs = [month, day, *fine, later]
    assert plan(packs, 0) == [month, day, later]
    assert plan(packs, 150) == [day, later]              # 4 chunks beat 5 fine packs
    assert plan(packs, 185) == [*fine[8:], later]        # 2 fine packs beat the day's 4
    assert plan(packs, 105) == [day, later]              # inside a pack: 4 chunks < 10
    assert plan(packs, 210) == []
    # a gap: nothing starts at or before the watermark
    assert plan([Pack(0, 50, 60, 1)], 10) == []


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 30), st.integers(1, 5)),
                max_size=12), st.integers(0, 40))
def test_plan_is_a_contiguous_chain_to_the_farthest_reachable_end(
        spans: list[tuple[int, int, int]], w: int) -> None:
    packs = [Pack(0, s, s + d, c) for s, d, c in spans]
    chain = plan(packs, w)
    pos = w
    for p in chain:
        assert p.start <= pos < p.end
        pos = p.end
    # nothing reachable goes farther (plain fixpoint)
    reach = {w}
    changed = True
    while changed:
        changed = False
        for p in packs:
            if any(p.start <= r < p.end for r in reach) and p.end not in reach:
                reach.add(p.end)
                changed = True
    assert pos == max(reach)


def test_a_pack_round_trips_and_splits_under_a_mebibyte() -> None:
    rows = [_row(f"d{i:03d}", 1000 + i, i + 1) for i in range(50)]
    got = decode("core", encode(rows[::-1]), 2000)
    assert got == sorted(rows)
    assert all(len(c) <= 900_000 for c in split(b"x" * 2_000_000))
    assert b"".join(split(b"x" * 2_000_000)) == b"x" * 2_000_000


def _raw(head: object, blobs: bytes = b"") -> bytes:
    js = json.dumps(head).encode()
    return zlib.compress(b"TCP1" + struct.pack(">I", len(js)) + js + blobs)


@pytest.mark.parametrize("data", [
    b"", b"garbage", zlib.compress(b"TCP2rest"), _raw({"a": 1}), _raw([["short"]]),
    _raw([["d", "m", "L", "2026-11-16", *["x"] * len(CELL_DIMS), -1, 0]]),
    _raw([["d", "m", "L", "2026-11-16", *["x"] * len(CELL_DIMS), 5, 10]], b"abc"),
    _raw([["d", "m", "L", "2026-11-16", *["x"] * len(CELL_DIMS), 5, 3]], b"abc"),
    _raw([["d" * 5000, "m", "L", "2026-11-16", *["x"] * len(CELL_DIMS), 5, 0]]),
    _raw([["d", "m", "L", "2026-11-16", *["x"] * len(CELL_DIMS), 99999, 0]]),  # after end
    encode([_row("d", 5, 1)]) + b"tail",
])
def test_hostile_pack_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(PackError):
        decode("core", data, 1000)


def test_complete_packs_need_every_chunk() -> None:
    h = [{"level": 0, "start": 1, "end": 2, "chunk": k, "chunks": 3} for k in (1, 2)]
    assert complete_packs(h) == []
    assert complete_packs([*h, {**h[0], "chunk": 0}]) == [Pack(0, 1, 2, 3)]
    assert complete_packs([{"level": "x"}, {"level": 0, "start": 5, "end": 5, "chunk": 0,
                                            "chunks": 1}]) == []


def test_the_copy_never_replaces_a_state_by_an_older_one(tmp_path: Path) -> None:
    with RollupCache(tmp_path / "rollups.sqlite") as c:
        c.store("core", [_row("a", 300, 3), _row("b", 100, 1)])
        c.store("core", [_row("a", 200, 2), _row("b", 150, 9)])    # a: older, b: newer
        got = {r[0]: (unpack(r[-2])[1], r[-1]) for r in c.updated_after("core", None)}
        assert got == {"a": (3, 300), "b": (9, 150)}
        assert c.updated_after("core", 200) == [r for r in c.updated_after("core", None)
                                                if r[0] == "a"]
        # a pack's end moves the watermark though its cells are older
        c.store("core", [], watermark=from_us(5_000))
        assert c.watermark("core") == from_us(5_000)


def test_microseconds_are_exact() -> None:
    t = datetime(2026, 11, 16, 8, 0, 0, 123457, tzinfo=UTC)
    assert from_us(to_us(t)) == t and to_us(from_us(1)) == 1


def test_a_copy_from_before_packs_is_fetched_again(tmp_path: Path) -> None:
    import sqlite3
    p = tmp_path / "rollups.sqlite"
    conn = sqlite3.connect(p)
    conn.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('kind', 'teamcost-rollups');"
        "INSERT INTO meta VALUES ('watermark:core', '2026-11-16T08:00:00+00:00');"
        "CREATE TABLE cells (doc_id TEXT PRIMARY KEY, team TEXT, slots BLOB);"
        "INSERT INTO cells VALUES ('x', 'core', x'00');")
    conn.commit()
    conn.close()
    with RollupCache(p) as c:
        assert c.watermark("core") is None and c.count() == 0
