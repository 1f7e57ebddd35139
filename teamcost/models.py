"""The call record: one row per LLM API call, shared by ledger, Firestore and export.

Frozen dataclasses with validation and no I/O. Money is integer nano-dollars
(1e-9 USD); ``cost_usd`` is derived for display and compatibility only.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from teamcost.errors import InvalidValue
from teamcost.money import MAX_CALL_NANOS, format_usd, nanos_to_usd
from teamcost.periods import check_reportable

MAX_TOKENS = 10**12          # far above any real call; catches unit mistakes
# At most $10,000 a call (money.MAX_CALL_NANOS, also in firestore.rules): the dearest real
# calls cost around $100, so real calls never meet it, while a forged or mis-scaled one
# cannot be worth 9e18 nanos, and a period's int64 sum stays exact for 922,337 calls.
MAX_NANOS = MAX_CALL_NANOS
# How far after now a call's ts may be, here when recording and in firestore.rules against
# the server's clock: it absorbs clock skew between a machine and Firestore (NTP keeps them
# within seconds), while a call stamped in the future could not count toward a later
# budget period (or hide from today's reports) by more than this.
MAX_TS_AHEAD = timedelta(minutes=10)
MAX_ID_LEN = 128
MAX_LABEL_LEN = 256
MAX_ERROR_LEN = 2000
MAX_TAGS = 16
MAX_TAG_KEY_LEN = 64
MAX_TAG_VALUE_LEN = 256

# A Firestore document id may not contain '/', be '.' or '..', or look like __x__.
_CALL_ID_RE = re.compile(r"^(?!\.\.?$)(?!__.*__$)[^/\s]{1,128}$")
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def check_int(name: str, value: Any, *, maximum: int = MAX_TOKENS) -> int:
    """A non-negative int (bools and floats refused: 1.5 tokens is a bug upstream)."""
    if type(value) is not int:
        raise InvalidValue(name, value, "a non-negative integer")
    if value < 0 or value > maximum:
        raise InvalidValue(name, value, f"an integer from 0 to {maximum}")
    return value


def check_str(name: str, value: Any, *, max_len: int = MAX_LABEL_LEN,
              optional: bool = False) -> str | None:
    if value is None:
        if optional:
            return None
        raise InvalidValue(name, value, f"a non-empty string of at most {max_len} characters")
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidValue(name, value, f"a non-empty string of at most {max_len} characters")
    return check_text(name, value)


def check_text(name: str, value: str) -> str:
    """Text that can be stored and sent: a lone surrogate (what undecodable bytes in argv or a
    file become) has no UTF-8 form, and SQLite and Firestore would fail on it mid-write."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValue(name, value, "valid Unicode text (this has bytes that are not "
                                        "UTF-8)") from None
    return value


def check_ts(name: str, value: Any) -> datetime:
    """A timezone-aware datetime in the reportable range (``periods.EARLIEST`` ..
    ``periods.LATEST``), normalised to UTC (naive datetimes are ambiguous)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue(name, value, "an ISO-8601 timestamp with a UTC offset") from None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(name, value, "a timezone-aware datetime (e.g. 2026-11-20T10:00:00Z)")
    return check_reportable(name, value.isoformat(), value, "a timezone-aware time")


def check_cost(name: str, value: Any) -> int:
    """A call's cost: an int of nano-dollars from 0 to MAX_CALL_NANOS."""
    if type(value) is not int or not 0 <= value <= MAX_CALL_NANOS:
        # formatted only for the error: every record checks its cost (imports: thousands)
        raise InvalidValue(name, value, f"an integer number of nano-dollars from 0 to "
                           f"{MAX_CALL_NANOS} ({format_usd(MAX_CALL_NANOS, 2)}, the most "
                           "one call may cost)")
    return value


