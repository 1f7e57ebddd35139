"""Importers: existing usage logs into the ledger, streamed, idempotent, never fatal per line.

Three sources:

- ``jsonl``: teamcost's own export form (one ``record_to_json`` object a line), lossless.
- ``sqlite``: another teamcost ledger (its ``calls`` table) or an older cost database with an
  ``llm_calls`` table (timestamp, agent, task_id, correlation_id, model, model_tier,
  input_tokens, output_tokens, cost_usd, duration_seconds, success, error).
- ``claude-code``: Claude Code session transcripts (``~/.claude/projects/**/*.jsonl``).

Every importer reads its source one line / row at a time and records in transactions of
``BATCH`` calls, so memory stays flat however big the logs are. Re-importing adds nothing:
call ids are the source's own (or derived deterministically from it), and a call already in
the ledger is counted as "already present", never rewritten. A bad line is reported as
``file:line: why`` and counted; it never stops the import, and every batch before it stays.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from teamcost.config import Config
from teamcost.errors import DuplicateCallError, InvalidValue, TeamcostError
from teamcost.ledger import Ledger, row_to_record
from teamcost.models import CALL_FIELDS, CallRecord, record_from_json
from teamcost.tracker import Tracker
from teamcost.money import nanos_to_usd

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
    pending: int = 0             # messages still streaming in an active session: next time
    cost_nanos: int = 0          # of the calls imported now
    bytes_read: int = 0
    seconds: float = 0.0
    bad: list[str] = field(default_factory=list)

    def add_bad(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.bad) < MAX_BAD_SHOWN:
            self.bad.append(f"{where}: {why}")

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["cost_usd"] = nanos_to_usd(self.cost_nanos)
        return d

    def summary(self) -> str:
        pending = (f", {self.pending:,} still streaming left for the next import"
                   if self.pending else "")
        return (f"imported {self.imported:,} calls ({self.already:,} already present, "
                f"{self.skipped:,} bad lines skipped{pending}) from {self.files:,} "
                f"file{'s' if self.files != 1 else ''} in {self.seconds:.1f}s")


# -- shared machinery --

class _Sink:
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
        present = _existing_ids(self.ledger, [r.call_id for r, _ in items])
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


def _existing_ids(ledger: Ledger, ids: list[str]) -> set[str]:
    found: set[str] = set()
    with ledger._lock:  # the ledger's own lock: one connection shared with its writers
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = ledger.conn.execute(
                f"SELECT call_id FROM calls WHERE call_id IN ({', '.join('?' for _ in part)})",
                part).fetchall()
            found.update(r[0] for r in rows)
    return found


def _check_file(option: str, path: Path, accepted: str) -> Path:
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


def _lines(path: Path, result: ImportResult,
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


def _ticker(progress: Progress | None, total: int) -> Callable[[int], None]:
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
def _importing(config: Config, ledger: Ledger | None, result: ImportResult) -> Iterator[Ledger]:
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


# -- jsonl: teamcost's own export --

def import_jsonl(path: Path | str, config: Config, ledger: Ledger | None = None,
                 progress: Progress | None = None) -> ImportResult:
    """Re-import a teamcost JSON Lines export; every field is kept exactly as exported."""
    path = _check_file("FILE", Path(path), "a teamcost JSON Lines export (.jsonl)")
    _check_jsonl_head(path)
    result = ImportResult("jsonl", str(path), files=1)
    with _importing(config, ledger, result) as led:
        sink = _Sink(led, result, lenient=False)
        tick = _ticker(progress, path.stat().st_size)
        for no, line in _lines(path, result, tick):
            where = f"{path}:{no}"
            try:
                rec = record_from_json(_json_object(line))
            except (ValueError, TypeError, TeamcostError) as exc:
                result.add_bad(where, _why(exc))
                continue
            sink.add(rec, where)
        sink.flush()
    return result


def _check_jsonl_head(path: Path) -> None:
    """Refuse a file that is plainly not JSON Lines (a SQLite db, a CSV) before reading it."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    accepted = "a teamcost JSON Lines export (one JSON call record a line)"
    if head.startswith(SQLITE_MAGIC):
        raise InvalidValue("FILE", str(path), f"{accepted}; this is a SQLite database "
                                              "(use 'teamcost import sqlite')")
    first = head.lstrip().split(b"\n", 1)[0]
    if first and not first.startswith(b"{"):
        raise InvalidValue("FILE", str(path), f"{accepted}; its first line is not a JSON object")


