"""Rollup documents: what a push commit adds to them, as pure data (no I/O).

Two kinds of rollup document are written in the same atomic commit as the call
documents they count (teamcost/sync/push.py), so a rollup counts a call iff the
call's document exists:

- a **cell** (``teamcost_rollups``): one per (team, member, ledger, UTC day, cell), where
  the cell is the call's values of the report dimensions (provider, model, agent,
  session_id and the tags project, repo, branch, ticket, pr). It holds the day's totals
  and, under ``s``, one slot per UTC quarter-hour that had calls (``s.q00`` .. ``s.q95``),
  each with the ten metrics (calls, four token kinds, cost_nanos, unpriced and failed
  calls, unpriced input and output tokens). Quarter-hours make a window in any time zone exact
  (every real offset, +05:30 and +05:45 included, is a multiple of 15 minutes), while a
  document per day keeps the count near members x days x cells.
- a **ledger-month** (``teamcost_ledger_totals``): one per (team, member, ledger, UTC
  month): the cost and calls of the month, of each UTC day (``dMMDD``), of each ISO week
  part (``wGGGGWW``), and prefix sums per day (``pMMDD_QQ``: the day's quarter-hours
  before QQ). A budget check of any period in any zone is a signed sum of a few of these
  fields over the team's ledgers: one aggregation query per five fields, whatever the
  volume (see ``budget_terms``).

Every document has one writer in normal use (its ledger's pusher), so it takes at most
one write per push, far under Firestore's ~1 write/s per document.

Distinct values are bounded: per (ledger, UTC day, dimension) at most ``MAX_VALUES``
values get their own cells; later ones fold into ``OTHER``. Folding moves a call to
another cell, never out of the totals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from teamcost.models import CallRecord

ROLLUPS = "teamcost_rollups"
TOTALS = "teamcost_ledger_totals"
MARKS = "teamcost_rollup_marks"      # one per call counted by the migration
STATE = "teamcost_rollup_state"      # {team}: complete = rollups count every call

TAG_DIMS = ("project", "repo", "branch", "ticket", "pr")
RECORD_DIMS = ("provider", "model", "agent", "session_id")
CELL_DIMS = (*RECORD_DIMS, *TAG_DIMS)
# what reports may group by from rollups
DIMENSIONS = ("member", "ledger_id", *CELL_DIMS)
METRICS = ("n", "i", "o", "cr", "cw", "c", "u", "f", "ui", "uo")
METRIC_NAMES = {"n": "calls", "i": "input_tokens", "o": "output_tokens",
                "cr": "cache_read_tokens", "cw": "cache_write_tokens", "c": "cost_nanos",
                "u": "unpriced_calls", "f": "failed_calls",
                "ui": "unpriced_input_tokens", "uo": "unpriced_output_tokens"}
SLOT = timedelta(minutes=15)
SLOTS = 96
NONE = ""                 # the dimension has no value (stored as the empty string)
OTHER = "(other)"         # values past MAX_VALUES in a (ledger, day, dimension)
MAX_VALUES = 50
# Firestore allows 500 field transforms per document per commit; keep well below
MAX_TRANSFORMS = 450
MAX_WRITES = 500          # writes per commit (calls + rollups)

Cell = tuple[str, ...]    # values of CELL_DIMS, NONE when absent
Fold = Callable[[str, str, str, str], str]   # (ledger day, dimension, value, call_id) -> value


def slot_of(ts: datetime) -> tuple[date, int]:
    """UTC day and quarter-hour (0..95) of an instant."""
    t = ts.astimezone(UTC)
    return t.date(), t.hour * 4 + t.minute // 15


def metrics_of(rec: CallRecord) -> tuple[int, ...]:
    unpriced = not rec.priced
    return (1, rec.input_tokens, rec.output_tokens, rec.cache_read_tokens,
            rec.cache_write_tokens, rec.cost_nanos, int(unpriced), int(not rec.success),
            rec.input_tokens if unpriced else 0, rec.output_tokens if unpriced else 0)


def raw_value(rec: CallRecord, dim: str) -> str:
    if dim in TAG_DIMS:
        v = rec.tags.get(dim)
    else:
        v = getattr(rec, dim)
    return NONE if v is None else str(v)


def cell_of(rec: CallRecord, fold: Fold | None = None) -> Cell:
    day = slot_of(rec.ts)[0].isoformat()
    out = []
    for dim in CELL_DIMS:
        v = raw_value(rec, dim)
        if fold is not None and v != NONE:
            v = fold(day, dim, v, rec.call_id)
        out.append(v)
    return tuple(out)


def _h(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def owner_prefix(member: str) -> str:
    """The first part of every rollup document id of ``member``: firestore.rules checks it
    (hashing.sha256 of the uid), so nobody can create a document another member's push
    would later have to update."""
    return hashlib.sha256(member.encode()).hexdigest()[:16]


def cell_id(team: str, member: str, ledger_id: str, day: date, cell: Cell) -> str:
    return f"{owner_prefix(member)}-{_h(team, ledger_id, day.isoformat(), *cell)[:40]}"


def totals_id(team: str, member: str, ledger_id: str, month: str) -> str:
    return f"{owner_prefix(member)}-{_h(team, ledger_id, month)[:40]}"


def month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def day_field(d: date) -> str:
    return f"d{d.month:02d}{d.day:02d}"


def week_field(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"w{y:04d}{w:02d}"


def month_field(d: date) -> str:
    return f"m{d.year:04d}{d.month:02d}"


def prefix_field(d: date, q: int) -> str:
    return f"p{d.month:02d}{d.day:02d}_{q:02d}"


def zero_totals(month: str) -> dict[str, int]:
    """Every summed field of a ledger-month document, at 0.

    Firestore counts a document in an aggregation query with several sum()s only if it has
    every summed field (documented, and the emulator does the same), so each ledger-month
    document is created with all of them before its first increment; then one query sums
    the month, today and a zone's edges together.
    """
    y, m = int(month[:4]), int(month[5:7])
    first = date(y, m, 1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    bases = [month_field(first)]
    d = first
    while d < nxt:
        bases += [day_field(d), week_field(d)]
        bases += [prefix_field(d, q) for q in range(1, SLOTS)]
        d += timedelta(days=1)
    return {f"{b}_{k}": 0 for b in dict.fromkeys(bases) for k in ("c", "n")}


@dataclass
class RollupWrite:
    """One rollup document's part of a commit: identity fields and increments."""

    collection: str
    doc_id: str
    static: dict[str, Any]
    incs: dict[str, int] = field(default_factory=dict)   # field path -> increment

    def add(self, path: str, v: int) -> None:
        if v:
            self.incs[path] = self.incs.get(path, 0) + v


