"""The local SQLite ledger: one row per call, append-only, exact integer money.

WAL mode with synchronous=NORMAL: a commit is an append to the WAL, not an fsync,
so recording costs tens of microseconds and survives a crash of the process (only
an OS crash or power loss can drop the last commits; the file never corrupts).
One connection per Ledger object, guarded by a lock, is safe from many threads;
SQLite's own locking (with a busy timeout) makes it safe from many processes.

Columns are the call-record fields in ``CALL_FIELDS`` order, except that ``ts``
holds integer microseconds since the epoch (UTC), ``tags`` JSON text and the
booleans 0/1. ``seq`` is the local recording order, ``pushed_at`` (microseconds)
is NULL until Firestore has the call.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teamcost.errors import DuplicateCallError, LedgerError
from teamcost.models import CALL_FIELDS, CallRecord
from teamcost.money import nanos_to_usd

if TYPE_CHECKING:
    from teamcost.config import Config

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BUSY_TIMEOUT_MS = 30_000

# Columns of a calls table, in CALL_FIELDS order (shared by the ledger and the team cache).
CALL_COLUMNS_SQL = """
    call_id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    team TEXT NOT NULL,
    member TEXT NOT NULL,
    ledger_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_nanos INTEGER NOT NULL,
    priced INTEGER NOT NULL,
    price_source TEXT NOT NULL,
    session_id TEXT,
    agent TEXT,
    task_id TEXT,
    correlation_id TEXT,
    duration_s REAL,
    success INTEGER NOT NULL,
    error TEXT,
    tags TEXT NOT NULL,
    estimated INTEGER NOT NULL
"""
CALL_COLUMNS = ", ".join(CALL_FIELDS)        # the SELECT list of a whole call, in field order
CALL_PLACEHOLDERS = ", ".join("?" for _ in CALL_FIELDS)
_BOOL_IDX = tuple(CALL_FIELDS.index(n) for n in ("priced", "success", "estimated"))
_TS_IDX = CALL_FIELDS.index("ts")
_TAGS_IDX = CALL_FIELDS.index("tags")


def ts_to_us(ts: datetime) -> int:
    """Exact integer microseconds since the epoch (no float round trip)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_ts(us: int) -> datetime:
    from datetime import timedelta
    return _EPOCH + timedelta(microseconds=us)


def record_to_row(rec: CallRecord) -> tuple[Any, ...]:
    row = [getattr(rec, n) for n in CALL_FIELDS]
    row[_TS_IDX] = ts_to_us(rec.ts)
    row[_TAGS_IDX] = json.dumps(rec.tags, sort_keys=True, separators=(",", ":"))
    for i in _BOOL_IDX:
        row[i] = int(row[i])
    return tuple(row)


def row_to_record(row: Sequence[Any]) -> CallRecord:
    """Inverse of record_to_row for the first len(CALL_FIELDS) values of ``row``."""
    vals = list(row[: len(CALL_FIELDS)])
    vals[_TS_IDX] = us_to_ts(vals[_TS_IDX])
    vals[_TAGS_IDX] = json.loads(vals[_TAGS_IDX])
    for i in _BOOL_IDX:
        vals[i] = bool(vals[i])
    return CallRecord(**dict(zip(CALL_FIELDS, vals)))


# -- migrations: small numbered functions, each applied once in its own transaction --

def _m1_calls(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(f"""CREATE TABLE calls (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        {CALL_COLUMNS_SQL},
        recorded_at INTEGER NOT NULL,
        pushed_at INTEGER
    )""")


def _m2_indexes(conn: sqlite3.Connection) -> None:
    # reports read a time window; sync reads unpushed rows in seq order
    conn.execute("CREATE INDEX calls_ts ON calls (ts)")
    conn.execute("CREATE INDEX calls_unpushed ON calls (seq) WHERE pushed_at IS NULL")


def _m3_ledger_id(conn: sqlite3.Connection) -> None:
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())[:40]
    ledger_id = f"{host or 'ledger'}-{uuid.uuid4().hex[:8]}"
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('ledger_id', ?)", (ledger_id,))


def _m4_log_files(conn: sqlite3.Connection) -> None:
    # where each followed log file was read up to, so a restart or re-import reads only what
    # is new (teamcost.capture.logs.tail)
    conn.execute("""CREATE TABLE log_files (
        path TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        lineno INTEGER NOT NULL,
        head TEXT NOT NULL,
        tail TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    )""")


