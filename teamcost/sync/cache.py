"""The local team cache: every call of the team that ``pull`` has read from Firestore.

Why SQLite and not Parquet: pull writes it a page at a time and must survive being
interrupted (each page and its watermark commit together in one transaction, so a
resumed pull never re-reads a page it already has); upsert-by-call_id is a UNIQUE
constraint instead of a rewrite of the whole file; and the same columns and helpers
as the ledger serve both. Reports read it with one indexed range scan.

Table ``team_calls``: the ledger's call columns (``ts`` integer µs UTC, ``tags`` JSON,
booleans 0/1) plus ``pushed_at`` (µs, the server's commit time). ``sync_state`` is a
small key/value table for the pull watermark and the last push/pull summaries.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teamcost.errors import LedgerError
from teamcost.ledger import (
    CALL_COLUMNS,
    CALL_COLUMNS_SQL,
    CALL_PLACEHOLDERS,
    connect,
    migrate,
    record_to_row,
    row_to_record,
    ts_to_us,
)
from teamcost.models import CallRecord

if TYPE_CHECKING:
    from teamcost.config import Config

_INSERT = (f"INSERT INTO team_calls ({CALL_COLUMNS}, pushed_at) "
           f"VALUES ({CALL_PLACEHOLDERS}, ?) ON CONFLICT (call_id) DO NOTHING")


def _m1_team_calls(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE TABLE team_calls ({CALL_COLUMNS_SQL}, pushed_at INTEGER NOT NULL)")
    # reports scan one team's time window; pull never needs to search the cache
    conn.execute("CREATE INDEX team_calls_team_ts ON team_calls (team, ts)")
    conn.execute("CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


CACHE_MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Connection], None]]] = [
    (1, "team_calls and sync_state", _m1_team_calls),
]


def _rebuildable(exc: LedgerError, path: Path) -> LedgerError:
    """A damaged cache says how to get a good one: it is only a copy of Firestore."""
    msg = str(exc)
    if any(w in msg for w in ("not a SQLite database", "malformed", "not a database",
                              "cannot prepare")):
        return LedgerError(f"{msg}; the team cache is only a copy of Firestore's calls: move "
                           f"{path} away and `teamcost sync pull` rebuilds it")
    return exc


class TeamCache:
    """The team cache file. Safe from several threads (one connection behind a lock)."""

    def __init__(self, path: Path | str, *, read_only_ok: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.conn = connect(self.path, create_parent=True,
                                schema=(CACHE_MIGRATIONS, "team cache"),
                                read_only_ok=read_only_ok)
        except LedgerError as exc:
            raise _rebuildable(exc, self.path) from None
        try:
            migrate(self.conn, CACHE_MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise _rebuildable(LedgerError(f"cannot prepare team cache {self.path}: {exc}"),
                               self.path) from None

    @classmethod
    def for_config(cls, config: Config) -> TeamCache:
        return cls(config.cache_file)

    @classmethod
    def for_reading(cls, config: Config) -> TeamCache:
        """The existing cache for a caller that only reads (read-only in a read-only home)."""
        return cls(config.cache_file, read_only_ok=True)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> TeamCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --

    def upsert(self, items: Iterable[tuple[CallRecord, int]],
               state: dict[str, str] | None = None) -> int:
        """Insert (record, pushed_at_us) pairs not yet cached; returns how many were new.

        Call documents are immutable (append-only, rules forbid updates), so a call_id
        already cached is skipped rather than rewritten. ``state`` keys are written in
        the same transaction, which is what makes an interrupted pull resumable.
        """
        new = 0
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for rec, pushed_at_us in items:
                    new += self.conn.execute(_INSERT, (*record_to_row(rec), pushed_at_us)).rowcount
                for key, value in (state or {}).items():
                    self.conn.execute("INSERT INTO sync_state (key, value) VALUES (?, ?) "
                                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                      (key, value))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return new

    def set_state(self, key: str, value: str) -> None:
        self.upsert((), {key: value})

    def delete_state(self, key: str) -> None:
        with self._lock:
            self.conn.execute("DELETE FROM sync_state WHERE key = ?", (key,))

    def states(self, prefix: str) -> dict[str, str]:
        """Every state entry whose key starts with ``prefix`` (e.g. pending alerts)."""
        with self._lock:
            rows = self.conn.execute("SELECT key, value FROM sync_state WHERE key >= ? AND "
                                     "key < ? ORDER BY key", (prefix, prefix + "\uffff")).fetchall()
        return {k: v for k, v in rows}

    # -- reading --

    def get_state(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def count(self, team: str | None = None) -> int:
        with self._lock:
            if team is None:
                return int(self.conn.execute("SELECT count(*) FROM team_calls").fetchone()[0])
            return int(self.conn.execute("SELECT count(*) FROM team_calls WHERE team = ?",
                                         (team,)).fetchone()[0])

    def totals(self, team: str | None = None) -> tuple[int, int]:
        """(calls, cost_nanos) in the cache, optionally for one team."""
        sql = "SELECT count(*), coalesce(sum(cost_nanos), 0) FROM team_calls"
        args: Sequence[Any] = ()
        if team is not None:
            sql += " WHERE team = ?"
            args = (team,)
        with self._lock:
            n, nanos = self.conn.execute(sql, args).fetchone()
        return int(n), int(nanos)

    def calls(self, team: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> list[CallRecord]:
        """Cached calls with since <= ts < until, oldest first."""
        lo = ts_to_us(since) if since else -(2**62)
        hi = ts_to_us(until) if until else 2**62
        sql = f"SELECT {CALL_COLUMNS} FROM team_calls WHERE ts >= ? AND ts < ?"
        args: list[Any] = [lo, hi]
        if team is not None:
            sql += " AND team = ?"
            args.append(team)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY ts, call_id", args).fetchall()
        return [row_to_record(r) for r in rows]

    def call_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self.conn.execute("SELECT call_id FROM team_calls")}

    def pushed_at_of(self, call_id: str) -> int | None:
        with self._lock:
            row = self.conn.execute("SELECT pushed_at FROM team_calls WHERE call_id = ?",
                                    (call_id,)).fetchone()
        return int(row[0]) if row else None


def known_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the team cache already holds (pushed and pulled back)."""
    known: set[str] = set()
    for i in range(0, len(ids), 500):
        part = list(ids[i:i + 500])
        known.update(r[0] for r in conn.execute(
            f"SELECT call_id FROM team_calls WHERE call_id IN ({', '.join('?' * len(part))})",
            part))
    return known