def _cell_write(team: str, member: str, ledger_id: str, day: date, cell: Cell) -> RollupWrite:
    static: dict[str, Any] = {"team": team, "member": member, "ledger_id": ledger_id,
                              "day": day.isoformat()}
    static.update(zip(CELL_DIMS, cell, strict=True))
    return RollupWrite(ROLLUPS, cell_id(team, member, ledger_id, day, cell), static)


def _totals_write(team: str, member: str, ledger_id: str, month: str) -> RollupWrite:
    return RollupWrite(TOTALS, totals_id(team, member, ledger_id, month),
                       {"team": team, "member": member, "ledger_id": ledger_id,
                        "month": month})


class RollupBatch:
    """The rollup writes that count a set of calls (one commit's worth)."""

    def __init__(self, fold: Fold | None = None) -> None:
        self.fold = fold
        self.writes: dict[tuple[str, str], RollupWrite] = {}
        self.calls = 0

    def _get(self, w: RollupWrite) -> RollupWrite:
        return self.writes.setdefault((w.collection, w.doc_id), w)

    def add(self, rec: CallRecord) -> None:
        day, q = slot_of(rec.ts)
        m = metrics_of(rec)
        cw = self._get(_cell_write(rec.team, rec.member, rec.ledger_id, day,
                                   cell_of(rec, self.fold)))
        for name, v in zip(METRICS, m, strict=True):
            cw.add(name, v)
            cw.add(f"s.q{q:02d}.{name}", v)
        tw = self._get(_totals_write(rec.team, rec.member, rec.ledger_id, month_key(day)))
        cost, n = rec.cost_nanos, 1
        for base in (month_field(day), day_field(day), week_field(day)):
            tw.add(f"{base}_c", cost)
            tw.add(f"{base}_n", n)
        for k in range(q + 1, SLOTS):
            tw.add(f"{prefix_field(day, k)}_c", cost)
            tw.add(f"{prefix_field(day, k)}_n", n)
        self.calls += 1

    def transforms(self) -> int:
        """The largest number of field transforms one document takes in this commit."""
        return max((len(w.incs) + 1 for w in self.writes.values()), default=0)

    def __len__(self) -> int:
        return len(self.writes)


