"""``teamcost import copilot``: GitHub Copilot's billed usage per seat holder, model and day.

Copilot keeps no usage log on the developer's machine. GitHub's REST API (version
2022-11-28, ``Authorization: Bearer`` token of an organisation admin or billing manager)
documents, per organisation:

- ``GET /orgs/{org}/copilot/billing/seats?page=&per_page=`` (up to 100):
  ``{total_seats, seats: [{assignee: {login, ...}, plan_type, ...}]}``: who holds a seat;
- ``GET /organizations/{org}/settings/billing/premium_request/usage`` and, since Copilot
  moved to AI-credit billing in 2026, ``.../billing/ai_credit/usage``, both with ``year``,
  ``month``, ``day``, ``user``, ``model``, ``product`` filters, answering ``{timePeriod,
  organization, user, usageItems: [{product, sku, model, unitType, pricePerUnit,
  grossQuantity, grossAmount, discountQuantity, discountAmount, netQuantity,
  netAmount}]}`` in dollars. ``discount*`` is what the seat's allowance covered, ``net*``
  what the organisation is billed (gross - discount = net).

So teamcost asks each report for each seat holder and each whole UTC day of the month that
ended at least ``SETTLE`` ago, and records per (user, day, report, sku, model) up to two
calls at 00:00 UTC that day: the included part (``billing=plan``, cost = discountAmount, its
value at list price) and the billed part (``billing=metered``, cost = netAmount). Requests
are kept in the ``requests`` tag (Copilot reports no tokens). A report GitHub does not offer
the organisation (404) is skipped and named in the result. A day GitHub later revises is a
conflict, reported, never rewritten.
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from teamcost.capture.logs.base import importing
from teamcost.capture.vendors.common import (
    BILLING_TAG,
    METERED,
    PLAN,
    MemberMap,
    VendorImportResult,
    record,
    usd_to_nanos_exact,
    vendor_key,
)
from teamcost.config import Config
from teamcost.errors import InvalidValue, ProviderAPIError
from teamcost.httpapi import AdminApi, RetryPolicy, check_base_url
from teamcost.ledger import Ledger
from teamcost.models import CallRecord, check_text

KEY_ENV = "GITHUB_TOKEN"
BASE_ENV = "GITHUB_API_URL"
DEFAULT_BASE = "https://api.github.com"
API_VERSION = "2022-11-28"
REPORTS = {"ai-credit": "ai_credit", "premium-request": "premium_request"}
SETTLE = timedelta(hours=24)     # GitHub's daily figures settle within a day
PROVIDER = "github-copilot"
PRICE_SOURCE = "reported:copilot"
MAX_SEAT_PAGES = 1000


def api(env: Mapping[str, str], policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep) -> AdminApi:
    key = vendor_key(env, KEY_ENV, "GitHub token (an organisation admin's or billing "
                                   "manager's)")
    base = check_base_url(env.get(BASE_ENV) or DEFAULT_BASE, BASE_ENV)
    return AdminApi("github", base, key, lambda k: {"authorization": f"Bearer {k}"},
                    {"accept": "application/vnd.github+json",
                     "x-github-api-version": API_VERSION},
                    policy=policy, sleep=sleep,
                    refused_hint="the billing usage reports need an organisation owner's or "
                                 "billing manager's token (fine-grained: Administration read)")


def parse_month(value: str | None, now: datetime) -> tuple[int, int]:
    if value is None:
        return now.year, now.month
    try:
        d = datetime.strptime(value, "%Y-%m")
    except ValueError:
        raise InvalidValue("month", value, "a month as YYYY-MM, such as 2026-11") from None
    if not 2000 <= d.year < 2100:
        raise InvalidValue("month", value, "a month from 2000-01 to 2099-12")
    return d.year, d.month


def seat_holders(client: AdminApi, org: str, result: VendorImportResult) -> list[str]:
    path = f"/orgs/{quote(org, safe='')}/copilot/billing/seats"
    logins: list[str] = []
    for page in range(1, MAX_SEAT_PAGES + 1):
        result.files += 1
        body = client.get(path, [("per_page", "100"), ("page", str(page))])
        seats = body.get("seats")
        total = body.get("total_seats")
        if not isinstance(seats, list) or type(total) is not int:
            raise ProviderAPIError(f"github {path} answered without seats and total_seats; "
                                   "is GITHUB_API_URL GitHub's API root?")
        for seat in seats:
            login = seat.get("assignee", {}).get("login") if isinstance(seat, dict) else None
            # a login GitHub would never send (too long, not text) is not asked about
            if (isinstance(login, str) and 0 < len(login) <= 100 and login.isprintable()
                    and login.isascii() and login not in logins):
                logins.append(login)
        if not seats or len(logins) >= total:
            return logins
    raise ProviderAPIError(f"github {path} was still paging after {MAX_SEAT_PAGES} pages")


def _amount(item: Mapping[str, Any], name: str) -> int:
    return usd_to_nanos_exact(item.get(name, 0), name)


def _qty(item: Mapping[str, Any], name: str) -> Decimal:
    v = item.get(name, 0)
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)) or v < 0:
        raise ValueError(f"{name} is {v!r}, not a quantity")
    return Decimal(v)


def call_id(org: str, login: str, day: date, report: str, sku: str, model: str,
            part: str) -> str:
    key = "\x1f".join([org.casefold(), login.casefold(), day.isoformat(), report, sku, model,
                       part])
    return "copilot-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def item_records(item: Any, org: str, login: str, day: date, report: str, member: str,
                 config: Config, ledger_id: str) -> list[CallRecord]:
    if not isinstance(item, dict):
        raise ValueError("a usage item that is not a JSON object")
    model = item.get("model") or item.get("sku")
    sku = item.get("sku") or ""
    if not isinstance(model, str) or not model.strip() or len(model) > 256 \
            or not isinstance(sku, str) or len(sku) > 200:
        raise ValueError(f"model is {str(model)[:60]!r}, not a model name")
    check_text("model", model)
    check_text("sku", sku)
    unit = item.get("unitType")
    out = []
    for part, billing, qty_name, amount_name in (("included", PLAN, "discountQuantity",
                                                  "discountAmount"),
                                                 ("billed", METERED, "netQuantity",
                                                  "netAmount")):
        qty, amount = _qty(item, qty_name), _amount(item, amount_name)
        if not qty and not amount:
            continue
        tags = {"source": "copilot", BILLING_TAG: billing, "vendor_user": login[:256],
                "report": report, "requests": str(qty)[:32], "sku": sku[:256] or "-"}
        if isinstance(unit, str) and unit:
            tags["unit"] = unit[:64]
        out.append(CallRecord(
            call_id=call_id(org, login, day, report, sku, model, part),
            ts=datetime(day.year, day.month, day.day, tzinfo=UTC), team=config.team,
            member=member, ledger_id=ledger_id, provider=PROVIDER, model=model,
            cost_nanos=amount, priced=True, price_source=PRICE_SOURCE, agent="copilot",
            tags=tags))
    return out


def import_copilot(config: Config, org: str, month: str | None, env: Mapping[str, str], *,
                   reports: tuple[str, ...] = tuple(REPORTS), now: datetime | None = None,
                   ledger: Ledger | None = None, policy: RetryPolicy = RetryPolicy(),
                   sleep: Callable[[float], None] = time.sleep) -> VendorImportResult:
    """The month's settled days of every seat holder into the ledger (idempotent)."""
    now = now or datetime.now(UTC)
    if not isinstance(org, str) or not org.strip() or len(org) > 100 or "/" in org:
        raise InvalidValue("org", org, "a GitHub organisation name")
    year, mon = parse_month(month, now)
    days = [date(year, mon, d) for d in range(1, calendar.monthrange(year, mon)[1] + 1)]
    days = [d for d in days
            if datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1) + SETTLE <= now]
    members = MemberMap.from_config(config)
    client = api(env, policy, sleep)
    result = VendorImportResult(source="copilot", path=f"{client.base_url}/organizations/{org}")
    skipped_reports: list[str] = []
    try:
        with importing(config, ledger, result) as led:
            logins = seat_holders(client, org, result) if days else []
            calls: list[tuple[CallRecord, str]] = []
            for name in reports:
                report = REPORTS[name]
                path = (f"/organizations/{quote(org, safe='')}/settings/billing/"
                        f"{report}/usage")
                try:
                    for login in logins:
                        member = members.member(login)
                        for d in days:
                            result.files += 1
                            body = client.get(path, [("year", str(d.year)),
                                                     ("month", str(d.month)),
                                                     ("day", str(d.day)), ("user", login)])
                            items = body.get("usageItems")
                            if not isinstance(items, list):
                                raise ProviderAPIError(f"github {path} answered without a "
                                                       "usageItems list")
                            for n, item in enumerate(items, 1):
                                result.lines += 1
                                where = f"{name} {login} {d} item {n}"
                                try:
                                    recs = item_records(item, org, login, d, report, member,
                                                        config, led.ledger_id)
                                except (ValueError, InvalidValue) as exc:
                                    result.add_bad(where, str(exc))
                                    continue
                                for rec in recs:
                                    b = rec.tags[BILLING_TAG]
                                    result.rows_by_billing[b] = result.rows_by_billing.get(b, 0) + 1
                                    calls.append((rec, where))
                except ProviderAPIError as exc:
                    if getattr(exc, "status", None) != 404:
                        raise
                    skipped_reports.append(name)
            record(led, result, calls)
    finally:
        client.close()
    result.unmapped = sorted(members.unmapped)
    result.bad.extend(f"the {n} report is not offered for {org} (HTTP 404): skipped"
                      for n in skipped_reports)
    return result
