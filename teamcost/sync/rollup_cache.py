"""This machine's copy of the team's rollup cells (SQLite), kept by update time.

A view (report, watch, serve) refreshes it before it reads: first the packs written
since the copy's watermark (teamcost/sync/rollup_packs.py: an admin's refresh results,
recorded as a few compressed documents, when an admin packs), then one query for the
cells whose ``updated_at`` is after the last pack's end, so each refresh reads a few
pack documents plus the cells that changed since the last pack, not every cell the team
changed since this machine last looked. The agent does not refresh it in the background:
a machine nobody looks at reads nothing (docs/org-scale.md).

Each cell keeps its ``updated_at`` (µs) and a stored state is never replaced by an older
one, so packs and cells may be applied in any order and overlap: the copy holds, for each
cell, the newest state any of them carried.

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
from teamcost.ledger import connect
from teamcost.sync.retry import Backoff
from teamcost.sync.rollup_doc import CELL_DIMS, METRICS, CellRow
from teamcost.sync.rollup_packs import to_us

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    doc_id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    member TEXT NOT NULL,
    ledger_id TEXT NOT NULL,
    day TEXT NOT NULL,
    {", ".join(f"{d} TEXT NOT NULL" for d in CELL_DIMS)},
    slots BLOB NOT NULL,
    updated_us INTEGER NOT NULL
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
        # the project's opener (ledger.connect): busy timeout, and the switch to WAL
        # retried while another opener holds the file, so two openers at once (the
        # dashboard's first request during its start-up refresh) wait for each other
        self.conn = connect(path, create_parent=True, kind="rollup cache")
        try:
            # the check, the schema and the kind row in one write transaction: another
            # opener never sees the tables without their kind row (it would call the
            # file foreign)
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self._set_up(path)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise LedgerError(f"cannot open the rollup cache {path}: {exc}") from None
        except BaseException:
            self.conn.close()
            raise

    def _set_up(self, path: Path) -> None:
        kind = None
        tables = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" in tables:
            row = self.conn.execute("SELECT value FROM meta WHERE key='kind'").fetchone()
            kind = row[0] if row else None
        if tables and kind != KIND:
            raise LedgerError(f"{path} is not a teamcost rollup cache; move it away")
        if "cells" in tables and "updated_us" not in {
                r[1] for r in self.conn.execute("PRAGMA table_info(cells)")}:
            # a copy from before packs: its cells have no update time, so a pack
            # built from it could not select by time; fetched again from scratch
            self.conn.execute("DROP TABLE cells")
            self.conn.execute("DELETE FROM meta WHERE key LIKE 'watermark:%'")
        # statement by statement: executescript would COMMIT the transaction first
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self.conn.execute(statement)
        self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('kind', ?)", (KIND,))

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

    def store(self, team: str, rows: Sequence[tuple[Any, ...]],
              watermark: datetime | None = None) -> int:
        """Upsert fetched cells (rollups.fetch_cell_rows, or a pack's rows): a cell's
        stored state is replaced only by one at least as new. Moves the watermark to the
        newest update seen, or to ``watermark`` (a pack's end) when that is newer."""
        newest = self.watermark(team)
        if watermark is not None and (newest is None or watermark > newest):
            newest = watermark
        stamped = []
        for r in rows:
            u = r[-1]
            if isinstance(u, datetime):
                if newest is None or u > newest:
                    newest = u
                us = to_us(u)
            else:
                us = int(u) if isinstance(u, int) else 0
            stamped.append((*r[:-1], us))
        cols = ", ".join(("doc_id", "team", "member", "ledger_id", "day", *CELL_DIMS, "slots",
                          "updated_us"))
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.executemany(
                    f"INSERT INTO cells ({cols}) VALUES ({', '.join('?' * (7 + len(CELL_DIMS)))}) "
                    "ON CONFLICT(doc_id) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in cols.split(", ")[1:])
                    + " WHERE excluded.updated_us >= cells.updated_us", stamped)
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

    def updated_after(self, team: str, after_us: int | None) -> list[tuple[Any, ...]]:
        """(doc_id, team, member, ledger_id, day, *CELL_DIMS, slots, updated_us) of the
        cells updated after ``after_us`` (all when None), by doc id: what a pack holds."""
        where = "team = ?"
        args: list[Any] = [team]
        if after_us is not None:
            where += " AND updated_us > ?"
            args.append(after_us)
        return self.conn.execute(
            f"SELECT doc_id, team, member, ledger_id, day, {', '.join(CELL_DIMS)}, slots, "
            f"updated_us FROM cells WHERE {where} ORDER BY doc_id", args).fetchall()




def unpack(blob: bytes) -> array[int]:
    """A cell's packed slots: [quarter, *METRICS] rows, flattened."""
    out = array("q")
    out.frombytes(zlib.decompress(blob))
    return out


def refresh(client: Any, cache: RollupCache, team: str, backoff: Backoff) -> int:
    """Bring the copy up to date; returns documents read. The packs since the watermark
    first (when it is older than a few minutes, see rollup_packs.read_packs), each stored
    with its end as the new watermark, then the cells changed after that."""
    from teamcost.sync.rollup_packs import read_packs
    from teamcost.sync.rollups import fetch_cell_rows
    read = read_packs(client, cache, team, backoff)
    rows = fetch_cell_rows(client, team, cache.watermark(team), backoff)
    cache.store(team, rows)
    return read + len(rows)


def utc_days(since: datetime, until: datetime) -> tuple[date, date]:
    return since.astimezone(UTC).date(), (until - timedelta(microseconds=1)).astimezone(UTC).date()
