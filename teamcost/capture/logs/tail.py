"""Following log files: read what is new since last time, once, across restarts and re-imports.

Each file's progress lives in the ledger (``log_files``): its identity (device, inode), the
size seen, the byte offset up to which every line is done, the line number there, a hash of
its first bytes and its reader's state at that offset. A scan then:

- skips a file whose identity, size and modification time are unchanged and which is read to
  its end (no open, no read);
- reads a grown file from the saved offset with the saved reader state, once the bytes at
  its start and just before that offset prove the old content is still there;
- re-reads a replaced (new inode), truncated (smaller) or rewritten (different bytes, even at
  the same size) file from the start with a fresh reader. Call ids are deterministic, so lines read again find their
  calls already in the ledger: nothing is counted twice, nothing is lost;
- never consumes a half-written last line (no newline yet): it waits for the next scan,
  unless it is a whole JSON object (a writer that ended its last line without a newline:
  that call is complete) or the file has been quiet for ``ACTIVE_S``.

A reader decides when a call is final (Claude Code writes a streaming message several times)
and says, through ``checkpoint``, from which offset a restart must read again; the records it
emitted are in the ledger before that offset is saved, so a crash in between re-reads lines
whose calls are then found present.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from teamcost.capture.logs.base import ImportResult, Sink, needs_decoding, why_bad
from teamcost.errors import TeamcostError
from teamcost.ledger import Ledger, LogFileState
from teamcost.models import CallRecord

HEAD_BYTES = 1024       # identity of a file's content beyond its inode
ACTIVE_S = 600          # a log written this recently may still be streaming its last message
CHECKPOINT_LINES = 50_000   # a long first read saves its progress this often
COMPLETE_JSON_MAX = 64 << 20   # an unended last line longer than this waits to be quiet


class Reader(Protocol):
    """Turns one file's lines into call records; resumable from a checkpoint."""

    def feed(self, line: bytes, lineno: int, end: int) -> list[CallRecord]:
        """The calls that line makes final; ``end`` is the offset just after it. Raises
        ValueError / TypeError / TeamcostError for a bad line (reported, never fatal)."""
        ...

    def advance(self, lineno: int, end: int) -> None:
        """A blank or bad line was consumed: the checkpoint may move past it."""
        ...

    def skipped(self, line: bytes, lineno: int, end: int) -> None:
        """A line the byte prefilter decided holds no call was consumed without decoding
        (see ``needles``); a reader whose finality rules need to know that some other line
        came reads what it needs from the line's bytes. Usually ``advance``."""
        ...

    @property
    def needles(self) -> tuple[bytes, ...] | None:
        """Byte strings at least one of which every line this reader needs to decode
        contains (base.needs_decoding); None: decode every line."""
        ...

    def finish(self, quiet: bool) -> list[CallRecord]:
        """At the end of what is written so far; ``quiet``: the file has not changed for
        ACTIVE_S seconds (a crashed session: emit what is held as it stands)."""
        ...

    def checkpoint(self) -> tuple[int, int, dict[str, Any]]:
        """(offset, line number there, reader state) from which a restart reads again."""
        ...

    @property
    def pending(self) -> int:
        """Calls held back, still streaming, for a later scan."""
        ...

    @property
    def merged(self) -> int:
        """Lines that repeated a call already seen (snapshots, duplicates)."""
        ...


ReaderFactory = Callable[[Path, "dict[str, Any] | None", int, int], Reader]


@dataclass
class TailStats:
    files: int = 0
    unchanged: int = 0
    reread: int = 0           # replaced, truncated or rewritten: read again from the start
    errors: list[str] = field(default_factory=list)


