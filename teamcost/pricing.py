"""Cost from tokens: genai-prices (bundled data, never fetched) + user overrides.

Everything is exact: prices are Decimal dollars per million tokens, the total is
rounded half-even to integer nano-dollars once, at the end of one call's computation.
A model nobody can price is *unpriced* (cost 0, priced=False), never a silent $0.

Beyond the four token kinds of the call record, a call may carry two billed extras, priced
as genai-prices prices them:

- ``cache_write_1h_tokens``: the part of ``cache_write_tokens`` written with a one-hour TTL
  (Anthropic bills it at 2x base input, the five-minute write at 1.25x). The rest of
  ``cache_write_tokens`` is billed at the five-minute (default) write price. A model without
  a one-hour price bills it as a cache write (and without that, as input), as genai-prices'
  usage decomposition does.
- ``web_search_requests``: server-side web searches, billed per use (genai-prices'
  ``web_searches_kcount``: USD per 1,000 searches; Anthropic's $10 per 1,000).

The call record has no fields for them (its schema is fixed by firestore.rules): they are
kept as the string tags ``TAG_CACHE_WRITE_1H`` and ``TAG_WEB_SEARCHES``
(``extras_from_tags`` reads them back, e.g. for ``teamcost reprice``).

Prices are those in force at the call's time: ``ts`` picks genai-prices' conditional
price (a model whose price changed on a date costs what it cost that day).
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
from teamcost.errors import ConfigError, InvalidValue
from teamcost.money import MAX_CALL_NANOS, NANOS_PER_USD, usd_to_nanos

log = logging.getLogger("teamcost.pricing")

GENAI_PRICES_SOURCE = f"genai-prices {genai_prices.__version__}"
_NANOS_PER_TOKEN_AT_1_PER_MTOK = Decimal(NANOS_PER_USD) / Decimal(1_000_000)  # = 1000
_LOCAL_PROVIDERS = frozenset({"local", "ollama", "lmstudio", "llamacpp", "vllm-local"})
_LOCAL_MODEL_RE = re.compile(r"^(local|ollama)[/:]", re.IGNORECASE)

# the tags that carry a call's billed extras (string counts; absent means 0)
TAG_CACHE_WRITE_1H = "cache_write_1h_tokens"
TAG_WEB_SEARCHES = "web_search_requests"


def extras_tags(cache_write_1h_tokens: int, web_search_requests: int) -> dict[str, str]:
    """The tags recording a call's billed extras (none for zero counts)."""
    tags = {}
    if cache_write_1h_tokens:
        tags[TAG_CACHE_WRITE_1H] = str(cache_write_1h_tokens)
    if web_search_requests:
        tags[TAG_WEB_SEARCHES] = str(web_search_requests)
    return tags


def extras_from_tags(tags: Mapping[str, str]) -> tuple[int, int]:
    """(cache_write_1h_tokens, web_search_requests) recorded in a call's tags; a tag that
    is not a non-negative integer (a user's own tag of that name) counts as 0."""
    def count(key: str) -> int:
        v = tags.get(key, "")
        return int(v) if v.isascii() and v.isdigit() else 0
    return count(TAG_CACHE_WRITE_1H), count(TAG_WEB_SEARCHES)


@dataclass(frozen=True)
class Price:
    cost_nanos: int
    priced: bool
    source: str
    provider: str | None = None  # the provider genai-prices resolved, when it did


@dataclass(frozen=True)
class PriceOverride:
    """Prices in USD per million tokens for models whose ``provider/model`` matches;
    ``web_search_k`` in USD per 1,000 web searches (None: genai-prices' price for the
    model, when it knows one)."""

    pattern: str
    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    cache_write_1h_mtok: Decimal | None = None
    web_search_k: Decimal | None = None

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
        """From a config table: pattern, input, output, cache_read, cache_write,
        cache_write_1h ($/Mtok) and web_search ($ per 1,000 searches)."""
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

        unknown = set(data) - {"pattern", "input", "output", "cache_read", "cache_write",
                               "cache_write_1h", "web_search"}
        if unknown:
            raise ConfigError(f"price override {data['pattern']!r} has unknown keys "
                              f"{sorted(unknown)}; accepted: pattern, input, output, "
                              "cache_read, cache_write, cache_write_1h, web_search")
        return cls(str(data["pattern"]), dec("input", True), dec("output", True),  # type: ignore[arg-type]
                   dec("cache_read", False), dec("cache_write", False),
                   dec("cache_write_1h", False), dec("web_search", False))


