"""``teamcost statusline``: one short line for Claude Code's status bar.

Claude Code runs the configured command after each assistant message with the session's
JSON on stdin (``session_id``, ``model {id, display_name}``, ``workspace {current_dir}``,
``cwd``, ...) and shows the first line it prints. The line comes from two local files, no
network: the agent's status snapshot (the team's budget, today's spend) and this machine's
ledger (the session's spend; imported Claude Code calls carry Claude Code's session id)::

    team $412/$500 (82%) · today $37.10 · session $2.14

It must never break Claude Code's UI: whatever happens, it returns one line. It runs on
every message, so it imports only the standard library and teamcost's foundation readers
(``local_read``, ``money``, ``errors``): no config loading, pricing data, typer or rich.
"""

from __future__ import annotations

import os
from collections import namedtuple
from datetime import UTC, datetime, timedelta

from teamcost import labels
from teamcost.agent.snapshot import load_snapshot
from teamcost.compat.json_scan import loads
from teamcost.errors import TeamcostError
from teamcost.local_read import home_dir, ledger_path, session_totals
from teamcost.money import NANOS_PER_USD, format_usd

# nothing here imports pathlib or typing (paths are strings): either costs the line more
# than everything else it imports together
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

SEP = " · "
NO_SNAPSHOT = "teamcost: no agent status yet (run: teamcost agent)"
STALE_AFTER = timedelta(minutes=5)   # the agent rewrites the snapshot every few seconds
_YELLOW, _RED, _RESET = "\x1b[33m", "\x1b[31m", "\x1b[0m"


# What teamcost uses of Claude Code's status JSON (session_id, model, cwd: str or None); all
# None when stdin was not it. (collections' namedtuple: a dataclass would import
# ``inspect``, typing's NamedTuple ``typing``.)
StatusInput = namedtuple("StatusInput", ("session_id", "model", "cwd"),
                         defaults=(None, None, None))


def _text(value: Any, limit: int = 256) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def parse_status_input(text: str) -> StatusInput:
    """Claude Code's stdin JSON; anything else (empty, not JSON, wrong types) reads as empty."""
    try:
        data = loads(text) if text.strip() else None
    except (ValueError, RecursionError):   # json.JSONDecodeError included
        data = None
    if not isinstance(data, dict):
        return StatusInput()
    model = data.get("model")
    workspace = data.get("workspace")
    return StatusInput(
        session_id=_text(data.get("session_id")),
        model=_text(model.get("id")) if isinstance(model, dict) else None,
        cwd=(_text(workspace.get("current_dir"), 4096) if isinstance(workspace, dict) else None)
        or _text(data.get("cwd"), 4096))


def one_line(text: str) -> str:
    """No control bytes, no line breaks: a status line is one line of plain text
    (``teamcost.labels.one_line``, its runs of spaces folded)."""
    return " ".join(labels.one_line(text).split())


def _nanos(snap: dict[str, Any], key: str, where: str = "") -> int:
    value = snap.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TeamcostError(f"agent status: {where}{key} is {value!r}, expected nano-dollars "
                            "(a non-negative integer)")
    return value


def _budget_part(snap: dict[str, Any], color: bool) -> str:
    budget = snap.get("budget")
    if budget is None:
        return f"team {format_usd(_nanos(snap, 'period_nanos'))}"
    if not isinstance(budget, dict):
        raise TeamcostError(f"agent status: budget is {budget!r}, expected an object or null")
    limit = _nanos(budget, "limit_nanos", "budget.")
    spent = _nanos(budget, "spent_nanos", "budget.")
    if limit == 0:
        return f"team {format_usd(spent)}"
    places = 0 if limit >= 100 * NANOS_PER_USD else 2
    percent = spent * 100 // limit          # floor: 99.6% is not yet 100%
    level = str(budget.get("level", "")).upper()
    exhausted = level == "EXHAUSTED" or spent >= limit
    text = (f"team {format_usd(spent, places)}/{format_usd(limit, places)} ({percent}%"
            + (", exhausted)" if exhausted else ")"))
    if color and (exhausted or level == "WARN"):
        return f"{_RED if exhausted else _YELLOW}{text}{_RESET}"
    return text


def _age(snap: dict[str, Any], now: datetime) -> timedelta:
    raw = snap.get("written_at")
    try:
        written = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        written = None
    if written is None:
        raise TeamcostError(f"agent status: written_at is {raw!r}, expected an ISO 8601 time")
    if written.tzinfo is None:
        written = written.replace(tzinfo=UTC)
    return now - written


def _ago(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes}m"
    return f"{minutes // 60}h" if minutes < 48 * 60 else f"{minutes // (24 * 60)}d"


def _session_part(home: str, session_id: str) -> str:
    try:
        _, nanos = session_totals(ledger_path(home, quick=True), session_id)
    except TeamcostError:   # the budget is worth showing even when the ledger is not readable
        return "session ?"
    return f"session {format_usd(nanos)}"


def build_status_line(stdin_text: str, home: Path | str | None = None, *,
                      now: datetime | None = None, color: bool = False) -> str:
    """The one line for Claude Code (never raises; errors become a ``teamcost: ...`` line)."""
    try:
        home = os.fspath(home) if home is not None else home_dir()
        inp = parse_status_input(stdin_text)
        snap = load_snapshot(home)
        if snap is None:
            return NO_SNAPSHOT
        parts = [_budget_part(snap, color), f"today {format_usd(_nanos(snap, 'today_nanos'))}"]
        if inp.session_id:
            parts.append(_session_part(home, inp.session_id))
        age = _age(snap, now or datetime.now(UTC))
        if age > STALE_AFTER:
            parts.append(f"as of {_ago(age)} ago")
        return SEP.join(parts)  # numbers and fixed words only: nothing from a file is echoed
    except TeamcostError as exc:
        return f"teamcost: {one_line(str(exc))}"
    except Exception as exc:  # noqa: BLE001 - a status line must not break Claude Code's UI
        return one_line(f"teamcost: statusline failed: {type(exc).__name__}: {exc}")[:200]