def check_not_future(name: str, ts: datetime, now: datetime | None = None) -> datetime:
    """Refuse a call time more than MAX_TS_AHEAD after ``now`` (a call from the future).

    Applied when a call is recorded, not when one is read back: a stored call's ts was
    checked when it was recorded, and clocks differ between machines.
    """
    now = now if now is not None else datetime.now(UTC)
    if ts > now + MAX_TS_AHEAD:
        minutes = int(MAX_TS_AHEAD.total_seconds() // 60)
        raise InvalidValue(name, ts.isoformat(),
                           f"a time at most {minutes} minutes after now "
                           f"({now.astimezone(UTC).isoformat(timespec='seconds')}): "
                           "a call cannot come from the future")
    return ts


def check_tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidValue("tags", value, "a mapping of str to str")
    if len(value) > MAX_TAGS:
        raise InvalidValue("tags", value, f"at most {MAX_TAGS} tags")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or len(k) > MAX_TAG_KEY_LEN:
            raise InvalidValue("tags", k, f"tag names of 1 to {MAX_TAG_KEY_LEN} characters")
        if not isinstance(v, str) or len(v) > MAX_TAG_VALUE_LEN:
            raise InvalidValue(f"tags[{k}]", v, f"a string of at most {MAX_TAG_VALUE_LEN} characters")
        out[check_text("tags", k)] = check_text(f"tags[{k}]", v)
    return out


class MissingFields(InvalidValue):
    """A call record without a field every record needs: says which, not what it had."""

    REQUIRED = ("call_id", "ts", "team", "member", "ledger_id", "provider", "model")

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__("call record", missing, ", ".join(self.REQUIRED))

    def message(self, name: Any = str) -> str:
        if len(self.missing) == len(self.REQUIRED):
            return f"not a teamcost call record (it has none of {', '.join(self.REQUIRED)})"
        what = "field" if len(self.missing) == 1 else "fields"
        return (f"call record without the {what} {', '.join(self.missing)} (every record "
                f"needs {', '.join(self.REQUIRED)})")


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One LLM API call. Construct through ``CallRecord(...)``: every field is validated."""

    call_id: str
    ts: datetime
    team: str
    member: str
    ledger_id: str
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_nanos: int = 0
    priced: bool = True
    price_source: str = "reported"
    session_id: str | None = None
    agent: str | None = None
    task_id: str | None = None
    correlation_id: str | None = None
    duration_s: float | None = None
    success: bool = True
    error: str | None = None
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    estimated: bool = False

    def __post_init__(self) -> None:
        s = object.__setattr__
        if not isinstance(self.call_id, str) or not _CALL_ID_RE.match(self.call_id):
            raise InvalidValue("call_id", self.call_id,
                               "1-128 characters without '/' or whitespace")
        s(self, "ts", check_ts("ts", self.ts))
        for name in ("team", "member", "ledger_id"):
            check_str(name, getattr(self, name), max_len=MAX_ID_LEN)
        for name in ("provider", "model", "price_source"):
            check_str(name, getattr(self, name))
        for name in ("session_id", "agent", "task_id", "correlation_id"):
            check_str(name, getattr(self, name), optional=True)
        for name in _TOKEN_FIELDS:
            s(self, name, check_int(name, getattr(self, name)))
        s(self, "cost_nanos", check_cost("cost_nanos", self.cost_nanos))
        for name in ("priced", "success", "estimated"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidValue(name, getattr(self, name), "true or false")
        if self.duration_s is not None:
            d = self.duration_s
            if isinstance(d, bool) or not isinstance(d, (int, float)) or not (0 <= d < 1e7):
                raise InvalidValue("duration_s", d, "a number of seconds >= 0, or nothing")
            s(self, "duration_s", float(d))
        if self.error is not None and (not isinstance(self.error, str)
                                       or len(self.error) > MAX_ERROR_LEN):
            raise InvalidValue("error", self.error,
                               f"a string of at most {MAX_ERROR_LEN} characters")
        if self.error is not None:
            check_text("error", self.error)
        s(self, "tags", check_tags(self.tags))

    @property
    def cost_usd(self) -> float:
        return nanos_to_usd(self.cost_nanos)

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens
                + self.cache_read_tokens + self.cache_write_tokens)

    def to_dict(self) -> dict[str, Any]:
        """Plain fields in the shared order, plus cost_usd; ts stays a datetime."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["tags"] = dict(self.tags)
        d["cost_usd"] = self.cost_usd
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallRecord:
        """Inverse of to_dict; unknown keys (cost_usd, pushed_at) are ignored."""
        names = CALL_FIELDS
        missing = [n for n in ("call_id", "ts", "team", "member", "ledger_id",
                               "provider", "model") if n not in data]
        if missing:
            raise MissingFields(missing)
        return cls(**{k: data[k] for k in names if k in data})

    def replace(self, **changes: Any) -> CallRecord:
        return dataclasses.replace(self, **changes)

    def with_counts(self, counts: Sequence[int], cost_nanos: int) -> CallRecord:
        """A copy with other token counts (``_TOKEN_FIELDS``' order) and cost, checked as
        ``__post_init__`` checks them; every other field is this record's, already checked
        (a log reader's later streaming snapshot of one message: ``replace`` would check
        every field again)."""
        new = object.__new__(CallRecord)
        s = object.__setattr__
        for name in CALL_FIELDS:
            s(new, name, getattr(self, name))
        for name, value in zip(_TOKEN_FIELDS, counts, strict=True):
            s(new, name, check_int(name, value))
        s(new, "cost_nanos", check_cost("cost_nanos", cost_nanos))
        return new


CALL_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CallRecord))


def format_ts(ts: datetime) -> str:
    """ISO-8601 UTC with microseconds and a Z: the export and JSON form of a timestamp."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_to_json(rec: CallRecord) -> dict[str, Any]:
    """The JSON/JSONL export form: every field, ts as ISO-8601 UTC, cost in nanos and USD."""
    d = rec.to_dict()
    d["ts"] = format_ts(rec.ts)
    return d


def record_from_json(data: Mapping[str, Any]) -> CallRecord:
    """Inverse of record_to_json (lossless: cost_nanos is the truth, cost_usd is ignored)."""
    return CallRecord.from_dict(data)
