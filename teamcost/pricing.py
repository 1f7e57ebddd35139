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

genai-prices (pydantic, httpx, 1.6 MB of price data) is imported when the first call is
priced from it, not with this module: the config, `teamcost --help` and `ledger status`
never price anything, a price override or a reported cost needs none of it, and a
``Pricer`` with a ``cache_file`` prices the models it has met before from that file
(``PriceCache``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teamcost.errors import ConfigError, InvalidValue
from teamcost.money import AMOUNT_FORM, MAX_CALL_NANOS, NANOS_PER_USD, parse_usd, usd_to_nanos

if TYPE_CHECKING:
    from genai_prices import Usage

log = logging.getLogger("teamcost.pricing")


def __getattr__(name: str) -> Any:
    if name == "GENAI_PRICES_SOURCE":  # "genai-prices <version>", read on first use
        return _genai_prices_source()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_source: list[str] = []


def _genai_prices_source() -> str:
    if not _source:
        import genai_prices
        _source.append(f"genai-prices {genai_prices.__version__}")
    return _source[0]


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
            try:  # the one reading of dollars: "2,50" is refused, never read as 250
                return parse_usd(value, key)
            except InvalidValue:
                raise ConfigError(f"price override {data['pattern']!r}: {key} = {value!r} is "
                                  "not a non-negative number of USD per million tokens "
                                  f"({AMOUNT_FORM})") from None

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


@dataclass(frozen=True)
class UnitPrices:
    """A model's prices at one time: ``flat`` (input, output, cache read, cache write, 1h
    cache write in USD per million tokens; web search in USD per 1,000; None: billed at
    its parent kind's, see ``_linear_nanos``) and the long-context ``tiers`` ((start,
    prices above it), highest first: a call whose total input exceeds a start pays that
    tier's prices on all its tokens)."""

    flat: _Flat
    tiers: tuple[tuple[int, _Flat], ...] = ()

    def tier_of(self, total_input: int) -> int:
        """0 for the base prices, else the tier's start (what a SkuPriceId names)."""
        for start, _ in self.tiers:
            if total_input > start:
                return start
        return 0

    def at(self, tier: int) -> _Flat:
        for start, flat in self.tiers:
            if start == tier:
                return flat
        return self.flat

    def kind_nanos(self, tier: int, u: Billed) -> tuple[Decimal, Decimal, Decimal, Decimal,
                                                        Decimal]:
        """Unrounded nano-dollars of input, output, cache read, cache write (with the 1h
        part) and web searches: the terms ``_linear_nanos`` adds before rounding."""
        p_in, p_out, p_cr, p_cw, p_cw1h, p_web = self.at(tier)
        p_cw = p_in if p_cw is None else p_cw
        k = _NANOS_PER_TOKEN_AT_1_PER_MTOK
        return (u.inp * p_in * k, u.out * p_out * k,
                u.cr * (p_in if p_cr is None else p_cr) * k,
                ((u.cw - u.cw_1h) * p_cw + u.cw_1h * (p_cw if p_cw1h is None else p_cw1h)) * k,
                (u.web * p_web * 1000 * k) if p_web is not None else Decimal(0))


# models already warned about: once per process, however many Pricers (trackers) exist
_warned: set[str] = set()
_warned_lock = threading.Lock()


class Pricer:
    """Prices calls. Thread-safe; caches model resolution (calc_price costs ~100us)."""

    def __init__(self, overrides: Iterable[PriceOverride] = (), *,
                 warn_unpriced: bool = True, cache_file: Path | None = None) -> None:
        """``warn_unpriced``: log a model nobody can price (once per process); off for
        callers that report unpriced calls themselves. ``cache_file``: where to keep the
        prices genai-prices resolved (see ``PriceCache``), so the next process prices
        those models without loading it."""
        self.overrides = tuple(overrides)
        self.warn_unpriced = warn_unpriced
        self._lock = threading.Lock()
        # (provider, model) -> (provider_id, ModelInfo, Provider) or None when unknown
        self._models: dict[tuple[str | None, str], tuple[str, Any, Any] | None] = {}
        self._fast: dict[int, tuple[Any, _Fast | None]] = {}
        self._disk = PriceCache(cache_file) if cache_file is not None else None

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
                         "reported", provider or self._provider_of(model, ts))
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
        key = (provider.lower() if provider else None, model)
        cached = self._disk.get(key, _utc_day(when)) if self._disk is not None else _MISS
        if cached is _MISS:
            found = self._resolve(provider, model)
        elif cached is None:
            found = None
        else:
            provider_id, fast = cached
            return Price(_fast_nanos(fast, usage), True,
                         self._disk.source, provider_id)  # type: ignore[union-attr]
        if found is None:
            if self._disk is not None and cached is _MISS:
                self._disk.put(key, None, None)   # unknown whenever the call ran
            if not self.warn_unpriced:
                return Price(0, False, "unpriced", provider)
            name = f"{provider}/{model}" if provider else model
            with _warned_lock:
                first = name not in _warned
                _warned.add(name)
            if first:
                log.warning("no price known for model %r; its calls are recorded as unpriced "
                            "(add a price override in the config to price them)", name)
            return Price(0, False, "unpriced", provider)
        provider_id, info, prov = found
        fast = self._fast_for(info, when)
        if fast is not None:
            if self._disk is not None:
                self._cache_fast(key, info, when, (provider_id, fast))
            nanos = _fast_nanos(fast, usage)
        else:  # unusual prices (a fee per request): let genai-prices do the full computation
            nanos = _round_nanos(info.calc_price(_genai_usage(usage), prov,
                                                 genai_request_timestamp=when).total_price)
        return Price(nanos, True, _genai_prices_source(), provider_id)

    def _provider_of(self, model: str, ts: datetime | None) -> str | None:
        """The provider genai-prices knows ``model`` by (a reported cost skips pricing, not
        the provider: ``gpt-4o`` is openai's either way); None for a model nobody knows."""
        if _LOCAL_MODEL_RE.match(model):
            return None
        key = (None, model)
        cached = (self._disk.get(key, _utc_day(ts or datetime.now(UTC)))
                  if self._disk is not None else _MISS)
        if cached is not _MISS:
            return None if cached is None else cached[0]
        found = self._resolve(None, model)
        return None if found is None else found[0]

    def _cache_fast(self, key: tuple[str | None, str], info: Any, when: datetime,
                    entry: tuple[str, _Fast]) -> None:
        """Keep the fast prices for the time they hold: any time, or the call's UTC day
        when the model's prices change on dates; prices by time of day are not kept."""
        from teamcost.compat.genai_prices import prices_at_any_time, prices_by_date_only
        assert self._disk is not None
        if prices_at_any_time(info) is not None:
            self._disk.put(key, None, entry)
        elif prices_by_date_only(info):
            self._disk.put(key, _utc_day(when), entry)

    def save_cache(self) -> None:
        """Write the prices resolved since the last save to the cache file, if any."""
        if self._disk is not None:
            self._disk.save()

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

    def unit_prices(self, provider: str | None, model: str, price_source: str,
                    when: datetime) -> UnitPrices | None:
        """The token prices a call priced by ``price_source`` was (most likely) priced at:
        the named override's, else genai-prices' at ``when``; None when there are none
        (local, unpriced, or a model genai-prices does not know). Used to split a recorded
        total into token kinds (reports/focus.py), never to change a recorded cost."""
        if price_source in ("local", "unpriced"):
            return None
        if price_source.startswith("override:"):
            pattern = price_source[len("override:"):]
            for ov in self.overrides:
                if ov.pattern == pattern:
                    return UnitPrices((ov.input_mtok, ov.output_mtok, ov.cache_read_mtok,
                                       ov.cache_write_mtok, ov.cache_write_1h_mtok,
                                       ov.web_search_k), ())
        found = self._resolve(provider, model)
        if found is None:
            return None
        fast = self._fast_for(found[1], when)
        return None if fast is None else UnitPrices(*fast)

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
        from teamcost.compat.genai_prices import find_provider_model
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