def _round_nanos(usd: Decimal) -> int:
    return int((usd * NANOS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class Billed:
    """One call's billed quantities (input excludes cache tokens; ``cw_1h`` is part of
    ``cw``)."""

    inp: int = 0
    out: int = 0
    cr: int = 0
    cw: int = 0
    cw_1h: int = 0
    web: int = 0


# flat prices: input, output, cache read, cache write, 1h cache write ($/Mtok), web search
# ($ per 1,000); None: not priced separately (see _linear_nanos)
_Flat = tuple[Decimal, Decimal, Decimal | None, Decimal | None, Decimal | None, Decimal | None]


def _linear_nanos(u: Billed, prices: _Flat) -> int:
    """Sum of quantities x prices, exact, rounded once. As in genai-prices' decomposition, a
    token kind without its own price bills at its parent's: a 1h cache write as a cache
    write, a cache read or write as input. Searches without a price add nothing."""
    p_in, p_out, p_cr, p_cw, p_cw1h, p_web = prices
    p_cw = p_in if p_cw is None else p_cw
    total = (u.inp * p_in + u.out * p_out
             + u.cr * (p_in if p_cr is None else p_cr)
             + (u.cw - u.cw_1h) * p_cw
             + u.cw_1h * (p_cw if p_cw1h is None else p_cw1h))
    if u.web and p_web is not None:
        total += u.web * p_web * 1000     # $/1000 searches -> the same $/Mtok scale
    return int((total * _NANOS_PER_TOKEN_AT_1_PER_MTOK).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# models already warned about: once per process, however many Pricers (trackers) exist
_warned: set[str] = set()
_warned_lock = threading.Lock()


class Pricer:
    """Prices calls. Thread-safe; caches model resolution (calc_price costs ~100us)."""

    def __init__(self, overrides: Iterable[PriceOverride] = (), *,
                 warn_unpriced: bool = True) -> None:
        """``warn_unpriced``: log a model nobody can price (once per process); off for
        callers that report unpriced calls themselves."""
        self.overrides = tuple(overrides)
        self.warn_unpriced = warn_unpriced
        self._lock = threading.Lock()
        # (provider, model) -> (provider_id, ModelInfo, Provider) or None when unknown
        self._models: dict[tuple[str | None, str], tuple[str, Any, Any] | None] = {}
        self._fast: dict[int, tuple[Any, _Fast | None]] = {}

    def price(self, provider: str | None, model: str, input_tokens: int = 0,
              output_tokens: int = 0, cache_read_tokens: int = 0, cache_write_tokens: int = 0,
              *, cache_write_1h_tokens: int = 0, web_search_requests: int = 0,
              reported_cost_usd: Any = None, ts: datetime | None = None) -> Price:
        """Price one call at the prices in force at ``ts`` (default: now).

        ``input_tokens`` excludes cache tokens (the ledger's convention);
        ``cache_write_1h_tokens`` is the one-hour part of ``cache_write_tokens``.
        """
        if cache_write_1h_tokens > cache_write_tokens:
            raise InvalidValue("cache_write_1h_tokens", cache_write_1h_tokens,
                               f"at most cache_write_tokens ({cache_write_tokens}): the "
                               "one-hour writes are part of the cache writes")
        if reported_cost_usd is not None:
            return Price(usd_to_nanos(reported_cost_usd, maximum=MAX_CALL_NANOS), True,
                         "reported", provider)
        usage = Billed(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                       cache_write_1h_tokens, web_search_requests)
        when = ts or datetime.now(UTC)
        for ov in self.overrides:
            if ov.matches(provider, model):
                web = ov.web_search_k
                if web is None and web_search_requests:
                    web = self._web_search_price(provider, model, when)
                return Price(_linear_nanos(usage, (ov.input_mtok, ov.output_mtok,
                                                   ov.cache_read_mtok, ov.cache_write_mtok,
                                                   ov.cache_write_1h_mtok, web)),
                             True, f"override:{ov.pattern}", provider)
        if (provider or "").lower() in _LOCAL_PROVIDERS or _LOCAL_MODEL_RE.match(model):
            return Price(0, True, "local", provider)
        found = self._resolve(provider, model)
        if found is None:
            if not self.warn_unpriced:
                return Price(0, False, "unpriced", provider)
            key = f"{provider}/{model}" if provider else model
            with _warned_lock:
                first = key not in _warned
                _warned.add(key)
            if first:
                log.warning("no price known for model %r; its calls are recorded as unpriced "
                            "(add a price override in the config to price them)", key)
            return Price(0, False, "unpriced", provider)
        provider_id, info, prov = found
        fast = self._fast_for(info, when)
        if fast is not None:
            flat, tiers = fast
            total_input = input_tokens + cache_read_tokens + cache_write_tokens
            for start, above in tiers:
                if total_input > start:
                    flat = above
                    break
            nanos = _linear_nanos(usage, flat)
        else:  # unusual prices (a fee per request): let genai-prices do the full computation
            nanos = _round_nanos(info.calc_price(_genai_usage(usage), prov,
                                                 genai_request_timestamp=when).total_price)
        return Price(nanos, True, GENAI_PRICES_SOURCE, provider_id)

    def _fast_for(self, info: Any, when: datetime) -> _Fast | None:
        """The fast prices of the model's price set in force at ``when``."""
        mp = info.get_prices(when)   # genai-prices' conditional prices (start dates) resolved
        try:
            return self._fast[id(mp)][1]
        except KeyError:  # once per price set; the entry holds mp so its id stays unique
            fast = _fast_prices(mp)
            with self._lock:
                self._fast[id(mp)] = (mp, fast)
            return fast

    def _web_search_price(self, provider: str | None, model: str,
                          when: datetime) -> Decimal | None:
        """genai-prices' USD per 1,000 web searches for the model at ``when`` (flat only)."""
        found = self._resolve(provider, model)
        if found is None:
            return None
        price = getattr(found[1].get_prices(when), "web_searches_kcount", None)
        return price if isinstance(price, Decimal) else None

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


_FAST_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok",
              "cache_write_1h_mtok", "web_searches_kcount")

# flat prices, or (tier start, prices above it) pairs from the highest tier down
_Fast = tuple[_Flat, tuple[tuple[int, _Flat], ...]]


def _genai_usage(u: Billed) -> Usage:
    """genai-prices' Usage for a call: its input counts cache tokens; the 1h writes are
    part of the cache writes."""
    extra: dict[str, int] = {}
    if u.cw_1h:
        extra["cache_write_1h_tokens"] = u.cw_1h
    if u.web:
        extra["web_searches"] = u.web
    return Usage(input_tokens=u.inp + u.cr + u.cw, output_tokens=u.out,
                 cache_read_tokens=u.cr, cache_write_tokens=u.cw, **extra)


def _fast_prices(mp: Any) -> _Fast | None:
    """Token prices resolvable without genai-prices' general machinery, or None.

    Tiered prices follow genai-prices' cliff rule: when the call's total input tokens
    (uncached + cache read + cache write) exceed a tier's start, that tier's price
    applies to all of the call's tokens of that kind.
    """
    # A price per request (perplexity's requests_kcount) applies to every call: leave it to
    # the full computation. Other prices (audio tokens, code executions) apply to usage
    # kinds we record as 0, so they add nothing.
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
        return out[0], out[1], out[2], out[3], out[4], out[5]  # type: ignore[return-value]

    # prices are constant between tier starts: above start s means total_input >= s + 1
    tiers = tuple((s, at(s + 1)) for s in sorted(starts, reverse=True))
    return at(0), tiers


def reference_price_nanos(provider: str | None, model: str, input_tokens: int, output_tokens: int,
                          cache_read_tokens: int = 0, cache_write_tokens: int = 0,
                          ts: datetime | None = None, *, cache_write_1h_tokens: int = 0,
                          web_search_requests: int = 0) -> int:
    """genai-prices' own full computation (slow); the tests compare the fast path to it."""
    usage = _genai_usage(Billed(input_tokens, output_tokens, cache_read_tokens,
                                cache_write_tokens, cache_write_1h_tokens, web_search_requests))
    r = calc_price(usage, model_ref=model, provider_id=provider, genai_request_timestamp=ts)
    return _round_nanos(r.total_price)


