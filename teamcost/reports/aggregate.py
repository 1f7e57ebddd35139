"""Aggregations: pure functions of a calls frame (see frames.py). No I/O.

Money stays int64 nano-dollars through every sum; where a rate or projection needs
a division it is done exactly (Fraction) and rounded half-even once, at the end.
The report itself aggregates a window streamed in chunks (teamcost.reports.rollup, the
same figures); chart, watch and the dashboard use the frame functions here. pandas is
imported by the functions that use it, so the report, which needs only the rest, does not
load it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from teamcost.errors import InvalidValue
from teamcost.ledger import ts_to_us
from teamcost.money import nanos_to_usd
from teamcost.periods import (
    EARLIEST,
    PERIODS,
    local_midnight,
    period_bounds,
    project_to_end,
    zone,
)

if TYPE_CHECKING:
    import pandas as pd

BREAKDOWNS = {"member": "member", "model": "model", "provider": "provider", "agent": "agent",
              "session": "session_id", "task": "task_id"}
# attribution dimensions: each is the tag of its name (teamcost.attribution.KEYS); any
# other tag is the dimension ``tag:NAME``. Their columns are read as ``tag:NAME``.
TAG_DIMENSIONS = ("project", "repo", "branch", "ticket", "pr")
TAG_PREFIX = "tag:"
TRENDS = ("day", "week")
BY_CHOICES = (*BREAKDOWNS, *TAG_DIMENSIONS, *TRENDS)
BY_ACCEPTED = ", ".join((*BY_CHOICES, "tag:NAME"))
_TAG_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def tag_of(dim: str) -> str | None:
    """The tag a breakdown dimension reads (``repo`` -> ``repo``, ``tag:env`` -> ``env``),
    None for a dimension that is a column of its own (member, model, ...)."""
    if dim in TAG_DIMENSIONS:
        return dim
    if dim.startswith(TAG_PREFIX) and _TAG_NAME_RE.match(dim[len(TAG_PREFIX):]):
        return dim[len(TAG_PREFIX):]
    return None


def is_breakdown(dim: str) -> bool:
    return dim in BREAKDOWNS or tag_of(dim) is not None


def column_of(dim: str) -> str:
    """The column of the window's calls a breakdown groups by."""
    tag = tag_of(dim)
    return TAG_PREFIX + tag if tag is not None else BREAKDOWNS[dim]
SPIKE_FACTOR = 3       # a day above 3x its baseline is a spike
BASELINE_DAYS = 14     # the baseline: the same kind of day among the 14 days before
_TOKEN_COLS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def _i(x: Any) -> int:
    return int(x) if x == x else 0  # NaN-safe for empty frames


