"""`teamcost import <log source>`: one tree of a log reader's files into the ledger.

A source is a module with ``SOURCE``, ``ACCEPTED`` (what a DIR argument may be),
``default_roots()``, ``list_files(root)``, ``Reader`` and ``check_file(path, head)``, and
optionally ``file_mode(path)`` / ``read_whole(path, root, build)`` for files that are one
JSON document rather than JSON Lines. Lines are streamed and recorded in batches through
the importers' ``_Sink``, so memory stays flat however big the tree is.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType
from typing import Any

from teamcost.capture.importers import (ACTIVE_S, SQLITE_MAGIC, ImportResult, Progress,
                                        _importing, _lines, _Sink, _ticker, _why)
from teamcost.capture.logs.parsing import BadLine, json_object
from teamcost.config import Config
from teamcost.errors import InvalidValue, TeamcostError
from teamcost.ledger import Ledger
from teamcost.tracker import Tracker

HEAD_LIMIT = 64 << 20    # a first line longer than this is not a log line worth parsing

BAD_LINE_ERRORS = (ValueError, TypeError, TeamcostError, RecursionError)


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


def import_tree(source: ModuleType, path: Path | str | None, config: Config,
                ledger: Ledger | None = None, progress: Progress | None = None) -> ImportResult:
    """Import every call a source's logs under ``path`` (default: its default root) record.

    Bad lines are counted and reported as ``file:line: why``, except an unfinished last
    line (no newline yet) of a file written in the last ACTIVE_S seconds: the agent is
    still writing it, so it is counted as pending and read by the next import. A file
    that vanishes or cannot be read is reported and skipped; re-importing adds nothing
    (call ids are derived from the logs' own identities).
    """
    root = Path(path).expanduser() if path is not None else source.default_roots()[0]
    files = source_files(source, root)
    result = ImportResult(str(source.SOURCE), str(root), files=len(files))
    sizes = []
    for f in files:
        try:
            sizes.append(f.stat().st_size)
        except OSError:
            sizes.append(0)
    with _importing(config, ledger, result) as led:
        tracker = Tracker(config, led)
        sink = _Sink(led, result, lenient=True)
        tick = _ticker(progress, sum(sizes))
        for file, size in zip(files, sizes, strict=True):
            try:
                if mode_of(source, file) == "whole":
                    _read_whole(source, file, root, tracker, sink, result)
                    result.bytes_read += size
                    tick(size)
                else:
                    _read_lines(source, file, root, tracker, sink, result, tick)
            except OSError as exc:   # vanished or became unreadable mid-import
                result.add_bad(str(file), f"cannot read it ({exc.strerror or exc})")
        sink.flush()
    return result


def _read_lines(source: ModuleType, file: Path, root: Path, tracker: Tracker, sink: _Sink,
                result: ImportResult, tick: Any) -> None:
    reader = source.Reader(file, root, tracker.build)
    active = time.time() - file.stat().st_mtime < ACTIVE_S
    for no, line in _lines(file, result, tick):
        where = f"{file}:{no}"
        try:
            recs = reader.feed(line, no)
        except BAD_LINE_ERRORS as exc:
            if active and not line.endswith(b"\n"):
                result.pending += 1      # the agent is still writing it: next time
            else:
                result.add_bad(where, why(exc))
            continue
        for rec in recs:
            sink.add(rec, where)


def _read_whole(source: ModuleType, file: Path, root: Path, tracker: Tracker, sink: _Sink,
                result: ImportResult) -> None:
    result.lines += 1
    for item in source.read_whole(file, root, tracker.build):
        if isinstance(item, BadLine):
            result.add_bad(item.where, item.why)
        else:
            sink.add(item, str(file))


def why(exc: BaseException) -> str:
    """The one-line reason for a bad line (the importers' wording)."""
    if isinstance(exc, RecursionError):
        return "not readable JSON (nested too deeply)"
    return _why(exc)

