"""Anthropic's Usage & Cost Admin API: daily token usage and cost by model.

- ``GET /v1/organizations/usage_report/messages``: ``starting_at``/``ending_at`` (RFC 3339),
  ``bucket_width=1d``, ``group_by[]=model``, ``limit`` (at most 31 daily buckets a page),
  ``page`` = the previous ``next_page`` while ``has_more``. Each result has
  ``uncached_input_tokens``, ``cache_read_input_tokens``, ``cache_creation`` (an object of
  ``ephemeral_5m_input_tokens`` and ``ephemeral_1h_input_tokens``) and ``output_tokens``.
- ``GET /v1/organizations/cost_report``: same window and paging, ``group_by[]=description``
  so token costs carry their ``model``; ``amount`` is a decimal STRING in the currency's
  lowest unit (cents: "123.45" is $1.2345), ``currency`` is "USD". Costs no model carries
  (web search, code execution) keep their ``cost_type`` as a label.

Headers: ``x-api-key`` (an admin key, ``sk-ant-admin...``) and ``anthropic-version``. The
root is ``ANTHROPIC_BASE_URL`` when set, as in the official SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal

from teamcost.errors import ProviderAPIError
from teamcost.reconcile import wire
from teamcost.reconcile.compare import CostBucket, Tokens, UsageBucket
from teamcost.reconcile.http import AdminApi, AdminKey, RetryPolicy, check_base_url

NAME = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
KEY_ENV = "ANTHROPIC_ADMIN_API_KEY"
API_VERSION = "2023-06-01"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
PAGE_LIMIT = 31          # the documented maximum of daily buckets per page


def api(key: AdminKey, env: Mapping[str, str], *, sleep: Callable[[float], None],
        policy: RetryPolicy = RetryPolicy()) -> AdminApi:
    root = env.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return AdminApi(NAME, check_base_url(root, BASE_URL_ENV), key,
                    lambda k: {"x-api-key": k}, {"anthropic-version": API_VERSION},
                    policy=policy, sleep=sleep)


def _rfc3339(d: date) -> str:
    return datetime.combine(d, time(0), tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(since: date, until: date) -> list[tuple[str, str]]:
    return [("starting_at", _rfc3339(since)), ("ending_at", _rfc3339(until)),
            ("bucket_width", "1d")]


def usage(client: AdminApi, since: date, until: date) -> list[UsageBucket]:
    """Token usage per UTC day and model for days in [since, until)."""
    where = f"{NAME} {USAGE_PATH}"
    out: list[UsageBucket] = []
    params = [*_window(since, until), ("group_by[]", "model"), ("limit", str(PAGE_LIMIT))]
    for page in client.pages(USAGE_PATH, params):
        for bucket in wire.buckets(page, where):
            day = wire.day_of_rfc3339(bucket.get("starting_at"), where)
            if not since <= day < until:
                continue
            for r in wire.results(bucket, where):
                creation = r.get("cache_creation")
                if creation is None:   # the older flat shape, before writes were split by TTL
                    written = wire.count(r, "cache_creation_input_tokens", where)
                elif isinstance(creation, dict):
                    written = (wire.count(creation, "ephemeral_5m_input_tokens", where)
                               + wire.count(creation, "ephemeral_1h_input_tokens", where))
                else:
                    raise ProviderAPIError(f"{where}: cache_creation is {creation!r}, "
                                           "expected an object")
                tokens = Tokens(input=wire.count(r, "uncached_input_tokens", where),
                                output=wire.count(r, "output_tokens", where),
                                cache_read=wire.count(r, "cache_read_input_tokens", where),
                                cache_write=written)
                model = wire.label(r, "model", where) or "(unknown model)"
                out.append(UsageBucket(day, model, tokens))
    return out


def costs(client: AdminApi, since: date, until: date) -> list[CostBucket]:
    """Billed cost per UTC day and model (exact: cents summed as Decimal, then nanos)."""
    where = f"{NAME} {COST_PATH}"
    cents: dict[tuple[date, str], Decimal] = {}
    params = [*_window(since, until), ("group_by[]", "description"),
              ("limit", str(PAGE_LIMIT))]
    for page in client.pages(COST_PATH, params):
        for bucket in wire.buckets(page, where):
            day = wire.day_of_rfc3339(bucket.get("starting_at"), where)
            if not since <= day < until:
                continue
            for r in wire.results(bucket, where):
                currency = r.get("currency", "USD")
                if not isinstance(currency, str) or currency.upper() != "USD":
                    raise ProviderAPIError(f"{where}: a cost in {currency!r}; reconcile "
                                           "compares US dollars only")
                amount = wire.decimal(r.get("amount"), where, "amount")
                model = wire.label(r, "model", where)
                if model is None:
                    kind = (wire.label(r, "cost_type", where)
                            or wire.label(r, "description", where) or "unattributed")
                    model = f"({kind})"
                key = (day, model)
                cents[key] = cents.get(key, Decimal(0)) + amount
    # cents -> dollars by moving the decimal point: exact at any precision
    return [CostBucket(day, model, wire.usd_nanos(c.scaleb(-2), where))
            for (day, model), c in cents.items()]
