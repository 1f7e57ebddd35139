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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from teamcost.budget.spend import TIMEOUT_S, exact_aggregate
from teamcost.errors import TeamcostError
from teamcost.ledger import Ledger
from teamcost.plans.classify import PLAN, call_source, classify
from teamcost.plans.fees import seat_fees
from teamcost.plans.model import Plans
from teamcost.sync.mapping import COLLECTION
from teamcost.sync.retry import Backoff, call_with_retry

FIELDS = ["ts", "member", "provider", "model", "agent", "tags", "cost_nanos"]


@dataclass(frozen=True)
class Split:
    plan_usage_nanos: int = 0     # pushed and unpushed calls a plan covers, at list price
    seats_nanos: int = 0          # seat fees prorated to the period
    plans: str = "read"           # "read", "none" (the team has none) or "unknown"


def _aware(ts: Any) -> datetime:
    from teamcost.plans.model import _aware as aware
    return aware(ts)


def pushed_plan_usage(client: Any, team: str, plans: Plans, start: datetime, end: datetime,
                      backoff: Backoff) -> int:
    from google.cloud.firestore_v1.base_query import FieldFilter

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
        for a, b, _plan in plans.intervals(member):
            lo, hi = max(a, start), min(b, end) if b is not None else end
            if lo >= hi:
                continue
            q = (base.where(filter=FieldFilter("member", "==", member))
                 .where(filter=FieldFilter("ts", ">=", lo))
                 .where(filter=FieldFilter("ts", "<", hi)).select(FIELDS))
            docs = call_with_retry(_streamer(q), f"reading {member}'s calls under a plan",
                                   backoff)
            for snap in docs:
                d = snap.to_dict() or {}
                tags = d.get("tags") or {}
                bucket, rule = classify(member, _aware(d["ts"]), d.get("provider", ""),
                                        d.get("model", ""), call_source(d.get("agent"), tags),
                                        tags, plans)
                if bucket == PLAN and rule == "plan":   # tagged ones are summed above
                    total += int(d.get("cost_nanos") or 0)
    return total


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
          backoff: Backoff) -> Split:
    from teamcost.plans.store import get_plans
    try:
        plans = get_plans(client, team, backoff)
    except TeamcostError:
        return Split(plans="unknown")
    if not plans.plans:
        # no plan: only calls their source marked as included are plan usage
        plans_state = "none"
    else:
        plans_state = "read"
    usage = (pushed_plan_usage(client, team, plans, start, end, backoff)
             + unpushed_plan_usage(ledger, team, plans, start, end))
    return Split(usage, sum(seat_fees(plans, start, end).values()), plans_state)
