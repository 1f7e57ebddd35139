"""Time-partitioned Parquet mirrors of the call tables, so a report reads only the months its
window overlaps, as whole columns.

Why: the team cache and the ledger are SQLite because they are written a page or a call at a
time, transactionally, with UNIQUE call_ids. But SQLite hands rows to Python one value
object at a time (a month of a busy team, 750,000 calls, took 3.3 s just to fetch), and a
mirror in arrival order makes every report scan the whole history. Parquet hands Arrow
whole columns (labels dictionary-encoded, straight into pandas Categoricals).

Layout: ``<dir>/month=YYYY-MM/part-<first rowid>-<last rowid>.parquet`` - calls by the UTC
month of their ``ts``, each file sorted by ``ts`` in row groups of 64k rows, so a window
opens only the months it overlaps and, inside them, the row groups whose ts range meets it
(Parquet's min/max statistics). Month, not day: a year is 12 directories whatever the
volume (a small team's day would be a file of a few calls; a long report would open
hundreds), and the row groups give a big month day-sized reads.

How it stays correct: the SQLite table is the source of truth and only ever gains rows
(rowids grow). ``refresh`` copies the rows above the exported mark, a chunk at a time: the
chunk's calls are split by month and written, one file per month touched, all named by the
chunk's rowid range (written to a temp name and renamed), then the mark moves to the
chunk's end. A call imported late (a backfill of last year's logs) lands in its own month.
A reader takes, in every month, the non-overlapping parts that cover rowids 1..mark
(widest first at each start); a part beyond the mark is an orphan of a crash, ignored and
deleted by the next refresh. Compaction merges a month's parts into one covering their
whole range, written before the old ones are deleted, so a crash anywhere in it never
double counts. Refresh and compaction hold an exclusive lock on the directory, readers a
shared one, so no file is deleted under a reader. The locks are ``flock``s on a file opened
anew each time, so they also keep apart the threads of one process (a server answering
requests at once: two refreshes would write the same part, a compaction would delete parts
another thread is about to read).

A mirror that cannot be written (a read-only home, a cache we may only read) is read as it
is, up to its mark, and the rows above the mark come straight from SQLite: the report is
still whole.

Two mirrors: the team cache's (``team-cache.parquet``, mark in the cache's ``sync_state``)
and the ledger's (``<ledger>.parquet`` beside the ledger file, mark in its ``mirror.json``
with the ledger's id, so a replaced ledger is mirrored afresh). Both refresh on read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from teamcost.ledger import ts_to_us
from teamcost.models import CALL_FIELDS
from teamcost.sync.cache import TeamCache

log = logging.getLogger(__name__)

MIRROR_DIR = "team-cache.parquet"
LAYOUT = "month/1"
STATE_KEY = "parquet:month:rowid"
LEGACY_STATE_KEY = "parquet:rowid"   # the arrival-ordered layout before this one
COMPACT_AT = 16        # parts in one month; a refresh adds at most one per chunk
CHUNK_ROWS = 200_000   # rows fetched from SQLite per refresh chunk (bounds its memory)
SCAN_ROWS = 1 << 20    # rows of a window a report aggregates at a time
ROW_GROUP_ROWS = 65_536
LABELS = ("team", "member", "provider", "model", "agent", "session_id", "task_id",
          "ledger_id", "price_source")
INTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "cost_nanos")
BOOLS = ("priced", "success", "estimated")
TEXTS = ("call_id", "correlation_id", "error", "tags")
COLUMNS = CALL_FIELDS   # every field: exports read the mirror too
_TYPES: dict[str, pa.DataType] = {
    **{n: pa.dictionary(pa.int32(), pa.string()) for n in LABELS},
    **{n: pa.int64() for n in INTS}, **{n: pa.bool_() for n in BOOLS},
    **{n: pa.string() for n in TEXTS},
    "ts": pa.timestamp("us", tz="UTC"), "duration_s": pa.float64()}
SCHEMA = pa.schema([(n, _TYPES[n]) for n in COLUMNS])
_PART_RE = re.compile(r"^part-(\d{12})-(\d{12})\.parquet$")
_MONTH_RE = re.compile(r"^month=(\d{4})-(\d{2})$")
_TMP_RE = re.compile(r"^\.part-.*\.tmp-\d+$")


@dataclass(frozen=True)
class Part:
    path: Path
    start: int
    end: int


def mirror_dir(cache: TeamCache) -> Path:
    return cache.path.parent / MIRROR_DIR


def ledger_mirror_dir(ledger_file: Path) -> Path:
    return ledger_file.with_name(ledger_file.stem + ".parquet")


def _parts(directory: Path) -> list[Part]:
    if not directory.is_dir():
        return []
    out = []
    for p in directory.iterdir():
        m = _PART_RE.match(p.name)
        if m:
            out.append(Part(p, int(m.group(1)), int(m.group(2))))
    return out


def live_parts(directory: Path, exported: int) -> list[Part]:
    """Non-overlapping parts covering rowids 1..exported (widest first at each start)."""
    chosen: list[Part] = []
    covered = 0
    for part in sorted(_parts(directory), key=lambda p: (p.start, -p.end)):
        if part.end > exported or part.start <= covered:
            continue  # an orphan of a crash, or already covered by a compacted part
        chosen.append(part)
        covered = part.end
    return chosen


def _write(directory: Path, table: pa.Table, start: int, end: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"part-{start:012d}-{end:012d}.parquet"
    tmp = directory / f".{final.name}.tmp-{os.getpid()}"
    pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    os.replace(tmp, final)
    return final


def _table(rows: Sequence[tuple]) -> pa.Table:
    """Rows of COLUMNS (as SQLite holds them: ts in µs, booleans 0/1) as a mirror table."""
    cols = list(zip(*rows)) if rows else [()] * len(COLUMNS)
    arrays = []
    for name, values in zip(COLUMNS, cols):
        if name == "ts":
            arrays.append(pa.array(values, pa.int64()).cast(SCHEMA.field(name).type))
        elif name in LABELS:
            arrays.append(pa.array(values, pa.string()).dictionary_encode())
        elif name in BOOLS:
            arrays.append(pa.array(values, pa.int64()).cast(pa.bool_()))
        else:
            arrays.append(pa.array(values, SCHEMA.field(name).type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def month_dir(directory: Path, year: int, month: int) -> Path:
    return directory / f"month={year:04d}-{month:02d}"


def _month_dirs(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and _MONTH_RE.match(p.name))


def _months_overlapping(since: datetime, until: datetime) -> Iterator[tuple[int, int]]:
    first = since.astimezone(UTC)
    last = (until - timedelta(microseconds=1)).astimezone(UTC)
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        yield y, m
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def _split_by_month(table: pa.Table) -> Iterator[tuple[int, int, pa.Table]]:
    """The table's calls by UTC month of ts, each sorted by ts (no Python per row)."""
    if table.num_rows == 0:
        return
    table = table.sort_by("ts")
    us = table.column("ts").cast(pa.int64()).to_numpy()
    months = us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    edges = np.flatnonzero(np.diff(months)) + 1
    for lo, hi in zip(np.concatenate(([0], edges)), np.concatenate((edges, [len(months)]))):
        month = int(months[lo])  # months since 1970-01
        yield 1970 + month // 12, month % 12 + 1, table.slice(lo, hi - lo)


