"""The three numbers of a report, never summed into one: **metered** (calls billed per use),
**seats** (plan fees prorated to the window: teamcost.plans.fees) and **plan usage** (calls a
seat covers, at their list-price value: information, not spend).

``Billing`` is fed the same Arrow chunks as the report's Rollup (columns ``ts``, ``member``,
``provider``, ``model``, ``agent``, ``tags``, ``cost_nanos`` and the breakdowns' columns),
classifies each call with teamcost.plans.classify (memoised per member, 15-minute slot,
provider, model, source and billing tag: exactly the dimensions of the team's rollups, so
the same classification can run over rollup rows), and adds to the report's document:

- ``summary``: ``metered_nanos``, ``seats_nanos``, ``plan_usage_nanos``, ``billing_rules``
  (calls per classification rule) and ``plans`` (whether the team's plans were read);
- every breakdown row: ``metered_nanos``, ``plan_usage_nanos`` and ``seats_nanos``. Seats
  belong to members and to time, not to models: a member row carries that member's fees
  for the window (a seat holder without calls gets a row), a day/week trend row the fees
  of its span, and rows of the other breakdowns (model, provider, agent, session, task)
  ``seats_nanos: 0``. Member rows' seats add up to the summary's.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from teamcost.ledger import us_to_ts
from teamcost.money import nanos_to_usd
from teamcost.periods import zone
from teamcost.plans.classify import METERED, PLAN, RULES, call_source, classify
from teamcost.plans.fees import seat_fees
from teamcost.plans.model import SLOT, Plans
from teamcost.reports.rollup import NONE_LABEL

COLUMNS = ("ts", "member", "provider", "model", "agent", "tags", "cost_nanos")
_SLOT_US = int(SLOT / timedelta(microseconds=1))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Billing:
    """Metered vs plan-usage sums of a window's calls, per breakdown value."""

    def __init__(self, since: datetime, until: datetime, plans: Plans | None,
                 dims: Mapping[str, str]) -> None:
        self.since, self.until = since, until
        self.plans = plans
        self.dims = dict(dims)       # breakdown name -> column
        self.totals = {METERED: 0, PLAN: 0}
        self.rules = dict.fromkeys(RULES, 0)
        self.rows: dict[str, dict[str, dict[str, int]]] = {b: {} for b in self.dims}
        self._memo: dict[tuple[Any, ...], tuple[str, str]] = {}
        self._tags: dict[str, dict[str, str]] = {}
        # a member's plans change only at their seat events: the classification of a
        # (member, provider, model, source, tag) is the same between two of them, so the
        # memo is keyed by how many of the member's events precede the call's slot
        self._events: dict[str, list[int]] = {}
        if plans is not None:
            for seat in plans.seats:
                self._events.setdefault(seat.member, []).append(
                    (seat.since - _EPOCH) // timedelta(microseconds=1))

    def _tag_map(self, raw: Any) -> dict[str, str]:
        if isinstance(raw, dict):
            return raw
        if not raw:
            return {}
        found = self._tags.get(raw)
        if found is None:
            try:
                found = json.loads(raw)
            except ValueError:
                found = {}
            self._tags[raw] = found if isinstance(found, dict) else {}
            found = self._tags[raw]
        return found

    def add(self, chunk: Any) -> None:
        """One Arrow table of calls (``COLUMNS`` plus the breakdowns' columns).

        Arrow groups the calls by the classification's dimensions (member, 15-minute slot,
        provider, model, agent, tags) first, so Python classifies one row per group; a
        breakdown by another column (session, task) joins each call to its group's
        bucket and sums in Arrow again."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if chunk.num_rows == 0:
            return
        labels = ("member", "provider", "model", "agent", "tags")
        cols = {k: pc.fill_null(chunk.column(k).cast(pa.string()), "") for k in labels}
        cols["slot"] = pc.divide(chunk.column("ts").cast(pa.int64()), _SLOT_US)
        if self._planless():
            # no plan covers anything: a call's class is its billing tag's alone (rule 1),
            # else the same for every call, so neither its slot nor its other tags (a
            # request id makes each call's tags unique) may split the groups. Tags that
            # cannot hold a "billing" key (no such text, no \u escape) group as none.
            tags = cols["tags"]
            if _bytes_may_hold(tags, (b"billing", b"\\u")):
                may = pc.or_(pc.match_substring(tags, "billing"),
                             pc.match_substring(tags, "\\u"))
                cols["tags"] = pc.if_else(may, tags, "")
            else:   # one search of the column's bytes: no call of this chunk says billing
                cols["tags"] = pa.nulls(chunk.num_rows, pa.string()).fill_null("")
            cols["slot"] = pa.nulls(chunk.num_rows, pa.int64()).fill_null(0)
        extra = [c for c in dict.fromkeys(self.dims.values()) if c not in labels]
        # rows of rollup slots stand for ``calls`` calls each (reports/rollup_source.py)
        weighted = "calls" in chunk.column_names
        table = pa.table({**cols, **{c: _plain(chunk.column(c)) for c in extra},
                          "cost_nanos": chunk.column("cost_nanos"),
                          **({"calls": chunk.column("calls")} if weighted else {})})
        keys = [*labels, "slot"]
        groups = table.group_by(keys, use_threads=False).aggregate(
            [("cost_nanos", "sum"), ("calls", "sum") if weighted else ("cost_nanos", "count")])
        g = {k: groups.column(k).to_pylist() for k in keys}
        costs = groups.column("cost_nanos_sum").to_pylist()
        counts = groups.column("calls_sum" if weighted else "cost_nanos_count").to_pylist()
        flags = []
        for i, cost in enumerate(costs):
            tags = self._tag_map(g["tags"][i])
            member, slot_us = g["member"][i], g["slot"][i] * _SLOT_US
            source = call_source(g["agent"][i] or None, tags)
            key = (member, bisect_right(self._events.get(member, ()), slot_us),
                   g["provider"][i], g["model"][i], source, tags.get("billing"))
            got = self._memo.get(key)
            if got is None:
                got = classify(member, us_to_ts(slot_us), key[2], key[3], source, tags,
                               self.plans)
                self._memo[key] = got
            bucket, rule = got
            flags.append(bucket == PLAN)
            self.totals[bucket] += cost
            self.rules[rule] += counts[i]
            for b, col in self.dims.items():
                if col in labels:
                    self._add_row(b, g[col][i] or None, bucket, cost)
        if not extra:
            return
        bucketed = groups.select(keys).append_column("is_plan", pa.array(flags, pa.bool_()))
        joined = table.join(bucketed, keys=keys, join_type="inner", use_threads=False)
        for b, col in self.dims.items():
            if col in labels:
                continue
            sums = joined.group_by([col, "is_plan"], use_threads=False).aggregate(
                [("cost_nanos", "sum")])
            for v, is_plan, cost in zip(sums.column(col).to_pylist(),
                                        sums.column("is_plan").to_pylist(),
                                        sums.column("cost_nanos_sum").to_pylist()):
                self._add_row(b, v, PLAN if is_plan else METERED, cost)

    def _planless(self) -> bool:
        """Whether no member holds a plan at any time (plans unread, none, or no seats)."""
        return self.plans is None or not self.plans.plans or not self.plans.seats

    def _add_row(self, breakdown: str, value: Any, bucket: str, cost: int) -> None:
        acc = self.rows[breakdown].setdefault(NONE_LABEL if value is None else str(value),
                                              {METERED: 0, PLAN: 0})
        acc[bucket] += cost

    def seats(self) -> dict[str, int]:
        return seat_fees(self.plans, self.since, self.until) if self.plans is not None else {}

    def apply(self, doc: dict[str, Any], tz: str) -> dict[str, Any]:
        """Add the three numbers to a report document (in place; returned)."""
        seats = self.seats()
        summ = doc["summary"]
        summ["metered_nanos"] = self.totals[METERED]
        summ["plan_usage_nanos"] = self.totals[PLAN]
        summ["seats_nanos"] = sum(seats.values())
        summ["metered_usd"] = nanos_to_usd(summ["metered_nanos"])
        summ["seats_usd"] = nanos_to_usd(summ["seats_nanos"])
        summ["plan_usage_usd"] = nanos_to_usd(summ["plan_usage_nanos"])
        summ["billing_rules"] = dict(self.rules)
        summ["plans"] = "read" if self.plans is not None else "unknown"
        for b, rows in doc.get("breakdowns", {}).items():
            sums = self.rows.get(b, {})
            for row in rows:
                got = sums.get(str(row.get(b)), {METERED: 0, PLAN: 0})
                row["metered_nanos"] = got[METERED]
                row["plan_usage_nanos"] = got[PLAN]
                row["seats_nanos"] = seats.get(str(row.get(b)), 0) if b == "member" else 0
            if b == "member":
                have = {str(r.get("member")) for r in rows}
                for member, fee in sorted(seats.items()):
                    if member not in have:
                        rows.append(_empty_row(member, fee))
        z = zone(tz)
        for freq, rows in doc.get("trend", {}).items():
            for row in rows:
                start = _local_start(row, z)
                if start is None:
                    continue
                end = start + (timedelta(days=7) if freq == "week" else timedelta(days=1))
                lo, hi = max(start, self.since), min(end, self.until)
                row["seats_nanos"] = (sum(seat_fees(self.plans, lo, hi).values())
                                      if self.plans is not None and lo < hi else 0)
        return doc


def plan_rows(df: Any, plans: Plans | None) -> Any:
    """A boolean Series: which calls of a frame (``load_calls``' columns) are plan usage."""
    import pandas as pd

    memo: dict[tuple[Any, ...], bool] = {}
    out = []
    tag_col = df["tags"].tolist() if "tags" in df else [None] * len(df)
    for ts, member, provider, model, agent, raw in zip(
            df["ts"].tolist(), df["member"].astype(object).tolist(),
            df["provider"].astype(object).tolist(), df["model"].astype(object).tolist(),
            df["agent"].astype(object).tolist(), tag_col):
        tags = raw if isinstance(raw, dict) else (json.loads(raw) if raw else {})
        when = ts.to_pydatetime() if hasattr(ts, "to_pydatetime") else ts
        slot = int(when.timestamp() * 1_000_000) // _SLOT_US
        agent = agent if isinstance(agent, str) else None
        key = (member, slot, provider, model, call_source(agent, tags), tags.get("billing"))
        got = memo.get(key)
        if got is None:
            got = memo[key] = classify(member, us_to_ts(slot * _SLOT_US), provider, model,
                                       key[4], tags, plans)[0] == PLAN
        out.append(got)
    return pd.Series(out, index=df.index, dtype=bool)


SUMMARY_FIELDS = ("metered_nanos", "seats_nanos", "plan_usage_nanos", "metered_usd",
                  "seats_usd", "plan_usage_usd", "billing_rules", "plans")
ROW_FIELDS = ("metered_nanos", "plan_usage_nanos", "seats_nanos")


def without(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a report document without what ``apply`` added (seat holders' empty
    member rows included): the figures every other part of the report computes alone."""
    out = dict(doc)
    out["summary"] = {k: v for k, v in doc["summary"].items() if k not in SUMMARY_FIELDS}
    out["breakdowns"] = {b: [{k: v for k, v in r.items() if k not in ROW_FIELDS}
                             for r in rows if not (r.get("calls") == 0
                                                   and r.get("seats_nanos"))]
                         for b, rows in doc.get("breakdowns", {}).items()}
    out["trend"] = {f: [{k: v for k, v in r.items() if k != "seats_nanos"} for r in rows]
                    for f, rows in doc.get("trend", {}).items()}
    return out


def _bytes_may_hold(col: Any, needles: Sequence[bytes]) -> bool:
    """Whether any string of a string column may contain one of ``needles``: searched in
    the chunks' value bytes at once (a string holding one holds it there too; a match
    across two strings only sends the caller to its exact, per-row search)."""
    for chunk in getattr(col, "chunks", [col]):
        data = chunk.buffers()[2]
        if data is None:
            continue
        raw = data.to_pybytes()
        if any(n in raw for n in needles):
            return True
    return False


def _plain(col: Any) -> Any:
    """A dictionary-encoded column decoded (chunks' dictionaries differ; joins refuse)."""
    import pyarrow as pa
    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


def _empty_row(member: str, fee: int) -> dict[str, Any]:
    return {"member": member, "cost_nanos": 0, "cost_usd": 0.0, "calls": 0,
            "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
            "cache_write_tokens": 0, "unpriced_calls": 0, "failed_calls": 0, "share": 0.0,
            "metered_nanos": 0, "plan_usage_nanos": 0, "seats_nanos": fee}


def _local_start(row: Mapping[str, Any], z: Any) -> datetime | None:
    key = row.get("start")
    if not isinstance(key, str):
        return None
    try:
        d = datetime.fromisoformat(key[:10])
    except ValueError:
        return None
    return d.replace(tzinfo=z).astimezone(UTC)


def columns(dims: Sequence[str]) -> tuple[str, ...]:
    """The columns a Billing needs beside the report's."""
    return tuple(dict.fromkeys([*COLUMNS, *dims]))


def _state_key(team: str) -> str:
    return f"plans:{team}:last_known"


def load_plans(config: Any, client: Any = None, *,
               online: bool = True) -> tuple[Plans | None, str | None]:
    """The team's plans and a warning. Online: from Firestore, remembered in the team
    cache's ``sync_state`` (like the budget's last known read) for offline reports; when
    Firestore cannot answer, the remembered copy (with a warning). Offline: the remembered
    copy. Neither: None (calls without a billing tag are counted as metered under the
    ``plans-unknown`` rule, which the report shows). A team without a Firestore project
    has no plans."""
    if not getattr(config, "project", None):
        return Plans(config.team), None
    if online:
        from teamcost.errors import TeamcostError
        from teamcost.plans.store import get_plans
        try:
            if client is None:
                from teamcost.sync.client import client_for
                client = client_for(config)
            plans = get_plans(client, config.team)
        except TeamcostError as exc:
            kept = _kept(config)
            return kept, (f"the team's plans could not be read ({exc}); "
                          + ("using the copy kept from the last read" if kept is not None
                             else "calls without a billing tag are counted as metered"))
        _keep(config, plans)
        return plans, None
    return _kept(config), None


def _keep(config: Any, plans: Plans) -> None:
    """Best effort: a cache that cannot be written (a read-only home) never stops a view."""
    import sqlite3

    from teamcost.errors import TeamcostError
    from teamcost.sync.cache import TeamCache
    try:
        with TeamCache.for_config(config) as cache:
            cache.set_state(_state_key(config.team),
                            json.dumps(plans.to_doc(), default=lambda o: o.isoformat()))
    except (TeamcostError, sqlite3.Error, OSError):
        pass


def _kept(config: Any) -> Plans | None:
    import sqlite3

    from teamcost.errors import TeamcostError
    from teamcost.sync.cache import TeamCache
    if not config.cache_file.exists():
        return None
    try:
        with TeamCache.for_config(config) as cache:
            raw = cache.get_state(_state_key(config.team))
        return Plans.from_doc(config.team, json.loads(raw)) if raw else None
    except (TeamcostError, sqlite3.Error, OSError, ValueError, TypeError, AttributeError):
        return None
