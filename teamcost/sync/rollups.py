"""Reading the rollups back from Firestore: cells for views, sums for budget checks.

What each read costs (Firestore bills a document returned by a query as one read, and
an aggregation one read per 1,000 index entries it matches, at least one):

- ``rollup_spend``: one aggregation query per five summed fields over the team's
  ledger-month documents of at most two or three months: 1 read for a day, week or month
  budget in UTC, 2 in a zone such as +05:30 or -08:00, up to 1,000 ledgers a month.
- ``fetch_cells``: one read per cell document changed since the caller's watermark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from teamcost.sync.retry import Backoff, call_with_retry
from teamcost.sync.rollup_doc import ROLLUPS, STATE, TOTALS, Term, budget_terms
from teamcost.sync.wire import run_query

TIMEOUT_S = 30.0
MAX_AGGREGATIONS = 5        # Firestore's limit per aggregation query


def rollups_complete(client: Any, team: str, backoff: Backoff) -> bool:
    """True once the team's rollups count every call (new team, or migration done)."""
    snap = call_with_retry(lambda: client.collection(STATE).document(team).get(
        retry=None, timeout=TIMEOUT_S), f"reading team {team}'s rollup state", backoff)
    return bool(snap.exists and (snap.to_dict() or {}).get("complete") is True)


def _queries(terms: Sequence[Term]) -> list[tuple[list[str], list[tuple[str, int]]]]:
    """Group signed terms into aggregation queries over ``month in [...]``.

    Field names are unique across the months of one window (days and prefixes carry their
    MMDD, months their YYYYMM); a week's field is in both months' documents and is meant to
    be summed over both, so terms with the same (field, sign) are one aggregation.
    """
    months = sorted({m for m, _, _ in terms})
    fields: list[tuple[str, int]] = []
    for _, base, sign in terms:
        for metric in ("c", "n"):
            f = (f"{base}_{metric}", sign)
            if f not in fields:
                fields.append(f)
    return [(months, fields[i:i + MAX_AGGREGATIONS])
            for i in range(0, len(fields), MAX_AGGREGATIONS)]


def rollup_spend(client: Any, team: str, start: datetime, end: datetime,
                 backoff: Backoff, exact: Callable[[Any, str], int]
                 ) -> tuple[int, int] | None:
    """(calls, cost_nanos) of the team's calls with start <= ts < end from the ledger-month
    rollups, or None when the window is not on quarter-hours. ``exact`` turns one
    aggregation result into an exact int (or raises)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    terms = budget_terms(start, end)
    if terms is None:
        return None
    n = c = 0
    for months, fields in _queries(terms):
        q = (client.collection(TOTALS).where(filter=FieldFilter("team", "==", team))
             .where(filter=FieldFilter("month", "in", months)))
        agg = None
        for i, (f, _) in enumerate(fields):
            agg = (q if agg is None else agg).sum(f, alias=f"a{i}")
        assert agg is not None
        rows = call_with_retry(lambda agg=agg: agg.get(retry=None, timeout=TIMEOUT_S),
                               f"summing team {team}'s spend", backoff)
        vals = {r.alias: r.value for r in rows[0]}
        for i, (f, sign) in enumerate(fields):
            v = exact(vals.get(f"a{i}"), f"sum({f})")
            if f.endswith("_c"):
                c += sign * v
            else:
                n += sign * v
    return n, c


def fetch_cells(client: Any, team: str, updated_after: datetime | None,
                backoff: Backoff) -> list[tuple[str, dict[str, Any]]]:
    """The team's cell documents changed after ``updated_after`` (all when None)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    q = client.collection(ROLLUPS).where(filter=FieldFilter("team", "==", team))
    if updated_after is not None:
        q = q.where(filter=FieldFilter("updated_at", ">", updated_after))
    q = q.order_by("updated_at")
    return call_with_retry(lambda: run_query(client, q, TIMEOUT_S),
                           f"reading team {team}'s rollups", backoff)


def fetch_totals(client: Any, team: str, months: Sequence[str],
                 backoff: Backoff) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    q = (client.collection(TOTALS).where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("month", "in", list(months))))
    return [d for _, d in call_with_retry(lambda: run_query(client, q, TIMEOUT_S),
                                          f"reading team {team}'s ledger totals", backoff)]


__all__ = ["rollup_spend", "fetch_cells", "fetch_totals", "rollups_complete", "budget_terms"]