@dataclass
class _Source:
    """One SQLite call table and its mirror: where the mark lives and what the table is."""

    conn: sqlite3.Connection
    table: str
    directory: Path
    get_mark: Callable[[], int]
    set_mark: Callable[[int], None]
    reset: Callable[[], None]
    forget_legacy: Callable[[], None] = lambda: None


def _cache_source(cache: TeamCache) -> _Source:
    def get_mark() -> int:
        return int(cache.get_state(STATE_KEY, "0") or 0)

    def set_mark(mark: int) -> None:
        cache.set_state(STATE_KEY, str(mark))

    def forget_legacy() -> None:
        # the arrival-ordered layout's files are deleted: without its mark too, an older
        # teamcost run on this cache again rebuilds its mirror instead of reading none
        cache.delete_state(LEGACY_STATE_KEY)

    return _Source(cache.conn, "team_calls", mirror_dir(cache), get_mark, set_mark,
                   lambda: set_mark(0), forget_legacy)


def _ledger_source(conn: sqlite3.Connection, ledger_id: str, directory: Path) -> _Source:
    meta = directory / "mirror.json"

    def read_meta() -> dict[str, Any]:
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get_mark() -> int:
        data = read_meta()
        ok = data.get("ledger_id") == ledger_id and isinstance(data.get("rowid"), int)
        return int(data["rowid"]) if ok else 0

    def set_mark(mark: int) -> None:
        tmp = directory / f".mirror.json.tmp-{os.getpid()}"
        tmp.write_text(json.dumps({"layout": LAYOUT, "ledger_id": ledger_id, "rowid": mark}))
        os.replace(tmp, meta)

    return _Source(conn, "calls", directory, get_mark, set_mark, lambda: set_mark(0))


