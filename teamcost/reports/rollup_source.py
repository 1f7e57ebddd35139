"""Reports from the team's rollups instead of its calls.

The team's pushed calls come from this machine's copy of the rollup cells
(teamcost/sync/rollup_cache.py, refreshed incrementally before each report), one Arrow row
per (cell, UTC quarter-hour) that stands for the calls it sums (``calls``, ``unpriced_calls``
... columns, which ``reports.rollup.Rollup`` weighs); this machine's calls not pushed yet
come from its ledger, one row each. Every sum is the calls' sum: a window starts on a
local midnight (a quarter-hour in every real zone) and a quarter-hour is counted whole
when it starts before the window's end, so a window ending now includes the calls pushed
so far (plus any stamped up to models.MAX_TS_AHEAD ahead by a skewed clock).

What rollups cannot answer goes to the calls (``build_report`` falls back): ``--by task``
and arbitrary tags, windows starting off a quarter-hour, a team whose rollups are not
complete yet (`teamcost rollups build`). Sessions' first/last times are their first and
last quarter-hours.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from teamcost.ledger import Ledger, ts_to_us
from teamcost.sync.rollup_doc import CELL_DIMS, METRIC_NAMES, METRICS, NONE, TAG_DIMS, CellRow

if TYPE_CHECKING:
    from teamcost.config import Config

# report --by names and the rollup column each reads
ROLLUP_BY = {"member": "member", "model": "model", "provider": "provider", "agent": "agent",
             "session": "session_id", "ledger": "ledger_id",
             **{t: t for t in TAG_DIMS}}
FILTERABLE = ("member", "ledger_id", *CELL_DIMS)
LABELS = ("member", "ledger_id", *CELL_DIMS)
_SLOT_US = 15 * 60 * 1_000_000
_DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def quarter_aligned(t: datetime) -> bool:
    t = t.astimezone(UTC)
    return not (t.second or t.microsecond or t.minute % 15)


def _label(v: str) -> str | None:
    return None if v == NONE else v


def cells_table(cells: Iterable[CellRow], since: datetime, until: datetime,
                where: Mapping[str, str] | None = None) -> pa.Table:
    """One row per (cell, quarter-hour starting in [since, until)) matching ``where``."""
    lo, hi = ts_to_us(since), ts_to_us(until)
    where = dict(where or {})
    cols: dict[str, list[Any]] = {k: [] for k in ("ts", *LABELS, *METRIC_NAMES.values())}
    for c in cells:
        ident = {"member": c.member, "ledger_id": c.ledger_id, **c.dims}
        if any(ident.get(k) != v for k, v in where.items()):
            continue
        day_us = (c.day.toordinal() - 719163) * _DAY_US    # 719163: 1970-01-01's ordinal
        for q, m in c.slots.items():
            t = day_us + q * _SLOT_US
            if not lo <= t < hi:
                continue
            cols["ts"].append(t)
            for k in LABELS:
                cols[k].append(_label(ident[k]) if k not in ("member", "ledger_id")
                               else ident[k])
            for name, v in zip(METRICS, m, strict=True):
                cols[METRIC_NAMES[name]].append(v)
    return _table(cols)


def rows_table(rows: Sequence[tuple[Any, ...]], since: datetime, until: datetime,
               where: Mapping[str, str] | None = None) -> pa.Table:
    """``cells_table`` of the rollup copy's packed rows (RollupCache.rows), in NumPy: a
    first 30-day report of a 1,000,000-call team unpacks ~400,000 slots."""
    import zlib

    import pyarrow.compute as pc

    lo, hi = ts_to_us(since), ts_to_us(until)
    n = len(CELL_DIMS)
    width = len(METRICS) + 1
    where = dict(where or {})
    idx = {k: i for i, k in enumerate(("member", "ledger_id", "day", *CELL_DIMS))}
    parts: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    kept: list[tuple[Any, ...]] = []
    for r in rows:
        if any(r[idx[k]] != v for k, v in where.items()):
            continue
        arr = np.frombuffer(zlib.decompress(r[3 + n]), dtype=np.int64).reshape(-1, width)
        day_us = (datetime.fromisoformat(r[2]).toordinal() - 719163) * _DAY_US
        ts = day_us + arr[:, 0] * _SLOT_US
        inside = (ts >= lo) & (ts < hi)
        if not inside.any():
            continue
        block = arr[inside].copy()
        block[:, 0] = ts[inside]
        parts.append(block)
        owners.append(np.full(len(block), len(kept), dtype=np.int32))
        kept.append(r)
    if not parts:
        return _table({k: [] for k in ("ts", *LABELS, *METRIC_NAMES.values())})
    data = np.concatenate(parts)
    owner = np.concatenate(owners)
    arrays: dict[str, Any] = {"ts": pa.array(data[:, 0]).cast(pa.timestamp("us", tz="UTC"))}
    for k in LABELS:
        values = [r[idx[k]] for r in kept]
        uniq = sorted(set(values))
        code = {v: i for i, v in enumerate(uniq)}
        codes = np.array([code[v] for v in values], dtype=np.int32)[owner]
        dictionary = pa.array(uniq, pa.string())
        if k not in ("member", "ledger_id") and NONE in code:   # no value: null, "(none)"
            indices = pa.array(codes, mask=codes == code[NONE])
        else:
            indices = pa.array(codes)
        arrays[k] = pc.cast(pa.DictionaryArray.from_arrays(indices, dictionary), pa.string())
    for j, name in enumerate(METRICS):
        arrays[METRIC_NAMES[name]] = pa.array(data[:, j + 1])
    return pa.table(arrays)


def _table(cols: Mapping[str, list[Any]]) -> pa.Table:
    arrays: dict[str, Any] = {"ts": pa.array(np.array(cols["ts"], dtype=np.int64)).cast(
        pa.timestamp("us", tz="UTC"))}
    for k in LABELS:
        arrays[k] = pa.array(cols[k], pa.string())
    for name in METRIC_NAMES.values():
        arrays[name] = pa.array(np.array(cols[name], dtype=np.int64))
    return pa.table(arrays)


def unpushed_table(config: Config, since: datetime, until: datetime,
                   where: Mapping[str, str] | None = None) -> pa.Table:
    """This machine's calls of the team not pushed yet, as weight-1 rows."""
    cols: dict[str, list[Any]] = {k: [] for k in ("ts", *LABELS, *METRIC_NAMES.values())}
    if not config.ledger_file.exists():
        return _table(cols)
    where = dict(where or {})
    with Ledger.for_reading(config) as ledger:
        rows = ledger.conn.execute(
            "SELECT ts, member, ledger_id, provider, model, agent, session_id, tags, "
            "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_nanos, "
            "priced, success FROM calls WHERE pushed_at IS NULL AND team = ? AND ts >= ? "
            "AND ts < ?", (config.team, ts_to_us(since), ts_to_us(until))).fetchall()
    for (ts, member, ledger_id, provider, model, agent, session, tags, i, o, cr, cw, c,
         priced, success) in rows:
        tagmap = json.loads(tags) if tags else {}
        ident = {"member": member, "ledger_id": ledger_id, "provider": provider,
                 "model": model, "agent": agent or NONE, "session_id": session or NONE,
                 **{t: str(tagmap.get(t)) if tagmap.get(t) is not None else NONE
                    for t in TAG_DIMS}}
        if any(ident.get(k) != v for k, v in where.items()):
            continue
        cols["ts"].append(ts)
        for k in LABELS:
            cols[k].append(_label(ident[k]) if k not in ("member", "ledger_id") else ident[k])
        unpriced = not priced
        for name, v in (("calls", 1), ("input_tokens", i), ("output_tokens", o),
                        ("cache_read_tokens", cr), ("cache_write_tokens", cw),
                        ("cost_nanos", c), ("unpriced_calls", int(unpriced)),
                        ("failed_calls", int(not success)),
                        ("unpriced_input_tokens", i if unpriced else 0),
                        ("unpriced_output_tokens", o if unpriced else 0)):
            cols[name].append(v)
    return _table(cols)