def _fast_nanos(fast: _Fast, u: Billed) -> int:
    """The call's cost from fast prices: the long-context tier its total input falls in."""
    flat, tiers = fast
    total_input = u.inp + u.cr + u.cw
    for start, above in tiers:
        if total_input > start:
            flat = above
            break
    return _linear_nanos(u, flat)


def _genai_usage(u: Billed) -> Usage:
    """genai-prices' Usage for a call: its input counts cache tokens; the 1h writes are
    part of the cache writes."""
    from genai_prices import Usage

    extra: dict[str, int] = {}
    if u.cw_1h:
        extra["cache_write_1h_tokens"] = u.cw_1h
    if u.web:
        extra["web_searches"] = u.web
    return Usage(input_tokens=u.inp + u.cr + u.cw, output_tokens=u.out,
                 cache_read_tokens=u.cr, cache_write_tokens=u.cw, **extra)


def _utc_day(when: datetime) -> str:
    """The UTC date genai-prices' start-date prices go by (a naive time is UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.date().isoformat()


_MISS: Any = object()
# /2: six prices (input, output, cache read, cache write, 1h cache write, web search) and
# entries for one UTC day of a model whose prices change on dates
PRICE_CACHE_SCHEMA = "teamcost.price-cache/2"
_OUR_SCHEMAS = "teamcost.price-cache/"
PRICE_CACHE_FILE = "price-cache.json"  # in TEAMCOST_HOME


def genai_prices_identity() -> str | None:
    """Which genai-prices data is installed (its data file's path, size and mtime), found
    without importing it; None when it cannot be told."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("genai_prices")
        where = list(spec.submodule_search_locations or ()) if spec else []
        data = Path(where[0]) / "data.py"
        st = data.stat()
    except (ImportError, IndexError, OSError, ValueError):
        return None
    return f"{data}:{st.st_size}:{st.st_mtime_ns}"


class PriceCache:
    """Token prices genai-prices resolved, kept in a small JSON file (``price-cache.json`` in
    TEAMCOST_HOME) so that a short process (``teamcost record`` in a shell loop, a status
    line) prices a call without importing genai-prices (pydantic, httpx and 1.6 MB of price
    data: ~0.1 s).

    An entry holds every price that can change a call's cost: the six prices (tokens by
    kind, one-hour cache writes, web searches) and the long-context tiers. It is keyed by
    ``[provider, model]`` when the model costs the same whenever the call ran (and for a
    model genai-prices does not know), by ``[provider, model, UTC day]`` when its prices
    change on dates (one entry per day met); prices by time of day are never kept. The file
    names the genai-prices data it came from; any other installed data ignores it (and a
    save replaces it). A file that is not ours is never overwritten; an unreadable one just
    means no cache.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.source = ""
        self._entries: dict[str, Any] | None = None
        self._identity: str | None = None
        self._writable = True
        self._dirty = False
        self._lock = threading.Lock()
        # get()'s answers, parsed once: an import prices thousands of calls of a few models
        self._parsed: dict[tuple[tuple[str | None, str], str], Any] = {}

    @staticmethod
    def _key(key: tuple[str | None, str], day: str | None) -> str:
        return json.dumps([*key, day] if day is not None else list(key))

    def _load(self) -> dict[str, Any]:
        if self._entries is not None:
            return self._entries
        self._entries = {}
        self._identity = genai_prices_identity()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self._entries
        except (OSError, ValueError):  # a directory, unreadable, or not JSON: leave it be
            self._writable = False
            return self._entries
        schema = data.get("schema") if isinstance(data, dict) else None
        if not (isinstance(schema, str) and schema.startswith(_OUR_SCHEMAS)):
            self._writable = False
            return self._entries
        if (schema == PRICE_CACHE_SCHEMA and self._identity is not None
                and data.get("genai_prices") == self._identity
                and isinstance(data.get("models"), dict) and isinstance(data.get("source"), str)):
            self._entries = dict(data["models"])
            self.source = data["source"]
        return self._entries

    def get(self, key: tuple[str | None, str], day: str) -> Any:
        """(provider_id, fast prices) for a call on UTC ``day``, None for a model
        genai-prices does not know, or _MISS."""
        try:
            return self._parsed[(key, day)]
        except KeyError:
            pass
        got = self._get(key, day)
        if got is not _MISS:
            with self._lock:
                self._parsed[(key, day)] = got
        return got

    def _get(self, key: tuple[str | None, str], day: str) -> Any:
        with self._lock:
            entries = self._load()
            raw = entries.get(self._key(key, None), _MISS)
            if raw is _MISS:
                raw = entries.get(self._key(key, day), _MISS)
        if raw is _MISS or raw is None:
            return raw
        try:
            return raw["provider"], _fast_from_json(raw)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return _MISS

    def put(self, key: tuple[str | None, str], day: str | None,
            value: tuple[str, _Fast] | None) -> None:
        """Remember an entry, for UTC ``day`` only or (None) for any time; ``save`` writes
        it (after the call it priced is recorded: a call that fails validation leaves no
        file behind)."""
        with self._lock:
            entries = self._load()
            self._parsed.clear()
            if not self._writable or self._identity is None:
                return
            entries[self._key(key, day)] = (None if value is None
                                            else {"provider": value[0], **_fast_to_json(value[1])})
            self.source = _genai_prices_source()
            self._dirty = True

    def save(self) -> None:
        with self._lock:
            if not self._dirty or self._entries is None:
                return
            self._dirty = False
            doc = {"schema": PRICE_CACHE_SCHEMA, "genai_prices": self._identity,
                   "source": self.source, "models": self._entries}
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                tmp.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError:  # a read-only home prices the slow way, nothing else changes
                self._writable = False
                tmp.unlink(missing_ok=True)


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _flat_from_json(v: list[Any]) -> _Flat:
    inp, out, cr, cw, cw_1h, web = v
    return Decimal(inp), Decimal(out), _dec(cr), _dec(cw), _dec(cw_1h), _dec(web)


def _fast_from_json(raw: Mapping[str, Any]) -> _Fast:
    return (_flat_from_json(raw["flat"]),
            tuple((int(start), _flat_from_json(flat)) for start, flat in raw["tiers"]))


def _fast_to_json(fast: _Fast) -> dict[str, Any]:
    def flat(f: _Flat) -> list[str | None]:
        return [None if x is None else str(x) for x in f]
    return {"flat": flat(fast[0]), "tiers": [[start, flat(f)] for start, f in fast[1]]}


def _fast_prices(mp: Any) -> _Fast | None:
    """Token prices resolvable without genai-prices' general machinery, or None.

    Tiered prices follow genai-prices' cliff rule: when the call's total input tokens
    (uncached + cache read + cache write) exceed a tier's start, that tier's price
    applies to all of the call's tokens of that kind.
    """
    # A price per request (perplexity's requests_kcount) applies to every call: leave it to
    # the full computation. Other prices (audio tokens, code executions) apply to usage
    # kinds we record as 0, so they add nothing.
    from teamcost.compat.genai_prices import TieredPrices, is_per_request_price
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
    from genai_prices import calc_price
    usage = _genai_usage(Billed(input_tokens, output_tokens, cache_read_tokens,
                                cache_write_tokens, cache_write_1h_tokens, web_search_requests))
    r = calc_price(usage, model_ref=model, provider_id=provider, genai_request_timestamp=ts)
    return _round_nanos(r.total_price)