def complete_json(line: bytes) -> bool:
    """Is ``line`` (a last line without its newline) a whole JSON object? A log line cut
    while it is being written never is: its closing brace comes last."""
    # cheap refusals first: this runs on every scan of a file whose last line is unended
    if (len(line) > COMPLETE_JSON_MAX or not line.rstrip().endswith(b"}")
            or not line.lstrip().startswith(b"{")):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _fingerprint(path: Path, offset: int) -> tuple[str, str]:
    """Hashes of the first HEAD_BYTES and of the HEAD_BYTES ending at ``offset``."""
    with path.open("rb") as fh:
        head = fh.read(min(offset, HEAD_BYTES))
        fh.seek(max(0, offset - HEAD_BYTES))
        tail = fh.read(min(offset, HEAD_BYTES))
    return (hashlib.sha256(head).hexdigest()[:32], hashlib.sha256(tail).hexdigest()[:32])


def scan_files(ledger: Ledger, source: str, files: Iterable[Path], reader_for: ReaderFactory,
               result: ImportResult, *, lenient: bool = True,
               tick: Callable[[int], None] = lambda n: None,
               now: Callable[[], float] = time.time) -> TailStats:
    """Read what is new in ``files`` into the ledger; ``result`` counts what happened."""
    stats = TailStats()
    sink = Sink(ledger, result, lenient=lenient)
    seen = _Seen(ledger, source)
    for path in files:
        stats.files += 1
        try:
            _scan_one(ledger, source, path, reader_for, result, sink, stats, tick, now, seen)
        except OSError as exc:  # a file vanished or became unreadable mid-scan
            msg = f"cannot read it ({exc.strerror or exc})"
            result.add_bad(str(path), msg)
            stats.errors.append(f"{path}: {msg}")
    sink.flush()
    return stats


class _Seen:
    """What a scan knows before reading any file: where each file really is, and the saved
    progress of every file of the source, in one query (an unchanged tree of thousands of
    files is decided by one stat each, not a realpath walk and a query each)."""

    def __init__(self, ledger: Ledger, source: str) -> None:
        with ledger._lock:  # the ledger's own lock: one connection shared with its writers
            rows = ledger.conn.execute(
                "SELECT path, dev, ino, size, mtime_ns, offset FROM log_files WHERE source = ?",
                (source,)).fetchall()
        # path -> (dev, ino, size, mtime_ns, offset): the fields of the unchanged test
        self.done: dict[str, tuple[int, ...]] = {r[0]: tuple(r[1:]) for r in rows}
        self._dirs: dict[str, str] = {}

    def identify(self, path: Path) -> tuple[str, os.stat_result]:
        """(the file's resolved path, its stat): the key ``str(path.resolve())`` is, with
        the directory's realpath computed once per directory."""
        lst = os.lstat(path)
        if stat.S_ISLNK(lst.st_mode):
            return str(path.resolve()), path.stat()
        parent = str(path.parent)
        real = self._dirs.get(parent)
        if real is None:
            real = self._dirs[parent] = os.path.realpath(parent)
        return os.path.join(real, path.name), lst