def rollup_answers(by: Sequence[str], where: Mapping[str, Any], since: datetime) -> bool:
    """Whether rollups can answer this report (else the calls do)."""
    return (all(b in ROLLUP_BY or b in ("day", "week") for b in by)
            and all(k in FILTERABLE for k, v in where.items() if v is not None)
            and quarter_aligned(since))


def team_table(config: Config, client: Any, since: datetime, until: datetime,
               where: Mapping[str, str] | None = None, refresh: bool = True,
               backoff: Any = None) -> tuple[pa.Table, int]:
    """The team's rows (rollup slots + this machine's unpushed calls) for [since, until),
    after refreshing the local rollup copy; and how many documents the refresh read."""
    from teamcost.sync.retry import DEFAULT_BACKOFF
    from teamcost.sync.rollup_cache import RollupCache, utc_days
    from teamcost.sync.rollup_cache import refresh as refresh_cells

    read = 0
    with RollupCache.for_config(config) as cache:
        if refresh:
            read = refresh_cells(client, cache, config.team, backoff or DEFAULT_BACKOFF)
        first, last = utc_days(since, until + timedelta(minutes=15))
        cells = rows_table(cache.rows(config.team, first, last), since, until, where)
    mine = unpushed_table(config, since, until, where)
    return pa.concat_tables([cells, mine]), read