def _m5_session_index(conn: sqlite3.Connection) -> None:
    # the status line sums one session after every Claude Code message: an index-only read
    # (session_id, cost_nanos) instead of a scan of every call
    conn.execute("CREATE INDEX calls_session ON calls (session_id, cost_nanos) "
                 "WHERE session_id IS NOT NULL")


MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Connection], None]]] = [
    (1, "calls table", _m1_calls),
    (2, "indexes for reports and sync", _m2_indexes),
    (3, "mint ledger_id", _m3_ledger_id),
    (4, "log file offsets", _m4_log_files),
    (5, "session index for the status line", _m5_session_index),
]


Migrations = Sequence[tuple[int, str, Callable[[sqlite3.Connection], None]]]

# What the first migration of each kind of teamcost file is called: how a file tells
# which kind it is (later migrations' names differ between versions; the first never did).
FIRST_MIGRATION = {"calls table": "ledger", "team_calls and sync_state": "team cache"}


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}


def check_schema(conn: sqlite3.Connection, path: Path, migrations: Migrations,
                 kind: str) -> None:
    """Refuse, before any write, a file that is not a teamcost ``kind`` (another
    application's database, or the other kind of teamcost file) or whose schema is newer
    than this teamcost knows. An empty or new file passes. Reads only."""
    tables = _tables(conn)
    if not tables:
        return
    fix = f"nothing was written to it; point teamcost at a new file for its {kind}"
    cols = ([r[1] for r in conn.execute("PRAGMA table_info(migrations)")]
            if "migrations" in tables else [])
    ours = cols[:3] == ["version", "name", "applied_at"]
    rows = conn.execute("SELECT version, name FROM migrations").fetchall() if ours else []
    if ours and tables == {"migrations"} and not rows:
        return  # made by a teamcost that stopped before its first migration
    first = next((name for v, name in rows if v == 1), None)
    if first not in FIRST_MIGRATION:
        shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
        raise LedgerError(f"{path} is not a teamcost {kind}: it holds another application's "
                          f"tables ({shown}); {fix}")
    if FIRST_MIGRATION[first] != kind:
        raise LedgerError(f"{path} is a teamcost {FIRST_MIGRATION[first]}, not a {kind}; {fix}")
    newest, known = max(v for v, _ in rows), max(v for v, _, _ in migrations)
    if not isinstance(newest, int) or newest > known:
        raise LedgerError(f"{path} was written by a newer teamcost (schema version {newest}; "
                          f"this teamcost knows up to {known}); upgrade teamcost to use it "
                          "(nothing was written to it)")


def migrate(conn: sqlite3.Connection, migrations: Migrations = MIGRATIONS) -> list[int]:
    """Apply pending migrations; safe when several processes open a new ledger at once.

    A file with nothing pending is not written to (so a read-only one still opens)."""
    applied_now: list[int] = []
    if "migrations" in _tables(conn):
        done = {r[0] for r in conn.execute("SELECT version FROM migrations")}
        if all(v in done for v, _, _ in migrations):
            return applied_now
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, "
                 "name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
    for version, name, fn in migrations:
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: no two processes race here
        try:
            done = conn.execute("SELECT 1 FROM migrations WHERE version = ?", (version,)).fetchone()
            if not done:
                fn(conn)
                conn.execute("INSERT INTO migrations VALUES (?, ?, ?)",
                             (version, name, int(time.time())))
                applied_now.append(version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied_now


def connect(path: Path, *, create_parent: bool = False,
            schema: tuple[Migrations, str] | None = None,
            read_only_ok: bool = False, kind: str | None = None) -> sqlite3.Connection:
    """Open a SQLite file with the pragmas teamcost relies on; errors name the path.

    ``schema`` (migrations, kind) refuses a foreign or newer file before
    anything is written. ``read_only_ok``: when the file or its directory cannot be
    written (a read-only home), open it read-only instead, for a caller that only reads.
    ``kind`` names the file in errors when there is no schema (default: ledger).
    """
    path = Path(path)
    parent = path.parent
    kind = schema[1] if schema is not None else (kind or "ledger")
    if create_parent:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create directory {parent} for the {kind}: "
                              f"{exc.strerror or exc}") from None
    if not parent.is_dir():
        raise LedgerError(f"cannot open {kind} {path}: directory {parent} does not exist")
    if path.is_dir():
        raise LedgerError(f"cannot open {kind} {path}: it is a directory")
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if schema is not None:
            check_schema(conn, path, *schema)
        for _ in range(50):  # switching to WAL needs a moment alone with the file
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                time.sleep(0.05)
        else:
            mode = "?"
        if mode.lower() != "wal":
            raise LedgerError(f"cannot open {kind} {path}: WAL mode unavailable (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
    except (sqlite3.DatabaseError, LedgerError) as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, LedgerError):
            raise
        if read_only_ok and _read_only(exc) and path.is_file():
            return _connect_read_only(path, schema)
        raise LedgerError(f"cannot open {kind} {path}: {_why(exc, parent)}") from None
    return conn


