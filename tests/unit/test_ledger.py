"""The SQLite ledger against real files: concurrency, idempotence, sync bookkeeping, status."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from teamcost.errors import DuplicateCallError, LedgerError
from teamcost.ledger import MIGRATIONS, Ledger, record_to_row, row_to_record, ts_to_us, us_to_ts
from teamcost.models import CallRecord

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def make(call_id: str, cost: int = 1000, *, ts: datetime = T0, ledger_id: str = "lg-1",
         **kw: Any) -> CallRecord:
    return CallRecord(call_id=call_id, ts=ts, team="core", member="ann@example.com",
                      ledger_id=ledger_id, provider="openai", model="gpt-4o",
                      input_tokens=cost // 7, output_tokens=3, cost_nanos=cost,
                      price_source="test", **kw)


def cost_of(worker: int, i: int) -> int:
    # distinct, irregular costs so a lost or doubled row changes the sum
    return (worker * 100_003 + i * 7_919) % 9_999_991 + 1


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(tmp_path / "ledger.db") as lg:
        yield lg


def count_and_sum(path: Path) -> tuple[int, int, int]:
    """Second, independent read of the file: rows, distinct call ids, integer cost sum."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*), count(DISTINCT call_id), coalesce(sum(cost_nanos), 0) "
                            "FROM calls").fetchone()
    finally:
        conn.close()


# -- basics --

