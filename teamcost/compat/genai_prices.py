"""genai-prices internals teamcost's fast pricing path relies on (tests/unit/test_compat.py).

- ``data_snapshot.get_snapshot().find_provider_model``: resolves a model (and its provider)
  once; the public ``calc_price`` resolves it again on every call (~100 µs).
- ``units._get_registry().unit_for_price_key``: tells per-request prices (which apply to
  every call) from per-token ones, so the fast path knows when it cannot be used.
- ``types.TieredPrices``: long-context tiers, read to precompute the tier prices.
- ``ModelInfo.prices``: one ``ModelPrice``, or ``ConditionalPrice``s whose constraints are
  ``StartDateConstraint`` (active from a UTC date on) or ``TimeOfDateConstraint``; the
  price cache keeps the first kind by UTC day and never the second.
"""

from __future__ import annotations

from typing import Any

from genai_prices import data_snapshot as _snapshot
from genai_prices.types import TieredPrices

__all__ = ["TieredPrices", "find_provider_model", "is_per_request_price", "prices_at_any_time",
           "prices_by_date_only"]


def find_provider_model(model: str, provider: str | None) -> tuple[Any, Any]:
    """(provider, model info) as genai-prices resolves them; LookupError when unknown."""
    return _snapshot.get_snapshot().find_provider_model(model, None, provider, None)


def is_per_request_price(price_key: str) -> bool:
    """True when ``price_key`` is charged per request (or is unknown to this release)."""
    try:
        from genai_prices.units import _get_registry
        unit = _get_registry().unit_for_price_key(price_key)
    except Exception:  # unknown to this genai-prices: assume it applies to every call
        return True
    return bool(unit.usage_key == "requests" or unit.dimensions.get("family") == "requests")


def prices_at_any_time(info: Any) -> Any | None:
    """The model's one price set when it does not depend on the time of the call (no dated
    or time-of-day prices), else None."""
    from genai_prices.types import ModelPrice
    prices = getattr(info, "prices", None)
    return prices if isinstance(prices, ModelPrice) else None


def prices_by_date_only(info: Any) -> bool:
    """True when the model's prices change only on dates (every condition a start date, which
    genai-prices compares with the call's UTC date), so one UTC day has one price set."""
    from genai_prices.types import ConditionalPrice, StartDateConstraint
    prices = getattr(info, "prices", None)
    return (isinstance(prices, list) and bool(prices)
            and all(isinstance(p, ConditionalPrice)
                    and (p.constraint is None or isinstance(p.constraint, StartDateConstraint))
                    for p in prices))