def _blank(path: Path) -> bool:
    """Is ``path`` an existing regular file with nothing in it?"""
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def _read_only(exc: Exception) -> bool:
    msg = str(exc)
    return "readonly" in msg or "read-only" in msg or "unable to open" in msg


def _connect_read_only(path: Path, schema: tuple[Migrations, str] | None
                       ) -> sqlite3.Connection:
    """A file we may read but not write (nor create its -shm beside it): opened immutable,
    which is exact only while no other process has writes in its -wal; refuse otherwise."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise LedgerError(f"cannot read {path} read-only: {wal} holds writes not yet in the "
                          "file and this user may not write beside it; run teamcost as the "
                          "file's owner")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                               isolation_level=None, check_same_thread=False)
        if schema is not None:
            check_schema(conn, path, *schema)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot open {path} read-only: {_why(exc, path.parent)}") from None
    return conn


def _why(exc: Exception, parent: Path) -> str:
    msg = str(exc)
    if "unable to open" in msg or "readonly" in msg or "read-only" in msg:
        return f"directory {parent} is not writable ({msg})"
    if "not a database" in msg:
        return "the file is not a SQLite database"
    return msg


def _unwritable(exc: sqlite3.DatabaseError) -> str:
    """A write's sqlite error as the reason a user can act on."""
    msg = str(exc)
    if "disk I/O error" in msg or "readonly" in msg or "read-only" in msg:
        return f"{msg}: the file, its -wal or its directory is read-only, or the disk is full"
    return msg


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT; on any failure a ROLLBACK if a transaction is still open.
    A COMMIT that fails with an I/O error has already ended the transaction, and the
    ROLLBACK's own "no transaction is active" must not hide the real error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass   # the first error is the one to report
        raise


@dataclass(frozen=True)
class LogFileState:
    """How far a followed log file has been read: ``offset`` bytes (``lineno`` lines) are done.
    Its identity (dev, ino), ``size`` and ``mtime_ns`` when read, and hashes of its first bytes
    (``head``) and of the bytes just before ``offset`` (``tail``) tell whether it only grew
    since, or was replaced, truncated or rewritten; ``state`` is its reader's state at
    ``offset``."""

    path: str
    source: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    offset: int
    lineno: int
    head: str
    tail: str
    state: dict[str, Any]
    saved_at_us: int = 0      # when this was saved (read back; a save stamps its own time)


@dataclass(frozen=True)
class LedgerStatus:
    path: str
    ledger_id: str
    calls: int
    cost_nanos: int
    unpushed: int
    unpushed_cost_nanos: int
    unpriced: int
    first_ts: datetime | None
    last_ts: datetime | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["cost_usd"] = nanos_to_usd(self.cost_nanos)
        d["first_ts"] = self.first_ts.isoformat() if self.first_ts else None
        d["last_ts"] = self.last_ts.isoformat() if self.last_ts else None
        return d


