"""``teamcost reprice``: price this ledger's unpriced calls once a price is known.

A call whose model no price covered is recorded unpriced (cost 0, ``priced = false``) and
reported as such. When genai-prices learns the model (a newer release) or the config gains
a price override, ``reprice`` prices those calls from their stored tokens (and the billed
extras in their tags: one-hour cache writes, web searches) at the prices in force at each
call's time.

How this stays honest in an append-only ledger:

- Only calls not yet pushed change, and of them only ``cost_nanos``, ``priced`` and
  ``price_source``: one UPDATE per call, all in one transaction, each guarded by
  ``priced = 0 AND pushed_at IS NULL`` so a call pushed (or priced) in the meantime is
  left alone. Tokens, time, ids and tags never change.
- A pushed call is immutable (Firestore documents are create-only, firestore.rules forbid
  updates): it stays unpriced everywhere, is counted here as such, and every report keeps
  showing it as unpriced with its tokens.
- A push already under way when the reprice commits wins: the push marks each row with
  the price fields it sent (``Ledger.mark_pushed``), and a push that meets its own earlier
  unpriced copy takes that copy back (teamcost.sync.push), so the ledger never holds a
  price Firestore does not have.
- Priced calls are never repriced: a cost once recorded is the cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from teamcost.config import Config
from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger
from teamcost.models import CallRecord, check_str
from teamcost.money import nanos_to_usd
from teamcost.pricing import Pricer, extras_from_tags


@dataclass
class ModelReprice:
    """One model's unpriced calls: what got a price, what did not, and why."""

    provider: str
    model: str
    repriced: int = 0
    cost_nanos: int = 0                  # of the calls repriced now
    price_source: str = ""               # of the calls repriced now
    unpriced: int = 0                    # not pushed, and still no price known
    unpriced_tokens: int = 0
    pushed_unpriced: int = 0             # pushed unpriced: immutable, stay unpriced
    pushed_unpriced_tokens: int = 0
    skipped: int = 0                     # pushed or priced by another process meanwhile

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "cost_usd": nanos_to_usd(self.cost_nanos)}


@dataclass
class RepriceResult:
    model: str | None                    # the --model filter, if any
    models: list[ModelReprice] = field(default_factory=list)

    @property
    def repriced(self) -> int:
        return sum(m.repriced for m in self.models)

    @property
    def cost_nanos(self) -> int:
        return sum(m.cost_nanos for m in self.models)

    @property
    def unpriced(self) -> int:
        return sum(m.unpriced for m in self.models)

    @property
    def pushed_unpriced(self) -> int:
        return sum(m.pushed_unpriced for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "repriced": self.repriced, "cost_nanos": self.cost_nanos,
                "cost_usd": nanos_to_usd(self.cost_nanos), "unpriced": self.unpriced,
                "pushed_unpriced": self.pushed_unpriced,
                "pushed_unpriced_tokens": sum(m.pushed_unpriced_tokens for m in self.models),
                "models": [m.to_dict() for m in self.models]}


def _tokens(rec: CallRecord) -> int:
    return rec.input_tokens + rec.output_tokens + rec.cache_read_tokens + rec.cache_write_tokens


def reprice(config: Config, ledger: Ledger | None = None, *,
            model: str | None = None) -> RepriceResult:
    """Price this ledger's unpriced, unpushed calls (of ``model``, or all) from the current
    price table and ``config``'s overrides; report what stays unpriced."""
    if model is not None:
        check_str("model", model)
    pricer = Pricer(config.price_overrides, warn_unpriced=False)   # the result lists them
    led = ledger if ledger is not None else Ledger.for_config(config)
    try:
        per: dict[tuple[str, str], ModelReprice] = {}
        pending: dict[str, tuple[ModelReprice, int, str]] = {}
        for rec, pushed in led.unpriced(model):
            m = per.setdefault((rec.provider, rec.model), ModelReprice(rec.provider, rec.model))
            if pushed:
                m.pushed_unpriced += 1
                m.pushed_unpriced_tokens += _tokens(rec)
                continue
            price = _price(pricer, rec)
            if price is None:
                m.unpriced += 1
                m.unpriced_tokens += _tokens(rec)
            else:
                pending[rec.call_id] = (m, *price)
        changed = set(led.set_prices((cid, nanos, source)
                                     for cid, (_, nanos, source) in pending.items()))
    finally:
        if ledger is None:
            led.close()
    for cid, (m, nanos, source) in pending.items():
        if cid in changed:
            m.repriced += 1
            m.cost_nanos += nanos
            m.price_source = source
        else:                        # pushed (or priced) between reading it and now
            m.skipped += 1
    return RepriceResult(model, sorted(per.values(), key=lambda m: (m.provider, m.model)))


def _price(pricer: Pricer, rec: CallRecord) -> tuple[int, str] | None:
    """(cost_nanos, price_source) of a stored call at its own time, or None if unpriced."""
    w1h, searches = extras_from_tags(rec.tags)
    try:
        price = pricer.price(None if rec.provider == "unknown" else rec.provider, rec.model,
                             rec.input_tokens, rec.output_tokens, rec.cache_read_tokens,
                             rec.cache_write_tokens,
                             cache_write_1h_tokens=min(w1h, rec.cache_write_tokens),
                             web_search_requests=searches, ts=rec.ts)
    except InvalidValue:  # pragma: no cover - stored calls were validated when recorded
        return None
    return (price.cost_nanos, price.source) if price.priced else None
