"""Following log files: read what is new since last time, once, across restarts and re-imports.

Each file's progress lives in the ledger (``log_files``): its identity (device, inode), the
size seen, the byte offset up to which every line is done, the line number there, a hash of
its first bytes and its reader's state at that offset. A scan then:

- skips a file whose identity, size and modification time are unchanged since its last scan
  (no open, no read), unless it has turned quiet since (ACTIVE_S without a write: its held
  last message or unended last line is then read as it stands);
- reads a grown file from the saved offset with the saved reader state, once the bytes at
  its start and just before that offset prove the old content is still there;
- re-reads a replaced (new inode), truncated (smaller) or rewritten (different bytes, even at
  the same size) file from the start with a fresh reader. Call ids are deterministic, so lines read again find their
  calls already in the ledger: nothing is counted twice, nothing is lost;
- never consumes a half-written last line (no newline yet): it waits for the next scan,
  unless it is a whole JSON object (a writer that ended its last line without a newline:
  that call is complete) or the file has been quiet (``ACTIVE_S``, or the reader's
  ``quiet_s``);
- never holds more than MAX_LINE bytes of one line: a longer line (a binary file, a file of
  zeros from ``truncate -s 1G``) is reported as bad once, and skipped up to its newline, or up to
  what is written so far (the rest of it is skipped when it arrives, not reported again);
- reads a whole-document file (``scan_whole_files``) only up to MAX_DOCUMENT bytes: a bigger
  one is reported once and skipped until it changes;
- reports a file it cannot open (permissions, vanished) once per change of the file when the
  caller keeps ``ImportResult.known_errors`` across scans (the agent does), not every scan.

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
MAX_LINE = 16 << 20     # a line longer than this (16 MiB) is bad: skipped, never held whole
MAX_DOCUMENT = 64 << 20  # a whole-document file (Gemini's legacy .json) larger than this is bad
SKIP_CHUNK = 1 << 20    # an over-long line is skipped this many bytes at a time
_SKIP_KEY = "tail.skip"  # in the saved state: the over-long line already reported


class Reader(Protocol):
    """Turns one file's lines into call records; resumable from a checkpoint."""

    def feed(self, line: bytes, lineno: int, end: int) -> list[CallRecord]:
        """The calls that line makes final; ``end`` is the offset just after it. Raises
        ValueError / TypeError / TeamcostError for a bad line (reported, never fatal)."""
        ...

    def advance(self, lineno: int, end: int) -> None:
        """A blank or bad line was consumed: the checkpoint may move past it."""
        ...

    def skipped(self, line: bytes, lineno: int, end: int) -> list[CallRecord] | None:
        """A line the byte prefilter decided holds no call was consumed without decoding
        (see ``needles``); a reader whose finality rules need to know that some other line
        came reads what it needs from the line's bytes, and returns the calls that line
        makes final (as ``feed``). Usually ``advance``."""
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
               now: Callable[[], float] = time.time,
               quiet_s: float = ACTIVE_S) -> TailStats:
    """Read what is new in ``files`` into the ledger; ``result`` counts what happened.
    ``quiet_s``: how long a file unchanged is quiet (its last message final; the readers'
    ``quiet_s``)."""
    stats = TailStats()
    sink = Sink(ledger, result, lenient=lenient)
    seen = _Seen(ledger, source)
    for path in files:
        stats.files += 1
        try:
            _scan_one(ledger, source, path, reader_for, result, sink, stats, tick, now, seen,
                      quiet_s)
        except OSError as exc:  # a file vanished or became unreadable mid-scan
            _unreadable(result, stats, path, exc)
        else:
            if result.known_errors is not None:
                result.known_errors.pop(str(path), None)
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


def _unreadable(result: ImportResult, stats: TailStats, path: Path, exc: OSError) -> None:
    """Report a file that cannot be read; when the caller remembers errors across scans,
    only the first time for the file as it is now (a chmod, a write or a new file with
    that name makes it news again)."""
    msg = f"cannot read it ({exc.strerror or exc})"
    stats.errors.append(f"{path}: {msg}")
    known = result.known_errors
    if known is not None:
        try:
            st = os.stat(path)
            sig: tuple[int, ...] | None = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                           st.st_ctime_ns)
        except OSError:
            sig = None
        if known.get(str(path)) == (sig, msg):
            return
        known[str(path)] = (sig, msg)
    result.add_bad(str(path), msg)


