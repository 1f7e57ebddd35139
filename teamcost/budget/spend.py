"""Team spend in a period: a Firestore aggregation plus this machine's unpushed calls.

Never downloads calls. Once the team's rollups count every call (teamcost_rollup_state
says complete: a new team after `teamcost rollups build`, or an old one after that
migration), the sum runs over the ledger-month rollups (teamcost/sync/rollups.py): one
aggregation read per check whatever the team's volume (two in a zone off UTC by a
fraction of a day, such as +05:30), up to 1,000 ledgers. Before that, and for a window
not on quarter-hours, ``count()`` and ``sum(cost_nanos)`` run over the calls' (team, ts)
index, billed one read per 1,000 calls in the window. Sums of integers are exact on the
server; cost_usd (a float) is never summed.

A call pushed whose local mark was lost (crash between commit and mark) is counted in
both terms until the next push marks it: the check can only over-count, never miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from teamcost.errors import BudgetError
from teamcost.ledger import Ledger
from teamcost.money import INT64_MAX, MAX_CALL_NANOS, SUM_EXACT_CALLS, format_usd
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


def pushed_spends(client: Any, team: str, windows: Sequence[tuple[datetime, datetime]],
                  backoff: Backoff) -> list[tuple[int, int]]:
    """(calls, sum of cost_nanos) of the team's documents with start <= ts < end, per
    window: from the rollups when they count every call, else from the calls."""
    from teamcost.sync.rollups import rollup_spends, rollups_in_use

    if rollups_in_use(client, team, backoff):
        got = rollup_spends(client, team, windows, backoff,
                            lambda v, what: exact_aggregate(v, what, team))
        if got is not None:
            return got
    return [calls_spend(client, team, s, e, backoff) for s, e in windows]


def pushed_spend(client: Any, team: str, start: datetime, end: datetime,
                 backoff: Backoff) -> tuple[int, int]:
    return pushed_spends(client, team, [(start, end)], backoff)[0]


def calls_spend(client: Any, team: str, start: datetime, end: datetime,
                backoff: Backoff) -> tuple[int, int]:
    """(calls, sum of cost_nanos) of the team's documents with start <= ts < end, summed
    over the call documents themselves."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    q = (client.collection(COLLECTION)
         .where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("ts", ">=", start))
         .where(filter=FieldFilter("ts", "<", end)))
    agg = q.count(alias="n").sum("cost_nanos", alias="s")
    rows = call_with_retry(lambda: agg.get(retry=None, timeout=TIMEOUT_S),
                           f"summing team {team}'s spend", backoff)
    vals = {r.alias: r.value for r in rows[0]}
    return (exact_aggregate(vals.get("n"), "count()", team),
            exact_aggregate(vals.get("s"), "sum(cost_nanos)", team))


def exact_aggregate(value: Any, what: str, team: str) -> int:
    """An aggregation result as an exact int; anything that is not one is a BudgetError.

    Firestore sums int64 values exactly, and once a sum overflows int64 it answers with a
    double: int() of that would be a wrong number that looks exact. 0.0 and None do mean
    0: the Python client reads a result as ``integer_value or double_value``, so an
    integer 0 (an empty range) arrives as 0.0.
    """
    if value is None or (type(value) is float and value == 0.0):
        return 0
    if type(value) is int and value >= 0:
        return value
    raise BudgetError(
        f"team {team}'s spend cannot be counted exactly: Firestore's {what} is {value!r}, "
        f"not an integer from 0 to {INT64_MAX} (a sum that large needs more than "
        f"{SUM_EXACT_CALLS:,} calls at the {format_usd(MAX_CALL_NANOS, 2)} a call maximum; look "
        "for forged calls in trinity_costs)")


def team_spend(client: Any, ledger: Ledger | None, team: str, start: datetime, end: datetime,
               backoff: Backoff) -> Spend:
    return team_spends(client, ledger, team, [(start, end)], backoff)[0]


def team_spends(client: Any, ledger: Ledger | None, team: str,
                windows: Sequence[tuple[datetime, datetime]], backoff: Backoff) -> list[Spend]:
    """Several windows at once (the agent's period and today): one aggregation query for
    all of them when the rollups answer."""
    out = []
    for (s, e), (n, nanos) in zip(windows, pushed_spends(client, team, windows, backoff),
                                  strict=True):
        un, us = ledger.unpushed_totals(s, e, team) if ledger is not None else (0, 0)
        out.append(Spend(n, nanos, un, us))
    return out
