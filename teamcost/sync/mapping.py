"""Pure mapping between call records and Firestore documents (no I/O).

A document holds every call-record field under its own name plus ``cost_usd``
(a float, for humans and the console) and ``pushed_at`` (a server timestamp set
by push). Integers stay int64, money stays integer nano-dollars, ``ts`` is a
Firestore timestamp (microsecond precision, UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from teamcost.models import CALL_FIELDS, CallRecord

COLLECTION = "trinity_costs"
# true on a call document whose push commit also counted it in the rollups
# (teamcost/sync/rollup_doc.py); absent on calls pushed before rollups existed
ROLLED_UP = "rolled_up"
DOC_FIELDS: tuple[str, ...] = (*CALL_FIELDS, "cost_usd", "pushed_at", ROLLED_UP)


def _plain_utc(ts: datetime) -> datetime:
    # DatetimeWithNanoseconds -> plain datetime, so equality and arithmetic are ordinary
    ts = ts.astimezone(UTC)
    return datetime(ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second,
                    ts.microsecond, tzinfo=UTC)


def record_to_doc(rec: CallRecord) -> dict[str, Any]:
    """The document body for ``trinity_costs/{call_id}`` (without pushed_at)."""
    doc = {name: getattr(rec, name) for name in CALL_FIELDS}
    doc["tags"] = dict(rec.tags)
    doc["cost_usd"] = rec.cost_usd
    return doc


def doc_to_record(data: Mapping[str, Any]) -> CallRecord:
    """A stored document back to a record; extra keys (cost_usd, pushed_at) are ignored."""
    values = {name: data[name] for name in CALL_FIELDS if name in data}
    if isinstance(values.get("ts"), datetime):
        values["ts"] = _plain_utc(values["ts"])
    if values.get("duration_s") is not None:
        values["duration_s"] = float(values["duration_s"])
    return CallRecord.from_dict(values)


def pushed_at(data: Mapping[str, Any]) -> datetime | None:
    value = data.get("pushed_at")
    return _plain_utc(value) if isinstance(value, datetime) else None


def same_payload(rec: CallRecord, data: Mapping[str, Any]) -> bool:
    """True when a stored document describes exactly this call (pushed_at aside)."""
    try:
        return doc_to_record(data) == rec
    except Exception:  # a malformed stored document is a conflict, not a crash
        return False