_LAYOUT_FILE = "LAYOUT"


@contextlib.contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _refresh(src: _Source) -> int:
    """Copy rows added since the last refresh into their months; returns how many."""
    directory = src.directory
    exported = src.get_mark()
    layout = directory / _LAYOUT_FILE
    if not layout.exists():  # a new mirror, a removed one, or the older layout's
        src.reset()
        exported = 0
        layout.write_text(LAYOUT + "\n")
    # with the mark at 0 (also a new cache or ledger in the same place) every part goes
    legacy = _parts(directory)  # the arrival-ordered layout's files: never read here
    for part in legacy:
        part.path.unlink(missing_ok=True)
    if legacy:
        src.forget_legacy()
    for d in (directory, *_month_dirs(directory)):
        for f in d.iterdir():
            if _TMP_RE.match(f.name):  # a writer that died (we hold the lock)
                f.unlink(missing_ok=True)
        for part in _parts(d):  # crash leftovers beyond the mark would be replaced
            if part.start > exported:
                part.path.unlink(missing_ok=True)
    copied = 0
    touched: set[Path] = set()
    while True:
        rows = src.conn.execute(
            f"SELECT rowid, {', '.join(COLUMNS)} FROM {src.table} WHERE rowid > ? "
            "ORDER BY rowid LIMIT ?", (exported, CHUNK_ROWS)).fetchall()
        if not rows:
            break
        start, end = exported + 1, rows[-1][0]
        for year, month, part in _split_by_month(_table([r[1:] for r in rows])):
            d = month_dir(directory, year, month)
            _write(d, part, start, end)
            touched.add(d)
        src.set_mark(end)
        exported = end
        copied += len(rows)
    for d in sorted(touched):
        if len(live_parts(d, exported)) >= COMPACT_AT:
            compact_month(d, exported)
    return copied


def compact_month(directory: Path, exported: int) -> None:
    """Merge a month's parts into one, sorted by ts. A month is one big part and the small
    ones later refreshes add: while the small ones hold fewer rows than the big one only
    they are merged, so the big part is rewritten about as often as its size doubles."""
    parts = live_parts(directory, exported)
    if len(parts) < 2:
        return
    rows = [pq.ParquetFile(p.path).metadata.num_rows for p in parts]
    if len(parts) > 2 and sum(rows[1:]) <= rows[0]:
        parts = parts[1:]
    table = pa.concat_tables([pq.read_table(p.path, schema=SCHEMA) for p in parts])
    merged = (parts[0].start, parts[-1].end)
    _write(directory, table.sort_by("ts"), *merged)
    for p in parts:  # a crash here leaves covered parts, which readers skip
        if (p.start, p.end) != merged:
            p.path.unlink(missing_ok=True)


def compact(cache: TeamCache) -> None:
    """Compact every month of the team cache's mirror."""
    src = _cache_source(cache)
    with _locked(src.directory, exclusive=True):
        exported = src.get_mark()
        for d in _month_dirs(src.directory):
            compact_month(d, exported)


