"""Team spend in a period: a Firestore aggregation plus this machine's unpushed calls.

Never downloads calls: ``count()`` and ``sum(cost_nanos)`` run on the server over the
(team, ts) index, so the cost of a check does not grow with the team's history. Sums of
integers are exact on the server; cost_usd (a float) is never summed.

A call pushed whose local mark was lost (crash between commit and mark) is counted in
both terms until the next push marks it: the check can only over-count, never miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from teamcost.ledger import Ledger
from teamcost.sync.mapping import COLLECTION
from teamcost.sync.retry import Backoff, call_with_retry

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Spend:
    pushed_calls: int
    pushed_nanos: int
    unpushed_calls: int
    unpushed_nanos: int

    @property
    def nanos(self) -> int:
        return self.pushed_nanos + self.unpushed_nanos


def pushed_spend(client: Any, team: str, start: datetime, end: datetime,
                 backoff: Backoff) -> tuple[int, int]:
    """(calls, sum of cost_nanos) of the team's documents with start <= ts < end."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    q = (client.collection(COLLECTION)
         .where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("ts", ">=", start))
         .where(filter=FieldFilter("ts", "<", end)))
    agg = q.count(alias="n").sum("cost_nanos", alias="s")
    rows = call_with_retry(lambda: agg.get(retry=None, timeout=TIMEOUT_S),
                           f"summing team {team}'s spend", backoff)
    vals = {r.alias: r.value for r in rows[0]}
    # an empty range sums to 0 (the emulator may say null)
    return int(vals.get("n") or 0), int(vals.get("s") or 0)


def team_spend(client: Any, ledger: Ledger | None, team: str, start: datetime, end: datetime,
               backoff: Backoff) -> Spend:
    n, s = pushed_spend(client, team, start, end, backoff)
    un, us = ledger.unpushed_totals(start, end, team) if ledger is not None else (0, 0)
    return Spend(n, s, un, us)