def _scan_one(ledger: Ledger, source: str, path: Path, reader_for: ReaderFactory,
              result: ImportResult, sink: Sink, stats: TailStats,
              tick: Callable[[int], None], now: Callable[[], float], seen: _Seen) -> None:
    key, st = seen.identify(path)
    if seen.done.get(key) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_size):
        stats.unchanged += 1         # read to its end and untouched since: no query, no open
        return
    saved = ledger.log_file(key)
    start, lineno, state = 0, 0, None
    if saved is not None:
        same_file = (saved.dev, saved.ino) == (st.st_dev, st.st_ino)
        if (same_file and (st.st_size, st.st_mtime_ns) == (saved.size, saved.mtime_ns)
                and saved.offset == saved.size):
            stats.unchanged += 1     # the common case, decided without opening the file
            return
        same = (same_file and st.st_size >= saved.offset
                and _fingerprint(path, saved.offset) == (saved.head, saved.tail))
        if same:
            start, lineno, state = saved.offset, saved.lineno, saved.state
        else:
            stats.reread += 1
    reader = reader_for(path, state, start, lineno)
    quiet = now() - st.st_mtime >= getattr(reader, "quiet_s", ACTIVE_S)
    pos = start
    with path.open("rb", buffering=1 << 20) as fh:
        fh.seek(start)
        since_checkpoint = 0
        for line in fh:
            if not line.endswith(b"\n") and not quiet and not complete_json(line):
                # half written: the rest of it arrives later. (Quiet for ACTIVE_S: a last
                # line its writer never ended, read as it is; a whole JSON object: only
                # its newline is missing, and a newline written later reads as blank.)
                result.pending += 1
                break
            pos += len(line)
            lineno += 1
            result.bytes_read += len(line)
            tick(len(line))
            if line.isspace():    # blank (strip() would copy every line to find out)
                reader.advance(lineno, pos)
                continue
            result.lines += 1
            # asked a line: a reader may want every line decoded for a while (Claude Code
            # while a message is held: any line of its conversation may end it)
            needles = getattr(reader, "needles", None)   # None: decode every line
            if needles is not None and not needs_decoding(line, needles):
                reader.skipped(line, lineno, pos)
                since_checkpoint += 1
                if since_checkpoint >= CHECKPOINT_LINES:
                    _save(ledger, sink, source, key, st, reader, pos, path)
                    since_checkpoint = 0
                continue
            where = f"{path}:{lineno}"
            try:
                recs = reader.feed(line, lineno, pos)
            except (ValueError, TypeError, TeamcostError, RecursionError) as exc:
                result.add_bad(where, why_bad(exc))
                reader.advance(lineno, pos)
                continue
            for rec in recs:
                sink.add(rec, where)
            since_checkpoint += 1
            if since_checkpoint >= CHECKPOINT_LINES:
                _save(ledger, sink, source, key, st, reader, pos, path)
                since_checkpoint = 0
    for rec in reader.finish(quiet):
        sink.add(rec, f"{path}:{lineno}")
    result.pending += reader.pending
    result.already += reader.merged
    _save(ledger, sink, source, key, st, reader, pos, path)


def _save(ledger: Ledger, sink: Sink, source: str, key: str, st: os.stat_result,
          reader: Reader, size: int, path: Path) -> None:
    """Records first, then the offset that covers them."""
    sink.flush()
    offset, lineno, state = reader.checkpoint()
    head, tail = _fingerprint(path, offset)
    ledger.save_log_file(LogFileState(key, source, st.st_dev, st.st_ino, size, st.st_mtime_ns,
                                      offset, lineno, head, tail, state))


def scan_whole_files(ledger: Ledger, source: str, files: Iterable[Path],
                     read: Callable[[Path], Iterable[CallRecord | tuple[str, str]]],
                     result: ImportResult, *, tick: Callable[[int], None] = lambda n: None
                     ) -> TailStats:
    """Files that are one document rewritten in place: read whole again only when changed
    (identity, size or modification time); ``read`` yields records and (where, why) pairs
    for the parts that could not be read. Deterministic ids make a re-read count nothing
    twice."""
    stats = TailStats()
    sink = Sink(ledger, result, lenient=True)
    for path in files:
        stats.files += 1
        try:
            key = str(path.resolve())
            st = path.stat()
            saved = ledger.log_file(key)
            if saved is not None and (saved.dev, saved.ino, saved.size, saved.mtime_ns) == (
                    st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns):
                stats.unchanged += 1
                continue
            if saved is not None:
                stats.reread += 1
            result.lines += 1
            for item in read(path):
                if isinstance(item, tuple):
                    result.add_bad(*item)
                else:
                    sink.add(item, str(path))
            result.bytes_read += st.st_size
            tick(st.st_size)
            sink.flush()
            head, tail = _fingerprint(path, st.st_size)
            ledger.save_log_file(LogFileState(key, source, st.st_dev, st.st_ino, st.st_size,
                                              st.st_mtime_ns, st.st_size, 0, head, tail, {}))
        except OSError as exc:
            msg = f"cannot read it ({exc.strerror or exc})"
            result.add_bad(str(path), msg)
            stats.errors.append(f"{path}: {msg}")
    sink.flush()
    return stats


def forget(ledger: Ledger, paths: Iterable[str]) -> None:
    """Drop saved progress (a file to be read from the start next time)."""
    with ledger._lock:
        ledger.conn.executemany("DELETE FROM log_files WHERE path = ?", [(p,) for p in paths])
