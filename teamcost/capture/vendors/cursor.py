"""``teamcost import cursor``: Cursor's Admin API usage events into the ledger.

Cursor keeps no usage log on the developer's machine and its Admin API only a rolling
window, so the team's history is what teamcost stores. As Cursor documents it:
``POST {root}/teams/filtered-usage-events`` with a JSON body ``{startDate, endDate (epoch
ms), page (from 1), pageSize}``, Basic auth with the admin key as user name and no password;
the answer is ``{totalUsageEventsCount, pagination: {numPages, currentPage, pageSize,
hasNextPage, hasPreviousPage}, usageEvents: [...], period}``. Each event: ``timestamp``
(epoch ms, a string), ``userEmail``, ``model``, ``kind`` ("Usage-based", "Included in
Business", or ``USAGE_EVENT_KIND_USAGE_BASED`` / ``USAGE_EVENT_KIND_INCLUDED_IN_...``),
``maxMode``, ``requestsCosts``, ``isTokenBasedCall``, optional ``tokenUsage`` {inputTokens,
outputTokens, cacheWriteTokens, cacheReadTokens, totalCents} and, in newer answers,
``chargedCents`` (what Cursor charges: model cost plus its token fee).

A call's cost is Cursor's own figure, never recomputed from tokens: for a usage-based event
``chargedCents`` (else ``tokenUsage.totalCents``), tagged ``billing=metered``; for an
included event ``tokenUsage.totalCents``, its value at list price, tagged ``billing=plan``.
An event with no amount is recorded unpriced (``priced=false``, visible in every report).
A kind teamcost does not know gets no ``billing`` tag: the member's plan decides, and the
report counts it under that rule.

Events carry no id: a call's id hashes the user, the millisecond, the model, the token
counts and the event's rank among identical ones at that millisecond, so an event read in
two overlapping windows is one call.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from teamcost.capture.logs.base import importing
from teamcost.capture.vendors.common import (
    BILLING_TAG,
    METERED,
    PLAN,
    MemberMap,
    VendorImportResult,
    cents_to_nanos,
    record,
    vendor_key,
)
from teamcost.config import Config
from teamcost.errors import ProviderAPIError
from teamcost.httpapi import AdminApi, RetryPolicy, check_base_url
from teamcost.ledger import Ledger
from teamcost.models import MAX_LABEL_LEN, CallRecord, check_not_future, check_text
from teamcost.money import format_usd
from teamcost.periods import Window

KEY_ENV = "CURSOR_ADMIN_API_KEY"
BASE_ENV = "CURSOR_API_BASE_URL"
DEFAULT_BASE = "https://api.cursor.com"
EVENTS = "/teams/filtered-usage-events"
SPEND = "/teams/spend"
SPEND_PAGE = 100
PAGE_SIZE = 500
MAX_SPAN = timedelta(days=30)     # Cursor answers at most 30 days per request
MAX_PAGES = 1000
PROVIDER = "cursor"
PRICE_SOURCE = "reported:cursor"


def billing_of(kind: str) -> str | None:
    """Cursor's event kind as teamcost's billing: metered, plan, or None (unknown)."""
    k = kind.strip().casefold().replace("_", " ").replace("-", " ")
    if "usage based" in k:
        return METERED
    if "included" in k or "free" in k or "not charged" in k:
        return PLAN
    return None


def _auth(key: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def api(env: Mapping[str, str], policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep) -> AdminApi:
    key = vendor_key(env, KEY_ENV, "Cursor admin API key (team settings, Admin API keys)")
    base = check_base_url(env.get(BASE_ENV) or DEFAULT_BASE, BASE_ENV)
    return AdminApi("cursor", base, key, _auth, {"content-type": "application/json"},
                    policy=policy, sleep=sleep,
                    refused_hint="Cursor's Admin API needs a team admin API key")


def spans(window: Window) -> Iterator[tuple[datetime, datetime]]:
    start = window.since
    while start < window.until:
        end = min(start + MAX_SPAN, window.until)
        yield start, end
        start = end


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def events(client: AdminApi, window: Window,
           result: VendorImportResult) -> Iterator[dict[str, Any]]:
    """Every event of the window, span by span, page by page."""
    for start, end in spans(window):
        page = 1
        for _ in range(MAX_PAGES):
            result.files += 1
            body = client.post(EVENTS, {"startDate": _ms(start), "endDate": _ms(end) - 1,
                                        "page": page, "pageSize": PAGE_SIZE})
            rows = body.get("usageEvents")
            if not isinstance(rows, list):
                raise ProviderAPIError(f"cursor {EVENTS} answered without a usageEvents list; "
                                       "is CURSOR_API_BASE_URL Cursor's API root?")
            yield from rows
            pagination = body.get("pagination")
            if not isinstance(pagination, dict) or not pagination.get("hasNextPage"):
                break
            page += 1
        else:
            raise ProviderAPIError(f"cursor {EVENTS} was still paging after {MAX_PAGES} pages;"
                                   " narrow --since/--until")


def _int(v: Any, name: str) -> int:
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{name} is {v!r}, not a count")
    return v


def _str(v: Any, name: str) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > MAX_LABEL_LEN:
        raise ValueError(f"{name} is {str(v)[:60]!r}, not a name of 1 to {MAX_LABEL_LEN} "
                         "characters")
    return check_text(name, v)


def parse_event(event: Any, now: datetime) -> dict[str, Any]:
    """The fields of one event teamcost keeps; ValueError naming what is wrong."""
    if not isinstance(event, dict):
        raise ValueError("an event that is not a JSON object")
    raw_ts = event.get("timestamp")
    try:
        ms = int(raw_ts) if isinstance(raw_ts, (str, int)) and not isinstance(raw_ts, bool) \
            else None
    except ValueError:
        ms = None
    if ms is None or not 946_684_800_000 <= ms < 4_102_444_800_000:
        raise ValueError(f"timestamp is {str(raw_ts)[:40]!r}, not epoch milliseconds")
    ts = datetime.fromtimestamp(ms / 1000, UTC)
    check_not_future("timestamp", ts, now)
    email = _str(event.get("userEmail"), "userEmail")
    model = _str(event.get("model"), "model")
    kind = event.get("kind")
    kind = check_text("kind", kind[:256]) if isinstance(kind, str) else ""
    usage = event.get("tokenUsage") or {}
    if not isinstance(usage, dict):
        raise ValueError("tokenUsage is not an object")
    tokens = tuple(_int(usage.get(n), f"tokenUsage.{n}") for n in
                   ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens"))
    billing = billing_of(kind)
    amount = None
    if billing == METERED and event.get("chargedCents") is not None:
        amount = cents_to_nanos(event["chargedCents"], "chargedCents")
    elif usage.get("totalCents") is not None:
        amount = cents_to_nanos(usage["totalCents"], "tokenUsage.totalCents")
    elif billing == PLAN and event.get("chargedCents") is not None:
        amount = cents_to_nanos(event["chargedCents"], "chargedCents")
    requests = event.get("requestsCosts")
    return {"ms": ms, "ts": ts, "email": email, "model": model, "kind": kind[:256],
            "tokens": tokens, "billing": billing, "amount": amount,
            "requests": str(requests)[:32] if isinstance(requests, (int, Decimal)) else None,
            "max_mode": event.get("maxMode") is True}


def call_id(e: Mapping[str, Any], rank: int) -> str:
    key = "\x1f".join([e["email"].casefold(), str(e["ms"]), e["model"],
                       *map(str, e["tokens"]), str(rank)])
    return "cursor-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def to_record(e: Mapping[str, Any], rank: int, member: str, config: Config,
              ledger_id: str) -> CallRecord:
    tags = {"source": "cursor", "vendor_user": e["email"][:256], "kind": e["kind"]}
    if e["billing"] is not None:
        tags[BILLING_TAG] = e["billing"]
    if e["requests"] is not None:
        tags["requests"] = e["requests"]
    if e["max_mode"]:
        tags["max_mode"] = "true"
    return CallRecord(
        call_id=call_id(e, rank), ts=e["ts"], team=config.team, member=member,
        ledger_id=ledger_id, provider=PROVIDER, model=e["model"],
        input_tokens=e["tokens"][0], output_tokens=e["tokens"][1],
        cache_read_tokens=e["tokens"][2], cache_write_tokens=e["tokens"][3],
        cost_nanos=e["amount"] or 0, priced=e["amount"] is not None,
        price_source=PRICE_SOURCE, agent="cursor", tags=tags)


def spend_differences(client: AdminApi, ledger: Ledger, result: VendorImportResult,
                      now: datetime) -> list[str]:
    """``/teams/spend``'s ``spendCents`` per member this subscription cycle beside the
    usage-based calls recorded since ``subscriptionCycleStart``: one line per member whose
    figures differ by a cent or more."""
    spend: dict[str, int] = {}
    start_ms: Any = None
    page, pages = 1, 1
    while page <= min(pages, MAX_PAGES):
        result.files += 1
        body = client.post(SPEND, {"page": page, "pageSize": SPEND_PAGE})
        rows = body.get("teamMemberSpend")
        total = body.get("totalPages")
        pages = total if isinstance(total, int) and not isinstance(total, bool) else 1
        start_ms = body.get("subscriptionCycleStart", start_ms)
        if not isinstance(rows, list):
            return [f"cursor {SPEND}: no teamMemberSpend list; the spend was not compared"]
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("email"), str):
                try:
                    spend[row["email"].casefold()] = cents_to_nanos(row.get("spendCents", 0),
                                                                    "spendCents")
                except ValueError:
                    continue
        page += 1
    if type(start_ms) is not int or not 946_684_800_000 <= start_ms <= _ms(now):
        return [f"cursor {SPEND}: subscriptionCycleStart is {str(start_ms)[:40]!r}; the "
                "spend was not compared"]
    since = datetime.fromtimestamp(start_ms / 1000, UTC)
    recorded: dict[str, int] = {}
    for rec in ledger.calls(since, now + timedelta(minutes=10)):
        if rec.provider == PROVIDER and rec.tags.get(BILLING_TAG) == METERED:
            user = rec.tags.get("vendor_user", "").casefold()
            recorded[user] = recorded.get(user, 0) + rec.cost_nanos
    out = []
    for user in sorted(set(spend) | set(recorded)):
        a, b = spend.get(user, 0), recorded.get(user, 0)
        if abs(a - b) >= 10_000_000:
            out.append(f"cursor spend this cycle (since {since:%Y-%m-%d %H:%M} UTC): {user} "
                       f"{format_usd(a)} by Cursor, {format_usd(b)} usage-based recorded")
    return out


def import_cursor(config: Config, window: Window, env: Mapping[str, str], *,
                  now: datetime | None = None, ledger: Ledger | None = None,
                  policy: RetryPolicy = RetryPolicy(),
                  sleep: Callable[[float], None] = time.sleep) -> VendorImportResult:
    """Read the window's usage events into the ledger (idempotent); see the module doc."""
    now = now or datetime.now(UTC)
    members = MemberMap.from_config(config)
    client = api(env, policy, sleep)
    result = VendorImportResult(source="cursor", path=client.base_url + EVENTS)
    try:
        with importing(config, ledger, result) as led:
            ranks: dict[str, int] = {}
            calls: list[tuple[CallRecord, str]] = []
            for n, raw in enumerate(events(client, window, result), 1):
                result.lines += 1
                where = f"cursor event {n}"
                try:
                    e = parse_event(raw, now)
                except ValueError as exc:
                    result.add_bad(where, str(exc))
                    continue
                if not window.since <= e["ts"] < window.until:
                    continue   # a server that answers beyond the window asked for
                base = call_id(e, 0)
                rank = ranks.get(base, 0)
                ranks[base] = rank + 1
                try:
                    rec = to_record(e, rank, members.member(e["email"]), config,
                                    led.ledger_id)
                except ValueError as exc:   # InvalidValue: a name the record refuses
                    members.unmapped.discard(e["email"])
                    result.add_bad(where, str(exc))
                    continue
                tag = rec.tags.get(BILLING_TAG, "unknown")
                result.rows_by_billing[tag] = result.rows_by_billing.get(tag, 0) + 1
                calls.append((rec, where))
            record(led, result, calls)
            if window.until >= now - timedelta(minutes=1):
                # the window reaches now: Cursor's own spend this cycle beside what the
                # ledger holds (events lag an hour; a difference is said, never "fixed")
                result.bad.extend(spend_differences(client, led, result, now))
    finally:
        client.close()
    result.unmapped = sorted(members.unmapped)
    return result
