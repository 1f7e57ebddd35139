"""Has anything a report reads changed? A fingerprint cheap enough to take every second.

Both the team cache and the ledger only ever insert calls, so the newest row id of each
(an index lookup, not a count) moves exactly when a call arrives; the file's identity
is part of it, so a cache deleted and pulled again is noticed too. Pulls by any process
(``teamcost sync``, the agent, a server's own background pull) all land in the same
cache file, which is why watching the file is enough.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from teamcost.config import Config


@dataclass(frozen=True)
class Fingerprint:
    cache: tuple[int, int] | None     # (file inode, newest rowid) of the team cache
    ledger: tuple[int, int] | None    # (file inode, newest seq) of this machine's ledger

    def to_dict(self) -> dict[str, int | None]:
        return {"cache_rowid": self.cache[1] if self.cache else None,
                "ledger_seq": self.ledger[1] if self.ledger else None}


class _Newest:
    """One read connection to one file, reopened when the file is replaced.

    Reads and closes take turns (a lock): closing a connection while another thread
    runs a query on it crashes the interpreter, and a server stops while a worker
    thread may still be taking a fingerprint.
    """

    def __init__(self, path: Path, sql: str) -> None:
        self.path = path
        self.sql = sql
        self._conn: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._lock = threading.RLock()

    def read(self) -> tuple[int, int] | None:
        with self._lock:
            return self._read()

    def _read(self) -> tuple[int, int] | None:
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            self.close()
            return None
        try:
            if self._conn is None or inode != self._inode:
                self.close()
                # read-only: watching must never create or change a file
                self._conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro",
                                             uri=True, timeout=5.0, check_same_thread=False)
                self._inode = inode
            row = self._conn.execute(self.sql).fetchone()
        except sqlite3.Error:
            # not a database yet (being created) or no table yet: nothing to report
            self.close()
            return None
        return inode, int(row[0] or 0)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._inode = None


class ChangeProbe:
    """``probe.fingerprint()`` differs from the last one exactly when calls arrived.
    Safe to use (and close) from several threads."""

    def __init__(self, config: Config) -> None:
        self._cache = _Newest(config.cache_file, "SELECT max(rowid) FROM team_calls") \
            if config.has_firestore else None
        self._ledger = _Newest(config.ledger_file, "SELECT max(seq) FROM calls")

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self._cache.read() if self._cache else None, self._ledger.read())

    def close(self) -> None:
        if self._cache:
            self._cache.close()
        self._ledger.close()