class Ledger:
    """This machine's ledger. Open with ``Ledger(path)``; use as a context manager to close."""

    def __init__(self, path: Path | str, *, create_parent: bool = False,
                 read_only_ok: bool = False) -> None:
        """``read_only_ok``: the caller only reads (reports, status), so a ledger in a
        read-only place is opened read-only instead of refused."""
        self.path = Path(path)
        self._create_parent = create_parent
        self._read_only_ok = read_only_ok
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._conn = self._open()
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()
        self.ledger_id: str = row[0]

    def _open(self) -> sqlite3.Connection:
        if self._read_only_ok and _blank(self.path):
            # an existing empty file (TEAMCOST_LEDGER naming one the user made): a reader
            # sees an empty ledger and writes nothing into it; `record` makes it a ledger
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            migrate(conn)
            conn.execute("UPDATE meta SET value = '(empty file)' WHERE key = 'ledger_id'")
            return conn
        conn = connect(self.path, create_parent=self._create_parent,
                       schema=(MIGRATIONS, "ledger"),
                       read_only_ok=self._read_only_ok)
        try:
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerError(f"cannot prepare ledger {self.path}: {_why(exc, self.path.parent)}") from None
        return conn

    @classmethod
    def for_config(cls, config: Config) -> Ledger:
        """The ledger a config names; the default location's directory is created."""
        return cls(config.ledger_file, create_parent=config.ledger_path is None)

    @classmethod
    def for_reading(cls, config: Config) -> Ledger:
        """The config's existing ledger for a caller that only reads: opened read-only when
        it may not be written (a report must work in a read-only home)."""
        return cls(config.ledger_file, create_parent=config.ledger_path is None,
                   read_only_ok=True)

    @property
    def conn(self) -> sqlite3.Connection:
        # a connection must not cross fork(): a child reopens its own
        if os.getpid() != self._pid:
            with self._lock:
                if os.getpid() != self._pid:
                    self._pid = os.getpid()
                    self._conn = self._open()
        return self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --

    def record(self, rec: CallRecord) -> bool:
        """Append one call. True if new; False if this exact call was already recorded.

        Raises DuplicateCallError if the call_id exists with different content.
        """
        row = record_to_row(rec)
        now = time.time_ns() // 1000
        select = f"SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?"
        try:
            with self._lock:
                # look first: an INSERT that meets the UNIQUE call_id still bumps the
                # AUTOINCREMENT counter, and a repeated or refused call must leave the file
                # exactly as it was
                existing = self.conn.execute(select, (rec.call_id,)).fetchone()
                if existing is None:
                    cur = self.conn.execute(
                        f"INSERT INTO calls ({CALL_COLUMNS}, recorded_at) VALUES "
                        f"({CALL_PLACEHOLDERS}, ?) ON CONFLICT (call_id) DO NOTHING", (*row, now))
                    if cur.rowcount == 1:
                        return True
                    existing = self.conn.execute(select, (rec.call_id,)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot write to ledger {self.path}: {_unwritable(exc)}") from None
        self._check_same(rec, row, existing)
        return False

    def record_many(self, recs: Iterable[CallRecord], chunk: int = 1000) -> tuple[int, int]:
        """Append many calls in transactions of ``chunk``; returns (inserted, already_there).

        A call whose id exists with different content raises DuplicateCallError and the
        chunk containing it is rolled back (earlier chunks stay: they were valid).
        """
        inserted = existing = 0
        batch: list[CallRecord] = []

        def flush() -> None:
            nonlocal inserted, existing
            now = time.time_ns() // 1000
            insert = (f"INSERT INTO calls ({CALL_COLUMNS}, recorded_at) VALUES "
                      f"({CALL_PLACEHOLDERS}, ?) ON CONFLICT (call_id) DO NOTHING")
            rows = [record_to_row(rec) for rec in batch]
            with self._lock:
                conn = self.conn
                with _transaction(conn):
                    # all new (an import's usual batch): one executemany. Else it is undone
                    # (the savepoint also takes back the AUTOINCREMENT counter the refused
                    # rows bumped) and each row is inserted or compared on its own
                    conn.execute("SAVEPOINT record_many")
                    cur = conn.executemany(insert, [(*row, now) for row in rows])
                    if cur.rowcount == len(rows):
                        conn.execute("RELEASE record_many")
                        inserted += len(rows)
                        rows = []
                    else:
                        conn.execute("ROLLBACK TO record_many")
                        conn.execute("RELEASE record_many")
                    for rec, row in zip(batch, rows):
                        cur = conn.execute(insert, (*row, now))
                        if cur.rowcount == 1:
                            inserted += 1
                        else:
                            old = conn.execute(f"SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?",
                                               (rec.call_id,)).fetchone()
                            self._check_same(rec, row, old)
                            existing += 1
            batch.clear()

        try:
            for rec in recs:
                batch.append(rec)
                if len(batch) >= chunk:
                    flush()
            if batch:
                flush()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot write to ledger {self.path}: {_unwritable(exc)}") from None
        return inserted, existing

    @staticmethod
    def _check_same(rec: CallRecord, row: tuple[Any, ...], existing: Sequence[Any] | None) -> None:
        if existing is None:  # pragma: no cover - UNIQUE conflict implies a row
            raise LedgerError(f"call {rec.call_id!r} conflicted but cannot be read back")
        differing = [name for name, a, b in zip(CALL_FIELDS, row, existing)
                     if a != b]
        if differing:
            raise DuplicateCallError(rec.call_id, differing)

    def mark_pushed(self, calls: Sequence[str] | Sequence[CallRecord],
                    pushed_at_us: int | None = None) -> int:
        """Mark calls as present in Firestore. Returns how many rows changed.

        Given the records as they were sent (what push does), each row's price fields
        (cost_nanos, priced, price_source) are set to the sent values as well: a row
        repriced (``set_prices``) while a push that had read it was in flight ends up as
        Firestore holds it, never with a price Firestore does not have.
        """
        if not calls:
            return 0
        when = pushed_at_us if pushed_at_us is not None else time.time_ns() // 1000
        changed = 0
        try:
            with self._lock:
                conn = self.conn
                with _transaction(conn):
                    if isinstance(calls[0], CallRecord):
                        for rec in calls:
                            assert isinstance(rec, CallRecord)
                            changed += conn.execute(
                                "UPDATE calls SET pushed_at = ?, cost_nanos = ?, priced = ?, "
                                "price_source = ? WHERE call_id = ? AND pushed_at IS NULL",
                                (when, rec.cost_nanos, int(rec.priced), rec.price_source,
                                 rec.call_id)).rowcount
                    else:
                        for i in range(0, len(calls), 500):
                            part = list(calls[i:i + 500])
                            cur = conn.execute(
                                f"UPDATE calls SET pushed_at = ? WHERE pushed_at IS NULL AND "
                                f"call_id IN ({', '.join('?' for _ in part)})", (when, *part))
                            changed += cur.rowcount
        except sqlite3.DatabaseError as exc:
            # Firestore already holds these calls: the next push meets them there
            # (ALREADY_EXISTS, identical) and marks them then; nothing is lost or doubled
            raise LedgerError(f"cannot mark {len(calls)} pushed calls in ledger {self.path} "
                              f"({_unwritable(exc)}); Firestore has them, and the next push "
                              "marks them") from None
        return changed

    def set_prices(self, prices: Iterable[tuple[str, int, str]]) -> list[str]:
        """Price unpriced calls not yet pushed: ``(call_id, cost_nanos, price_source)``, in
        one transaction. Only ``cost_nanos``, ``priced`` and ``price_source`` change, and
        only in rows still unpriced and unpushed (a pushed call is immutable: Firestore
        has it as it was). Returns the ids of the rows changed."""
        changed: list[str] = []
        try:
            with self._lock:
                conn = self.conn
                with _transaction(conn):
                    for call_id, nanos, source in prices:
                        if conn.execute(
                                "UPDATE calls SET cost_nanos = ?, priced = 1, price_source = ? "
                                "WHERE call_id = ? AND priced = 0 AND pushed_at IS NULL",
                                (nanos, source, call_id)).rowcount:
                            changed.append(call_id)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot write to ledger {self.path}: {_unwritable(exc)}") from None
        return changed

    # -- reading --

    def unpriced(self, model: str | None = None, page: int = 1000
                 ) -> Iterator[tuple[CallRecord, bool]]:
        """Unpriced calls (of one model, or all) in recording order: (record, pushed)."""
        after = 0
        sql = (f"SELECT seq, pushed_at IS NOT NULL, {CALL_COLUMNS} FROM calls "
               "WHERE priced = 0 AND seq > ?")
        if model is not None:
            sql += " AND model = ?"
        sql += " ORDER BY seq LIMIT ?"
        while True:
            args = (after, model, page) if model is not None else (after, page)
            with self._lock:
                rows = self.conn.execute(sql, args).fetchall()
            for r in rows:
                yield row_to_record(r[2:]), bool(r[1])
            if len(rows) < page:
                return
            after = rows[-1][0]

    def unpushed(self, limit: int = 500, after_seq: int = 0) -> list[tuple[int, CallRecord]]:
        """Unpushed calls in recording order, after ``after_seq``: (seq, record) pairs."""
        with self._lock:
            rows = self.conn.execute(
                f"SELECT seq, {CALL_COLUMNS} FROM calls WHERE pushed_at IS NULL AND seq > ? "
                "ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
        return [(r[0], row_to_record(r[1:])) for r in rows]

    def unpushed_totals(self, since: datetime | None = None,
                        until: datetime | None = None,
                        team: str | None = None) -> tuple[int, int]:
        """(count, cost_nanos) of calls not yet in Firestore, optionally within [since, until)
        and of one team."""
        lo = ts_to_us(since) if since else -(2**62)
        hi = ts_to_us(until) if until else 2**62
        sql = ("SELECT count(*), coalesce(sum(cost_nanos), 0) FROM calls "
               "WHERE pushed_at IS NULL AND ts >= ? AND ts < ?")
        args: tuple[object, ...] = (lo, hi)
        if team is not None:
            sql, args = sql + " AND team = ?", (*args, team)
        with self._lock:
            n, nanos = self.conn.execute(sql, args).fetchone()
        return int(n), int(nanos)

    def calls(self, since: datetime | None = None, until: datetime | None = None
              ) -> Iterator[CallRecord]:
        """Calls with since <= ts < until, oldest first (uses the ts index)."""
        lo = ts_to_us(since) if since else -(2**62)
        hi = ts_to_us(until) if until else 2**62
        with self._lock:
            rows = self.conn.execute(f"SELECT {CALL_COLUMNS} FROM calls WHERE ts >= ? AND ts < ? "
                                     "ORDER BY ts, seq", (lo, hi)).fetchall()
        for r in rows:
            yield row_to_record(r)

    def get(self, call_id: str) -> CallRecord | None:
        with self._lock:
            row = self.conn.execute(f"SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?",
                                    (call_id,)).fetchone()
        return row_to_record(row) if row else None

    def session_cost(self, session_id: str) -> tuple[int, int]:
        """(calls, cost_nanos) recorded here for one session."""
        with self._lock:
            n, nanos = self.conn.execute(
                "SELECT count(*), coalesce(sum(cost_nanos), 0) FROM calls WHERE session_id = ?",
                (session_id,)).fetchone()
        return int(n), int(nanos)

    # -- followed log files --

    def log_file(self, path: str) -> LogFileState | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT path, source, dev, ino, size, mtime_ns, offset, lineno, head, tail, state, "
                "updated_at FROM log_files WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        path_, source, dev, ino, size, mtime_ns, offset, lineno, head, tail, state, at = row
        return LogFileState(path_, source, dev, ino, size, mtime_ns, offset, lineno, head, tail,
                            json.loads(state), int(at))

    def save_log_file(self, st: LogFileState) -> None:
        try:
            with self._lock:
                self.conn.execute(
                    "INSERT INTO log_files (path, source, dev, ino, size, mtime_ns, offset, lineno, "
                    "head, tail, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (path) DO UPDATE SET source = excluded.source, dev = excluded.dev, "
                    "ino = excluded.ino, size = excluded.size, mtime_ns = excluded.mtime_ns, "
                    "offset = excluded.offset, lineno = excluded.lineno, head = excluded.head, "
                    "tail = excluded.tail, state = excluded.state, updated_at = excluded.updated_at",
                    (st.path, st.source, st.dev, st.ino, st.size, st.mtime_ns, st.offset, st.lineno,
                     st.head, st.tail, json.dumps(st.state, sort_keys=True), time.time_ns() // 1000))
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot save log progress in ledger {self.path}: "
                              f"{_unwritable(exc)}") from None

    def status(self) -> LedgerStatus:
        with self._lock:
            n, nanos, unpriced, lo, hi = self.conn.execute(
                "SELECT count(*), coalesce(sum(cost_nanos), 0), "
                "coalesce(sum(priced = 0), 0), min(ts), max(ts) FROM calls").fetchone()
        un, un_nanos = self.unpushed_totals()
        return LedgerStatus(str(self.path), self.ledger_id, int(n), int(nanos), un, un_nanos,
                            int(unpriced), us_to_ts(lo) if lo is not None else None,
                            us_to_ts(hi) if hi is not None else None)