def _json_object(line: bytes) -> dict[str, Any]:
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _why(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        msg = exc.msg[:-3] if exc.msg.endswith(" at") else exc.msg  # "Invalid control character at"
        return f"not valid JSON ({msg} at column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc) or type(exc).__name__


# -- sqlite: another teamcost ledger, or an llm_calls cost database --

LLM_CALLS_COLUMNS = ("timestamp", "agent", "task_id", "correlation_id", "model", "model_tier",
                     "input_tokens", "output_tokens", "cost_usd", "duration_seconds",
                     "success", "error")


def import_sqlite(path: Path | str, config: Config, ledger: Ledger | None = None,
                  progress: Progress | None = None) -> ImportResult:
    """Import another teamcost ledger's ``calls``, or an ``llm_calls`` cost table."""
    path = _check_file("FILE", Path(path), "a SQLite database with a calls or llm_calls table")
    accepted = ("a teamcost ledger (table calls) or a cost database with an llm_calls table "
                f"({', '.join(LLM_CALLS_COLUMNS)})")
    with path.open("rb") as fh:
        if fh.read(16) != SQLITE_MAGIC:
            raise InvalidValue("FILE", str(path), f"{accepted}; this is not a SQLite database")
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise InvalidValue("FILE", str(path), f"{accepted}; cannot read it ({exc})") from None
    try:
        if "calls" in tables and _has_columns(src, "calls", CALL_FIELDS):
            kind = "calls"
        elif "llm_calls" in tables and _has_columns(src, "llm_calls", LLM_CALLS_COLUMNS):
            kind = "llm_calls"
        else:
            raise InvalidValue("FILE", str(path), f"{accepted}; it has tables "
                                                  f"{sorted(tables) or 'none'}")
        result = ImportResult(f"sqlite:{kind}", str(path), files=1)
        total = src.execute(f"SELECT count(*) FROM {kind}").fetchone()[0]
        with _importing(config, ledger, result) as led:
            sink = _Sink(led, result, lenient=False)
            if kind == "calls":
                rows = src.execute(f"SELECT rowid, {', '.join(CALL_FIELDS)} FROM calls ORDER BY rowid")
                convert: Callable[[tuple[Any, ...]], CallRecord] = lambda r: row_to_record(r[1:])
            else:
                tracker = Tracker(config, led)
                rows = src.execute(f"SELECT rowid, {', '.join(LLM_CALLS_COLUMNS)} FROM llm_calls "
                                   "ORDER BY rowid")
                providers: dict[str, str] = {}
                convert = lambda r: _llm_call_record(tracker, providers, r)
            done = 0
            if progress:
                progress(0, total)
            for row in _iter_rows(rows):
                done += 1
                result.lines += 1
                where = f"{path}:{kind}:rowid {row[0]}"
                try:
                    rec = convert(row)
                except (ValueError, TypeError, KeyError, TeamcostError) as exc:
                    result.add_bad(where, _why(exc))
                    continue
                sink.add(rec, where)
                if progress and done % 1000 == 0:
                    progress(done, total)
            sink.flush()
            if progress:
                progress(done, total)
    finally:
        src.close()
    return result


def _has_columns(conn: sqlite3.Connection, table: str, names: Iterable[str]) -> bool:
    cols = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    return set(names) <= cols


def _iter_rows(cur: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = cur.fetchmany(BATCH)
        if not rows:
            return
        yield from rows


def _parse_when(value: Any) -> datetime:
    """An llm_calls timestamp: ISO-8601 (naive means UTC) or seconds since the epoch."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue("timestamp", value, "ISO-8601 or seconds since the epoch") from None
        return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
    raise InvalidValue("timestamp", value, "ISO-8601 or seconds since the epoch")


def _llm_call_record(tracker: Tracker, providers: dict[str, str],
                     row: tuple[Any, ...]) -> CallRecord:
    (rowid, ts, agent, task_id, corr, model, tier, in_t, out_t, cost, dur, success,
     error) = row
    when = _parse_when(ts)
    if not isinstance(model, str) or not model.strip():
        raise InvalidValue("model", model, "a model name")
    if model not in providers:  # the provider, even when the cost is the database's own
        providers[model] = tracker.pricer.price(None, model, 0, 0).provider or "unknown"
    # the row's identity: re-importing the same database finds the same ids
    digest = hashlib.sha256(repr(row).encode()).hexdigest()[:32]
    return tracker.build(
        model, in_t or 0, out_t or 0, provider=providers[model],
        cost_usd=cost, duration_s=dur, success=bool(success) if success is not None else True,
        error=str(error) if error else None, call_id=f"llmcalls-{digest}", ts=when,
        agent=str(agent) if agent else None, task_id=str(task_id) if task_id else None,
        correlation_id=str(corr) if corr else None,
        tags={"model_tier": str(tier)} if tier not in (None, "") else {},
        session_id=None)


# -- Claude Code transcripts --

def default_claude_code_path() -> Path:
    """Where Claude Code keeps session logs (CLAUDE_CONFIG_DIR moves it)."""
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base) if base else Path.home() / ".claude") / "projects"


def claude_code_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.jsonl") if p.is_file())


def claude_code_call_id(message_id: str, request_id: str | None) -> str:
    """Deterministic: the same message (repeated lines, resumed sessions) gives the same id."""
    raw = f"cc-{message_id}-{request_id}" if request_id else f"cc-{message_id}"
    if len(raw) <= 128 and all(c.isalnum() or c in "-_." for c in raw):
        return raw
    return "cc-" + hashlib.sha256(f"{message_id}\x00{request_id}".encode()).hexdigest()[:40]


def _project_of(file: Path, root: Path, data: dict[str, Any]) -> str:
    cwd = data.get("cwd")
    if isinstance(cwd, str) and cwd.strip():
        return Path(cwd).name or cwd
    try:  # projects/<escaped cwd>/<session>.jsonl
        return file.relative_to(root).parts[0] if file != root else file.parent.name
    except ValueError:
        return file.parent.name


def _usage_int(usage: dict[str, Any], key: str) -> int:
    v = usage.get(key)
    if v is None:
        return 0
    if type(v) is not int or v < 0:
        raise InvalidValue(f"message.usage.{key}", v, "a non-negative integer")
    return v


ACTIVE_S = 600   # a session log written this recently may still be streaming its last message


def _still_streaming(data: dict[str, Any]) -> bool:
    """An explicit ``"stop_reason": null``: Claude Code wrote this line mid-stream."""
    msg = data.get("message")
    return isinstance(msg, dict) and "stop_reason" in msg and msg["stop_reason"] is None


def claude_code_record(tracker: Tracker, data: dict[str, Any], project: str) -> CallRecord | None:
    """The call in one transcript line, or None when the line is not an API call.

    Anthropic's ``input_tokens`` already excludes cache reads and writes, as the ledger does.
    """
    if data.get("type") != "assistant":
        return None
    msg = data.get("message")
    if not isinstance(msg, dict) or not isinstance(msg.get("usage"), dict):
        return None
    model = msg.get("model")
    if model == "<synthetic>":  # Claude Code's own placeholder messages: no API call
        return None
    usage = msg["usage"]
    mid = msg.get("id")
    if not isinstance(mid, str) or not mid:
        raise InvalidValue("message.id", mid, "the API message id (msg_...)")
    if not isinstance(model, str) or not model:
        raise InvalidValue("message.model", model, "a model name")
    req = data.get("requestId")
    ts = data.get("timestamp")
    if not isinstance(ts, str):
        raise InvalidValue("timestamp", ts, "an ISO-8601 timestamp")
    session = data.get("sessionId")
    return tracker.build(
        model, _usage_int(usage, "input_tokens"), _usage_int(usage, "output_tokens"),
        provider="anthropic",
        cache_read_tokens=_usage_int(usage, "cache_read_input_tokens"),
        cache_write_tokens=_usage_int(usage, "cache_creation_input_tokens"),
        call_id=claude_code_call_id(mid, req if isinstance(req, str) and req else None),
        ts=datetime.fromisoformat(ts.replace("Z", "+00:00")),
        session_id=session if isinstance(session, str) and session else None,
        tags={"project": project[:256], "source": "claude-code"})


def import_claude_code(path: Path | str | None, config: Config, ledger: Ledger | None = None,
                       progress: Progress | None = None) -> ImportResult:
    """Import every assistant message with usage from Claude Code session logs."""
    root = Path(path).expanduser() if path is not None else default_claude_code_path()
    accepted = "a Claude Code projects directory (or one session .jsonl file)"
    if not root.exists():
        raise InvalidValue("PATH", str(root), f"{accepted} (no such file or directory)")
    files = claude_code_files(root)
    if not files:
        raise InvalidValue("PATH", str(root), f"{accepted}; it holds no *.jsonl session logs")
    if root.is_file():
        with root.open("rb") as fh:
            if fh.read(16) == SQLITE_MAGIC:
                raise InvalidValue("PATH", str(root), f"{accepted}; this is a SQLite database "
                                                      "(use 'teamcost import sqlite')")
    result = ImportResult("claude-code", str(root), files=len(files))
    with _importing(config, ledger, result) as led:
        tracker = Tracker(config, led)
        sink = _Sink(led, result, lenient=True)
        tick = _ticker(progress, sum(f.stat().st_size for f in files))
        for file in files:
            projects: dict[str, str] = {}   # cwd -> project name (the log's own cwd wins)
            last: tuple[str, bool] | None = None   # the file's last call: (id, mid-stream)
            try:
                active = time.time() - file.stat().st_mtime < ACTIVE_S
                for no, line in _lines(file, result, tick):
                    where = f"{file}:{no}"
                    try:
                        data = _json_object(line)
                        cwd = str(data.get("cwd") or "")
                        if cwd not in projects:
                            projects[cwd] = _project_of(file, root, data)
                        rec = claude_code_record(tracker, data, projects[cwd])
                    except (ValueError, TypeError, TeamcostError) as exc:
                        result.add_bad(where, _why(exc))
                        continue
                    if rec is not None:
                        sink.add(rec, where)
                        last = (rec.call_id, _still_streaming(data))
            except OSError as exc:  # a file vanished or became unreadable mid-import
                result.add_bad(str(file), f"cannot read it ({exc.strerror or exc})")
                continue
            # the ledger is append-only: a message caught mid-stream in a live session
            # would keep its partial output for good, so it waits for the next import
            if last is not None and last[1] and active and sink.withdraw(last[0]):
                result.pending += 1
        sink.flush()
    return result