def team_totals(config: Config, since: datetime, until: datetime, by: str | None = None,
                where: Mapping[str, str] | None = None, client: Any = None,
                refresh: bool = True) -> dict[str, Any]:
    """The clean entry point for attribution views (``--by project|repo|branch|ticket|pr``,
    ``--repo/--branch/--ticket`` filters): totals of the window, and per value of ``by``,
    from the rollups. Money in int nano-dollars."""
    from teamcost.sync.client import client_for
    if by is not None and by not in ROLLUP_BY:
        from teamcost.errors import InvalidValue
        raise InvalidValue("by", by, ", ".join(ROLLUP_BY))
    table, _ = team_table(config, client if client is not None else client_for(config),
                          since, until, where, refresh)
    names = list(METRIC_NAMES.values())
    total = {n: int(table.column(n).to_numpy().sum()) if table.num_rows else 0 for n in names}
    rows: list[dict[str, Any]] = []
    if by is not None and table.num_rows:
        col = ROLLUP_BY[by]
        agg = table.group_by(col).aggregate([(n, "sum") for n in names])
        for r in agg.to_pylist():
            rows.append({by: r[col] if r[col] is not None else "(none)",
                         **{n: int(r[f"{n}_sum"]) for n in names}})
        rows.sort(key=lambda x: (-x["cost_nanos"], str(x[by])))
    return {"since": since.isoformat(), "until": until.isoformat(), "by": by,
            "where": dict(where or {}), "total": total, "rows": rows}


def held_rows(config: Config, client: Any, since: datetime, until: datetime,
              by: Sequence[str], filters: Any, refresh: bool = False) -> pa.Table | None:
    """``team_table`` of the rollup copy (as this machine holds it unless ``refresh``:
    the dashboard's loop keeps it current) for a view that sums ``by`` with ``filters``
    (reports.frames.Filters); None when rollups cannot answer it (no client, not
    complete, a filter or dimension they do not keep): then the view reads the calls,
    as before."""
    if client is None or not config.has_firestore:
        return None
    where = {k: v for k, v in filters.to_dict().items() if v is not None}
    where.update(filters.tags)
    if not rollup_answers(by, where, since):
        return None
    from teamcost.reports.window_source import rollups_ready
    if not rollups_ready(config, client, quick=True):
        return None
    table, _ = team_table(config, client, since, until, where, refresh=refresh)
    return table