def test_new_ledger_is_wal_with_a_ledger_id(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    with Ledger(path) as lg:
        first_id = lg.ledger_id
        assert lg.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert lg.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    with Ledger(path) as lg:
        assert lg.ledger_id == first_id      # minted once, kept on reopen
    with Ledger(tmp_path / "other.db") as other:
        assert other.ledger_id != first_id


def test_row_round_trip_is_exact() -> None:
    rec = make("c1", 123_456_789, ts=T0 + timedelta(microseconds=7), tags={"b": "2", "a": "1"},
               duration_s=1.25, success=False, error="boom", estimated=True, session_id="s")
    row = record_to_row(rec)
    assert row[1] == ts_to_us(T0) + 7
    assert row_to_record(row) == rec
    assert us_to_ts(ts_to_us(rec.ts)) == rec.ts


def test_record_get_and_calls(ledger: Ledger) -> None:
    recs = [make(f"c{i}", 10 + i, ts=T0 + timedelta(hours=i)) for i in range(5)]
    for r in recs:
        assert ledger.record(r) is True
    assert ledger.get("c3") == recs[3]
    assert ledger.get("nope") is None
    # [since, until): hours 1, 2, 3
    assert list(ledger.calls(T0 + timedelta(hours=1), T0 + timedelta(hours=4))) == recs[1:4]
    assert list(ledger.calls()) == recs


# -- idempotence --

def test_same_call_twice_is_a_no_op(ledger: Ledger) -> None:
    rec = make("req_abc", 5000)
    assert ledger.record(rec) is True
    assert ledger.record(rec) is False
    assert ledger.record(make("req_abc", 5000)) is False    # equal content, new object
    assert count_and_sum(ledger.path) == (1, 1, 5000)


def test_same_call_id_with_different_content_is_an_error(ledger: Ledger) -> None:
    ledger.record(make("req_abc", 5000))
    with pytest.raises(DuplicateCallError) as info:
        ledger.record(make("req_abc", 6000))
    assert info.value.call_id == "req_abc"
    assert "cost_nanos" in info.value.differing and "input_tokens" in info.value.differing
    assert "req_abc" in str(info.value)
    assert ledger.get("req_abc").cost_nanos == 5000     # history never rewritten
    assert count_and_sum(ledger.path) == (1, 1, 5000)


def test_record_many(ledger: Ledger) -> None:
    recs = [make(f"m{i}", i + 1) for i in range(25)]
    assert ledger.record_many(recs[:10], chunk=4) == (10, 0)
    assert ledger.record_many(recs, chunk=4) == (15, 10)
    assert count_and_sum(ledger.path) == (25, 25, sum(range(1, 26)))


def test_record_many_of_new_calls_at_once_and_of_present_ones_row_by_row(
        ledger: Ledger) -> None:
    # a batch of new calls is inserted at once; one with present calls (a call twice in
    # it included) is undone and done row by row, each present one compared
    recs = [make(f"g{i}", i + 1) for i in range(12)]
    assert ledger.record_many(recs[3:6]) == (3, 0)
    assert ledger.record_many(recs + recs[:2], chunk=100) == (9, 5)
    assert ledger.record_many(recs[:4], chunk=100) == (0, 4)
    assert count_and_sum(ledger.path) == (12, 12, sum(range(1, 13)))
    with pytest.raises(DuplicateCallError):
        ledger.record_many([make("g13", 1), make("g0", 99)], chunk=100)
    assert count_and_sum(ledger.path) == (12, 12, sum(range(1, 13)))


def test_record_many_conflict_rolls_back_its_chunk_only(ledger: Ledger) -> None:
    ledger.record(make("x5", 1))
    recs = [make(f"x{i}", 100) for i in range(10)]   # x5 conflicts (cost 100 != 1)
    with pytest.raises(DuplicateCallError):
        ledger.record_many(recs, chunk=4)             # chunks: x0-x3 | x4-x7 | x8-x9
    n, distinct, total = count_and_sum(ledger.path)
    assert (n, distinct) == (5, 5)                    # x5 + the committed first chunk
    assert total == 1 + 4 * 100
    assert ledger.get("x4") is None


# -- concurrency --

def test_eight_threads_share_one_ledger(ledger: Ledger) -> None:
    per_thread = 250
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(per_thread):
                ledger.record(make(f"t{w}-{i}", cost_of(w, i)))
                if i % 50 == 0:   # a retry of an earlier call must not duplicate it
                    assert ledger.record(make(f"t{w}-{i}", cost_of(w, i))) is False
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    expected = sum(cost_of(w, i) for w in range(8) for i in range(per_thread))
    assert count_and_sum(ledger.path) == (8 * per_thread, 8 * per_thread, expected)
    assert ledger.status().cost_nanos == expected


def test_eight_threads_with_their_own_connections(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    Ledger(path).close()
    per_thread = 150

    def work(w: int) -> None:
        with Ledger(path) as lg:
            for i in range(per_thread):
                lg.record(make(f"o{w}-{i}", cost_of(w, i)))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = sum(cost_of(w, i) for w in range(8) for i in range(per_thread))
    assert count_and_sum(path) == (8 * per_thread, 8 * per_thread, expected)


PER_PROCESS = 200
SHARED = 50


def _process_worker(path: str, w: int, start: Any) -> None:
    # runs in a spawned child: opens (and maybe creates) the ledger itself
    start.wait()
    with Ledger(Path(path)) as lg:
        for i in range(PER_PROCESS):
            lg.record(make(f"p{w}-{i}", cost_of(w, i)))
            if i < SHARED:  # every process also records the same shared calls
                lg.record(make(f"shared-{i}", cost_of(99, i)))
        lg.record_many([make(f"p{w}-{i}", cost_of(w, i)) for i in range(PER_PROCESS)])


def test_four_processes_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "ledger.db"
    path.parent.mkdir()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    # the file does not exist yet: the processes race to create and migrate it too
    procs = [ctx.Process(target=_process_worker, args=(str(path), w, start)) for w in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    expected_rows = 4 * PER_PROCESS + SHARED
    expected_sum = (sum(cost_of(w, i) for w in range(4) for i in range(PER_PROCESS))
                    + sum(cost_of(99, i) for i in range(SHARED)))
    assert count_and_sum(path) == (expected_rows, expected_rows, expected_sum)
    with Ledger(path) as lg:
        st = lg.status()
        assert (st.calls, st.cost_nanos) == (expected_rows, expected_sum)
        # one ledger_id, one set of migrations despite the race
        assert lg.conn.execute("SELECT count(*) FROM meta WHERE key = 'ledger_id'").fetchone() == (1,)
        assert lg.conn.execute("SELECT version FROM migrations ORDER BY version").fetchall() == [
            (1,), (2,), (3,), (4,), (5,)]


def _fork_child(lg: Ledger) -> None:
    lg.record(make("from-child", 77))


def test_a_forked_child_reopens_its_own_connection(ledger: Ledger) -> None:
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        pytest.skip("no fork here")
    ledger.record(make("from-parent", 11))
    p = multiprocessing.get_context("fork").Process(target=_fork_child, args=(ledger,))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    ledger.record(make("parent-again", 12))
    assert count_and_sum(ledger.path) == (3, 3, 100)


# -- sync bookkeeping --

def test_unpushed_and_mark_pushed(ledger: Ledger) -> None:
    recs = [make(f"u{i}", 100 + i, ts=T0 + timedelta(minutes=i)) for i in range(7)]
    for r in recs:
        ledger.record(r)
    page = ledger.unpushed(limit=3)
    assert [r.call_id for _, r in page] == ["u0", "u1", "u2"]
    seqs = [s for s, _ in page]
    assert seqs == sorted(seqs)
    nxt = ledger.unpushed(limit=3, after_seq=seqs[-1])
    assert [r.call_id for _, r in nxt] == ["u3", "u4", "u5"]

    assert ledger.mark_pushed(["u0", "u2", "u4"], pushed_at_us=1_000) == 3
    assert ledger.mark_pushed(["u0", "nope"]) == 0           # already pushed / unknown
    assert ledger.mark_pushed([]) == 0
    assert [r.call_id for _, r in ledger.unpushed()] == ["u1", "u3", "u5", "u6"]
    assert ledger.unpushed_totals() == (4, 101 + 103 + 105 + 106)
    # [since, until) over ts: minutes 3..5 -> u3, u5 unpushed
    assert ledger.unpushed_totals(T0 + timedelta(minutes=3), T0 + timedelta(minutes=6)) == (2, 208)
    pushed_at = ledger.conn.execute("SELECT pushed_at FROM calls WHERE call_id='u2'").fetchone()[0]
    assert pushed_at == 1_000


def test_mark_pushed_many_ids(ledger: Ledger) -> None:
    ids = [f"b{i}" for i in range(1200)]   # more than one 500-id statement
    ledger.record_many([make(c, 1) for c in ids])
    assert ledger.mark_pushed(ids[:1100]) == 1100
    assert ledger.unpushed_totals() == (100, 100)


def test_status(ledger: Ledger) -> None:
    empty = ledger.status()
    assert (empty.calls, empty.cost_nanos, empty.unpushed, empty.first_ts) == (0, 0, 0, None)
    ledger.record(make("s1", 7_500_000, ts=T0))
    ledger.record(make("s2", 22_350_000, ts=T0 + timedelta(hours=2)))
    ledger.record(make("s3", 0, ts=T0 + timedelta(hours=1), priced=False))
    ledger.mark_pushed(["s1"])
    st = ledger.status()
    assert st.calls == 3
    assert st.cost_nanos == 7_500_000 + 22_350_000
    assert (st.unpushed, st.unpushed_cost_nanos) == (2, 22_350_000)
    assert st.unpriced == 1
    assert (st.first_ts, st.last_ts) == (T0, T0 + timedelta(hours=2))
    assert st.ledger_id == ledger.ledger_id and st.path == str(ledger.path)
    d = st.to_dict()
    assert d["cost_usd"] == 0.02985 and d["first_ts"] == T0.isoformat()


# -- opening errors --

def test_missing_directory_is_a_ledger_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger(tmp_path / "no" / "such" / "ledger.db")
    assert not (tmp_path / "no").exists()
    with Ledger(tmp_path / "made" / "ledger.db", create_parent=True) as lg:
        assert lg.path.exists()


def test_directory_or_garbage_file_is_a_ledger_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(LedgerError, match="is a directory"):
        Ledger(tmp_path / "dir.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LedgerError, match="not a SQLite database"):
        Ledger(junk)
    assert junk.read_bytes() == b"this is not sqlite at all" * 100


def test_read_only_location_is_a_ledger_error() -> None:
    # we may run as root, so permissions do not stop us; /proc refuses new files for anyone
    with pytest.raises(LedgerError) as info:
        Ledger(Path("/proc/self/ledger.db"))
    assert "/proc/self" in str(info.value)
