"""Cost from tokens: genai-prices (bundled data, never fetched) + user overrides.

Everything is exact: prices are Decimal dollars per million tokens, the total is
rounded half-even to integer nano-dollars once, at the end of one call's computation.
A model nobody can price is *unpriced* (cost 0, priced=False), never a silent $0.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import genai_prices
from genai_prices import Usage, calc_price

from teamcost.compat.genai_prices import TieredPrices, find_provider_model, is_per_request_price
from teamcost.errors import ConfigError
from teamcost.money import MAX_CALL_NANOS, NANOS_PER_USD, usd_to_nanos

log = logging.getLogger("teamcost.pricing")

GENAI_PRICES_SOURCE = f"genai-prices {genai_prices.__version__}"
_NANOS_PER_TOKEN_AT_1_PER_MTOK = Decimal(NANOS_PER_USD) / Decimal(1_000_000)  # = 1000
_LOCAL_PROVIDERS = frozenset({"local", "ollama", "lmstudio", "llamacpp", "vllm-local"})
_LOCAL_MODEL_RE = re.compile(r"^(local|ollama)[/:]", re.IGNORECASE)


@dataclass(frozen=True)
class Price:
    cost_nanos: int
    priced: bool
    source: str
    provider: str | None = None  # the provider genai-prices resolved, when it did


@dataclass(frozen=True)
class PriceOverride:
    """Prices in USD per million tokens for models whose ``provider/model`` matches."""

    pattern: str
    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_re", re.compile(self.pattern))
        except re.error as exc:
            raise ConfigError(f"price override pattern {self.pattern!r} is not a valid "
                              f"regular expression: {exc}") from None

    def matches(self, provider: str | None, model: str) -> bool:
        rx: re.Pattern[str] = self._re  # type: ignore[attr-defined]
        return bool(rx.search(model) or (provider and rx.search(f"{provider}/{model}")))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PriceOverride:
        """From a config table: pattern, input, output, cache_read, cache_write ($/Mtok)."""
        if "pattern" not in data:
            raise ConfigError(f"price override {dict(data)!r} has no 'pattern'")

        def dec(key: str, required: bool) -> Decimal | None:
            if key not in data:
                if required:
                    raise ConfigError(f"price override {data['pattern']!r} needs '{key}' "
                                      "(USD per million tokens)")
                return None
            value = data[key]
            try:
                d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
            except Exception:
                d = Decimal(-1)
            if isinstance(value, bool) or not d.is_finite() or d < 0:
                raise ConfigError(f"price override {data['pattern']!r}: {key} = {value!r} is "
                                  "not a non-negative number of USD per million tokens")
            return d

        unknown = set(data) - {"pattern", "input", "output", "cache_read", "cache_write"}
        if unknown:
            raise ConfigError(f"price override {data['pattern']!r} has unknown keys "
                              f"{sorted(unknown)}; accepted: pattern, input, output, "
                              "cache_read, cache_write")
        return cls(str(data["pattern"]), dec("input", True), dec("output", True),  # type: ignore[arg-type]
                   dec("cache_read", False), dec("cache_write", False))


def _round_nanos(usd: Decimal) -> int:
    return int((usd * NANOS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _linear_nanos(in_t: int, out_t: int, cr_t: int, cw_t: int, p_in: Decimal, p_out: Decimal,
                  p_cr: Decimal | None, p_cw: Decimal | None) -> int:
    """Sum of tokens x $/Mtok, exact, rounded once. Unpriced cache tokens bill as input."""
    total = (in_t * p_in + out_t * p_out
             + cr_t * (p_in if p_cr is None else p_cr)
             + cw_t * (p_in if p_cw is None else p_cw))
    return int((total * _NANOS_PER_TOKEN_AT_1_PER_MTOK).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# models already warned about: once per process, however many Pricers (trackers) exist
_warned: set[str] = set()
_warned_lock = threading.Lock()


class Pricer:
    """Prices calls. Thread-safe; caches model resolution (calc_price costs ~100us)."""

    def __init__(self, overrides: Iterable[PriceOverride] = ()) -> None:
        self.overrides = tuple(overrides)
        self._lock = threading.Lock()
        # (provider, model) -> (provider_id, ModelInfo, Provider) or None when unknown
        self._models: dict[tuple[str | None, str], tuple[str, Any, Any] | None] = {}
        self._fast: dict[int, tuple[Any, _Fast | None]] = {}

    def price(self, provider: str | None, model: str, input_tokens: int = 0,
              output_tokens: int = 0, cache_read_tokens: int = 0, cache_write_tokens: int = 0,
              *, reported_cost_usd: Any = None, ts: datetime | None = None) -> Price:
        """Price one call. ``input_tokens`` excludes cache tokens (the ledger's convention)."""
        if reported_cost_usd is not None:
            return Price(usd_to_nanos(reported_cost_usd, maximum=MAX_CALL_NANOS), True,
                         "reported", provider)
        for ov in self.overrides:
            if ov.matches(provider, model):
                return Price(_linear_nanos(input_tokens, output_tokens, cache_read_tokens,
                                           cache_write_tokens, ov.input_mtok, ov.output_mtok,
                                           ov.cache_read_mtok, ov.cache_write_mtok),
                             True, f"override:{ov.pattern}", provider)
        if (provider or "").lower() in _LOCAL_PROVIDERS or _LOCAL_MODEL_RE.match(model):
            return Price(0, True, "local", provider)
        found = self._resolve(provider, model)
        if found is None:
            key = f"{provider}/{model}" if provider else model
            with _warned_lock:
                first = key not in _warned
                _warned.add(key)
            if first:
                log.warning("no price known for model %r; its calls are recorded as unpriced "
                            "(add a price override in the config to price them)", key)
            return Price(0, False, "unpriced", provider)
        provider_id, info, prov = found
        when = ts or datetime.now(UTC)
        mp = info.get_prices(when)
        try:
            fast = self._fast[id(mp)][1]
        except KeyError:  # once per price set; the entry holds mp so its id stays unique
            fast = _fast_prices(mp)
            with self._lock:
                self._fast[id(mp)] = (mp, fast)
        if fast is not None:
            flat, tiers = fast
            total_input = input_tokens + cache_read_tokens + cache_write_tokens
            for start, above in tiers:
                if total_input > start:
                    flat = above
                    break
            nanos = _linear_nanos(input_tokens, output_tokens, cache_read_tokens,
                                  cache_write_tokens, *flat)
        else:  # unusual prices (a fee per request): let genai-prices do the full computation
            usage = Usage(input_tokens=input_tokens + cache_read_tokens + cache_write_tokens,
                          output_tokens=output_tokens, cache_read_tokens=cache_read_tokens,
                          cache_write_tokens=cache_write_tokens)
            nanos = _round_nanos(info.calc_price(usage, prov, genai_request_timestamp=when).total_price)
        return Price(nanos, True, GENAI_PRICES_SOURCE, provider_id)

    def _resolve(self, provider: str | None, model: str) -> tuple[str, Any, Any] | None:
        key = (provider.lower() if provider else None, model)
        try:
            return self._models[key]
        except KeyError:
            pass
        try:
            prov, info = find_provider_model(model, key[0])
            found: tuple[str, Any, Any] | None = (prov.id, info, prov)
        except LookupError:
            found = None
            if key[0] is not None:  # a provider name genai-prices spells differently
                try:
                    prov, info = find_provider_model(model, None)
                    found = (prov.id, info, prov)
                except LookupError:
                    found = None
        with self._lock:
            self._models[key] = found
        return found


_FAST_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


_Flat = tuple[Decimal, Decimal, Decimal | None, Decimal | None]
# flat prices, or (tier start, prices above it) pairs from the highest tier down
_Fast = tuple[_Flat, tuple[tuple[int, _Flat], ...]]


def _fast_prices(mp: Any) -> _Fast | None:
    """Token prices resolvable without genai-prices' general machinery, or None.

    Tiered prices follow genai-prices' cliff rule: when the call's total input tokens
    (uncached + cache read + cache write) exceed a tier's start, that tier's price
    applies to all of the call's tokens of that kind.
    """
    # A price per request (perplexity's requests_kcount) applies to every call: leave it to
    # the full computation. Other prices (audio tokens, web searches) apply to usage kinds
    # we record as 0, so they add nothing.
    for key, value in getattr(mp, "__dict__", {}).items():
        if value is not None and not key.endswith("_mtok") and is_per_request_price(key):
            return None
    vals = [getattr(mp, k, None) for k in _FAST_KEYS]
    if vals[0] is None or vals[1] is None:
        return None
    starts: set[int] = set()
    for v in vals:
        if isinstance(v, TieredPrices):
            starts.update(t.start for t in v.tiers)
        elif v is not None and not isinstance(v, Decimal):
            return None

    def at(total_input: int) -> _Flat:
        out: list[Decimal | None] = []
        for v in vals:
            if isinstance(v, TieredPrices):
                price = v.base
                for tier in reversed(v.tiers):
                    if total_input > tier.start:
                        price = tier.price
                        break
                out.append(price)
            else:
                out.append(v)
        return out[0], out[1], out[2], out[3]  # type: ignore[return-value]

    # prices are constant between tier starts: above start s means total_input >= s + 1
    tiers = tuple((s, at(s + 1)) for s in sorted(starts, reverse=True))
    return at(0), tiers


def reference_price_nanos(provider: str | None, model: str, input_tokens: int, output_tokens: int,
                          cache_read_tokens: int = 0, cache_write_tokens: int = 0,
                          ts: datetime | None = None) -> int:
    """genai-prices' own full computation (slow); the tests compare the fast path to it."""
    usage = Usage(input_tokens=input_tokens + cache_read_tokens + cache_write_tokens,
                  output_tokens=output_tokens, cache_read_tokens=cache_read_tokens,
                  cache_write_tokens=cache_write_tokens)
    r = calc_price(usage, model_ref=model, provider_id=provider, genai_request_timestamp=ts)
    return _round_nanos(r.total_price)


