"""Two witnesses of one Claude Code request: its transcript line and its telemetry event.

Both carry the API's ``request-id`` (the transcript as ``requestId``, the OpenTelemetry
``claude_code.api_request`` event as ``request_id``), so both derive the same call id from
it (``request_call_id``): whichever arrives first is recorded, the other finds the call
present. The record keeps which witness supplied its numbers (tag ``source``:
``claude-code`` or ``claude-code-otel``); the second witness is compared with it, and a
disagreement is reported, never summed and never overwritten (the first may already be in
Firestore).

*Migration.* Before this join, transcript calls were ``cc-<message id>-<request id>``
and telemetry calls (on machines that took Claude Code from telemetry only)
``cc-otel-<request id>``; those ids are in ledgers and in Firestore. The new id is not
applied to them: before recording a request under its new id, the ledger is asked whether
it already holds that request under an older id (``recorded_before``): the transcript knows
both of its old forms exactly; telemetry knows ``cc-otel-<rid>`` exactly and looks for
``cc-<anything>-<rid>`` among the Claude Code calls of the day around the event (a suffix
scan over the ``ts`` index: the request was recorded within seconds of its event). So
no call already recorded is counted again, and the documents already pushed keep their ids.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from teamcost.ledger import Ledger, ts_to_us
from teamcost.models import CallRecord
from teamcost.pricing import extras_from_tags

SOURCE_TRANSCRIPT = "claude-code"
SOURCE_TELEMETRY = "claude-code-otel"
_SAFE = re.compile(r"[A-Za-z0-9_.\-]{1,110}")
_LEGACY_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*")   # ASCII letters/digits, - _ . (isalnum's)
LEGACY_WINDOW = timedelta(days=1)


def request_call_id(request_id: str) -> str:
    """The call id of the Claude Code request with this API request id (both witnesses)."""
    if _SAFE.fullmatch(request_id):
        return f"cc-req-{request_id}"
    return "cc-req-" + hashlib.sha256(request_id.encode()).hexdigest()[:40]


def legacy_transcript_id(message_id: str, request_id: str) -> str:
    """The id the transcript importer gave a request before the join."""
    raw = f"cc-{message_id}-{request_id}"
    # a regex, not a loop a character: this runs for every message a transcript makes final
    if len(raw) <= 128 and (raw.isascii() and _LEGACY_PLAIN.fullmatch(raw)
                            or all(c.isalnum() or c in "-_." for c in raw)):
        return raw
    return "cc-" + hashlib.sha256(f"{message_id}\x00{request_id}".encode()).hexdigest()[:40]


def legacy_telemetry_id(request_id: str) -> str:
    """The id a telemetry event got before the join."""
    if _SAFE.fullmatch(request_id):
        return f"cc-otel-{request_id}"
    return "cc-otel-" + hashlib.sha256(request_id.encode()).hexdigest()[:40]


def numbers(rec: CallRecord) -> tuple[str, int, int, int, int, int]:
    """What both witnesses must agree on: model and every billed token kind."""
    return (rec.model, rec.input_tokens, rec.output_tokens, rec.cache_read_tokens,
            rec.cache_write_tokens, extras_from_tags(rec.tags)[0])


def disagreement(kept: CallRecord, other: CallRecord) -> str | None:
    """None when ``other`` (the second witness) agrees with the recorded ``kept``; else one
    line naming the request and the numbers each gave. An estimated record (an interrupted
    stream) is not a witness of the final numbers, and two lines of one witness (a later
    transcript snapshot) are not two witnesses: nothing to compare."""
    if kept.estimated or other.estimated or kept.tags.get("source") == other.tags.get("source"):
        return None
    a, b = numbers(kept), numbers(other)
    if a == b:
        return None
    names = ("model", "input", "output", "cache_read", "cache_write", "cache_write_1h")
    diff = ", ".join(f"{n} {x} vs {y}" for n, x, y in zip(names, a, b, strict=True) if x != y)
    rid = kept.tags.get("request_id") or kept.call_id
    return (f"request {rid}: {kept.tags.get('source', '?')} recorded {diff} "
            f"({other.tags.get('source', '?')}); the first kept, nothing summed")


def recorded_before(ledger: Ledger, rec: CallRecord, message_id: str | None = None) -> bool:
    """Whether this request is already in the ledger under an id from before the join."""
    rid = rec.tags.get("request_id")
    if not rid or rec.call_id != request_call_id(rid):
        return False
    ids = [legacy_telemetry_id(rid)]
    if message_id:
        ids.append(legacy_transcript_id(message_id, rid))
    with ledger._lock:    # the ledger's one connection is shared with its writers
        conn = ledger.conn
        q = f"SELECT 1 FROM calls WHERE call_id IN ({', '.join('?' for _ in ids)}) LIMIT 1"
        if conn.execute(q, ids).fetchone():
            return True
        if message_id is not None:
            return False
        lo = ts_to_us(rec.ts - LEGACY_WINDOW)
        hi = ts_to_us(rec.ts + LEGACY_WINDOW)
        suffix = f"-{rid}"
        row = conn.execute(
            "SELECT 1 FROM calls WHERE ts >= ? AND ts < ? AND call_id LIKE 'cc-%' "
            "AND call_id NOT LIKE 'cc-req-%' AND substr(call_id, -?) = ? LIMIT 1",
            (lo, hi, len(suffix), suffix)).fetchone()
        return row is not None


def second_witness(ledger: Ledger, rec: CallRecord, message_id: str | None = None
                   ) -> tuple[bool, str | None]:
    """(already recorded, disagreement) for a record about to be recorded: already when the
    same request is in the ledger under its id or an older one; the disagreement line when
    it is there under its id with other numbers."""
    already, differs, _ = settle(ledger, rec, message_id)
    return already, differs


def settle(ledger: Ledger, rec: CallRecord, message_id: str | None = None
           ) -> tuple[bool, str | None, CallRecord | None]:
    """``second_witness`` and, for a bigger transcript snapshot of a recorded message, its
    ``correction``. One indexed lookup for the usual case (a new call under a known
    request id, with the message id that spells its pre-join transcript id)."""
    rid = rec.tags.get("request_id")
    if message_id and rid and rec.call_id == request_call_id(rid):
        ids = [rec.call_id, legacy_telemetry_id(rid), legacy_transcript_id(message_id, rid)]
        with ledger._lock:
            found = {r[0] for r in ledger.conn.execute(
                "SELECT call_id FROM calls WHERE call_id IN (?, ?, ?)", ids)}
        if not found:
            return False, None, None
        if rec.call_id not in found:
            return True, None, None
    kept = ledger.get(rec.call_id)
    if kept is not None:
        return True, disagreement(kept, rec), correction(ledger, kept, rec)
    return recorded_before(ledger, rec, message_id), None, None


CORRECTION = "-more-"


def correction(ledger: Ledger, kept: CallRecord, later: CallRecord) -> CallRecord | None:
    """A transcript snapshot bigger than what was recorded for its message (an older-shape
    message recorded after the file went quiet, whose stream then went on): the difference
    as a call of its own, ``<call id>-more-<output so far>`` (deterministic: reading the
    line again finds it), costing what the bigger snapshot costs minus what is recorded
    (so a tiered price stays exact). Also the exact numbers of a request recorded as an
    interrupted estimate, should its telemetry event arrive after all. None when nothing
    is missing, or when neither of those holds (two witnesses are compared, not added).
    The correction keeps the ``estimated`` flag of the call it completes."""
    same_log = (kept.tags.get("source") == SOURCE_TRANSCRIPT
                and later.tags.get("source") == SOURCE_TRANSCRIPT)
    if later.estimated or not (same_log or kept.estimated):
        return None
    with ledger._lock:
        rows = ledger.conn.execute(
            "SELECT input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
            "cost_nanos FROM calls WHERE call_id > ? AND call_id < ?",
            (kept.call_id + CORRECTION, kept.call_id + CORRECTION + "\uffff")).fetchall()
    have = [kept.input_tokens, kept.output_tokens, kept.cache_read_tokens,
            kept.cache_write_tokens, kept.cost_nanos]
    for row in rows:
        have = [a + b for a, b in zip(have, row, strict=True)]
    want = [later.input_tokens, later.output_tokens, later.cache_read_tokens,
            later.cache_write_tokens]
    if later.output_tokens <= have[1] or any(w < h for w, h in zip(want, have, strict=False)):
        return None
    cid = f"{kept.call_id}{CORRECTION}{later.output_tokens}"
    if len(cid) > 128:
        cid = kept.call_id[:80] + CORRECTION + hashlib.sha256(cid.encode()).hexdigest()[:24]
    tags = dict(later.tags)
    tags["corrects"] = kept.call_id[:256]
    return later.replace(
        call_id=cid, ts=kept.ts, input_tokens=want[0] - have[0],
        output_tokens=want[1] - have[1], cache_read_tokens=want[2] - have[2],
        cache_write_tokens=want[3] - have[3], cost_nanos=max(0, later.cost_nanos - have[4]),
        tags=tags, estimated=kept.estimated)
