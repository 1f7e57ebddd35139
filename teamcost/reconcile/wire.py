"""Reading the providers' report JSON strictly: a field of the wrong type is an error that
names it, never a silent zero (a report that drifted must not read as "nothing billed")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from teamcost.errors import InvalidValue, ProviderAPIError
from teamcost.money import usd_to_nanos


def buckets(body: dict[str, Any], where: str) -> Iterator[dict[str, Any]]:
    """The ``data`` buckets of one page (required by both providers' schemas)."""
    data = body.get("data")
    if not isinstance(data, list) or not isinstance(body.get("has_more"), bool):
        raise ProviderAPIError(f"{where} answered without the documented 'data' list and "
                               "'has_more' flag; is the base URL the provider's API root?")
    for bucket in data:
        if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
            raise ProviderAPIError(f"{where}: a bucket without a 'results' list")
        yield bucket


def results(bucket: dict[str, Any], where: str) -> Iterator[dict[str, Any]]:
    for r in bucket["results"]:
        if not isinstance(r, dict):
            raise ProviderAPIError(f"{where}: a result that is not an object")
        yield r


def count(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> int:
    """A non-negative integer field (absent or null: 0 unless required)."""
    value = obj.get(key)
    if value is None and not required:
        return 0
    if type(value) is not int or value < 0:
        raise ProviderAPIError(f"{where}: field {key!r} is {value!r}, expected a non-negative "
                               "integer")
    return value


def label(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProviderAPIError(f"{where}: field {key!r} is {value!r}, expected a string")
    return value


def day_of_rfc3339(value: Any, where: str) -> date:
    """The UTC day of a bucket's ``starting_at`` (Anthropic)."""
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ProviderAPIError(f"{where}: bucket starting_at {value!r} is not an RFC 3339 "
                               "time") from None
    if ts.tzinfo is None:
        raise ProviderAPIError(f"{where}: bucket starting_at {value!r} has no UTC offset")
    return ts.astimezone(UTC).date()


def day_of_unix(value: Any, where: str) -> date:
    """The UTC day of a bucket's ``start_time`` in Unix seconds (OpenAI)."""
    if type(value) is not int:
        raise ProviderAPIError(f"{where}: bucket start_time {value!r} is not Unix seconds")
    return datetime.fromtimestamp(value, UTC).date()


def decimal(value: Any, where: str, field: str) -> Decimal:
    """An exact amount from a decimal string (or a JSON number read as Decimal)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ProviderAPIError(f"{where}: {field} is {value!r}, expected a decimal amount")
    try:
        dec = Decimal(value)
    except InvalidOperation:
        raise ProviderAPIError(f"{where}: {field} is {value!r}, expected a decimal "
                               "amount") from None
    if not dec.is_finite():
        raise ProviderAPIError(f"{where}: {field} is {value!r}, expected a finite amount")
    return dec


def usd_nanos(usd: Decimal, where: str) -> int:
    """Dollars (exact) to nano-dollars, rounded half-even once, through teamcost.money;
    a negative amount (a credit) stays negative."""
    try:
        nanos = usd_to_nanos(abs(usd), field="amount")
    except InvalidValue:
        raise ProviderAPIError(f"{where}: an amount of {usd} USD is out of range") from None
    return -nanos if usd < 0 else nanos
