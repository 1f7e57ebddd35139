"""Reading the rollups back from Firestore: cells for views, sums for budget checks.

What each read costs (Firestore bills a document returned by a query as one read, and
an aggregation one read per 1,000 index entries it matches, at least one):

- ``rollup_spend``: one aggregation query per five summed fields over the team's
  ledger-month documents of at most two or three months: 1 read for a day, week or month
  budget in UTC, 2 in a zone such as +05:30 or -08:00, up to 1,000 ledgers a month.
- ``fetch_cells``: one read per cell document changed since the caller's watermark.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from teamcost.sync.retry import Backoff, call_with_retry
from teamcost.sync.rollup_doc import (
    CELL_DIMS,
    METRICS,
    ROLLUPS,
    STATE,
    TOTALS,
    RollupWrite,
    budget_terms,
    zero_totals,
)
from teamcost.sync.wire import create_if_missing, run_query, run_query_cells

TIMEOUT_S = 30.0
MAX_AGGREGATIONS = 5        # Firestore's limit per aggregation query


def rollups_complete(client: Any, team: str, backoff: Backoff) -> bool:
    """True once the team's rollups count every call (new team, or migration done)."""
    snap = call_with_retry(lambda: client.collection(STATE).document(team).get(
        retry=None, timeout=TIMEOUT_S), f"reading team {team}'s rollup state", backoff)
    return bool(snap.exists and (snap.to_dict() or {}).get("complete") is True)


def rollup_spends(client: Any, team: str, windows: Sequence[tuple[datetime, datetime]],
                  backoff: Backoff, exact: Callable[[Any, str], int]
                  ) -> list[tuple[int, int]] | None:
    """(calls, cost_nanos) of the team's calls with start <= ts < end for each window,
    from the ledger-month rollups, in as few aggregation queries as the fields allow (a
    month budget and today together: one query, one read). None when a window is not on
    quarter-hours or the windows span more than two months."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    per_window = [budget_terms(s, e) for s, e in windows]
    if any(t is None for t in per_window):
        return None
    all_terms = [t for ts in per_window for t in ts or []]
    if not all_terms:
        return [(0, 0) for _ in windows]
    months = sorted({m for m, _, _ in all_terms})
    if _month_index(months[-1]) - _month_index(months[0]) > 2:
        return None       # field names are unique only within a few adjacent months
    wanted: list[str] = []
    for _, base, _ in all_terms:
        for metric in ("c", "n"):
            if f"{base}_{metric}" not in wanted:
                wanted.append(f"{base}_{metric}")
    sums: dict[str, int] = {}
    for i in range(0, len(wanted), MAX_AGGREGATIONS):
        part = wanted[i:i + MAX_AGGREGATIONS]
        # a range, not "in": the months are adjacent, and the emulator's sum() over an "in"
        # of two or more values answers 0
        q = (client.collection(TOTALS).where(filter=FieldFilter("team", "==", team))
             .where(filter=FieldFilter("month", ">=", months[0]))
             .where(filter=FieldFilter("month", "<=", months[-1])))
        agg: Any = q
        for j, f in enumerate(part):
            agg = agg.sum(f, alias=f"a{j}")
        rows = call_with_retry(partial(agg.get, retry=None, timeout=TIMEOUT_S),
                               f"summing team {team}'s spend", backoff)
        vals = {r.alias: r.value for r in rows[0]}
        for j, f in enumerate(part):
            sums[f] = exact(vals.get(f"a{j}"), f"sum({f})")
    out = []
    for terms in per_window:
        n = c = 0
        # a week's field is in both months' documents and the sum covers both: count it once
        for base, sign in dict.fromkeys((b, sg) for _, b, sg in terms or []):
            n += sign * sums[f"{base}_n"]
            c += sign * sums[f"{base}_c"]
        out.append((n, c))
    return out


def _month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7])


def ensure_totals(client: Any, writes: Sequence[RollupWrite], ensured: set[str],
                  lock: threading.Lock, backoff: Backoff,
                  on_retry: Callable[[int, BaseException], None] | None = None) -> None:
    """Create the ledger-month documents ``writes`` increment, all fields at 0, unless
    this process did already (see rollup_doc.zero_totals). Only zeros, so it need not be
    in the push's commit: a copy that exists already is left alone."""
    for w in writes:
        if w.collection != TOTALS:
            continue
        with lock:
            if w.doc_id in ensured:
                continue
        fields = {**w.static, **zero_totals(str(w.static["month"]))}
        call_with_retry(partial(create_if_missing, client, TOTALS, w.doc_id, fields, TIMEOUT_S),
                        "preparing a ledger-month rollup", backoff, on_retry)
        with lock:
            ensured.add(w.doc_id)


_COMPLETE: set[tuple[str, str]] = set()


def rollups_in_use(client: Any, team: str, backoff: Backoff) -> bool:
    """Whether the team's rollups count every call; once true it stays true, so it is
    remembered for the process (one read, not one per check)."""
    from teamcost.compat.firestore import database_path

    key = (database_path(client), team)
    if key in _COMPLETE:
        return True
    if rollups_complete(client, team, backoff):
        _COMPLETE.add(key)
        return True
    return False


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


CELL_LABELS = ("team", "member", "ledger_id", "day", *CELL_DIMS)


def fetch_cell_rows(client: Any, team: str, updated_after: datetime | None,
                    backoff: Backoff) -> list[tuple[Any, ...]]:
    """Like fetch_cells, decoded straight into rows (wire.run_query_cells): (doc id,
    *CELL_LABELS, packed slots, updated_at)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    q = client.collection(ROLLUPS).where(filter=FieldFilter("team", "==", team))
    if updated_after is not None:
        q = q.where(filter=FieldFilter("updated_at", ">", updated_after))
    q = q.order_by("updated_at")
    return call_with_retry(partial(run_query_cells, client, q, TIMEOUT_S, CELL_LABELS,
                                   METRICS), f"reading team {team}'s rollups", backoff)


def fetch_totals(client: Any, team: str, months: Sequence[str],
                 backoff: Backoff) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    q = (client.collection(TOTALS).where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("month", "in", list(months))))
    return [d for _, d in call_with_retry(lambda: run_query(client, q, TIMEOUT_S),
                                          f"reading team {team}'s ledger totals", backoff)]


__all__ = ["rollup_spends", "rollups_in_use", "fetch_cells", "fetch_totals", "rollups_complete", "budget_terms"]
