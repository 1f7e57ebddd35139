"""This machine's copy of the team's rollup cells (SQLite), kept by update time.

A view (report, watch, serve) refreshes it before it reads: one query for the cells whose
``updated_at`` is after the copy's watermark, so each refresh reads only the cells that
changed since the last one (a member's cells change when they push; one document per
(ledger, UTC day, cell), not per call). The agent does not refresh it in the background:
a machine nobody looks at reads nothing, and reads per member-day do not grow with the
team (docs/org-scale.md).

The file holds cells, not calls: a year of a 1,000,000-call team is a few hundred
thousand small rows at most.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from array import array
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from teamcost.errors import LedgerError
from teamcost.sync.retry import Backoff
from teamcost.sync.rollup_doc import CELL_DIMS, METRICS, CellRow

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    doc_id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    member TEXT NOT NULL,
    ledger_id TEXT NOT NULL,
    day TEXT NOT NULL,
    {", ".join(f"{d} TEXT NOT NULL" for d in CELL_DIMS)},
    slots BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cells_day ON cells (team, day);
"""
KIND = "teamcost-rollups"
# No overlap: a query at read time R sees every commit stamped <= R (Firestore is strongly
# consistent), so once a cell updated at T was read, no commit stamped <= T can appear later.


class RollupCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), check_same_thread=False,
                                        isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            kind = None
            tables = {r[0] for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" in tables:
                row = self.conn.execute("SELECT value FROM meta WHERE key='kind'").fetchone()
                kind = row[0] if row else None
            if tables and kind != KIND:
                raise LedgerError(f"{path} is not a teamcost rollup cache; move it away")
            self.conn.executescript(_SCHEMA)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('kind', ?)", (KIND,))
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot open the rollup cache {path}: {exc}") from None

    @classmethod
    def for_config(cls, config: Any) -> RollupCache:
        return cls(Path(config.cache_file).with_name("rollups.sqlite"))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> RollupCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def watermark(self, team: str) -> datetime | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?",
                                (f"watermark:{team}",)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def store(self, team: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """Upsert fetched cells (rollups.fetch_cell_rows); move the watermark to the
        newest update."""
        newest = self.watermark(team)
        for r in rows:
            u = r[-1]
            if isinstance(u, datetime) and (newest is None or u > newest):
                newest = u
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.executemany(
                    f"INSERT OR REPLACE INTO cells VALUES ({', '.join('?' * (6 + len(CELL_DIMS)))})",
                    [r[:-1] for r in rows])
                if newest is not None:
                    self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                      (f"watermark:{team}", newest.isoformat()))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return len(rows)

    def rows(self, team: str, first: date, last: date) -> list[tuple[Any, ...]]:
        """(member, ledger_id, day, *CELL_DIMS, packed slots) of UTC days first..last."""
        return self.conn.execute(
            f"SELECT member, ledger_id, day, {', '.join(CELL_DIMS)}, slots "
            "FROM cells WHERE team = ? AND day >= ? AND day <= ?",
            (team, first.isoformat(), last.isoformat())).fetchall()

    def cells(self, team: str, first: date, last: date) -> Iterator[CellRow]:
        """Cells of UTC days first..last (inclusive)."""
        n = len(CELL_DIMS)
        width = len(METRICS) + 1
        for r in self.rows(team, first, last):
            flat = unpack(r[3 + n])
            slots = {flat[i]: tuple(flat[i + 1:i + width]) for i in range(0, len(flat), width)}
            yield CellRow("", team, r[0], r[1], date.fromisoformat(r[2]),
                          dict(zip(CELL_DIMS, r[3:3 + n], strict=True)), slots)

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM cells").fetchone()[0])


def unpack(blob: bytes) -> array[int]:
    """A cell's packed slots: [quarter, *METRICS] rows, flattened."""
    out = array("q")
    out.frombytes(zlib.decompress(blob))
    return out


def refresh(client: Any, cache: RollupCache, team: str, backoff: Backoff) -> int:
    """Fetch the cells changed since the cache's watermark; returns documents read."""
    from teamcost.sync.rollups import fetch_cell_rows
    rows = fetch_cell_rows(client, team, cache.watermark(team), backoff)
    cache.store(team, rows)
    return len(rows)


def utc_days(since: datetime, until: datetime) -> tuple[date, date]:
    return since.astimezone(UTC).date(), (until - timedelta(microseconds=1)).astimezone(UTC).date()
