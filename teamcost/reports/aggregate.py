"""Aggregations: pure functions of a calls frame (see frames.py). No I/O.

Money stays int64 nano-dollars through every sum; where a rate or projection needs
a division it is done exactly (Fraction) and rounded half-even once, at the end.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from teamcost.errors import InvalidValue
from teamcost.ledger import ts_to_us
from teamcost.money import nanos_to_usd
from teamcost.periods import PERIODS, period_bounds

BREAKDOWNS = {"member": "member", "model": "model", "provider": "provider", "agent": "agent",
              "session": "session_id", "task": "task_id"}
TRENDS = ("day", "week")
BY_CHOICES = (*BREAKDOWNS, *TRENDS)
SPIKE_FACTOR = 3
_TOKEN_COLS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
SPIKE_MIN_HISTORY = 3  # days before a day can be called a spike


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


def _local_days(df: pd.DataFrame, tz: str) -> pd.Series:
    # naive local wall-clock dates: floor after dropping the zone, so DST never matters
    return df["ts"].dt.tz_convert(tz).dt.tz_localize(None).dt.floor("D")


def trend(df: pd.DataFrame, since: datetime, until: datetime, tz: str,
          freq: str = "day") -> list[dict[str, Any]]:
    """Cost per local day (or ISO week, keyed by its Monday) across the whole window,
    empty buckets included, oldest first."""
    if freq not in TRENDS:
        raise InvalidValue("trend", freq, "day or week")
    days = _local_days(df, tz)
    if freq == "week":
        days = days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    work = df[list(_TOKEN_COLS) + ["cost_nanos"]].assign(
        _b=days, _unpriced=(~df["priced"]).astype("int64"),
        _failed=(~df["success"]).astype("int64"))
    g = work.groupby("_b", sort=True).agg(
        cost_nanos=("cost_nanos", "sum"), calls=("cost_nanos", "size"),
        **{c: (c, "sum") for c in _TOKEN_COLS},
        unpriced_calls=("_unpriced", "sum"), failed_calls=("_failed", "sum"))
    first = pd.Timestamp(since).tz_convert(tz).tz_localize(None).floor("D")
    last = (pd.Timestamp(until) - pd.Timedelta(microseconds=1)).tz_convert(tz).tz_localize(None).floor("D")
    if freq == "week":
        first -= pd.Timedelta(days=first.weekday())
        last -= pd.Timedelta(days=last.weekday())
    step = pd.Timedelta(days=7 if freq == "week" else 1)
    rows = []
    b = first
    while b <= last:
        r = g.loc[b] if b in g.index else None
        label = b.date().isoformat()
        if freq == "week":
            y, w, _ = b.date().isocalendar()
            label = f"{y}-W{w:02d}"
        row: dict[str, Any] = {freq: label, "start": b.date().isoformat()}
        for c in ("cost_nanos", "calls", *_TOKEN_COLS, "unpriced_calls", "failed_calls"):
            row[c] = int(r[c]) if r is not None else 0
        row["cost_usd"] = nanos_to_usd(row["cost_nanos"])
        rows.append(row)
        b += step
    return rows


def spike_days(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Days costing more than 3x the median of the days before them in the window.

    Needs three earlier days and a median above zero: after a run of idle days any
    spend would otherwise be a "spike".
    """
    out = []
    for i, row in enumerate(days):
        before = [d["cost_nanos"] for d in days[:i]]
        if len(before) < SPIKE_MIN_HISTORY:
            continue
        med = statistics.median(before)
        if med > 0 and row["cost_nanos"] > SPIKE_FACTOR * med:
            out.append({"day": row["day"], "cost_nanos": row["cost_nanos"],
                        "median_before_nanos": med,
                        "factor": row["cost_nanos"] / med})
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


def projections(context: pd.DataFrame, cost_nanos: int, since: datetime, until: datetime,
                now: datetime, tz: str) -> dict[str, dict[str, Any]]:
    """Spend so far in the current day/week/month plus the window's rate until its end.

    ``context`` must hold the calls since the start of the current month (or earlier).
    """
    span_us = ts_to_us(min(until, now)) - ts_to_us(since)
    ts_us = context["ts"].astype("int64") // 1000 if context["ts"].dtype.unit == "ns" \
        else context["ts"].astype("int64")
    out = {}
    for period in PERIODS:
        start, end = period_bounds(now, period, tz)
        mask = (ts_us >= ts_to_us(start)) & (ts_us < ts_to_us(now))
        spent = _i(context.loc[mask, "cost_nanos"].sum())
        remaining_us = max(0, ts_to_us(end) - ts_to_us(now))
        extra = exact_div(cost_nanos * remaining_us, span_us) if span_us > 0 else 0
        out[period] = {"start": start.isoformat(), "end": end.isoformat(),
                       "spent_nanos": spent, "projected_nanos": spent + extra}
    return out


def earliest_needed(since: datetime, now: datetime, tz: str) -> datetime:
    """Where to start reading so projections see the whole current month."""
    month_start, _ = period_bounds(now, "month", tz)
    week_start, _ = period_bounds(now, "week", tz)
    return min(since, month_start, week_start) - timedelta(0)
