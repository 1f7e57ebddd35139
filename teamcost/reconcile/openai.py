"""OpenAI's organisation Usage and Costs API: daily completions usage and cost by model.

- ``GET /organization/usage/completions`` under the API root (``https://api.openai.com/v1``):
  ``start_time``/``end_time`` (Unix seconds, end exclusive), ``bucket_width=1d``,
  ``group_by[]=model`` (arrays in brackets, as the official SDK sends them), ``limit`` (at
  most 31 daily buckets), ``page`` = the previous ``next_page`` while ``has_more``.
  ``input_tokens`` includes cached and cache-write tokens; teamcost's input excludes both,
  so input = ``input_uncached_tokens`` when present, else input - cached - cache writes.
- ``GET /organization/costs``: same window and paging (``limit`` up to 180),
  ``group_by[]=line_item``; ``amount.value`` is a number in DOLLARS with ``currency`` "usd",
  read from the JSON text as a Decimal. A line item names its model: ``gpt-4o-2024-08-06,
  input``, ``priority | gpt-5, output``, ``gpt-image-1 image, output``; other lines (``web
  search tool calls``) keep their text as a label.

Header: ``Authorization: Bearer`` an admin key. The root is ``OPENAI_BASE_URL`` when set, as
in the official SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal

from teamcost.errors import ProviderAPIError
from teamcost.reconcile import wire
from teamcost.reconcile.compare import CostBucket, Tokens, UsageBucket
from teamcost.reconcile.http import AdminApi, AdminKey, RetryPolicy, check_base_url

NAME = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
BASE_URL_ENV = "OPENAI_BASE_URL"
KEY_ENV = "OPENAI_ADMIN_KEY"
USAGE_PATH = "/organization/usage/completions"
COST_PATH = "/organization/costs"
USAGE_PAGE_LIMIT = 31     # documented maximum for bucket_width=1d
COST_PAGE_LIMIT = 180     # documented maximum for the costs endpoint
_LINE_KINDS = ("input", "output", "cached input", "cache writes", "cache write",
               "cached output")


def api(key: AdminKey, env: Mapping[str, str], *, sleep: Callable[[float], None],
        policy: RetryPolicy = RetryPolicy()) -> AdminApi:
    root = env.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return AdminApi(NAME, check_base_url(root, BASE_URL_ENV), key,
                    lambda k: {"authorization": f"Bearer {k}"}, policy=policy, sleep=sleep)


def _unix(d: date) -> str:
    return str(int(datetime.combine(d, time(0), tzinfo=UTC).timestamp()))


def _window(since: date, until: date) -> list[tuple[str, str]]:
    return [("start_time", _unix(since)), ("end_time", _unix(until)), ("bucket_width", "1d")]


def line_item_model(item: str | None) -> str:
    """The model a cost line item names, or the line item itself in parentheses."""
    if not item:
        return "(unattributed)"
    text = item.split(" | ", 1)[1] if " | " in item else item   # "priority | gpt-5, output"
    head, sep, rest = text.partition(", ")
    if sep and head.strip() and rest.split(",")[0].strip() in _LINE_KINDS:
        return head.split()[0]          # "gpt-image-1 image" names gpt-image-1
    return f"({item})"


def usage(client: AdminApi, since: date, until: date) -> list[UsageBucket]:
    where = f"{NAME} {USAGE_PATH}"
    out: list[UsageBucket] = []
    params = [*_window(since, until), ("group_by[]", "model"), ("limit", str(USAGE_PAGE_LIMIT))]
    for page in client.pages(USAGE_PATH, params):
        for bucket in wire.buckets(page, where):
            day = wire.day_of_unix(bucket.get("start_time"), where)
            if not since <= day < until:
                continue
            for r in wire.results(bucket, where):
                cached = wire.count(r, "input_cached_tokens", where)
                written = wire.count(r, "input_cache_write_tokens", where)
                if r.get("input_uncached_tokens") is not None:
                    fresh = wire.count(r, "input_uncached_tokens", where)
                else:
                    fresh = max(wire.count(r, "input_tokens", where) - cached - written, 0)
                tokens = Tokens(input=fresh, output=wire.count(r, "output_tokens", where),
                                cache_read=cached, cache_write=written)
                model = wire.label(r, "model", where) or "(unknown model)"
                out.append(UsageBucket(day, model, tokens,
                                       requests=wire.count(r, "num_model_requests", where)))
    return out


def costs(client: AdminApi, since: date, until: date) -> list[CostBucket]:
    where = f"{NAME} {COST_PATH}"
    usd: dict[tuple[date, str], Decimal] = {}
    params = [*_window(since, until), ("group_by[]", "line_item"),
              ("limit", str(COST_PAGE_LIMIT))]
    for page in client.pages(COST_PATH, params):
        for bucket in wire.buckets(page, where):
            day = wire.day_of_unix(bucket.get("start_time"), where)
            if not since <= day < until:
                continue
            for r in wire.results(bucket, where):
                amount = r.get("amount")
                if amount is None:
                    continue      # documented as optional: a line with no amount bills nothing
                if not isinstance(amount, dict):
                    raise ProviderAPIError(f"{where}: amount is {amount!r}, expected an object")
                currency = amount.get("currency", "usd")
                if not isinstance(currency, str) or currency.lower() != "usd":
                    raise ProviderAPIError(f"{where}: a cost in {currency!r}; reconcile "
                                           "compares US dollars only")
                # an amount object without a value is malformed, not $0: a cost we cannot
                # read must fail the comparison, as Anthropic's parser does
                value = amount.get("value")
                key = (day, line_item_model(wire.label(r, "line_item", where)))
                usd[key] = usd.get(key, Decimal(0)) + wire.decimal(value, where, "amount.value")
    return [CostBucket(day, model, wire.usd_nanos(v, where)) for (day, model), v in usd.items()]
