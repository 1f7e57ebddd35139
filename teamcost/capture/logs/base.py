"""What every log importer shares: results, batching into the ledger, reading lines.

Every importer reads its source one line / row at a time and records in transactions of
``BATCH`` calls, so memory stays flat however big the logs are. Re-importing adds nothing:
call ids are the source's own (or derived deterministically from it), and a call already in
the ledger is counted as "already present", never rewritten. A bad line is reported as
``file:line: why`` and counted; it never stops the import, and every batch before it stays.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from teamcost.config import Config
from teamcost.errors import DuplicateCallError, InvalidValue
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.money import nanos_to_usd

_fast_loads: Callable[[bytes | str], Any] | None
try:
    from orjson import loads as _fast_loads
except ImportError:   # a slower json_object, the same answers
    _fast_loads = None
_DIGITS_B = bytes(0x30 if 0x30 <= c <= 0x39 else 0x78 for c in range(256))
_DIGIT_RUN_B = b"0" * 20
_LONG_DIGITS = re.compile(r"[0-9]{20}")

BATCH = 2000           # calls per ledger transaction
MAX_BAD_SHOWN = 50     # bad lines kept for the report (all are counted)
SQLITE_MAGIC = b"SQLite format 3\x00"

Progress = Callable[[int, Any], None]


@dataclass
class ImportResult:
    """What an import did. ``bad`` holds the first MAX_BAD_SHOWN ``file:line: why`` lines."""

    source: str
    path: str
    files: int = 0
    lines: int = 0
    imported: int = 0
    already: int = 0
    skipped: int = 0
    pending: int = 0             # messages held, not final yet: recorded by a later scan
    held_until: float | None = None   # when the last held one is recorded at the latest
    held_why: str | None = None
    estimated: int = 0           # calls whose stream never ended: recorded as estimated
    disagreed: int = 0           # a second witness (telemetry) gave other numbers
    cost_nanos: int = 0          # of the calls imported now
    bytes_read: int = 0
    seconds: float = 0.0
    bad: list[str] = field(default_factory=list)
    # a follower's memory across scans (the agent's): path -> (the file's stat, the error)
    # of a file that could not be read; the same error on the unchanged file is not
    # counted again (tail.scan_files)
    known_errors: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def all_refused(self) -> bool:
        """Lines were read and every one was refused: nothing usable in what was given."""
        return self.skipped > 0 and not (self.imported or self.already or self.pending)

    def add_bad(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.bad) < MAX_BAD_SHOWN:
            self.bad.append(f"{where}: {why}")

    def hold(self, until: float, why: str) -> None:
        """Messages held back (not final yet; the scan counts them in ``pending``) until
        ``until`` (epoch s) at the latest."""
        self.held_until = max(until, self.held_until or until)
        self.held_why = why

    def disagree(self, what: str) -> None:
        """Two witnesses of one call gave different numbers: reported, the first kept."""
        self.disagreed += 1
        if len(self.bad) < MAX_BAD_SHOWN:
            self.bad.append(f"disagreement: {what}")

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.pop("known_errors", None)
        if self.held_until is not None:
            d["held_until"] = datetime.fromtimestamp(self.held_until, UTC).isoformat(
                timespec="seconds").replace("+00:00", "Z")
        d["cost_usd"] = nanos_to_usd(self.cost_nanos)
        return d

    def summary(self) -> str:
        pending = ""
        if self.pending and self.held_until is not None:
            until = datetime.fromtimestamp(self.held_until, UTC)
            pending = (f", {self.pending:,} held until {until:%H:%M:%S}Z at the latest: "
                       f"{self.held_why or 'not final yet'}")
        elif self.pending:
            pending = f", {self.pending:,} still streaming left for the next import"
        if self.estimated:
            pending += f", {self.estimated:,} interrupted (recorded as estimated)"
        if self.disagreed:
            pending += f", {self.disagreed:,} telemetry disagreements (first kept)"
        return (f"imported {self.imported:,} calls ({self.already:,} already present, "
                f"{self.skipped:,} bad lines skipped{pending}) from {self.files:,} "
                f"file{'s' if self.files != 1 else ''} in {self.seconds:.1f}s")


class Sink:
    """Batches records into the ledger; counts new vs already-present calls.

    ``lenient`` (Claude Code): a call id already in the ledger counts as present whatever
    its content (the same message logged again with a later timestamp is the same call).
    Otherwise (teamcost's own records) a call id present with different content is a
    conflict: reported as a bad line, the rest of the batch still recorded.

    Claude Code writes one message several times as it streams (one line per content
    block), each line with the usage so far: input and cache tokens are the same in all,
    ``output_tokens`` grows and the last line has the whole count. So in lenient mode the
    line with the most output tokens wins (keeping the first undercounts output by 2-3x),
    and a size flush holds back the newest call, whose later lines may still follow.
    """

    def __init__(self, ledger: Ledger, result: ImportResult, *, lenient: bool) -> None:
        self.ledger = ledger
        self.result = result
        self.lenient = lenient
        self.batch: dict[str, tuple[CallRecord, str]] = {}
        self.newest: tuple[str, int] = ("", 0)   # the newest call id, its repeated lines

    def add(self, rec: CallRecord, where: str) -> None:
        held = self.batch.get(rec.call_id)
        if held is not None:
            if self.lenient:
                if rec.output_tokens > held[0].output_tokens:   # a later streaming snapshot
                    self.batch[rec.call_id] = (rec, where)
                self.result.already += 1  # a repeated line: the same call counts once
                if self.newest[0] == rec.call_id:
                    self.newest = (rec.call_id, self.newest[1] + 1)
            elif held[0] != rec:
                self.result.add_bad(where, f"call {rec.call_id!r} appears twice with "
                                           "different content; the first was kept")
            else:
                self.result.already += 1
            return
        self.batch[rec.call_id] = (rec, where)
        self.newest = (rec.call_id, 0)
        if len(self.batch) >= BATCH:
            self.flush(hold_newest=self.lenient)

    def withdraw(self, call_id: str) -> bool:
        """Take the newest call, not yet recorded, back out (True if it was waiting here);
        its repeated lines no longer count as already present."""
        if self.newest[0] != call_id or self.batch.pop(call_id, None) is None:
            return False
        self.result.already -= self.newest[1]
        self.newest = ("", 0)
        return True

    def flush(self, hold_newest: bool = False) -> None:
        if not self.batch:
            return
        items = list(self.batch.values())
        self.batch = {}
        if hold_newest:  # its next lines may be later snapshots of the same message
            newest = items.pop()
            self.batch[newest[0].call_id] = newest
        present = existing_ids(self.ledger, [r.call_id for r, _ in items])
        fresh = [(r, w) for r, w in items if r.call_id not in present]
        # lenient: present means done. Strict: record_many compares them field by field.
        again = [] if self.lenient else [(r, w) for r, w in items if r.call_id in present]
        if self.lenient:
            self.result.already += len(present)
        for part in (fresh, again):
            if not part:
                continue
            try:
                new, old = self.ledger.record_many([r for r, _ in part], chunk=len(part))
            except DuplicateCallError:
                # one conflicting call must not lose the others: record them one by one
                new = old = 0
                for rec, where in part:
                    try:
                        if self.ledger.record(rec):
                            new += 1
                            self.result.cost_nanos += rec.cost_nanos
                        else:
                            old += 1
                    except DuplicateCallError as exc:
                        self.result.add_bad(where, str(exc))
            else:
                if part is fresh and old == 0:
                    self.result.cost_nanos += sum(r.cost_nanos for r, _ in part)
            self.result.imported += new
            self.result.already += old


def existing_ids(ledger: Ledger, ids: list[str]) -> set[str]:
    found: set[str] = set()
    with ledger._lock:  # the ledger's own lock: one connection shared with its writers
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = ledger.conn.execute(
                f"SELECT call_id FROM calls WHERE call_id IN ({', '.join('?' for _ in part)})",
                part).fetchall()
            found.update(r[0] for r in rows)
    return found


def check_file(option: str, path: Path, accepted: str) -> Path:
    if not path.exists():
        raise InvalidValue(option, str(path), f"{accepted} (no such file)")
    if path.is_dir():
        raise InvalidValue(option, str(path), f"{accepted} (this is a directory)")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InvalidValue(option, str(path), f"{accepted} (cannot read it: "
                                              f"{exc.strerror or exc})") from None
    return path


def not_json_lines(path: Path) -> str | None:
    """Why a file named by hand is plainly not JSON Lines (a SQLite database, a binary or
    text file whose first line is no JSON object), or None: refused in one line before it
    is read, rather than reported as every one of its lines bad."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(SQLITE_MAGIC):
        return "this is a SQLite database (use 'teamcost import sqlite')"
    first = head.lstrip().split(b"\n", 1)[0]
    if first and not first.startswith(b"{"):
        return "its first line is not a JSON object"
    return None


def read_lines(path: Path, result: ImportResult,
           tick: Callable[[int], None]) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a file in binary, blank lines skipped; counts bytes read."""
    with path.open("rb", buffering=1 << 20) as fh:
        for no, line in enumerate(fh, 1):
            n = len(line)
            result.bytes_read += n
            tick(n)
            if line.strip():
                result.lines += 1
                yield no, line


def ticker(progress: Progress | None, total: int) -> Callable[[int], None]:
    """A bytes-read callback that updates the progress bar at most ~10 times a second."""
    if progress is None:
        return lambda n: None
    done = 0
    last = 0.0

    def tick(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last > 0.1 or done >= total:
            last = now
            progress(done, total)

    progress(0, total)
    return tick


@contextlib.contextmanager
def importing(config: Config, ledger: Ledger | None, result: ImportResult) -> Iterator[Ledger]:
    """The ledger to import into (the caller's, or this config's opened and closed here);
    times the import into ``result.seconds``."""
    start = time.perf_counter()
    led = ledger if ledger is not None else Ledger.for_config(config)
    try:
        yield led
    finally:
        if ledger is None:
            led.close()
        result.seconds = time.perf_counter() - start



def json_object(line: bytes | str) -> dict[str, Any]:
    """One JSON object; ValueError for anything else, a line nested too deeply included
    (json.loads raises RecursionError past ~1000 levels, which must not stop an import).

    orjson parses a line several times faster than json; whatever it refuses (bad JSON,
    NaN, lone surrogates, other encodings, deep nesting) is decided by json, and so is a
    line with 20 digits in a row (an integer past 64 bits, which orjson would turn into a
    float), so what is accepted, its values and why a line is bad are json's."""
    # bytes: every digit made '0', everything else 'x', then a substring search (a regex
    # looking for 20 digits in a row costs twice the parse); text lines are rare
    long_int = (_DIGIT_RUN_B in line.translate(_DIGITS_B) if isinstance(line, bytes)
                else _LONG_DIGITS.search(line) is not None)
    if _fast_loads is None or long_int:
        data = _json_loads(line)
    else:
        try:
            data = _fast_loads(line)
        except Exception:   # orjson.JSONDecodeError and whatever else it refuses
            data = _json_loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _json_loads(line: bytes | str) -> Any:
    try:
        return json.loads(line)
    except RecursionError:
        raise ValueError("not readable JSON (nested too deeply)") from None


def _plain_json_object(line: bytes | str) -> dict[str, Any]:
    """``json_object`` with json alone."""
    data = _json_loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def needs_decoding(line: bytes, needles: tuple[bytes, ...]) -> bool:
    """False for a line that holds none of ``needles`` (the quoted keys or values any line
    that matters to a reader must contain, as its writer spells them) and looks like one whole
    JSON object: it is counted and skipped without decoding (a big tool result costs a
    byte search, not a parse). A line that does not look like an object is decoded, so it is
    still reported as bad."""
    if any(n in line for n in needles):
        return True
    # the last bytes only: rstrip() would copy a 200 KB tool result to look at its end (a
    # line ending in more whitespace than that is decoded, which is only slower)
    return not (line[:1] == b"{" and line[-8:].rstrip()[-1:] == b"}")


def why_bad(exc: BaseException) -> str:
    """The one-line reason a line could not be read."""
    if isinstance(exc, RecursionError):
        return "not readable JSON (nested too deeply)"
    if isinstance(exc, json.JSONDecodeError):
        msg = exc.msg[:-3] if exc.msg.endswith(" at") else exc.msg  # "Invalid control character at"
        return f"not valid JSON ({msg} at column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc) or type(exc).__name__