def exact_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-even, exactly (no float)."""
    return round(Fraction(numerator, denominator)) if denominator else 0


def summary(df: pd.DataFrame) -> dict[str, Any]:
    calls = len(df)
    unpriced = df[~df["priced"]]
    cost = _i(df["cost_nanos"].sum())
    succeeded = _i(df["success"].sum())
    return {
        "cost_nanos": cost,
        "cost_usd": nanos_to_usd(cost),
        "calls": calls,
        "input_tokens": _i(df["input_tokens"].sum()),
        "output_tokens": _i(df["output_tokens"].sum()),
        "cache_read_tokens": _i(df["cache_read_tokens"].sum()),
        "cache_write_tokens": _i(df["cache_write_tokens"].sum()),
        "failed_calls": calls - succeeded,
        "success_rate": (succeeded / calls) if calls else None,
        "unpriced_calls": len(unpriced),
        "unpriced_input_tokens": _i(unpriced["input_tokens"].sum()),
        "unpriced_output_tokens": _i(unpriced["output_tokens"].sum()),
        "unpriced_models": sorted(str(m) for m in unpriced["model"].unique()),
        "members": int(df["member"].nunique()),
        "models": int(df["model"].nunique()),
        "sessions": int(df["session_id"].nunique()),
    }


def breakdown(df: pd.DataFrame, by: str) -> list[dict[str, Any]]:
    """Per-key totals, most expensive first (ties by key). Missing labels are "(none)"."""
    if by not in BREAKDOWNS:
        raise InvalidValue("by", by, ", ".join(BY_CHOICES))
    return breakdown_column(df, by, BREAKDOWNS[by])


def breakdown_column(df: pd.DataFrame, by: str, col: str) -> list[dict[str, Any]]:
    """``breakdown`` over any label column ``col`` of ``df`` (e.g. a tag's values), rows
    keyed by ``by``."""
    import pandas as pd

    key = df[col]
    if not isinstance(key.dtype, pd.CategoricalDtype):
        key = key.astype("category")
    if key.isna().any():
        key = key.cat.add_categories(["(none)"]).fillna("(none)")
    # one group-by for every sum: the key is factorized once (a session breakdown has
    # thousands of keys), and the rows come out aligned, with no lookup per key
    work = df[["cost_nanos", *_TOKEN_COLS]].assign(
        _calls=np.ones(len(df), dtype=np.int64), _unpriced=(~df["priced"]).astype(np.int64),
        _failed=(~df["success"]).astype(np.int64))
    g = work.groupby(key, observed=True, sort=False).sum()
    return breakdown_rows(by, ((str(k), int(cost), int(calls), int(inp), int(out), int(cr),
                                int(cw), int(unpriced), int(failed))
                               for k, cost, inp, out, cr, cw, calls, unpriced, failed
                               in g.itertuples(name=None)))


def breakdown_rows(by: str, groups: Iterable[tuple[str, int, int, int, int, int, int, int, int]]
                   ) -> list[dict[str, Any]]:
    """Breakdown rows from per-key sums (key, cost_nanos, calls, input, output, cache
    read, cache write, unpriced calls, failed calls): shares, most expensive first."""
    groups = list(groups)
    total = sum(g[1] for g in groups)
    rows: list[dict[str, Any]] = [
        {by: k, "cost_nanos": cost, "cost_usd": nanos_to_usd(cost), "calls": calls,
         "input_tokens": inp, "output_tokens": out, "cache_read_tokens": cr,
         "cache_write_tokens": cw, "unpriced_calls": unpriced, "failed_calls": failed,
         "share": (cost / total) if total else 0.0}
        for k, cost, calls, inp, out, cr, cw, unpriced, failed in groups]
    rows.sort(key=lambda x: (-x["cost_nanos"], x[by]))
    return rows


def _day_numbers(df: pd.DataFrame, tz: str) -> np.ndarray:
    """Each call's local calendar day as days since 1970-01-01 (int64)."""
    ts = df["ts"]
    if tz == "UTC":  # no zone arithmetic: whole days of the epoch, floored
        per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000,
                   "ns": 86_400_000_000_000}[ts.dt.unit]
        return ts.astype("int64").to_numpy() // per_day
    local = ts.dt.tz_convert(tz).dt.tz_localize(None)
    return local.to_numpy().astype("datetime64[D]").astype(np.int64)


def _day_number(ts: datetime, tz: str) -> int:
    return (ts.astimezone(zone(tz)).date() - _EPOCH_DAY).days


_EPOCH_DAY = date(1970, 1, 1)
_BUCKET_COLS = ("cost_nanos", "calls", *_TOKEN_COLS, "unpriced_calls", "failed_calls")


