"""`teamcost verify`: recompute a window's rollups from the call documents and compare.

An admin reads the window's calls (every one: this is the audit, not a view) and the
rollup documents of the same UTC days, and compares them where folding cannot make them
differ: per (ledger, UTC day, quarter-hour) all eight metrics of the cells; per (ledger,
day, dimension, value) the metrics of every value the rollups did not fold into
"(other)"; and the budget sums (per day, per quarter-hour prefix) of the ledger-month
documents. Any difference is listed; none means every number a report, a budget check or
the dashboard takes from the rollups equals the calls', to the nano-dollar.

Packs (rollup_packs.py) are checked against the cell documents: every cell of the window's
days that a complete pack holds must exist, be no older than the pack says, and, when it
was not updated since, hold exactly the pack's identity and slots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from teamcost.models import CallRecord
from teamcost.sync.mapping import COLLECTION, ROLLED_UP, doc_to_record
from teamcost.sync.retry import Backoff, call_with_retry
from teamcost.sync.rollup_doc import (
    CELL_DIMS,
    METRICS,
    OTHER,
    ROLLUPS,
    SLOTS,
    TOTALS,
    CellRow,
    cell_from_doc,
    cells_from_calls,
    day_field,
    materialize,
    month_key,
    prefix_field,
    rollup_writes,
)
from teamcost.sync.wire import run_query

TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Difference:
    where: str         # e.g. "ledger L1 2026-12-01 q37" or "ledger-month L1 2026-12 d1201"
    metric: str
    rollups: int
    calls: int

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "metric": self.metric, "rollups": self.rollups,
                "calls": self.calls}


@dataclass
class VerifyResult:
    since: date
    until: date
    calls: int = 0
    cells: int = 0
    not_rolled_up: int = 0     # calls pushed before rollups and not migrated yet
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "calls": self.calls, "cells": self.cells,
                "not_rolled_up": self.not_rolled_up,
                "differences": [d.to_dict() for d in self.differences], "ok": self.ok}


Key = tuple[str, ...]


def _by_slot(cells: Iterable[CellRow]) -> dict[Key, list[int]]:
    out: dict[Key, list[int]] = defaultdict(lambda: [0] * len(METRICS))
    for c in cells:
        for q, m in c.slots.items():
            acc = out[(c.ledger_id, c.day.isoformat(), f"q{q:02d}")]
            for i, v in enumerate(m):
                acc[i] += v
    return out


def _by_value(cells: Iterable[CellRow]) -> dict[Key, list[int]]:
    out: dict[Key, list[int]] = defaultdict(lambda: [0] * len(METRICS))
    for c in cells:
        for dim in CELL_DIMS:
            acc = out[(c.ledger_id, c.day.isoformat(), dim, c.dims[dim])]
            for i, v in enumerate(c.totals()):
                acc[i] += v
    return out


def _diff(stored: Mapping[Key, list[int]], expected: Mapping[Key, list[int]],
          keys: Iterable[Key]) -> list[Difference]:
    out = []
    zero = [0] * len(METRICS)
    for k in sorted(set(keys)):
        a, b = stored.get(k, zero), expected.get(k, zero)
        for i, name in enumerate(METRICS):
            if a[i] != b[i]:
                out.append(Difference(" ".join(k), name, a[i], b[i]))
    return out


def compare(calls: list[CallRecord], cell_docs: Iterable[tuple[str, Mapping[str, Any]]],
            totals_docs: Iterable[Mapping[str, Any]], since: date, until: date
            ) -> list[Difference]:
    """Pure: the differences between stored rollups and what ``calls`` make them."""
    stored_cells = [cell_from_doc(i, d) for i, d in cell_docs
                    if since <= date.fromisoformat(str(d["day"])) < until]
    expected_cells = list(cells_from_calls(calls).values())
    s_slot, e_slot = _by_slot(stored_cells), _by_slot(expected_cells)
    diffs = _diff(s_slot, e_slot, [*s_slot, *e_slot])
    # per value: only where the rollups kept every value of that (ledger, day, dimension)
    s_val, e_val = _by_value(stored_cells), _by_value(expected_cells)
    folded = {k[:3] for k in s_val if k[3] == OTHER}
    keys = [k for k in [*s_val, *e_val] if k[:3] not in folded]
    diffs += _diff(s_val, e_val, keys)
    # budget sums
    exp_tot = {(d["ledger_id"], d["month"]): d for (coll, _), d in
               materialize(w for w in rollup_writes(calls) if w.collection == TOTALS).items()
               if coll == TOTALS}
    got_tot: dict[tuple[str, str], Mapping[str, Any]] = {}
    for d in totals_docs:
        got_tot[(str(d.get("ledger_id")), str(d.get("month")))] = d
    ledgers = {k[0] for k in [*exp_tot, *got_tot]}
    day = since
    while day < until:
        fields = [day_field(day)] + [prefix_field(day, q) for q in range(1, SLOTS)]
        for ledger in sorted(ledgers):
            g = got_tot.get((ledger, month_key(day)), {})
            e = exp_tot.get((ledger, month_key(day)), {})
            for base in fields:
                for metric in ("c", "n"):
                    f = f"{base}_{metric}"
                    a, b = int(g.get(f) or 0), int(e.get(f) or 0)
                    if a != b:
                        diffs.append(Difference(f"ledger-month {ledger} {month_key(day)}",
                                                f, a, b))
        day += timedelta(days=1)
    return diffs


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def verify(client: Any, team: str, since: date, until: date, backoff: Backoff) -> VerifyResult:
    """Compare the rollups of UTC days [since, until) with the team's calls of those days."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    res = VerifyResult(since, until)
    q = (client.collection(COLLECTION).where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("ts", ">=", _utc(since)))
         .where(filter=FieldFilter("ts", "<", _utc(until))))
    docs = call_with_retry(lambda: run_query(client, q, TIMEOUT_S),
                           f"reading team {team}'s calls", backoff)
    calls = [doc_to_record(d) for _, d in docs]
    res.calls = len(calls)
    res.not_rolled_up = sum(1 for _, d in docs if d.get(ROLLED_UP) is not True)
    cq = (client.collection(ROLLUPS).where(filter=FieldFilter("team", "==", team))
          .where(filter=FieldFilter("day", ">=", since.isoformat()))
          .where(filter=FieldFilter("day", "<", until.isoformat())))
    cells = call_with_retry(lambda: run_query(client, cq, TIMEOUT_S),
                            f"reading team {team}'s rollups", backoff)
    res.cells = len(cells)
    months = sorted({month_key(since + timedelta(days=i)) for i in range((until - since).days)})
    totals: list[dict[str, Any]] = []
    for i in range(0, len(months), 30):       # "in" takes at most 30 values
        tq = (client.collection(TOTALS).where(filter=FieldFilter("team", "==", team))
              .where(filter=FieldFilter("month", "in", months[i:i + 30])))
        totals += [d for _, d in call_with_retry(partial(run_query, client, tq, TIMEOUT_S),
                                                 f"reading team {team}'s ledger totals",
                                                 backoff)]
    res.differences = compare(calls, cells, totals, since, until)
    res.differences += verify_packs(client, team, since, until, cells, backoff)
    return res


