"""`teamcost import <log source>` and the agent's tailing of it: a source's files into the ledger.

A source is a module with ``SOURCE``, ``ACCEPTED`` (what a DIR argument may be),
``default_roots()``, ``list_files(root)``, ``Reader`` and ``check_file(path, head)``, and
optionally ``file_mode(path)`` / ``read_whole(path, root, build)`` for files that are one
JSON document rather than JSON Lines, and ``NEEDLES`` (base.needs_decoding: a line holding
none of them is skipped without decoding). Line files go through the tail driver
(teamcost.capture.logs.tail): per-file progress in the ledger, so a second import or the
agent reads only what is new; whole-document files are read again only when they changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from teamcost.capture.logs.base import (
    SQLITE_MAGIC,
    ImportResult,
    Progress,
    importing,
    json_object,
    ticker,
)
from teamcost.capture.logs.parsing import BadLine
from teamcost.capture.logs.tail import TailStats, scan_files, scan_whole_files
from teamcost.config import Config
from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.tracker import Tracker

HEAD_LIMIT = 64 << 20    # a first line longer than this is not a log line worth parsing


def mode_of(source: ModuleType, path: Path) -> str:
    fn = getattr(source, "file_mode", None)
    return fn(path) if fn is not None else str(source.MODE)


def source_files(source: ModuleType, root: Path) -> list[Path]:
    """The files to read under ``root``; InvalidValue (exit 2) when root is missing, a file
    of another kind, or a directory without any."""
    accepted = str(source.ACCEPTED)
    if not root.exists():
        raise InvalidValue("DIR", str(root), f"{accepted} (no such file or directory)")
    if root.is_dir():
        files = source.list_files(root)
        if not files:
            raise InvalidValue("DIR", str(root), f"{accepted}; it holds no "
                                                 f"{source.SOURCE} session logs")
        return list(files)
    if not root.is_file():
        raise InvalidValue("DIR", str(root), f"{accepted}; this is not a regular file")
    why = _wrong_kind(source, root)
    if why:
        raise InvalidValue("DIR", str(root), f"{accepted}; {why}")
    return [root]


def _wrong_kind(source: ModuleType, path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            if fh.read(16) == SQLITE_MAGIC:
                return "this is a SQLite database (use 'teamcost import sqlite')"
            fh.seek(0)
            if mode_of(source, path) == "whole":
                raw = fh.read()
            else:
                raw = b""
                for line in fh:
                    if line.strip():
                        raw = line[:HEAD_LIMIT]
                        break
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if not raw.strip():
        return "it is empty"
    try:
        head = json_object(raw)
    except (ValueError, UnicodeDecodeError):
        return ("it is not a JSON object" if mode_of(source, path) == "whole"
                else "its first line is not a JSON object")
    why: str | None = source.check_file(path, head)
    return why


class _LineReader:
    """A source's ``Reader`` (feed(line, lineno), state()) as the tail driver's Reader: every
    call it yields is final at once, so the checkpoint follows the last line consumed."""

    pending = 0
    merged = 0

    def __init__(self, reader: Any, start: int, lineno: int,
                 needles: tuple[bytes, ...] | None = None) -> None:
        self.reader, self.end, self.lineno = reader, start, lineno
        self.needles = needles

    def feed(self, line: bytes, lineno: int, end: int) -> list[CallRecord]:
        recs: list[CallRecord] = self.reader.feed(line, lineno)
        self.end, self.lineno = end, lineno
        return recs

    def advance(self, lineno: int, end: int) -> None:
        self.end, self.lineno = end, lineno

    def skipped(self, line: bytes, lineno: int, end: int) -> None:
        self.end, self.lineno = end, lineno

    def finish(self, quiet: bool) -> list[CallRecord]:
        return []

    def checkpoint(self) -> tuple[int, int, dict[str, Any]]:
        return self.end, self.lineno, self.reader.state()


def scan_source(ledger: Ledger, tracker: Tracker, source: ModuleType, root: Path,
                files: list[Path], result: ImportResult,
                tick: Callable[[int], None] = lambda n: None) -> TailStats:
    """What is new in ``files`` of ``source`` into the ledger (import and agent alike)."""
    lines = [f for f in files if mode_of(source, f) != "whole"]
    whole = [f for f in files if mode_of(source, f) == "whole"]

    def reader(path: Path, state: dict[str, Any] | None, start: int, lineno: int) -> _LineReader:
        return _LineReader(source.Reader(path, root, tracker.build, state), start, lineno,
                           getattr(source, "NEEDLES", None))

    stats = scan_files(ledger, str(source.SOURCE), lines, reader, result, tick=tick)
    if whole:
        def read(path: Path) -> Any:
            for item in source.read_whole(path, root, tracker.build):
                yield (item.where, item.why) if isinstance(item, BadLine) else item

        more = scan_whole_files(ledger, str(source.SOURCE), whole, read, result, tick=tick)
        stats.files += more.files
        stats.unchanged += more.unchanged
        stats.reread += more.reread
        stats.errors += more.errors
    return stats


def import_tree(source: ModuleType, path: Path | str | None, config: Config,
                ledger: Ledger | None = None, progress: Progress | None = None) -> ImportResult:
    """Import every call a source's logs under ``path`` (default: its default root) record.

    Bad lines are counted and reported as ``file:line: why``; an unfinished last line (no
    newline yet) of a file still being written waits for the next import. A file that
    vanishes or cannot be read is reported and skipped; importing again reads only what is
    new (and call ids are derived from the logs' own identities, so nothing counts twice).
    """
    root = Path(path).expanduser() if path is not None else source.default_roots()[0]
    files = source_files(source, root)
    result = ImportResult(str(source.SOURCE), str(root), files=len(files))
    total = 0
    for f in files:
        try:
            total += f.stat().st_size
        except OSError:
            pass
    with importing(config, ledger, result) as led:
        scan_source(led, Tracker(config, led), source, root, files, result,
                    ticker(progress, total))
    return result