def refresh(cache: TeamCache) -> int:
    """Bring the team cache's mirror up to date; returns how many rows were copied."""
    src = _cache_source(cache)
    with _locked(src.directory, exclusive=True):
        return _refresh(src)


def _empty(columns: Sequence[str]) -> pa.Table:
    return SCHEMA.empty_table().select(list(columns))


def _scan(src: _Source, since: datetime, until: datetime, team: str | None,
          filters: dict[str, str | None] | None, columns: Sequence[str],
          chunk_rows: int) -> Iterator[pa.Table]:
    """The window's calls in tables of about ``chunk_rows`` rows (the mirror refreshed
    first; a shared lock held while they are read)."""
    try:
        with _locked(src.directory, exclusive=True):
            _refresh(src)
        shared = _locked(src.directory, exclusive=False)
        shared.__enter__()
    except (OSError, sqlite3.DatabaseError) as exc:
        log.info("cannot update the Parquet mirror %s (%s): reading it as it is, and %s "
                 "above its mark", src.directory, exc, src.table)
        yield from _scan_as_is(src, since, until, team, filters, columns, chunk_rows)
        return
    try:
        yield from _scan_parts(src, src.get_mark(), since, until, team, filters, columns,
                               chunk_rows)
    finally:
        shared.__exit__(None, None, None)


def _scan_parts(src: _Source, exported: int, since: datetime, until: datetime,
                team: str | None, filters: dict[str, str | None] | None,
                columns: Sequence[str], chunk_rows: int) -> Iterator[pa.Table]:
    """The window's calls in the mirror's parts up to rowid ``exported``."""
    paths = []
    for y, m in _months_overlapping(since, until):
        paths += [p.path for p in live_parts(month_dir(src.directory, y, m), exported)]
    if not paths or since >= until:
        return
    pending: list[pa.Table] = []
    rows = 0
    for batch in _row_groups(paths, since, until, team, filters, columns):
        if batch.num_rows:
            pending.append(batch)
            rows += batch.num_rows
        if rows >= chunk_rows:
            yield pa.concat_tables(pending)
            pending, rows = [], 0
    if pending:
        yield pa.concat_tables(pending)


def _row_groups(paths: Sequence[Path], since: datetime, until: datetime, team: str | None,
                filters: dict[str, str | None] | None,
                columns: Sequence[str]) -> Iterator[pa.Table]:
    """The window's rows of each row group whose ts statistics meet it, one row group at a
    time, as tables of ``columns`` (the mirrors' types).

    Read with ``pyarrow.parquet.ParquetFile`` rather than ``pyarrow.dataset``: importing
    the dataset module loads pandas (about 0.3 s of every report that needs no frame)."""
    # compared as int64 µs: casting a scalar to a timestamp type loads pandas
    lo, hi = ts_to_us(since), ts_to_us(until)
    equal = {k: v for k, v in ({"team": team} | (filters or {})).items() if v is not None}
    read = list(dict.fromkeys([*columns, "ts", *equal]))
    schema = pa.schema([SCHEMA.field(c) for c in columns])
    for path in paths:
        f = pq.ParquetFile(path)
        meta = f.metadata
        ts_index = f.schema_arrow.get_field_index("ts")
        # row groups are pruned by their raw int64 ts statistics (µs), when the file keeps
        # ts in µs (``Statistics.min`` as a datetime would load pandas)
        in_us = f.schema_arrow.field("ts").type == SCHEMA.field("ts").type
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(ts_index).statistics
            if (in_us and stats is not None and stats.has_min_max
                    and stats.physical_type == "INT64"
                    and not (stats.max_raw >= lo and stats.min_raw < hi)):
                continue   # no call of this row group is in the window
            t = f.read_row_group(i, columns=read, use_threads=False)
            ts = t.column("ts").cast(pa.int64())
            mask = pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi))
            for name, value in equal.items():
                col = t.column(name)
                if pa.types.is_dictionary(col.type):
                    col = col.cast(col.type.value_type)
                mask = pc.and_(mask, pc.fill_null(pc.equal(col, value), False))
            t = t.filter(mask).select(list(columns))
            yield t if t.schema == schema else t.cast(schema)