def verify_packs(client: Any, team: str, since: date, until: date,
                 cells: Iterable[tuple[str, Mapping[str, Any]]],
                 backoff: Backoff) -> list[Difference]:
    """Differences between the complete packs that may hold cells of [since, until) and
    the cell documents (``cells``: those days' documents)."""
    import zlib
    from array import array

    from teamcost.sync.rollup_packs import (
        PackError,
        complete_packs,
        decode,
        list_packs,
        read_pack,
        to_us,
    )
    by_id = {doc_id: d for doc_id, d in cells}
    # a cell of day D is first written on D (a call's time is at most minutes ahead of its
    # push): packs ending a day before the window cannot hold its cells
    after = to_us(_utc(since) - timedelta(days=1))
    out: list[Difference] = []
    for p in complete_packs(list_packs(client, team, after, backoff)):
        where = f"pack {p.level} ({p.start}, {p.end}]"
        payload = read_pack(client, team, p, backoff)
        if payload is None:
            continue                       # pruned meanwhile
        try:
            rows = decode(team, payload, p.end)
        except PackError as exc:
            out.append(Difference(f"{where}: {exc}", "readable", 0, 1))
            continue
        for r in rows:
            if not since.isoformat() <= r[4] < until.isoformat():
                continue
            doc = by_id.get(r[0])
            if doc is None:
                out.append(Difference(f"{where} cell {r[0]}", "exists", 1, 0))
                continue
            u = doc.get("updated_at")
            stored_us = to_us(u) if isinstance(u, datetime) else 0
            if stored_us < r[-1]:
                out.append(Difference(f"{where} cell {r[0]}", "updated_us", r[-1], stored_us))
                continue
            if stored_us > r[-1]:
                continue                   # updated since the pack: the pack is older, fine
            cell = cell_from_doc(r[0], doc)
            if (cell.member, cell.ledger_id, cell.day.isoformat(),
                    *[cell.dims[d] for d in CELL_DIMS]) != tuple(r[2:5 + len(CELL_DIMS)]):
                out.append(Difference(f"{where} cell {r[0]}", "identity", 1, 0))
            flat = array("q")
            flat.frombytes(zlib.decompress(r[-2]))
            width = len(METRICS) + 1
            packed = {flat[i]: tuple(flat[i + 1:i + width]) for i in range(0, len(flat), width)}
            for q in sorted(set(packed) | set(cell.slots)):
                a = packed.get(q, (0,) * len(METRICS))
                b = cell.slots.get(q, (0,) * len(METRICS))
                for name, x, y in zip(METRICS, a, b, strict=True):
                    if x != y:
                        out.append(Difference(f"{where} cell {r[0]} q{q:02d}", name, x, y))
    return out
