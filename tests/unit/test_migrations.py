"""Schema migrations: a blank file reaches the expected schema; running again changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from teamcost.ledger import MIGRATIONS, Ledger, connect, migrate

# The schema written out by hand: (column, declared type, NOT NULL, primary-key position).
EXPECTED_CALLS_COLUMNS = [
    ("seq", "INTEGER", 0, 1),
    ("call_id", "TEXT", 1, 0),
    ("ts", "INTEGER", 1, 0),
    ("team", "TEXT", 1, 0),
    ("member", "TEXT", 1, 0),
    ("ledger_id", "TEXT", 1, 0),
    ("provider", "TEXT", 1, 0),
    ("model", "TEXT", 1, 0),
    ("input_tokens", "INTEGER", 1, 0),
    ("output_tokens", "INTEGER", 1, 0),
    ("cache_read_tokens", "INTEGER", 1, 0),
    ("cache_write_tokens", "INTEGER", 1, 0),
    ("cost_nanos", "INTEGER", 1, 0),
    ("priced", "INTEGER", 1, 0),
    ("price_source", "TEXT", 1, 0),
    ("session_id", "TEXT", 0, 0),
    ("agent", "TEXT", 0, 0),
    ("task_id", "TEXT", 0, 0),
    ("correlation_id", "TEXT", 0, 0),
    ("duration_s", "REAL", 0, 0),
    ("success", "INTEGER", 1, 0),
    ("error", "TEXT", 0, 0),
    ("tags", "TEXT", 1, 0),
    ("estimated", "INTEGER", 1, 0),
    ("recorded_at", "INTEGER", 1, 0),
    ("pushed_at", "INTEGER", 0, 0),
]
EXPECTED_MASTER = [  # (type, name, table), sorted
    ("index", "calls_session", "calls"),
    ("index", "calls_ts", "calls"),
    ("index", "calls_unpushed", "calls"),
    ("index", "sqlite_autoindex_calls_1", "calls"),     # call_id UNIQUE
    ("index", "sqlite_autoindex_log_files_1", "log_files"),  # path PRIMARY KEY
    ("index", "sqlite_autoindex_meta_1", "meta"),       # meta.key PRIMARY KEY
    ("table", "calls", "calls"),
    ("table", "log_files", "log_files"),
    ("table", "meta", "meta"),
    ("table", "migrations", "migrations"),
    ("table", "sqlite_sequence", "sqlite_sequence"),    # from AUTOINCREMENT
]
# index -> (columns, unique, partial)
EXPECTED_INDEXES = {
    "calls_session": (["session_id", "cost_nanos"], 0, 1),
    "calls_ts": (["ts"], 0, 0),
    "calls_unpushed": (["seq"], 0, 1),
    "sqlite_autoindex_calls_1": (["call_id"], 1, 0),
}


NEXT = len(MIGRATIONS) + 1   # the version a new migration would take


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, int, int]]:
    return [(r[1], r[2], r[3], r[5]) for r in conn.execute(f"PRAGMA table_info({table})")]


def snapshot(conn: sqlite3.Connection) -> tuple[list, list, list]:
    """Everything a migration could change: schema text, migration log, meta."""
    return (conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall(),
            conn.execute("SELECT * FROM migrations ORDER BY version").fetchall(),
            conn.execute("SELECT * FROM meta ORDER BY key").fetchall())


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = connect(tmp_path / "blank.db")
    yield c
    c.close()


def test_blank_db_reaches_the_expected_schema(conn: sqlite3.Connection) -> None:
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    assert migrate(conn) == [1, 2, 3, 4, 5]
    master = conn.execute("SELECT type, name, tbl_name FROM sqlite_master "
                          "ORDER BY type, name").fetchall()
    assert master == EXPECTED_MASTER
    assert columns(conn, "calls") == EXPECTED_CALLS_COLUMNS
    assert columns(conn, "meta") == [("key", "TEXT", 0, 1), ("value", "TEXT", 1, 0)]
    assert columns(conn, "log_files") == [
        ("path", "TEXT", 0, 1), ("source", "TEXT", 1, 0), ("dev", "INTEGER", 1, 0),
        ("ino", "INTEGER", 1, 0), ("size", "INTEGER", 1, 0), ("mtime_ns", "INTEGER", 1, 0),
        ("offset", "INTEGER", 1, 0), ("lineno", "INTEGER", 1, 0), ("head", "TEXT", 1, 0),
        ("tail", "TEXT", 1, 0), ("state", "TEXT", 1, 0),
        ("updated_at", "INTEGER", 1, 0)]
    assert columns(conn, "migrations") == [("version", "INTEGER", 0, 1), ("name", "TEXT", 1, 0),
                                           ("applied_at", "INTEGER", 1, 0)]
    indexes = {r[1]: (r[2], r[4]) for r in conn.execute("PRAGMA index_list(calls)")}
    for name, (cols, unique, partial) in EXPECTED_INDEXES.items():
        assert [r[2] for r in conn.execute(f"PRAGMA index_info({name})")] == cols
        assert indexes[name] == (unique, partial)
    assert set(indexes) == set(EXPECTED_INDEXES)
    # the partial index is the unpushed one
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name='calls_unpushed'").fetchone()[0]
    assert "WHERE pushed_at IS NULL" in sql
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name='calls_session'").fetchone()[0]
    assert "WHERE session_id IS NOT NULL" in sql
    versions = conn.execute("SELECT version, name FROM migrations ORDER BY version").fetchall()
    assert versions == [(v, n) for v, n, _ in MIGRATIONS] == [
        (1, "calls table"), (2, "indexes for reports and sync"), (3, "mint ledger_id"),
        (4, "log file offsets"), (5, "session index for the status line")]
    (ledger_id,) = conn.execute("SELECT value FROM meta WHERE key='ledger_id'").fetchone()
    assert ledger_id and "/" not in ledger_id and " " not in ledger_id


def test_running_twice_changes_nothing(conn: sqlite3.Connection) -> None:
    migrate(conn)
    before = snapshot(conn)
    assert migrate(conn) == []
    assert migrate(conn) == []
    assert snapshot(conn) == before


def test_reopening_a_ledger_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    Ledger(path).close()
    c = sqlite3.connect(path)
    before = snapshot(c)
    c.close()
    with Ledger(path):
        pass
    c = sqlite3.connect(path)
    assert snapshot(c) == before
    c.close()


def test_a_later_migration_applies_once(conn: sqlite3.Connection) -> None:
    migrate(conn)

    def m_next(c: sqlite3.Connection) -> None:
        c.execute("ALTER TABLE calls ADD COLUMN note TEXT")

    extended = [*MIGRATIONS, (NEXT, "note column", m_next)]
    assert migrate(conn, extended) == [NEXT]
    assert migrate(conn, extended) == []
    assert columns(conn, "calls")[-1] == ("note", "TEXT", 0, 0)


def test_a_failing_migration_is_rolled_back_and_not_recorded(conn: sqlite3.Connection) -> None:
    migrate(conn)
    before = snapshot(conn)

    def bad(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        migrate(conn, [*MIGRATIONS, (NEXT, "bad", bad)])
    assert snapshot(conn) == before
    assert not conn.in_transaction
