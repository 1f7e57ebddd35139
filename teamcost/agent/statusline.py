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
    from datetime import datetime
    from pathlib import Path
    from typing import Any

SEP = " · "
NO_SNAPSHOT = "teamcost: no agent status yet (run: teamcost agent)"
STALE_AFTER_US = 5 * 60 * 10**6   # 5 minutes: the agent rewrites the snapshot every few seconds
_YELLOW, _RED, _RESET = "\x1b[33m", "\x1b[31m", "\x1b[0m"


class StatusInput(tuple):
    """What teamcost uses of Claude Code's status JSON: (session_id, model, cwd), each a str
    or None; all None when stdin was not it. A plain tuple subclass: namedtuple imports
    ``collections`` (and functools, operator, keyword, reprlib), a dataclass ``inspect``,
    typing's NamedTuple ``typing``: together more than the rest of the line's work."""

    __slots__ = ()

    def __new__(cls, session_id: str | None = None, model: str | None = None,
                cwd: str | None = None) -> StatusInput:
        return tuple.__new__(cls, (session_id, model, cwd))

    @property
    def session_id(self) -> str | None:
        return self[0]

    @property
    def model(self) -> str | None:
        return self[1]

    @property
    def cwd(self) -> str | None:
        return self[2]

    def __repr__(self) -> str:
        return f"StatusInput(session_id={self[0]!r}, model={self[1]!r}, cwd={self[2]!r})"


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


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DIGITS = frozenset("0123456789")


def _quick_epoch_us(raw: str) -> int | None:
    """Microseconds since the epoch of the one form the agent writes (``isoformat()`` of an
    aware or naive datetime: ``YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM|-HH:MM|Z]``, naive read
    as UTC), or None for anything else: ``datetime`` (2 ms of the line's imports) reads
    those. Checked against ``datetime.fromisoformat`` in tests/unit/test_statusline.py."""
    n = len(raw)
    if n < 19 or raw[4] != "-" or raw[7] != "-" or raw[10] != "T" or raw[13] != ":" \
            or raw[16] != ":":
        return None
    fields = (raw[0:4], raw[5:7], raw[8:10], raw[11:13], raw[14:16], raw[17:19])
    if not all(_DIGITS.issuperset(f) for f in fields):
        return None
    y, mo, d, h, mi, sec = map(int, fields)
    rest = raw[19:]
    us = 0
    if rest[:1] == ".":
        frac = rest[1:7]
        if len(frac) != 6 or not _DIGITS.issuperset(frac):
            return None
        us = int(frac)
        rest = rest[7:]
    offset = 0
    if rest in ("", "Z"):
        pass
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":" \
            and _DIGITS.issuperset(rest[1:3] + rest[4:6]):
        oh, om = int(rest[1:3]), int(rest[4:6])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 60 + om) * 60 * (1 if rest[0] == "+" else -1)
    else:
        return None
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not (1 <= y and 1 <= mo <= 12 and h < 24 and mi < 60 and sec < 60) \
            or not 1 <= d <= _MONTH_DAYS[mo - 1] + (mo == 2 and leap):
        return None
    seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
    return seconds * 10**6 + us


def _epoch_us(when: datetime) -> int:
    """An aware datetime (naive: UTC) as microseconds since the epoch, exactly."""
    from datetime import UTC, datetime, timedelta

    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _written_us(snap: dict[str, Any]) -> int:
    raw = snap.get("written_at")
    if isinstance(raw, str):
        quick = _quick_epoch_us(raw)
        if quick is not None:
            return quick
        from datetime import datetime

        try:
            return _epoch_us(datetime.fromisoformat(raw))
        except ValueError:
            pass
    raise TeamcostError(f"agent status: written_at is {raw!r}, expected an ISO 8601 time")


def _age_us(snap: dict[str, Any], now: datetime | None) -> int:
    """How long ago the agent wrote the snapshot, in microseconds."""
    written = _written_us(snap)
    if now is None:
        import time

        return time.time_ns() // 1000 - written
    return _epoch_us(now) - written


def _ago(age_us: int) -> str:
    minutes = int((age_us / 10**6) // 60)   # timedelta.total_seconds() // 60, as before
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
        age = _age_us(snap, now)
        if age > STALE_AFTER_US:
            parts.append(f"as of {_ago(age)} ago")
        return SEP.join(parts)  # numbers and fixed words only: nothing from a file is echoed
    except TeamcostError as exc:
        return f"teamcost: {one_line(str(exc))}"
    except Exception as exc:  # noqa: BLE001 - a status line must not break Claude Code's UI
        return one_line(f"teamcost: statusline failed: {type(exc).__name__}: {exc}")[:200]
