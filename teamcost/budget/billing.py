"""What a budget counts: metered spend plus the seat fees of the period, not plan usage.

A budget period's spend is ``sum(cost_nanos)`` (spend.py, server-side) minus the plan usage
in it, plus the seats' fees prorated to it (teamcost.plans.fees). Plan usage is found
without reading the team's history:

- calls whose source said ``billing=plan``: one more server-side ``sum(cost_nanos)`` over
  (team, tags.billing, ts) (firestore.indexes.json);
- calls without that word from members holding a plan: only their calls within their plan
  spans are read (the fields classification needs), and classified
  (teamcost.plans.classify); the others are metered;
- this machine's unpushed calls of the period: classified one by one.

When the plans cannot be read the budget counts every call as before (all of cost_nanos,
no seats) and the status says the plans are unknown.

Reading the pushed part again only when it can have changed (``UsageMemo``, kept per
process by the agent's caller): call documents are create-only (firestore.rules: no update,
no delete), so the set of a team's calls in a fixed window only grows, and a count taken
later is never smaller. If a window's count equals the count under which a value was
remembered, the set is the same one, whatever pushes happened in between: a value computed
from reads each of which saw a set S_i with S_then <= S_i <= S_now and |S_then| = |S_now| was
computed over exactly S_now. So:

- the whole pushed plan usage of the period is reused when the period (start, end), the
  plans (a hash of their content) and the period's pushed-call count are those of the
  previous check: the count is the one the check's own spend aggregation made
  (``Spend.pushed_calls``: rollups written in the same atomic commit as the calls they count,
  or ``count()`` over the calls), so an idle check reads nothing for plan usage. (The
  same premise as the spend itself: once the rollups are complete, every call is pushed
  by a rollup-aware client; `teamcost verify` audits that);
- otherwise the billing=plan sum is read again (one aggregation), and each plan span of a
  member is checked with ``count()`` of that member's calls in it (one aggregation, 1 read
  per 1,000): unchanged, its usage is reused. Changed, the span is halved (on whole UTC
  hours, ``LEAF``) and each half counted, down to the parts whose count changed, and only
  those are streamed: an active member's new calls of the last hour cost about two counts
  per level (about ten levels for a month) and the hour's calls, not the month's. Every
  part remembers (count, usage) by the same argument as above, so a late push into an old
  hour is found and read like a new one. A ``ts`` high-water mark would not be exact (an
  offline machine pushes old calls late); counts are.

Unpushed calls are local and free to read: always classified again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from teamcost.budget.spend import TIMEOUT_S, exact_aggregate
from teamcost.errors import TeamcostError
from teamcost.ledger import Ledger
from teamcost.plans.classify import PLAN, call_source, classify
from teamcost.plans.fees import seat_fees
from teamcost.plans.model import Plans
from teamcost.plans.model import _aware as aware_utc
from teamcost.sync.mapping import COLLECTION
from teamcost.sync.retry import Backoff, call_with_retry

FIELDS = ["ts", "member", "provider", "model", "agent", "tags", "cost_nanos"]
LEAF = timedelta(hours=1)        # the smallest part of a plan span counted on its own
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Split:
    plan_usage_nanos: int = 0     # pushed and unpushed calls a plan covers, at list price
    seats_nanos: int = 0          # seat fees prorated to the period
    plans: str = "read"           # "read", "none" (the team has none) or "unknown"


def plans_digest(plans: Plans) -> str:
    """A hash of the plans' content: plan definitions and seat history."""
    text = json.dumps(plans.to_doc(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class UsageMemo:
    """What one agent knows of the pushed plan usage of its current period (module doc)."""

    window: tuple[datetime, datetime, str] | None = None   # (start, end, plans digest)
    pushed_calls: int = -1          # the period's pushed-call count the usage is exact for
    usage_nanos: int = 0
    # (member, part start, part end) -> (calls, their plan usage) for the non-empty parts of
    # each plan span (a part missing under a remembered one held no call)
    spans: dict[tuple[str, datetime, datetime], tuple[int, int]] = field(default_factory=dict)


def pushed_plan_usage(client: Any, team: str, plans: Plans, start: datetime, end: datetime,
                      backoff: Backoff, memo: UsageMemo | None = None,
                      pushed_calls: int | None = None) -> int:
    """The plan usage of the team's pushed calls with start <= ts < end. With ``memo`` and
    the period's pushed-call count, reads only what can have changed (module doc)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    if memo is not None:
        window = (start, end, plans_digest(plans))
        if memo.window != window:
            memo.window, memo.pushed_calls, memo.spans = window, -1, {}
        elif pushed_calls is not None and memo.pushed_calls == pushed_calls:
            return memo.usage_nanos

    base = (client.collection(COLLECTION).where(filter=FieldFilter("team", "==", team)))
    tagged = (base.where(filter=FieldFilter("tags.billing", "==", PLAN))
              .where(filter=FieldFilter("ts", ">=", start))
              .where(filter=FieldFilter("ts", "<", end)))
    agg = tagged.sum("cost_nanos", alias="s")
    rows = call_with_retry(lambda: agg.get(retry=None, timeout=TIMEOUT_S),
                           f"summing team {team}'s plan usage", backoff)
    total = exact_aggregate({r.alias: r.value for r in rows[0]}.get("s"),
                            "sum(cost_nanos) of billing=plan", team)
    for member in plans.members():
        for lo, hi in _held(plans, member, start, end):
            span = _Span(base, member, plans, team, backoff,
                         memo.spans if memo is not None else {})
            total += span.usage(lo, hi, span.spans.get((member, lo, hi)))
    if memo is not None and pushed_calls is not None:
        memo.pushed_calls, memo.usage_nanos = pushed_calls, total
    return total


def _held(plans: Plans, member: str, start: datetime, end: datetime
          ) -> list[tuple[datetime, datetime]]:
    """The disjoint spans within [start, end) in which ``member`` holds at least one plan:
    a member holding two plans at once has each call read (and counted) once."""
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted((max(a, start), min(b, end) if b is not None else end)
                       for a, b, _plan in plans.intervals(member)):
        if a >= b:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _getter(agg: Any) -> Callable[[], Any]:
    def get() -> Any:
        return agg.get(retry=None, timeout=TIMEOUT_S)
    return get


def _split_at(lo: datetime, hi: datetime) -> tuple[datetime | None, int]:
    """(a LEAF boundary strictly inside (lo, hi) near its middle, or None for a leaf; how
    many halvings lie below)."""
    first = (lo - _EPOCH) // LEAF + 1                 # the first boundary after lo
    last = -((_EPOCH - hi) // LEAF) - 1               # the last boundary before hi
    if first > last:
        return None, 0
    return _EPOCH + (first + last) // 2 * LEAF, (last - first + 2).bit_length()


@dataclass
class _Span:
    """One member's calls in one plan span, read only where their count changed."""

    base: Any
    member: str
    plans: Plans
    team: str
    backoff: Backoff
    spans: dict[tuple[str, datetime, datetime], tuple[int, int]]

    def _query(self, lo: datetime, hi: datetime) -> Any:
        from google.cloud.firestore_v1.base_query import FieldFilter
        return (self.base.where(filter=FieldFilter("member", "==", self.member))
                .where(filter=FieldFilter("ts", ">=", lo))
                .where(filter=FieldFilter("ts", "<", hi)))

    def _count(self, lo: datetime, hi: datetime) -> int:
        agg = self._query(lo, hi).count(alias="n")
        got = call_with_retry(_getter(agg), f"counting {self.member}'s calls under a plan",
                              self.backoff)
        return exact_aggregate({r.alias: r.value for r in got[0]}.get("n"),
                               "count() of a member's calls under a plan", self.team)

    def usage(self, lo: datetime, hi: datetime, known: tuple[int, int] | None) -> int:
        """Plan usage of [lo, hi); ``known``: its remembered (count, usage), None when
        nothing is known. Counted first when known: equal counts, the same calls."""
        n = None
        if known is not None:
            n = self._count(lo, hi)
            if n == known[0]:
                return known[1]
        mid, levels = _split_at(lo, hi)
        # new, a leaf, or so few calls that reading them costs less than halving
        if n is None or mid is None or known is None or known[0] == 0 or n <= 2 * levels:
            return self._stream(lo, hi)
        total = sum(self.usage(a, b, self.spans.get((self.member, a, b), (0, 0)))
                    for a, b in ((lo, mid), (mid, hi)))
        # n was counted before the halves were read: the usage covers at least those n
        # calls, and a later equal count proves it covers exactly them (module doc)
        self.spans[(self.member, lo, hi)] = (n, total)
        return total

    def _stream(self, lo: datetime, hi: datetime) -> int:
        docs = call_with_retry(_streamer(self._query(lo, hi).select(FIELDS)),
                               f"reading {self.member}'s calls under a plan", self.backoff)
        items = []
        for snap in docs:
            d = snap.to_dict() or {}
            tags = d.get("tags") or {}
            ts = aware_utc(d["ts"])
            bucket, rule = classify(self.member, ts, d.get("provider", ""),
                                    d.get("model", ""), call_source(d.get("agent"), tags),
                                    tags, self.plans)
            # tagged ones are summed apart (billing=plan)
            items.append((ts, int(d.get("cost_nanos") or 0)
                          if bucket == PLAN and rule == "plan" else 0))
        self._remember(lo, hi, items)
        return sum(u for _, u in items)

    def _remember(self, lo: datetime, hi: datetime, items: list[tuple[datetime, int]]) -> None:
        """(count, usage) of [lo, hi) and of every non-empty part below it, from one read:
        each exact for the calls read (sets only grow, so every part remembered before
        is non-empty again here and replaced)."""
        key = (self.member, lo, hi)
        if not items:
            self.spans.pop(key, None)
            return
        self.spans[key] = (len(items), sum(u for _, u in items))
        mid, _ = _split_at(lo, hi)
        if mid is not None:
            self._remember(lo, mid, [i for i in items if i[0] < mid])
            self._remember(mid, hi, [i for i in items if i[0] >= mid])


def _streamer(q: Any) -> Any:
    def read() -> list[Any]:
        return list(q.stream(retry=None, timeout=TIMEOUT_S))
    return read


def unpushed_plan_usage(ledger: Ledger | None, team: str, plans: Plans, start: datetime,
                        end: datetime) -> int:
    if ledger is None:
        return 0
    total, after = 0, 0
    while True:
        page = ledger.unpushed(limit=5000, after_seq=after)
        if not page:
            return total
        for seq, rec in page:
            after = seq
            if rec.team != team or not start <= rec.ts < end:
                continue
            bucket, _ = classify(rec.member, rec.ts, rec.provider, rec.model,
                                 call_source(rec.agent, rec.tags), rec.tags, plans)
            if bucket == PLAN:
                total += rec.cost_nanos


def split(client: Any, ledger: Ledger | None, team: str, start: datetime, end: datetime,
          backoff: Backoff, *, plans_of: Callable[[], Plans] | None = None,
          memo: UsageMemo | None = None, pushed_calls: int | None = None) -> Split:
    """``plans_of``: how to get the plans (default: read the document); ``memo`` and
    ``pushed_calls`` (the period's count from the same check): see pushed_plan_usage."""
    from teamcost.plans.store import get_plans
    try:
        plans = plans_of() if plans_of is not None else get_plans(client, team, backoff)
    except TeamcostError:
        return Split(plans="unknown")
    if not plans.plans:
        # no plan: only calls their source marked as included are plan usage
        plans_state = "none"
    else:
        plans_state = "read"
    usage = (pushed_plan_usage(client, team, plans, start, end, backoff, memo, pushed_calls)
             + unpushed_plan_usage(ledger, team, plans, start, end))
    return Split(usage, sum(seat_fees(plans, start, end).values()), plans_state)