def trend(df: pd.DataFrame, since: datetime, until: datetime, tz: str,
          freq: str = "day") -> list[dict[str, Any]]:
    """Cost per local day (or ISO week, keyed by its Monday) across the whole window,
    empty buckets included, oldest first.

    Vectorised over the buckets: a window spans at most ``periods.EARLIEST`` ..
    ``periods.LATEST`` (~36,500 days), and that must stay a fraction of a second.
    """
    if freq not in TRENDS:
        raise InvalidValue("trend", freq, "day or week")
    step = 7 if freq == "week" else 1
    first = _day_number(since, tz)
    last = _day_number(until - timedelta(microseconds=1), tz)
    if freq == "week":  # 1970-01-01 was a Thursday: Monday is day number - (n + 3) % 7
        first -= (first + 3) % 7
        last -= (last + 3) % 7
    n = max(0, (last - first) // step + 1)
    sums = {c: np.zeros(n, dtype=np.int64) for c in _BUCKET_COLS}
    if len(df):
        days = _day_numbers(df, tz)
        if freq == "week":
            days = days - (days + 3) % 7
        idx = (days - first) // step
        keep = np.flatnonzero((idx >= 0) & (idx < n))  # a wider frame: its other days out
        # exact int64 sums a column at a time over the rows sorted by bucket (reduceat):
        # no frame of copies, and no float (np.bincount's weights would round)
        order = keep[np.argsort(idx[keep], kind="stable")]
        if len(order):
            sorted_idx = idx[order]
            firsts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
            at = sorted_idx[firsts]
            sums["calls"][at] = np.diff(np.r_[firsts, len(order)])
            columns: dict[str, Any] = {c: df[c] for c in ("cost_nanos", *_TOKEN_COLS)}
            columns["unpriced_calls"] = ~df["priced"]
            columns["failed_calls"] = ~df["success"]
            for c, col in columns.items():
                values = col.to_numpy()[order].astype(np.int64)
                sums[c][at] = np.add.reduceat(values, firsts)
    starts = [_EPOCH_DAY + timedelta(days=first + i * step) for i in range(n)]
    cols = {c: sums[c].tolist() for c in _BUCKET_COLS}
    rows: list[dict[str, Any]] = []
    for i, d in enumerate(starts):
        if freq == "week":
            y, w, _ = d.isocalendar()
            label = f"{y}-W{w:02d}"
        else:
            label = d.isoformat()
        row: dict[str, Any] = {freq: label, "start": d.isoformat()}
        for c in _BUCKET_COLS:
            row[c] = cols[c][i]
        row["cost_usd"] = nanos_to_usd(row["cost_nanos"])
        rows.append(row)
    return rows


def baseline_start(since: datetime, tz: str) -> datetime:
    """Where to start reading so every day of a window starting at ``since`` has its whole
    spike baseline (the ``BASELINE_DAYS`` local days before it)."""
    z = zone(tz)
    first = since.astimezone(z).date()
    return max(EARLIEST, local_midnight(first - timedelta(days=BASELINE_DAYS), z))


def daily_costs(df: pd.DataFrame, tz: str) -> dict[date, int]:
    """Cost per local calendar day of every call in ``df`` (whole days, for baselines)."""
    import pandas as pd

    if not len(df):
        return {}
    sums = pd.Series(df["cost_nanos"].to_numpy(np.int64)).groupby(
        _day_numbers(df, tz), sort=False).sum()
    return {_EPOCH_DAY + timedelta(days=int(d)): int(c) for d, c in sums.items()}


def add_costs(*parts: Mapping[date, int]) -> dict[date, int]:
    """Daily costs of several frames added up (a day may straddle two of them)."""
    out: dict[date, int] = {}
    for part in parts:
        for d, c in part.items():
            out[d] = out.get(d, 0) + c
    return out


def _is_weekend(d: date) -> bool:
    return d.weekday() >= 5


def _median(values: list[int]) -> int:
    # the low median: an exact amount some day really cost, and zero while at most half
    # the days had calls (too little history to call anything unusual)
    values = sorted(values)
    return values[(len(values) - 1) // 2] if values else 0


def day_baseline(day: date, costs: Mapping[date, int]) -> tuple[int, int, list[date]]:
    """(baseline, working day, baseline days) for ``day``: the (low) median cost of the days of the same kind (weekday or weekend) among the
    ``BASELINE_DAYS`` days before it, the median of the weekdays among them, and the
    same-kind days.

    Days with no calls count as $0, so in a team's first days the median stays at zero
    and nothing is called a spike yet.
    """
    before = [day - timedelta(days=k) for k in range(BASELINE_DAYS, 0, -1)]
    same = [d for d in before if _is_weekend(d) == _is_weekend(day)]
    return (_median([costs.get(d, 0) for d in same]),
            _median([costs.get(d, 0) for d in before if not _is_weekend(d)]), same)


def _day_medians(day: date, by_ordinal: Mapping[int, int]) -> tuple[int, int]:
    """``day_baseline``'s two medians, with the costs keyed by ``date.toordinal()`` and no
    list of days: a year's report asks for the 400 days of its trend, and dates built and
    looked up one by one cost more than the rest of its document."""
    o = day.toordinal()
    kind = _is_weekend(day)
    same: list[int] = []
    working: list[int] = []
    for k in range(BASELINE_DAYS, 0, -1):
        c = by_ordinal.get(o - k, 0)
        weekend = (o - k + 6) % 7 >= 5    # date.weekday() of the day k days before
        if weekend == kind:
            same.append(c)
        if not weekend:
            working.append(c)
    return _median(same), _median(working)


def spike_days(days: list[dict[str, Any]], costs: Mapping[date, int] | None = None
               ) -> list[dict[str, Any]]:
    """Days costing more than ``SPIKE_FACTOR`` times their baseline (the median of the same
    kind of day, weekday or weekend, in the ``BASELINE_DAYS`` days before) and more than an
    ordinary working day (the median of the weekdays among them). ``costs`` holds
    whole-day costs reaching back before the window (``daily_costs``); without it only the
    window's own days are known. Adds ``baseline_nanos`` to every row of ``days``.

    Weekdays are judged against weekdays so that a quiet weekend does not make every
    Monday a "spike"; the working-day floor keeps a Sunday with one session (6x a quiet
    Sunday, a fraction of a working day) from being an alarm, while a weekend runaway
    still is one. A zero baseline (no history yet) flags nothing.
    """
    known = dict(costs) if costs is not None else {
        date.fromisoformat(r["day"]): r["cost_nanos"] for r in days}
    by_ordinal = {d.toordinal(): c for d, c in known.items()}
    out = []
    for row in days:
        d = date.fromisoformat(row["day"])
        med, working = _day_medians(d, by_ordinal)
        row["baseline_nanos"] = med
        cost = row["cost_nanos"]
        if med > 0 and cost > SPIKE_FACTOR * med and cost > working:
            same = day_baseline(d, known)[2]
            out.append({"day": row["day"], "cost_nanos": cost,
                        "median_before_nanos": med, "baseline_nanos": med,
                        "baseline_kind": "weekend" if _is_weekend(d) else "weekday",
                        "baseline_from": same[0].isoformat(),
                        "baseline_to": same[-1].isoformat(), "baseline_days": len(same),
                        "working_day_nanos": working, "factor": cost / med})
    return out


def top_sessions(df: pd.DataFrame, n: int = 5) -> list[dict[str, Any]]:
    with_session = df[df["session_id"].notna()]
    if with_session.empty:
        return []
    g = with_session.groupby("session_id", observed=True).agg(
        cost_nanos=("cost_nanos", "sum"), calls=("cost_nanos", "size"),
        first=("ts", "min"), last=("ts", "max"), members=("member", "nunique"))
    g = g.reset_index().sort_values(["cost_nanos", "session_id"], ascending=[False, True]).head(n)
    return [{"session": str(r.session_id), "cost_nanos": int(r.cost_nanos),
             "cost_usd": nanos_to_usd(int(r.cost_nanos)), "calls": int(r.calls),
             "members": int(r.members), "first": r.first.isoformat(),
             "last": r.last.isoformat()} for r in g.itertuples()]


def spend_rate(cost_nanos: int, since: datetime, until: datetime,
               now: datetime) -> dict[str, Any]:
    """Average spend per hour and per day over the part of the window that has passed."""
    span_us = ts_to_us(min(until, now)) - ts_to_us(since)
    if span_us <= 0:
        return {"per_hour_nanos": 0, "per_day_nanos": 0, "hours": 0}
    return {"per_hour_nanos": exact_div(cost_nanos * 3_600_000_000, span_us),
            "per_day_nanos": exact_div(cost_nanos * 86_400_000_000, span_us),
            "hours": span_us / 3_600_000_000}


def projections(context: pd.DataFrame, now: datetime, tz: str) -> dict[str, dict[str, Any]]:
    """For the day, ISO week and month containing ``now``: spent so far and the projection
    at that period's own average rate (``periods.project_to_end``), the one definition of
    "projected" that reports, budget checks, watch and charts share.

    ``context`` must hold the calls since the start of the current month (or earlier).
    """
    ts_us = context["ts"].astype("int64") // 1000 if context["ts"].dtype.unit == "ns" \
        else context["ts"].astype("int64")
    spent = {}
    for period in PERIODS:
        start, _ = period_bounds(now, period, tz)
        mask = (ts_us >= ts_to_us(start)) & (ts_us < ts_to_us(now))
        spent[period] = _i(context.loc[mask, "cost_nanos"].sum())
    return projections_from_spent(spent, now, tz)


def period_starts(now: datetime, tz: str) -> dict[str, int]:
    """Each period's (day, week, month) start around ``now``, in UTC µs."""
    return {p: ts_to_us(period_bounds(now, p, tz)[0]) for p in PERIODS}


def projections_from_spent(spent: Mapping[str, int], now: datetime,
                           tz: str) -> dict[str, dict[str, Any]]:
    """The projections from what each period spent from its start until ``now`` (see
    ``projections``)."""
    out = {}
    for period in PERIODS:
        start, end = period_bounds(now, period, tz)
        elapsed_us = ts_to_us(now) - ts_to_us(start)
        out[period] = {"start": start.isoformat(), "end": end.isoformat(),
                       "spent_nanos": spent[period],
                       "projected_nanos": project_to_end(spent[period], start, end, now),
                       "per_day_nanos": (exact_div(spent[period] * 86_400_000_000, elapsed_us)
                                         if elapsed_us > 0 else 0)}
    return out


def earliest_needed(since: datetime, now: datetime, tz: str) -> datetime:
    """Where to start reading so projections see the whole current month."""
    month_start, _ = period_bounds(now, "month", tz)
    week_start, _ = period_bounds(now, "week", tz)
    return min(since, month_start, week_start) - timedelta(0)