def rollup_writes(recs: Iterable[CallRecord], fold: Fold | None = None) -> list[RollupWrite]:
    b = RollupBatch(fold)
    for r in recs:
        b.add(r)
    return list(b.writes.values())


def chunk_for_commit(recs: Sequence[CallRecord], fold: Fold | None = None,
                     max_writes: int = MAX_WRITES,
                     max_transforms: int = MAX_TRANSFORMS) -> list[list[CallRecord]]:
    """Split ``recs`` so each commit (its creates plus its rollup writes) stays within
    Firestore's limits. Any split is as exact as any other: each commit counts exactly the
    calls it creates."""
    chunks: list[list[CallRecord]] = []
    cur: list[CallRecord] = []
    batch = RollupBatch(fold)
    for rec in recs:
        trial = RollupBatch(fold)
        trial.writes = {k: RollupWrite(w.collection, w.doc_id, w.static, dict(w.incs))
                        for k, w in batch.writes.items()} if cur else {}
        trial.add(rec)
        if cur and (len(cur) + 1 + len(trial) > max_writes
                    or trial.transforms() > max_transforms):
            chunks.append(cur)
            cur, batch = [], RollupBatch(fold)
            batch.add(rec)
        else:
            batch = trial
        cur.append(rec)
    if cur:
        chunks.append(cur)
    return chunks


# -- reading rollups back ---------------------------------------------------------------

@dataclass(frozen=True)
class CellRow:
    """A cell document as reports use it: identity and quarter-hour slots."""

    doc_id: str
    team: str
    member: str
    ledger_id: str
    day: date
    dims: Mapping[str, str]
    slots: Mapping[int, tuple[int, ...]]     # quarter -> METRICS values

    def totals(self) -> tuple[int, ...]:
        out = [0] * len(METRICS)
        for m in self.slots.values():
            for i, v in enumerate(m):
                out[i] += v
        return tuple(out)


def cell_from_doc(doc_id: str, data: Mapping[str, Any]) -> CellRow:
    slots: dict[int, tuple[int, ...]] = {}
    for key, m in (data.get("s") or {}).items():
        if not (isinstance(key, str) and key.startswith("q") and isinstance(m, Mapping)):
            continue
        slots[int(key[1:])] = tuple(int(m.get(name) or 0) for name in METRICS)
    return CellRow(doc_id, str(data.get("team", "")), str(data.get("member", "")),
                   str(data.get("ledger_id", "")), date.fromisoformat(str(data["day"])),
                   {d: str(data.get(d, NONE)) for d in CELL_DIMS}, slots)


def cells_from_calls(recs: Iterable[CallRecord], fold: Fold | None = None
                     ) -> dict[str, CellRow]:
    """What the cell documents of ``recs`` must hold (for verify and tests)."""
    out: dict[str, dict[str, Any]] = {}
    for w in rollup_writes(recs, fold):
        if w.collection != ROLLUPS:
            continue
        data = dict(w.static)
        s: dict[str, dict[str, int]] = {}
        for path, v in w.incs.items():
            if path.startswith("s."):
                _, q, name = path.split(".")
                s.setdefault(q, {})[name] = v
        data["s"] = s
        out[w.doc_id] = data
    return {k: cell_from_doc(k, v) for k, v in out.items()}


# -- budget windows as signed sums of ledger-month fields --------------------------------

Term = tuple[str, str, int]   # (month key of the documents, field base, sign)