def _scan_as_is(src: _Source, since: datetime, until: datetime, team: str | None,
                filters: dict[str, str | None] | None, columns: Sequence[str],
                chunk_rows: int) -> Iterator[pa.Table]:
    """The window's calls from a mirror that cannot be refreshed: its parts up to the mark
    (none when it is not in this layout) and the table's rows above the mark."""
    exported = src.get_mark() if (src.directory / _LAYOUT_FILE).is_file() else 0
    with _shared_if_possible(src.directory):
        if exported:
            yield from _scan_parts(src, exported, since, until, team, filters, columns,
                                   chunk_rows)
    tail = _read_sqlite(src.conn, src.table, since, until, team, filters, after=exported)
    if tail.num_rows:
        yield tail.select(list(columns))


@contextlib.contextmanager
def _shared_if_possible(directory: Path) -> Iterator[None]:
    """A shared lock when the lock file can be opened at all; on a read-only file system
    (where it cannot) nobody can delete a part under the reader anyway."""
    try:
        fd = os.open(directory / ".lock", os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _read(src: _Source, since: datetime, until: datetime, team: str | None,
          filters: dict[str, str | None] | None, columns: Sequence[str]) -> pa.Table:
    chunks = list(_scan(src, since, until, team, filters, columns, 1 << 62))
    return pa.concat_tables(chunks) if chunks else _empty(columns)


def _read_sqlite(conn: sqlite3.Connection, table: str, since: datetime, until: datetime,
                 team: str | None, filters: dict[str, str | None] | None,
                 after: int = 0) -> pa.Table:
    """The window's calls with a rowid above ``after``, straight from SQLite."""
    where = "ts >= ? AND ts < ?"
    args: list[Any] = [ts_to_us(since), ts_to_us(until)]
    if after:
        where += " AND rowid > ?"
        args.append(after)
    for name, value in ({"team": team} | (filters or {})).items():
        if value is not None:
            where += f" AND {name} = ?"
            args.append(value)
    return _table(conn.execute(f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE {where}",
                               args).fetchall())


def read(cache: TeamCache, team: str, since: datetime, until: datetime,
         filters: dict[str, str | None] | None = None,
         columns: Sequence[str] = COLUMNS) -> pa.Table:
    """The team's calls with since <= ts < until from the cache's mirror (refreshed first);
    only the months the window overlaps are opened."""
    return _read(_cache_source(cache), since, until, team, filters, columns)


def scan(cache: TeamCache, team: str, since: datetime, until: datetime,
         filters: dict[str, str | None] | None = None, columns: Sequence[str] = COLUMNS,
         chunk_rows: int = SCAN_ROWS) -> Iterator[pa.Table]:
    """``read`` in chunks of about ``chunk_rows`` calls (a report holds one at a time)."""
    return _scan(_cache_source(cache), since, until, team, filters, columns, chunk_rows)


def _ledger(conn: sqlite3.Connection, ledger_id: str, ledger_file: Path) -> _Source:
    return _ledger_source(conn, ledger_id, ledger_mirror_dir(ledger_file))


def read_ledger(conn: sqlite3.Connection, ledger_id: str, ledger_file: Path, since: datetime,
                until: datetime, team: str | None = None,
                filters: dict[str, str | None] | None = None,
                columns: Sequence[str] = COLUMNS) -> pa.Table:
    """This machine's calls with since <= ts < until (of ``team`` when given), from the
    ledger's mirror beside the ledger file (refreshed first)."""
    return _read(_ledger(conn, ledger_id, ledger_file), since, until, team, filters, columns)


def scan_ledger(conn: sqlite3.Connection, ledger_id: str, ledger_file: Path, since: datetime,
                until: datetime, team: str | None = None,
                filters: dict[str, str | None] | None = None,
                columns: Sequence[str] = COLUMNS,
                chunk_rows: int = SCAN_ROWS) -> Iterator[pa.Table]:
    """``read_ledger`` in chunks of about ``chunk_rows`` calls."""
    return _scan(_ledger(conn, ledger_id, ledger_file), since, until, team, filters, columns,
                 chunk_rows)
