"""FOCUS 1.2 cost and usage rows of a window (``teamcost export --format focus``).

FOCUS (the FinOps Foundation's open cost format) is what FinOps tools load. One row per
charge period (UTC day), team, member, provider, model, agent, attribution tags, price
used and token kind (input, output, cache read, cache write, server-tool uses), with the
spec's columns and ``x_`` columns for what FOCUS has no column for.

How the money stays exact
-------------------------
The ledger keeps one integer per call: ``cost_nanos``, the call's total, rounded once
(pricing.py). It does not keep the parts by token kind. The parts of a *row group* (the
calls sharing every key but the kind) are computed here, from the group's total:

1. The group's cost C is the exact sum of its calls' ``cost_nanos``.
2. Each kind's weight is its unrounded cost at the price the calls were priced at (the
   override named by ``price_source``, else genai-prices' prices of that UTC day and
   long-context tier: ``pricing.UnitPrices.kind_nanos``); a price source without token
   prices (a provider-reported total, an unknown model) weighs the kinds by quantity.
3. C is split by those weights with the largest-remainder rule: each kind gets
   floor(C x w / W), and the nano-dollars left over (fewer than the kinds) go one each
   to the kinds with the largest fractional parts, ties to the earlier kind in
   ``KINDS`` order. The kinds of a group always add up to C exactly, so every day's
   rows add up to the day's ``report`` total, to the nano-dollar.

Prices are never re-applied to change a cost: the split only decides where the recorded
total goes. ``ListUnitPrice``/``ContractedUnitPrice`` are the row's cost over its
``PricingQuantity`` (what FOCUS requires: their product is the cost).

Unpriced calls
--------------
FOCUS requires BilledCost, EffectiveCost, ListCost and ContractedCost to be non-null
(BilledCost-C-003-M and friends; the validator fails a null). Rows of calls nobody could
price therefore carry 0 in those columns, with ``x_Unpriced`` true, ``x_CostNanos``
null (the exact cost: unknown, never $0) and a ChargeDescription that says so.

Memory: calls are read a chunk at a time (``frames.scan_calls``) and reduced to sums per
group with Arrow's hash aggregation; only the groups (the output) are kept.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from teamcost.money import format_usd
from teamcost.periods import Window
from teamcost.plans.classify import BILLING_TAG, METERED, PLAN, classify, covering_plan
from teamcost.plans.fees import SeatDay, seat_days
from teamcost.plans.model import SLOT, Plans
from teamcost.pricing import TAG_CACHE_WRITE_1H, TAG_WEB_SEARCHES, Billed, Pricer, UnitPrices
from teamcost.reports.render import spreadsheet_safe

if TYPE_CHECKING:
    from teamcost.config import Config

FOCUS_VERSION = "1.2"
KINDS = ("input", "output", "cache_read", "cache_write", "server_tool", "request")
ATTRIBUTION_TAGS = ("project", "repo", "branch", "ticket", "pr")
SCAN_CHUNK_ROWS = 1 << 16
DAY_US = 86_400_000_000
_SLOT_US = SLOT // timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANOS = 1_000_000_000

_KIND_TEXT = {"input": "input tokens", "output": "output tokens",
              "cache_read": "cache read tokens", "cache_write": "cache write tokens",
              "server_tool": "server-tool uses (web searches)",
              "request": "calls without token usage"}
_METER = {"input": "Input Tokens", "output": "Output Tokens",
          "cache_read": "Cache Read Tokens", "cache_write": "Cache Write Tokens",
          "server_tool": "Web Search Requests", "request": "Requests"}
# prices are per million tokens and per 1,000 searches: the price lists' units
_PRICING_UNIT = {"server_tool": ("1000 Requests", Decimal(1000)),
                 "request": ("Requests", Decimal(1))}
_TOKENS_UNIT = ("1000000 Tokens", Decimal(1_000_000))
_CONSUMED_UNIT = {"server_tool": "Requests", "request": "Requests"}

NULL_COLUMNS = (
    "AvailabilityZone", "BillingAccountType", "CapacityReservationId",
    "CapacityReservationStatus", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountQuantity", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "CommitmentDiscountUnit", "InvoiceId", "RegionId", "RegionName",
    "ResourceId", "ResourceName", "ResourceType", "SubAccountType")
_NULL_DECIMALS = ("CommitmentDiscountQuantity",)
# the FOCUS columns, in the spec's groups, then ours
COLUMNS = (
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency",
    "BillingAccountId", "BillingAccountName", "SubAccountId", "SubAccountName",
    "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
    "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ListUnitPrice",
    "ContractedUnitPrice", "PricingCurrency", "PricingCurrencyListUnitPrice",
    "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "ConsumedQuantity", "ConsumedUnit",
    "ServiceName", "ServiceCategory", "ServiceSubcategory",
    "ProviderName", "PublisherName", "InvoiceIssuerName",
    "SkuId", "SkuPriceId", "SkuMeter", "SkuPriceDetails", "Tags",
    # columns FOCUS defines for what AI API usage does not have (commitment discounts,
    # regions, resources, capacity reservations, invoices): present and null, as the
    # validator expects every column of the dataset
    *NULL_COLUMNS,
    "x_TokenKind", "x_Model", "x_Member", "x_Agent", "x_Unpriced", "x_PriceSource",
    "x_CostNanos", "x_Calls", "x_FailedCalls", "x_ContextTier", "x_Billing", "x_Plan",
)
_MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost",
          "PricingCurrencyEffectiveCost")
_DATES = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
_UNIT_PRICES = ("ListUnitPrice", "ContractedUnitPrice", "PricingCurrencyListUnitPrice",
                "PricingCurrencyContractedUnitPrice")
PARQUET_SCHEMA = pa.schema([
    *((c, pa.decimal128(38, 9)) for c in _MONEY),
    *((c, pa.timestamp("s", tz="UTC") if c in _DATES
       else pa.decimal128(38, 6) if c == "PricingQuantity"
       else pa.decimal128(38, 20) if c in _UNIT_PRICES
       else pa.decimal128(38, 9) if c == "CommitmentDiscountQuantity"   # USD
       else pa.decimal128(38, 0) if c in ("ConsumedQuantity", *_NULL_DECIMALS)
       else pa.bool_() if c == "x_Unpriced"
       else pa.int64() if c in ("x_CostNanos", "x_Calls", "x_FailedCalls", "x_ContextTier")
       else pa.string())
      for c in COLUMNS if c not in _MONEY)])
PARQUET_SCHEMA = pa.schema([PARQUET_SCHEMA.field(c) for c in COLUMNS])

# the calls' columns an export reads, and the group key built from them
_READ = ("ts", "team", "member", "provider", "model", "agent", "price_source", "priced",
         "success", "tags", "input_tokens", "output_tokens", "cache_read_tokens",
         "cache_write_tokens", "cost_nanos")
_KEYS = ("day", "team", "member", "provider", "model", "agent", "attribution",
         "price_source", "priced", "tier", "billing", "plan")
_SUMS = ("calls", "failed", "input_tokens", "output_tokens", "cache_read_tokens",
         "cache_write_tokens", "cw_1h", "web", "cost_nanos")


def usd_text(nanos: int) -> str:
    """Exact decimal dollars of integer nano-dollars (``-0.000000001`` style)."""
    sign = "-" if nanos < 0 else ""
    n = abs(nanos)
    return f"{sign}{n // _NANOS}.{n % _NANOS:09d}"


def split_exact(total: int, weights: Sequence[Decimal | int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (non-negative; their sum > 0) into
    integers that add up to ``total`` exactly: the largest-remainder rule, a tie going to
    the earlier weight. A zero weight gets 0."""
    ws = [Decimal(w) for w in weights]
    whole = sum(ws)
    if whole <= 0:
        raise ValueError("split_exact needs a positive total weight")
    with localcontext() as ctx:
        ctx.prec = 80   # weights are exact decimals; their products must stay exact
        # compare fractions as exact rationals: total * w / whole
        nums = [Decimal(total) * w for w in ws]
        base = [int(n // whole) for n in nums]
        rems = [n - b * whole for n, b in zip(nums, base)]
    left = total - sum(base)
    order = sorted((i for i, w in enumerate(ws) if w > 0), key=lambda i: (-rems[i], i))
    for i in order[:left]:
        base[i] += 1
    return base


@dataclass
class Group:
    """The summed calls of one row group (every key but the token kind)."""

    day: int
    team: str
    member: str
    provider: str
    model: str
    agent: str | None
    attribution: str         # canonical JSON of the attribution tags
    price_source: str
    priced: bool
    tier: int
    billing: str = METERED   # metered or plan (teamcost.plans.classify)
    plan: str = ""           # the plan whose seat covers plan usage ("" if none known)
    sums: list[int] = field(default_factory=lambda: [0] * len(_SUMS))

    def get(self, name: str) -> int:
        return self.sums[_SUMS.index(name)]


class _TagCache:
    """Parsed tags by their JSON text (a window has few distinct tag sets per label)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, int, int, str, str]] = {}

    def parse(self, text: str | None) -> tuple[str, int, int, str, str]:
        """(attribution JSON, 1h cache-write tokens, web searches, source tag, billing tag)
        of a call's tags."""
        if text is None:
            return "{}", 0, 0, "", ""
        hit = self._seen.get(text)
        if hit is not None:
            return hit
        try:
            tags = json.loads(text)
        except ValueError:
            tags = {}
        if not isinstance(tags, dict):
            tags = {}
        attribution = {k: str(tags[k]) for k in ATTRIBUTION_TAGS if k in tags}

        def count(key: str) -> int:
            v = tags.get(key, "")
            return int(v) if isinstance(v, str) and v.isascii() and v.isdigit() else 0
        def text_of(key: str) -> str:
            v = tags.get(key)
            return v if isinstance(v, str) else ""
        hit = (json.dumps(attribution, sort_keys=True, separators=(",", ":")),
               count(TAG_CACHE_WRITE_1H), count(TAG_WEB_SEARCHES), text_of("source"),
               text_of(BILLING_TAG))
        if len(self._seen) < 200_000:   # bounded: a flood of unique tag sets just reparses
            self._seen[text] = hit
        return hit


class _Prices:
    """UnitPrices by (provider, model, price source, UTC day), looked up once each."""

    def __init__(self, pricer: Pricer) -> None:
        self.pricer = pricer
        self._seen: dict[tuple[str, str, str, int], UnitPrices | None] = {}

    def get(self, provider: str, model: str, source: str, day: int) -> UnitPrices | None:
        key = (provider, model, source, day)
        if key not in self._seen:
            when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=12)
            self._seen[key] = self.pricer.unit_prices(provider, model, source, when)
        return self._seen[key]


class _Classifier:
    """Each call's billing (metered or plan usage) and the plan whose seat covers it, by
    teamcost.plans.classify over the call's 15-minute slot: the report's own rule, so the
    export's three numbers are the report's. Memoised per member, slot, provider, model,
    source and billing tag."""

    def __init__(self, plans: Plans | None) -> None:
        self.plans = plans
        self._memo: dict[tuple[Any, ...], tuple[str, str]] = {}

    def trivial(self, billing_tags: Sequence[str]) -> bool:
        """Every call metered without looking: no seats (or the plans unknown) and no
        source said otherwise (the export of a team without plans stays as fast)."""
        return ((self.plans is None or not self.plans.seats)
                and not any(t in (METERED, PLAN) for t in billing_tags))

    def classify(self, member: str, slot: int, provider: str, model: str, source: str,
                 billing: str) -> tuple[str, str]:
        key = (member, slot, provider, model, source, billing)
        got = self._memo.get(key)
        if got is None:
            ts = _EPOCH + timedelta(microseconds=slot * _SLOT_US)
            tags = {BILLING_TAG: billing} if billing else {}
            bucket, _rule = classify(member, ts, provider, model, source, tags, self.plans)
            plan = (covering_plan(member, ts, provider, model, source, self.plans)
                    if bucket == PLAN else None)
            got = self._memo[key] = (bucket, plan.name if plan else "")
        return got


def _billing_columns(chunk: pa.Table, parsed: list[tuple[str, int, int, str, str]],
                     idx: np.ndarray, classifier: _Classifier) -> tuple[pa.Array, pa.Array]:
    """Each call's billing bucket and covering plan (``_Classifier``)."""
    n = chunk.num_rows
    if classifier.trivial([p[4] for p in parsed]):
        return pa.array([METERED] * n, pa.string()), pa.array([""] * n, pa.string())
    slots = np.floor_divide(chunk.column("ts").cast(pa.int64()).to_numpy(), _SLOT_US).tolist()
    members = _labels(chunk.column("member")).to_pylist()
    providers = _labels(chunk.column("provider")).to_pylist()
    models = _labels(chunk.column("model")).to_pylist()
    agents = _labels(chunk.column("agent")).to_pylist()
    bills, plans = [], []
    for i, k in enumerate(idx.tolist()):
        _a, _c, _w, source, billing = parsed[k]
        got = classifier.classify(members[i] or "", slots[i], providers[i] or "",
                                  models[i] or "", source or agents[i] or "", billing)
        bills.append(got[0])
        plans.append(got[1])
    return pa.array(bills, pa.string()), pa.array(plans, pa.string())


def _labels(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.string())
    return arr


def _chunk_groups(chunk: pa.Table, tags: _TagCache, prices: _Prices,
                  classifier: _Classifier) -> pa.Table:
    """The chunk's calls summed per group key (Arrow's hash aggregation)."""
    n = chunk.num_rows
    ts = chunk.column("ts").cast(pa.int64()).to_numpy()
    day = np.floor_divide(ts, DAY_US)
    tag_col = chunk.column("tags").combine_chunks().dictionary_encode()
    parsed = [tags.parse(t) for t in tag_col.dictionary.to_pylist()]
    idx = tag_col.indices.to_numpy(zero_copy_only=False)
    attribution = pa.array([p[0] for p in parsed], pa.string()).take(pa.array(idx))
    cw_1h = np.array([p[1] for p in parsed], dtype=np.int64)[idx] if parsed else np.zeros(n,
                                                                                         np.int64)
    web = np.array([p[2] for p in parsed], dtype=np.int64)[idx] if parsed else np.zeros(n,
                                                                                      np.int64)
    billing, plan = _billing_columns(chunk, parsed, idx, classifier)
    ints = {c: chunk.column(c).to_numpy() for c in ("input_tokens", "output_tokens",
                                                     "cache_read_tokens",
                                                     "cache_write_tokens", "cost_nanos")}
    provider = _labels(chunk.column("provider"))
    model = _labels(chunk.column("model"))
    source = _labels(chunk.column("price_source"))
    # the long-context tier each call was priced in (0: base prices)
    tier = np.zeros(n, dtype=np.int64)
    combos = pa.table({"p": provider, "m": model, "s": source}).group_by(["p", "m", "s"]) \
        .aggregate([]).to_pylist()
    total_input = ints["input_tokens"] + ints["cache_read_tokens"] + ints["cache_write_tokens"]
    for c in combos:
        up = prices.get(c["p"] or "", c["m"] or "", c["s"] or "", int(day[0]))
        if up is None or not up.tiers:
            continue
        mask = pc.and_(pc.and_(pc.equal(provider, c["p"]), pc.equal(model, c["m"])),
                       pc.equal(source, c["s"])).to_numpy(zero_copy_only=False)
        for start, _ in reversed(up.tiers):   # lowest first; higher starts overwrite
            tier[mask & (total_input > start)] = start
    table = pa.table({
        "day": day, "team": _labels(chunk.column("team")),
        "member": _labels(chunk.column("member")), "provider": provider, "model": model,
        "agent": _labels(chunk.column("agent")), "attribution": attribution,
        "price_source": source, "priced": chunk.column("priced"), "tier": tier,
        "billing": billing, "plan": plan,
        "calls": np.ones(n, dtype=np.int64),
        "failed": pc.invert(chunk.column("success")).cast(pa.int64()),
        **ints, "cw_1h": np.minimum(cw_1h, ints["cache_write_tokens"]), "web": web})
    return table.group_by(list(_KEYS)).aggregate([(s, "sum") for s in _SUMS])


def collect_groups(chunks: Iterable[pa.Table], pricer: Pricer, plans: Plans | None = None
                   ) -> tuple[list[Group], _Prices]:
    """Every row group of the calls in ``chunks``, sorted by key. ``plans``: the team's
    (None: unknown, so untagged calls are metered); without seats every call is metered."""
    tags, prices = _TagCache(), _Prices(pricer)
    classifier = _Classifier(plans)
    groups: dict[tuple[Any, ...], Group] = {}
    for chunk in chunks:
        if not chunk.num_rows:
            continue
        part = _chunk_groups(chunk, tags, prices, classifier)
        cols = [part.column(k).to_pylist() for k in _KEYS]
        sums = [part.column(f"{s}_sum").to_pylist() for s in _SUMS]
        for i, key in enumerate(zip(*cols)):
            g = groups.get(key)
            if g is None:
                g = groups[key] = Group(*key)
            acc = g.sums
            for j, col in enumerate(sums):
                acc[j] += int(col[i] or 0)
    ordered = sorted(groups.values(), key=lambda g: (
        g.day, g.team, g.member, g.provider, g.model, g.agent or "", g.attribution,
        g.price_source, g.priced, g.tier, g.billing, g.plan))
    return ordered, prices


def _quantities(g: Group) -> dict[str, int]:
    return {"input": g.get("input_tokens"), "output": g.get("output_tokens"),
            "cache_read": g.get("cache_read_tokens"), "cache_write": g.get("cache_write_tokens"),
            "server_tool": g.get("web")}


def kind_costs(g: Group, prices: UnitPrices | None) -> dict[str, int]:
    """The group's cost split exactly across its token kinds (see the module's doc); a
    group whose calls had no usage at all keeps its cost on ``request``."""
    qty = _quantities(g)
    cost = g.get("cost_nanos")
    kinds = list(qty)
    weights: list[Decimal] = []
    if prices is not None:
        weights = list(prices.kind_nanos(g.tier, Billed(
            qty["input"], qty["output"], qty["cache_read"], qty["cache_write"],
            g.get("cw_1h"), qty["server_tool"])))
    if not weights or sum(weights) <= 0:
        weights = [Decimal(qty[k]) for k in kinds]
    if sum(weights) <= 0:
        return {"request": cost}
    return dict(zip(kinds, split_exact(cost, weights)))


def _iso(day: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)


def _month_bounds(d: datetime) -> tuple[datetime, datetime]:
    start = d.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _unit_price(cost: int, quantity: Decimal) -> Decimal:
    if quantity == 0:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 38
        return (Decimal(cost) / _NANOS / quantity).quantize(Decimal("1e-20"))


_NULLS: dict[str, Any] = dict.fromkeys(NULL_COLUMNS)


def group_kinds(g: Group, prices: UnitPrices | None
                ) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """(the kinds a group has rows for, their costs, their quantities)."""
    costs = kind_costs(g, prices) if g.priced else {}
    qty = _quantities(g)
    kinds = [k for k in KINDS[:-1] if qty[k] > 0 or costs.get(k, 0) > 0]
    if "request" in costs or not kinds:
        kinds.append("request")
        qty["request"] = g.get("calls")
    return kinds, costs, qty


def commitment_id(team: str, plan: str, member: str) -> str:
    """A seat as a FOCUS commitment: one per team, plan and member."""
    return f"teamcost/{team}/seats/{plan}/{member}"


def _commitment(team: str, plan: str, member: str, status: str | None,
                quantity_nanos: int) -> dict[str, Any]:
    cid = commitment_id(team, plan, member)
    return {"CommitmentDiscountId": cid, "CommitmentDiscountName": f"{plan} seat of {member}",
            "CommitmentDiscountCategory": "Spend", "CommitmentDiscountType": "Seat",
            "CommitmentDiscountStatus": status,
            "CommitmentDiscountQuantity": Decimal(quantity_nanos).scaleb(-9),
            "CommitmentDiscountUnit": "USD"}


def group_rows(g: Group, prices: UnitPrices | None, window: Window,
               effective: dict[str, int] | None = None, team: str | None = None
               ) -> Iterator[dict[str, Any]]:
    """The FOCUS rows of one group, as Python values (Decimal money, aware datetimes).

    Plan usage (``g.billing == "plan"``) is usage a seat covers: BilledCost 0, its list
    value in ListCost and ContractedCost, and in EffectiveCost its share of the covering
    seat's fee for the day (``effective``: nanos per kind; see ``seat_book``), with the
    seat as its commitment discount (status ``Used``)."""
    kinds, costs, qty = group_kinds(g, prices)
    day_start = _iso(g.day)
    start = max(day_start, window.since.astimezone(UTC))
    end = min(day_start + timedelta(days=1), window.until.astimezone(UTC))
    bp_start, bp_end = _month_bounds(day_start)
    tags: dict[str, str] = {"member": g.member}
    if g.agent is not None:
        tags["agent"] = g.agent
    tags.update(json.loads(g.attribution))
    tags_json = json.dumps(tags, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    tier_text = f", above {g.tier:,} input tokens" if g.tier else ""
    first = True
    for kind in kinds:
        unit, per = _PRICING_UNIT.get(kind, _TOKENS_UNIT)
        q = qty[kind]
        pricing_q = Decimal(q) / per
        nanos = costs.get(kind, 0)
        money = Decimal(nanos).scaleb(-9)
        sku = f"{g.provider}/{g.model}/{kind}"
        price_id = f"{sku}@{g.price_source}" + (f">{g.tier}" if g.tier else "")
        desc = f"{g.model} {_KIND_TEXT[kind]} ({g.provider}{tier_text})"
        if not g.priced:
            desc += ": unpriced, no price known; the cost is unknown, not zero"
        unit_price = _unit_price(nanos, pricing_q)
        details: dict[str, Any] = {"x_TokenKind": kind, "x_PriceSource": g.price_source}
        if g.tier:
            details["x_AboveInputTokens"] = g.tier
        billed, eff, extra = money, money, {}
        if g.billing == PLAN:
            eff_nanos = (effective or {}).get(kind, 0)
            billed, eff = Decimal(0), Decimal(eff_nanos).scaleb(-9)
            if g.plan:
                desc += f"; covered by the {g.plan} seat: plan usage at list price, not billed"
                extra = {"PricingCategory": "Committed",
                         **_commitment(team or g.team, g.plan, g.member, "Used", eff_nanos)}
            else:
                desc += "; included in a vendor's plan (its source said so), not billed"
                extra = {"PricingCategory": "Other"}
        yield {
            **_NULLS,
            "BilledCost": billed, "EffectiveCost": eff, "ListCost": money,
            "ContractedCost": money, "BillingCurrency": "USD",
            "BillingAccountId": g.team, "BillingAccountName": g.team,
            "SubAccountId": g.team, "SubAccountName": g.team,
            "BillingPeriodStart": bp_start, "BillingPeriodEnd": bp_end,
            "ChargePeriodStart": start, "ChargePeriodEnd": end,
            "ChargeCategory": "Usage", "ChargeClass": None, "ChargeDescription": desc,
            "ChargeFrequency": "Usage-Based", "PricingCategory": "Standard",
            "PricingQuantity": pricing_q, "PricingUnit": unit,
            "ListUnitPrice": unit_price, "ContractedUnitPrice": unit_price,
            # prices are in the billing currency: the pricing-currency columns repeat them
            "PricingCurrency": "USD", "PricingCurrencyListUnitPrice": unit_price,
            "PricingCurrencyContractedUnitPrice": unit_price,
            "PricingCurrencyEffectiveCost": eff,
            "ConsumedQuantity": Decimal(q), "ConsumedUnit": _CONSUMED_UNIT.get(kind, "Tokens"),
            "ServiceName": f"{g.provider} {g.model}", "ServiceCategory": "AI and Machine Learning",
            "ServiceSubcategory": "Generative AI", "ProviderName": g.provider,
            "PublisherName": g.provider, "InvoiceIssuerName": g.provider,
            "SkuId": sku, "SkuPriceId": price_id, "SkuMeter": _METER[kind],
            "SkuPriceDetails": json.dumps(details, sort_keys=True, separators=(",", ":")),
            "Tags": tags_json,
            "x_TokenKind": kind, "x_Model": g.model, "x_Member": g.member, "x_Agent": g.agent,
            "x_Unpriced": not g.priced, "x_PriceSource": g.price_source,
            "x_CostNanos": nanos if g.priced else None,
            "x_Calls": g.get("calls") if first else 0,
            "x_FailedCalls": g.get("failed") if first else 0, "x_ContextTier": g.tier,
            "x_Billing": g.billing, "x_Plan": g.plan or None,
            **extra,
        }
        first = False


def _unit_prices(g: Group, prices: _Prices) -> UnitPrices | None:
    return prices.get(g.provider, g.model, g.price_source, g.day) if g.priced else None


@dataclass
class SeatBook:
    """The window's seats: fees by member, plan and UTC day (``plans.fees.seat_days``,
    exact to the report's seats), and each fee spread over the plan-usage rows it covered
    that day: (group index, kind) -> EffectiveCost nanos. A seat-day that covered nothing
    is an ``Unused`` row carrying its whole fee. ``effective``: group index -> kind ->
    EffectiveCost nanos."""

    team: str
    days: list[SeatDay]
    used: set[int] = field(default_factory=set)
    effective: dict[int, dict[str, int]] = field(default_factory=dict)


def seat_book(groups: Sequence[Group], prices: _Prices, window: Window, team: str,
              plans: Plans | None) -> SeatBook:
    """Amortize each seat-day's fee over the rows of the calls it covered, by their list
    value (largest-remainder, so a seat-day's rows add up to its fee to the nano-dollar;
    rows of unpriced calls only, equally). FOCUS 1.2 asks purchased commitments to be
    amortized into the EffectiveCost of the usage they cover (DiscountHandling)."""
    days = seat_days(plans, window.since, window.until) if plans is not None else []
    book = SeatBook(team, days)
    index = {((d.start - _EPOCH) // timedelta(days=1), d.member, d.plan.name): i
             for i, d in enumerate(days)}
    covered: dict[int, list[tuple[int, str, int]]] = {}
    for gi, g in enumerate(groups):
        if g.billing != PLAN or not g.plan:
            continue
        i = index.get((g.day, g.member, g.plan))
        if i is None:
            continue
        kinds, costs, _qty = group_kinds(g, _unit_prices(g, prices))
        covered.setdefault(i, []).extend((gi, k, costs.get(k, 0)) for k in kinds)
    for i, rows in covered.items():
        weights = [c for _, _, c in rows]
        if sum(weights) <= 0:
            weights = [1] * len(rows)
        for (gi, kind, _c), share in zip(rows, split_exact(days[i].nanos, weights)):
            book.effective.setdefault(gi, {})[kind] = share
        book.used.add(i)
    return book


def _plan_provider(seat: SeatDay) -> str:
    """Who sells the seat, as well as the plan says: the provider (else the source) its
    coverage names, else the plan's name."""
    for c in seat.plan.covers:
        if c.provider != "*":
            return c.provider
    for c in seat.plan.covers:
        if c.source != "*":
            return c.source
    return seat.plan.name


def seat_rows(book: SeatBook) -> Iterator[dict[str, Any]]:
    """Per seat-day with a fee: the purchase (ChargeCategory ``Purchase``, ``Recurring``,
    BilledCost the prorated fee, EffectiveCost 0: it is amortized into the usage it
    covers) and, when it covered no calls, its ``Unused`` row (EffectiveCost the fee)."""
    for i, d in enumerate(book.days):
        if d.nanos <= 0:
            continue
        plan, fee = d.plan, Decimal(d.nanos).scaleb(-9)
        cid = commitment_id(book.team, plan.name, d.member)
        provider = _plan_provider(d)
        bp_start, bp_end = _month_bounds(datetime(d.start.year, d.start.month, d.start.day,
                                                  tzinfo=UTC))
        tags = json.dumps({"member": d.member, "plan": plan.name}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False)
        sku = f"teamcost/plans/{plan.name}"
        price = format_usd(plan.seat_nanos)
        common = {
            **dict.fromkeys(COLUMNS),   # consumed quantity and unit: null (not usage)
            "BillingCurrency": "USD",
            "BillingAccountId": book.team, "BillingAccountName": book.team,
            "SubAccountId": book.team, "SubAccountName": book.team,
            "BillingPeriodStart": bp_start, "BillingPeriodEnd": bp_end,
            "ChargePeriodStart": d.start, "ChargePeriodEnd": d.end,
            "ChargeClass": None, "PricingUnit": "Seats", "PricingCurrency": "USD",
            "ServiceName": plan.name, "ServiceCategory": "AI and Machine Learning",
            "ServiceSubcategory": "Generative AI", "ProviderName": provider,
            "PublisherName": provider, "InvoiceIssuerName": provider,
            "SkuId": sku, "SkuPriceId": f"{sku}@{plan.seat_nanos}", "SkuMeter": "Seat",
            "SkuPriceDetails": json.dumps({"x_MonthlyPriceNanos": plan.seat_nanos,
                                           "x_Plan": plan.name}, sort_keys=True,
                                          separators=(",", ":")),
            "Tags": tags, "ResourceId": cid, "ResourceName": f"{plan.name} seat of {d.member}",
            "ResourceType": "Seat",
            "x_TokenKind": None, "x_Model": None, "x_Member": d.member, "x_Agent": None,
            "x_Unpriced": False, "x_PriceSource": f"plan:{plan.name}", "x_Calls": 0,
            "x_FailedCalls": 0, "x_ContextTier": 0, "x_Billing": "seat", "x_Plan": plan.name,
        }
        yield {
            **common,
            "BilledCost": fee, "EffectiveCost": Decimal(0), "ListCost": fee,
            "ContractedCost": fee, "PricingCurrencyEffectiveCost": Decimal(0),
            "ChargeCategory": "Purchase", "ChargeFrequency": "Recurring",
            "ChargeDescription": f"{plan.name} seat ({price} per seat per month), prorated "
                                 "to this period",
            "PricingCategory": "Standard", "PricingQuantity": Decimal(1),
            "ListUnitPrice": fee, "ContractedUnitPrice": fee,
            "PricingCurrencyListUnitPrice": fee, "PricingCurrencyContractedUnitPrice": fee,
            "x_CostNanos": d.nanos,
            **_commitment(book.team, plan.name, d.member, None, d.nanos),
        }
        if i in book.used:
            continue
        zero = Decimal(0)
        yield {
            **common,
            "BilledCost": zero, "EffectiveCost": fee, "ListCost": zero,
            "ContractedCost": zero, "PricingCurrencyEffectiveCost": fee,
            "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based",
            "ChargeDescription": f"{plan.name} seat: unused in this period (it covered no "
                                 "calls), its prorated fee",
            "PricingCategory": "Committed", "PricingQuantity": zero,
            "ListUnitPrice": zero, "ContractedUnitPrice": zero,
            "PricingCurrencyListUnitPrice": zero, "PricingCurrencyContractedUnitPrice": zero,
            "x_CostNanos": 0,
            **_commitment(book.team, plan.name, d.member, "Unused", d.nanos),
        }


def rows_of(groups: Sequence[Group], prices: _Prices, window: Window,
            book: SeatBook | None = None) -> Iterator[dict[str, Any]]:
    """Every FOCUS row of ``groups`` (from ``collect_groups``), in their order, then the
    seats' rows (``book``)."""
    for gi, g in enumerate(groups):
        effective = book.effective.get(gi) if book is not None else None
        yield from group_rows(g, _unit_prices(g, prices), window, effective,
                              book.team if book is not None else None)
    if book is not None:
        yield from seat_rows(book)


# ---- writers ----

def _csv_cell(name: str, v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, Decimal):
        # always with a point: a column of whole numbers would read as an integer, and
        # FOCUS types these columns Decimal
        text = format(v.normalize(), "f") if v else "0"
        return text if "." in text else text + ".0"
    if isinstance(v, int):
        return v
    if name == "Tags":   # JSON: a leading quote would break it; it starts with "{"
        return v
    return spreadsheet_safe(v)


def write_csv(fh: IO[str], rows: Iterable[dict[str, Any]]) -> int:
    writer = csv.writer(fh, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    n = 0
    for row in rows:
        writer.writerow([_csv_cell(c, row[c]) for c in COLUMNS])
        n += 1
    return n


def write_parquet(path: Path, rows: Iterable[dict[str, Any]], batch: int = 50_000) -> int:
    n = 0
    with pq.ParquetWriter(path, PARQUET_SCHEMA) as writer:
        buf: list[dict[str, Any]] = []

        def flush() -> None:
            if buf:
                writer.write_table(pa.Table.from_pylist(buf, PARQUET_SCHEMA))
                buf.clear()
        for row in rows:
            buf.append(row)
            n += 1
            if len(buf) >= batch:
                flush()
        flush()
        if n == 0:
            writer.write_table(PARQUET_SCHEMA.empty_table())
    return n


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_focus(out_dir: Path, stem: str, rows: Callable[[], Iterator[dict[str, Any]]],
                formats: Sequence[str] = ("csv", "parquet")) -> tuple[list[Path], int]:
    """The FOCUS files ``<stem>-focus.csv`` / ``.parquet``, each written to a temporary
    name and renamed (a crash leaves the previous file or none); (paths, rows per file)."""
    written: list[Path] = []
    count = 0
    for fmt in formats:
        path = out_dir / f"{stem}-focus.{fmt}"
        tmp = _tmp(path)
        try:
            if fmt == "csv":
                with open(tmp, "w", encoding="utf-8", newline="") as fh:
                    count = write_csv(fh, rows())
                    fh.flush()
                    os.fsync(fh.fileno())
            else:
                count = write_parquet(tmp, rows())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(path)
    return written, count


def export_focus(config: Config, window: Window, out_dir: Path, *, source: str | None = None,
                 formats: Sequence[str] = ("csv", "parquet"),
                 chunk_rows: int = SCAN_CHUNK_ROWS, plans: Plans | None = None
                 ) -> tuple[list[Path], dict[str, int], str]:
    """Write the window's FOCUS files; (paths, totals, source used). The calls are read
    once, a chunk at a time; the rows (one per group and kind) are built from the groups,
    then the seats' rows of ``plans`` (None: the plans are unknown; every call without a
    billing tag is metered, as in the report)."""
    from teamcost.reports.frames import scan_calls

    chunks, used = scan_calls(config, window.since, window.until, source=source,
                              columns=_READ, chunk_rows=chunk_rows)
    pricer = Pricer(config.price_overrides, warn_unpriced=False)
    groups, prices = collect_groups(chunks, pricer, plans)
    del chunks
    book = seat_book(groups, prices, window, config.team, plans)

    paths, count = write_focus(out_dir, f"teamcost-{window.label}",
                               lambda: rows_of(groups, prices, window, book), formats)
    totals = {"calls": sum(g.get("calls") for g in groups),
              "cost_nanos": sum(g.get("cost_nanos") for g in groups),
              "unpriced_calls": sum(g.get("calls") for g in groups if not g.priced),
              "metered_nanos": sum(g.get("cost_nanos") for g in groups if g.billing != PLAN),
              "plan_usage_nanos": sum(g.get("cost_nanos") for g in groups
                                      if g.billing == PLAN),
              "seats_nanos": sum(d.nanos for d in book.days),
              "rows": count}
    return paths, totals, used