def _day_terms(d: date, sign: int) -> list[Term]:
    return [(month_key(d), day_field(d), sign)]


def _prefix_terms(d: date, q: int, sign: int) -> list[Term]:
    return [] if q == 0 else [(month_key(d), prefix_field(d, q), sign)]


def _aligned(start: date, end: date) -> list[Term] | None:
    """[start, end) of whole UTC days as one field when it is a UTC month, ISO week or day."""
    if end - start == timedelta(days=1):
        return _day_terms(start, 1)
    if (end - start == timedelta(days=7) and start.weekday() == 0):
        # a week spanning two months is split over both months' documents, same field
        return [(month_key(start), week_field(start), 1),
                *([(month_key(end - timedelta(days=1)), week_field(start), 1)]
                  if month_key(end - timedelta(days=1)) != month_key(start) else [])]
    nxt = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
    if start.day == 1 and end == nxt:
        return [(month_key(start), month_field(start), 1)]
    return None


def budget_terms(start: datetime, end: datetime) -> list[Term] | None:
    """Spend in [start, end) as a signed sum of ledger-month fields, or None when the
    window is not on quarter-hours (then only the calls can answer).

    spend[A, B) = days[dA, dB) - prefix(dA, qA) + prefix(dB, qB), and days[dA, dB) is the
    UTC period (month / week / day) nearest to it plus or minus at most a day at each end
    (a zone's offset is under a day).
    """
    s, e = start.astimezone(UTC), end.astimezone(UTC)
    for t in (s, e):
        if t.second or t.microsecond or t.minute % 15:
            return None
    if e <= s:
        return []
    da, qa = slot_of(s)
    db, qb = slot_of(e)
    terms: list[Term] = []
    mid_days = _aligned(da, db)
    if mid_days is None:
        # the nearest aligned period: shift each end by at most a day
        best: list[Term] | None = None
        for a in (da - timedelta(days=1), da, da + timedelta(days=1)):
            for b in (db - timedelta(days=1), db, db + timedelta(days=1)):
                core = _aligned(a, b) if a < b else None
                if core is None:
                    continue
                cand = list(core)
                cand += _span_terms(da, a, 1)     # days before the core's start
                cand += _span_terms(b, db, 1)     # days after the core's end
                if best is None or len(cand) < len(best):
                    best = cand
        if best is None:
            # any other window: the days one by one (reports never ask budget maths for these)
            best = [term for i in range((db - da).days)
                    for term in _day_terms(da + timedelta(days=i), 1)]
        mid_days = best
    terms += mid_days
    terms += _prefix_terms(da, qa, -1)
    terms += _prefix_terms(db, qb, 1)
    return terms


def _span_terms(a: date, b: date, sign: int) -> list[Term]:
    """Signed days from a to b: [a, b) added when a < b, [b, a) subtracted when b < a."""
    if a == b:
        return []
    if a < b:
        return [t for i in range((b - a).days) for t in _day_terms(a + timedelta(days=i), sign)]
    return [t for i in range((a - b).days) for t in _day_terms(b + timedelta(days=i), -sign)]


def eval_terms(terms: Sequence[Term], docs: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(calls, cost) of ``terms`` over ledger-month documents (what the aggregation computes
    on the server; also used by verify and tests)."""
    docs = list(docs)
    n = c = 0
    for month, base, sign in terms:
        for d in docs:
            if d.get("month") != month:
                continue
            n += sign * int(d.get(f"{base}_n") or 0)
            c += sign * int(d.get(f"{base}_c") or 0)
    return n, c


def materialize(writes: Iterable[RollupWrite],
                into: dict[tuple[str, str], dict[str, Any]] | None = None
                ) -> dict[tuple[str, str], dict[str, Any]]:
    """The documents ``writes`` produce (applied to ``into``): what Firestore stores,
    computed locally for verify and tests."""
    docs = {} if into is None else into
    for w in writes:
        d = docs.setdefault((w.collection, w.doc_id), {})
        d.update(w.static)
        for path, v in w.incs.items():
            node = d
            *parents, leaf = path.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = node.get(leaf, 0) + v
    return docs