def _scan_one(ledger: Ledger, source: str, path: Path, reader_for: ReaderFactory,
              result: ImportResult, sink: Sink, stats: TailStats,
              tick: Callable[[int], None], now: Callable[[], float], seen: _Seen,
              quiet_s: float = ACTIVE_S) -> None:
    key, st = seen.identify(path)
    if seen.done.get(key) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_size):
        stats.unchanged += 1         # read to its end and untouched since: no query, no open
        return
    saved = ledger.log_file(key)
    start, lineno, state = 0, 0, None
    quiet = now() - st.st_mtime >= quiet_s
    skip: list[Any] | None = None     # [start, skipped up to, ended] of an over-long line
    if saved is not None:
        same_file = (saved.dev, saved.ino) == (st.st_dev, st.st_ino)
        if (same_file and (st.st_size, st.st_mtime_ns) == (saved.size, saved.mtime_ns)
                and (saved.offset >= saved.size
                     or saved.saved_at_us / 1e6 - st.st_mtime >= quiet_s)):
            # the common case, decided without opening the file: nothing was written since
            # the last scan, and it was read to its end or already finished quiet. (A file
            # with held messages is read again from its checkpoint, only their lines, so
            # every scan counts them and says until when; an over-long line saved as
            # skipped is passed by a seek.)
            stats.unchanged += 1
            return
        same = (same_file and st.st_size >= saved.offset
                and _fingerprint(path, saved.offset) == (saved.head, saved.tail))
        if same:
            start, lineno = saved.offset, saved.lineno
            state = {k: v for k, v in saved.state.items() if k != _SKIP_KEY}
            skip = saved.state.get(_SKIP_KEY)
        else:
            stats.reread += 1
    reader = reader_for(path, state, start, lineno)
    pos = start
    with path.open("rb", buffering=1 << 20) as fh:
        fh.seek(start)
        since_checkpoint = 0
        while True:
            if skip is not None and pos == skip[0] and not skip[3:]:
                # an over-long line reported before: on from where its skipping stopped
                fh.seek(skip[1])
                lineno += 1
                skip, pos = _skip_line(fh, skip[1], skip[0], result, tick, ended=skip[2])
                skip.append("passed")          # once per scan
                if skip[2]:
                    reader.advance(lineno, pos)
                    continue
                break
            line = fh.readline(MAX_LINE + 1)
            if not line:
                break
            if len(line) > MAX_LINE:
                lineno += 1
                result.lines += 1
                result.add_bad(f"{path}:{lineno}", f"a line longer than {MAX_LINE:,} bytes "
                               "(the limit for one log line); skipped")
                result.bytes_read += len(line)
                tick(len(line))
                skip, pos = _skip_line(fh, pos + len(line), pos, result, tick,
                                       ended=line.endswith(b"\n"))
                skip.append("passed")
                if skip[2]:
                    reader.advance(lineno, pos)
                    continue
                break
            if not line.endswith(b"\n") and not quiet and not complete_json(line):
                # half written: the rest of it arrives later. (Quiet: a last line its
                # writer never ended, read as it is; a whole JSON object: only its newline
                # is missing, and a newline written later reads as blank.)
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
                for rec in reader.skipped(line, lineno, pos) or ():
                    sink.add(rec, f"{path}:{lineno}")
                since_checkpoint += 1
                if since_checkpoint >= CHECKPOINT_LINES:
                    _save(ledger, sink, source, key, st, reader, path, skip)
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
                _save(ledger, sink, source, key, st, reader, path, skip)
                since_checkpoint = 0
    for rec in reader.finish(quiet):
        sink.add(rec, f"{path}:{lineno}")
    result.pending += reader.pending
    result.already += reader.merged
    _save(ledger, sink, source, key, st, reader, path, skip)


def _skip_line(fh: Any, pos: int, line_start: int, result: ImportResult,
               tick: Callable[[int], None], *, ended: bool) -> tuple[list[Any], int]:
    """Read past an over-long line (read up to ``pos`` so far) a chunk at a time, holding
    none of it: to just after its newline, else to the end of what is written. Returns the
    skip record [line start, skipped up to, newline reached] and the new position."""
    while not ended:
        chunk = fh.readline(SKIP_CHUNK)
        if not chunk:
            break
        pos += len(chunk)
        result.bytes_read += len(chunk)
        tick(len(chunk))
        ended = chunk.endswith(b"\n")
    return [line_start, pos, ended], pos


def _save(ledger: Ledger, sink: Sink, source: str, key: str, st: os.stat_result,
          reader: Reader, path: Path, skip: list[Any] | None) -> None:
    """Records first, then the offset that covers them. The size saved is the size seen at
    the scan's start: the file unchanged from it is not read again."""
    sink.flush()
    offset, lineno, state = reader.checkpoint()
    if skip is not None and skip[0] >= offset:   # the next scan passes it again: jump it
        state = {**state, _SKIP_KEY: skip[:3]}
    head, tail = _fingerprint(path, offset)
    ledger.save_log_file(LogFileState(key, source, st.st_dev, st.st_ino, st.st_size,
                                      st.st_mtime_ns, offset, lineno, head, tail, state))


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
            if st.st_size > MAX_DOCUMENT:
                result.add_bad(str(path), f"{st.st_size:,} bytes, over the {MAX_DOCUMENT:,} "
                                          "read as one session document; skipped")
                ledger.save_log_file(LogFileState(key, source, st.st_dev, st.st_ino, st.st_size,
                                                  st.st_mtime_ns, st.st_size, 0, "", "", {}))
                continue
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
            _unreadable(result, stats, path, exc)
        else:
            if result.known_errors is not None:
                result.known_errors.pop(str(path), None)
    sink.flush()
    return stats


def forget(ledger: Ledger, paths: Iterable[str]) -> None:
    """Drop saved progress (a file to be read from the start next time)."""
    with ledger._lock:
        ledger.conn.executemany("DELETE FROM log_files WHERE path = ?", [(p,) for p in paths])
