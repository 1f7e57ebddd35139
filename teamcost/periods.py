"""Time windows: calendar periods in a team timezone, and parsing --since/--until/--week.

Pure functions (no I/O, no pandas): reports, exports, budgets and the live view all
cut time the same way. Boundaries are local midnights of the team's timezone turned
into UTC, so a DST day is 23 or 25 hours long and a week always starts on Monday.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from teamcost.errors import InvalidValue

PERIODS = ("day", "week", "month")
_REL_RE = re.compile(r"^(\d{1,5})([mhdw])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
SINCE_FORMS = ("a duration back from now (30m, 24h, 7d, 2w), today, yesterday, "
               "a date YYYY-MM-DD or an ISO-8601 time with offset")

# What can be reported: calls from 2000-01-01 up to 2100-01-01 (UTC). No LLM API billed
# anything before, and a later time is a typo. Every window, period and recorded call lies
# inside, so date arithmetic never overflows (year 1 and 9999 are one step from an
# OverflowError) and a window's day-by-day trend has at most ~36,500 rows, never centuries.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
FIRST_DAY = EARLIEST.date()
LAST_DAY = (LATEST - timedelta(days=1)).date()
RANGE = "2000-01-01 .. 2099-12-31"


def _in_range_day(field: str, value: str, d: date, accepted: str) -> date:
    if not FIRST_DAY <= d <= LAST_DAY:
        raise InvalidValue(field, value, f"{accepted}, within {RANGE}")
    return d


def check_reportable(field: str, value: object, ts: datetime, accepted: str) -> datetime:
    """``ts`` (aware) as UTC if it lies in [EARLIEST, LATEST]; InvalidValue naming ``value``
    otherwise (also for times whose UTC form does not exist, such as year 1 at +14:00)."""
    try:
        utc = ts.astimezone(UTC)
    except OverflowError:
        raise InvalidValue(field, value, f"{accepted}, within {RANGE}") from None
    if not EARLIEST <= utc <= LATEST:
        raise InvalidValue(field, value, f"{accepted}, within {RANGE}")
    return utc


# An IANA zone name: words of letters, digits, _ + - joined by "/" (the longest real one,
# America/Argentina/ComodRivadavia, has 32 characters). ZoneInfo turns a name into a path
# under the tz database, so anything else (a 300-character name: "File name too long";
# "America": a directory; "../x") must be refused before it is looked up.
ZONE_NAME_MAX = 64
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*", re.ASCII)
ZONE_ACCEPTED = "an IANA zone name such as UTC, Europe/Berlin or America/Los_Angeles"


def zone(name: object) -> ZoneInfo:
    """The zone named ``name``: the one check of a timezone (``--tz``, the config's
    ``timezone``, the web API's ``tz``); InvalidValue("timezone", ...) for anything else."""
    text = name if isinstance(name, str) else None
    if (text is None or len(text) > ZONE_NAME_MAX or not _ZONE_NAME.fullmatch(text)):
        raise InvalidValue("timezone", name, ZONE_ACCEPTED)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidValue("timezone", name, ZONE_ACCEPTED) from None


def local_midnight(d: date, tz: ZoneInfo) -> datetime:
    """Start of local calendar day ``d`` in ``tz``, as UTC."""
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(UTC)


def period_bounds(now: datetime, period: str, tz: str = "UTC") -> tuple[datetime, datetime]:
    """[start, end) of the calendar day / ISO week / month containing ``now``, in UTC."""
    if period not in PERIODS:
        raise InvalidValue("period", period, "day, week or month")
    z = zone(tz)
    d = now.astimezone(z).date()
    if period == "day":
        start, end = d, d + timedelta(days=1)
    elif period == "week":
        start = d - timedelta(days=d.weekday())
        end = start + timedelta(days=7)
    else:
        start = d.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return local_midnight(start, z), local_midnight(end, z)


def period_key(start: datetime, period: str, tz: str = "UTC") -> str:
    """A stable name for a period: 2026-11-23, 2026-W48, 2026-11."""
    d = start.astimezone(zone(tz)).date()
    if period == "day":
        return d.isoformat()
    if period == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    return f"{d.year}-{d.month:02d}"


def project_to_end(spent_nanos: int, start: datetime, end: datetime, now: datetime) -> int:
    """What "projected" means everywhere (report, budget check, watch, chart, dashboard):
    the period's spend so far continued at the period's own average rate to its end,
    spent x (end - start) / (now - start), exactly in integer microseconds and rounded
    half-even once. Before any time has passed, or after the end, it is what is spent.
    """
    us = timedelta(microseconds=1)
    elapsed = (now - start) // us
    total = (end - start) // us
    if elapsed <= 0 or now >= end:
        return spent_nanos
    q, r = divmod(spent_nanos * total, elapsed)
    return q + (1 if 2 * r > elapsed or (2 * r == elapsed and q % 2) else 0)


@dataclass(frozen=True)
class Window:
    """A half-open time window [since, until) with a label for file names and headings."""
    since: datetime
    until: datetime
    label: str

    def __post_init__(self) -> None:
        if self.since >= self.until:
            raise InvalidValue("since", self.since.isoformat(),
                               f"a time before {{field:until}} ({self.until.isoformat()})")


def parse_point(option: str, value: str, now: datetime, tz: str, *, end_of_day: bool) -> datetime:
    """One --since/--until value as a UTC time.

    A bare date means that local day's midnight; for --until (``end_of_day``) the day
    is included, so it means the next midnight.
    """
    v = value.strip()
    z = zone(tz)
    m = _REL_RE.match(v)
    if m:
        n = int(m.group(1))
        if n == 0:
            raise InvalidValue(option, value, SINCE_FORMS + " (a duration must be above 0)")
        return check_reportable(option, value, now - n * _UNITS[m.group(2)], SINCE_FORMS)
    today = now.astimezone(z).date()
    if v in ("today", "yesterday"):
        d = today if v == "today" else today - timedelta(days=1)
        return local_midnight(d + timedelta(days=1) if end_of_day else d, z)
    if v == "now":
        return now
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        try:
            d = date.fromisoformat(v)
        except ValueError:
            raise InvalidValue(option, value, SINCE_FORMS + " (that date does not exist)") from None
        _in_range_day(option, value, d, SINCE_FORMS)
        return local_midnight(d + timedelta(days=1) if end_of_day else d, z)
    try:
        ts = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValue(option, value, SINCE_FORMS) from None
    if ts.tzinfo is None:  # a local wall-clock time in the team's zone
        ts = ts.replace(tzinfo=z)
    return check_reportable(option, value, ts, SINCE_FORMS)


def parse_window(since: str, until: str | None, now: datetime, tz: str) -> Window:
    start = parse_point("since", since, now, tz, end_of_day=False)
    end = parse_point("until", until, now, tz, end_of_day=True) if until is not None else now
    if start >= end:
        raise InvalidValue("since", since, f"a time before {{field:until}} ({end.isoformat()}); "
                           f"got {start.isoformat()}")
    label = f"{start.astimezone(zone(tz)):%Y-%m-%d}..{end.astimezone(zone(tz)):%Y-%m-%d}"
    return Window(start, end, label)


def parse_week(value: str, now: datetime, tz: str) -> Window:
    """--week last|this|YYYY-Www: an ISO week (Monday 00:00 to Monday 00:00, team tz)."""
    z = zone(tz)
    v = value.strip()
    if v in ("this", "last"):
        start, _ = period_bounds(now, "week", tz)
        d = start.astimezone(z).date() - (timedelta(days=7) if v == "last" else timedelta(0))
    else:
        m = _WEEK_RE.match(v)
        if not m:
            raise InvalidValue("week", value, "last, this, or an ISO week like 2026-W47")
        try:
            d = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise InvalidValue("week", value, "an ISO week that exists, e.g. 2026-W01 .. "
                               "2026-W53") from None
        # the week's last day must be reportable too
        _in_range_day("week", value, d, "last, this, or an ISO week like 2026-W47")
        _in_range_day("week", value, d + timedelta(days=6),
                      "last, this, or an ISO week like 2026-W47")
    y, w, _ = d.isocalendar()
    return Window(local_midnight(d, z), local_midnight(d + timedelta(days=7), z), f"{y}-W{w:02d}")


def parse_month(value: str, now: datetime, tz: str) -> Window:
    """--month last|this|YYYY-MM."""
    z = zone(tz)
    v = value.strip()
    if v in ("this", "last"):
        start, _ = period_bounds(now, "month", tz)
        d = start.astimezone(z).date()
        if v == "last":
            d = (d - timedelta(days=1)).replace(day=1)
    else:
        m = _MONTH_RE.match(v)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise InvalidValue("month", value, "last, this, or a month like 2026-11")
        d = _in_range_day("month", value, date(int(m.group(1)), int(m.group(2)), 1),
                          "last, this, or a month like 2026-11")
    nxt = (d + timedelta(days=32)).replace(day=1)
    return Window(local_midnight(d, z), local_midnight(nxt, z), f"{d.year}-{d.month:02d}")


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str, field: str, *, minimum: float, maximum: float) -> float:
    """'5s', '1.5s', '500ms', '2m', '1h' or a bare number of seconds, within [minimum, maximum]."""
    m = _DURATION_RE.match(value or "")
    if not m:
        raise InvalidValue(field, value, "a duration such as 5s, 500ms or 2m")
    seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if not minimum <= seconds <= maximum:
        raise InvalidValue(field, value, f"a duration from {_short(minimum)} to "
                                         f"{_short(maximum)}, such as 5s")
    return seconds


def _short(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
