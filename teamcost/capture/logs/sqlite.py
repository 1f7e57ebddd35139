"""``teamcost import sqlite``: another teamcost ledger (its ``calls`` table) or an older cost
database with an ``llm_calls`` table (timestamp, agent, task_id, correlation_id, model,
model_tier, input_tokens, output_tokens, cost_usd, duration_seconds, success, error)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from teamcost.capture.logs.base import (
    BATCH,
    SQLITE_MAGIC,
    ImportResult,
    Progress,
    Sink,
    check_file,
    importing,
    why_bad,
)
from teamcost.config import Config
from teamcost.errors import InvalidValue, TeamcostError
from teamcost.ledger import Ledger, row_to_record
from teamcost.models import CALL_FIELDS, CallRecord
from teamcost.tracker import Tracker

LLM_CALLS_COLUMNS = ("timestamp", "agent", "task_id", "correlation_id", "model", "model_tier",
                     "input_tokens", "output_tokens", "cost_usd", "duration_seconds",
                     "success", "error")


def import_sqlite(path: Path | str, config: Config, ledger: Ledger | None = None,
                  progress: Progress | None = None) -> ImportResult:
    """Import another teamcost ledger's ``calls``, or an ``llm_calls`` cost table."""
    path = check_file("FILE", Path(path), "a SQLite database with a calls or llm_calls table")
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
        with importing(config, ledger, result) as led:
            sink = Sink(led, result, lenient=False)
            if kind == "calls":
                rows = src.execute(f"SELECT rowid, {', '.join(CALL_FIELDS)} FROM calls ORDER BY rowid")
                def convert(r: tuple[Any, ...]) -> CallRecord:
                    return row_to_record(r[1:])
            else:
                tracker = Tracker(config, led)
                rows = src.execute(f"SELECT rowid, {', '.join(LLM_CALLS_COLUMNS)} FROM llm_calls "
                                   "ORDER BY rowid")
                providers: dict[str, str] = {}
                def convert(r: tuple[Any, ...]) -> CallRecord:
                    return _llm_call_record(tracker, providers, r)
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
                    result.add_bad(where, why_bad(exc))
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
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue("timestamp", value, "ISO-8601 or seconds since the epoch") from None
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
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
