"""A report's aggregates over a window that arrives in Arrow chunks (pure: no I/O).

Why not one pandas frame of the window: a year of a busy team is five million calls; as
one frame it took 1.4 GiB and six seconds. Here each chunk (up to a million calls) is
reduced to small partial tables with Arrow's hash aggregations - sums per member, model,
day, week, session... - and dropped; the partials are merged at the end. Memory is bounded
by the chunk, work is proportional to the calls in the window, and no Python runs per call.

The figures are the ones teamcost.reports.aggregate computes over a frame (the golden
tests check this module through ``report.report_document``): money stays int64
nano-dollars in every sum, days and ISO weeks are the team's local wall-clock days, and
labels missing on a call are "(none)".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from teamcost.ledger import ts_to_us
from teamcost.money import nanos_to_usd
from teamcost.periods import zone

SUMS = ("cost_nanos", "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "unpriced_calls", "failed_calls")
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
NONE_LABEL = "(none)"
DAY_US = 86_400_000_000
_EPOCH = date(1970, 1, 1)


def local_day_numbers(ts_us: np.ndarray, tz: str, since: datetime, until: datetime) -> np.ndarray:
    """Days since 1970-01-01 of each UTC microsecond time's local wall-clock date in ``tz``
    (what pandas' ``tz_convert(tz).tz_localize(None).floor("D")`` gives), for times within
    [since, until). The zone's UTC offsets over the window are found once (they change a
    few times a year), so this is a search and an addition per call, in NumPy."""
    z = zone(tz)
    if z is UTC or getattr(z, "key", None) == "UTC":
        return np.floor_divide(ts_us, DAY_US)
    starts, offsets = _offsets(z, since, until)
    idx = np.searchsorted(starts, ts_us, side="right") - 1
    local = ts_us + offsets[np.clip(idx, 0, len(offsets) - 1)]
    return np.floor_divide(local, DAY_US)


def day_numbers(ts_us: np.ndarray, tz: str) -> np.ndarray:
    """``local_day_numbers`` over the span the times themselves cover (a chunk of a
    100-year window looks up the offsets of its own weeks, not of the century)."""
    if len(ts_us) == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(ts_us.min()), int(ts_us.max()) + 1
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return local_day_numbers(ts_us, tz, epoch + timedelta(microseconds=lo),
                             epoch + timedelta(microseconds=hi))


def _offsets(z: Any, since: datetime, until: datetime) -> tuple[np.ndarray, np.ndarray]:
    """(instants in µs, the UTC offset in µs from each instant on) covering [since, until)."""
    def off(us: int) -> int:
        t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
        delta = t.astimezone(z).utcoffset() or timedelta(0)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    lo, hi = ts_to_us(since), ts_to_us(until)
    step = 6 * 3_600_000_000   # no zone changes its offset twice within six hours
    starts, offsets = [lo], [off(lo)]
    t = lo
    while t < hi:
        nxt = min(t + step, hi)
        if off(nxt) != offsets[-1]:
            a, b = t, nxt       # the change is in (a, b]: find its first microsecond
            while b - a > 1:
                mid = (a + b) // 2
                if off(mid) == offsets[-1]:
                    a = mid
                else:
                    b = mid
            starts.append(b)
            offsets.append(off(b))
        t = nxt
    return np.array(starts, dtype=np.int64), np.array(offsets, dtype=np.int64)


def _ints(arr: Any) -> pa.Array:
    return pc.cast(arr, pa.int64())


class Rollup:
    """Aggregates of a window's calls, fed chunk by chunk (``add``), read by ``summary``,
    ``breakdown``, ``trend`` and ``top_sessions``.

    ``keys``: label columns to break down by (member and model always). Chunks need
    ``ts``, those labels, ``session_id``, the token and cost columns, ``priced`` and
    ``success``.
    """

    def __init__(self, since: datetime, until: datetime, tz: str,
                 keys: Iterable[str] = ("member", "model")) -> None:
        self.since, self.until, self.tz = since, until, tz
        self.keys = list(dict.fromkeys(["member", "model", *keys]))
        self.totals = dict.fromkeys(("calls", "succeeded", "unpriced_input_tokens",
                                     "unpriced_output_tokens", *SUMS), 0)
        # partial tables per chunk: sums by each key (and by day), and per session
        self._parts: dict[str, list[pa.Table]] = {k: [] for k in (*self.keys, "day")}
        self._sessions: list[pa.Table] = []

    def add(self, t: pa.Table) -> None:
        """A chunk of calls, or of rollup slots (teamcost/reports/rollup_source.py): rows
        that carry ``calls`` (and ``unpriced_calls``, ``failed_calls``, ``unpriced_input_tokens``,
        ``unpriced_output_tokens``) stand for that many calls, already summed."""
        n = t.num_rows
        if n == 0:
            return
        t = t.unify_dictionaries()   # chunks read from several files: one dictionary each
        cols: dict[str, Any] = {c: t.column(c) for c in SUMS[:5]}
        tot = self.totals
        if "calls" in t.column_names:
            weights = t.column("calls")
            for c in ("unpriced_calls", "failed_calls"):
                cols[c] = t.column(c)
            calls = int(pc.sum(weights).as_py() or 0)
            for c in ("input_tokens", "output_tokens"):
                tot[f"unpriced_{c}"] += int(pc.sum(t.column(f"unpriced_{c}")).as_py() or 0)
        else:
            unpriced = pc.invert(t.column("priced"))
            cols["unpriced_calls"] = _ints(unpriced)
            cols["failed_calls"] = _ints(pc.invert(t.column("success")))
            weights = pa.array(np.ones(n, dtype=np.int64))
            calls = n
            for c in ("input_tokens", "output_tokens"):
                tot[f"unpriced_{c}"] += int(pc.sum(pc.if_else(unpriced, t.column(c), 0)).as_py()
                                            or 0)
        tot["calls"] += calls
        for c in SUMS:
            tot[c] += int(pc.sum(cols[c]).as_py() or 0)
        tot["succeeded"] += calls - int(pc.sum(cols["failed_calls"]).as_py() or 0)
        us = t.column("ts").cast(pa.int64()).to_numpy()
        days = day_numbers(us, self.tz).astype(np.int32)
        work = pa.table({**cols, "calls": weights, "day": pa.array(days, pa.int32()),
                         **{k: t.column(k) for k in self.keys}})
        aggs = [(c, "sum") for c in SUMS] + [("calls", "sum")]
        for k in (*self.keys, "day"):
            self._parts[k].append(work.group_by(k).aggregate(aggs))
        sessions = pa.table({"session_id": t.column("session_id"), "ts": t.column("ts"),
                             "cost_nanos": t.column("cost_nanos"), "calls": weights,
                             "member": t.column("member")})
        self._sessions.append(sessions.group_by("session_id").aggregate(
            [("cost_nanos", "sum"), ("calls", "sum"), ("ts", "min"), ("ts", "max"),
             ("member", "distinct")]))

    # -- results --

    def _merged(self, key: str) -> dict[Any, dict[str, int]]:
        """key value -> sums (and ``calls``) over every chunk; None keys as NONE_LABEL."""
        out: dict[Any, dict[str, int]] = {}
        for part in self._parts[key]:
            keys = part.column(key)
            if pa.types.is_dictionary(keys.type):
                keys = pc.cast(keys, pa.string())
            rows = {c: part.column(f"{c}_sum").to_pylist() for c in SUMS}
            counts = part.column("calls_sum").to_pylist()
            for i, k in enumerate(keys.to_pylist()):
                k = NONE_LABEL if k is None and key != "day" else k
                acc = out.setdefault(k, dict.fromkeys(("calls", *SUMS), 0))
                acc["calls"] += counts[i]
                for c in SUMS:
                    acc[c] += rows[c][i]
        return out

    def daily_costs(self) -> dict[date, int]:
        """Cost per local day of the window's calls (``aggregate.daily_costs``)."""
        return {_EPOCH + timedelta(days=int(n)): v["cost_nanos"]
                for n, v in self._merged("day").items()}

    def summary(self) -> dict[str, Any]:
        t = self.totals
        calls, cost = t["calls"], t["cost_nanos"]
        models = self._merged("model")
        return {
            "cost_nanos": cost,
            "cost_usd": nanos_to_usd(cost),
            "calls": calls,
            "input_tokens": t["input_tokens"],
            "output_tokens": t["output_tokens"],
            "cache_read_tokens": t["cache_read_tokens"],
            "cache_write_tokens": t["cache_write_tokens"],
            "failed_calls": calls - t["succeeded"],
            "success_rate": (t["succeeded"] / calls) if calls else None,
            "unpriced_calls": t["unpriced_calls"],
            "unpriced_input_tokens": t["unpriced_input_tokens"],
            "unpriced_output_tokens": t["unpriced_output_tokens"],
            "unpriced_models": sorted(str(m) for m, v in models.items() if v["unpriced_calls"]),
            "members": len(self._merged("member")),
            "models": len(models),
            "sessions": self._session_totals().num_rows,
        }

    def breakdown(self, by: str, column: str) -> list[dict[str, Any]]:
        """Per-key totals of ``column``, most expensive first (ties by key)."""
        total = self.totals["cost_nanos"]
        rows: list[dict[str, Any]] = []
        for k, v in self._merged(column).items():
            cost = v["cost_nanos"]
            rows.append({by: str(k), "cost_nanos": cost, "cost_usd": nanos_to_usd(cost),
                         "calls": v["calls"], **{c: v[c] for c in TOKENS},
                         "unpriced_calls": v["unpriced_calls"],
                         "failed_calls": v["failed_calls"],
                         "share": (cost / total) if total else 0.0})
        rows.sort(key=lambda x: (-x["cost_nanos"], x[by]))
        return rows

    def trend(self, freq: str = "day") -> list[dict[str, Any]]:
        """Per local day (or ISO week, keyed by its Monday) across the whole window, empty
        buckets included, oldest first."""
        z = zone(self.tz)
        by_day = self._merged("day")
        buckets: dict[date, dict[str, int]] = {}
        for n, v in by_day.items():
            d = _EPOCH + timedelta(days=int(n))
            if freq == "week":
                d -= timedelta(days=d.weekday())
            acc = buckets.setdefault(d, dict.fromkeys(("calls", *SUMS), 0))
            for c, x in v.items():
                acc[c] += x
        first = self.since.astimezone(z).date()
        last = (self.until - timedelta(microseconds=1)).astimezone(z).date()
        if freq == "week":
            first -= timedelta(days=first.weekday())
            last -= timedelta(days=last.weekday())
        step = timedelta(days=7 if freq == "week" else 1)
        rows = []
        b = first
        while b <= last:
            got = buckets.get(b)
            label = b.isoformat()
            if freq == "week":
                y, w, _ = b.isocalendar()
                label = f"{y}-W{w:02d}"
            row: dict[str, Any] = {freq: label, "start": b.isoformat()}
            for c in ("cost_nanos", "calls", *TOKENS, "unpriced_calls", "failed_calls"):
                row[c] = got[c] if got is not None else 0
            row["cost_usd"] = nanos_to_usd(row["cost_nanos"])
            rows.append(row)
            b += step
        return rows

    def _session_totals(self) -> pa.Table:
        """One row per session (calls without one left out): cost, calls, first, last."""
        cols = ("session_id", "cost_nanos_sum", "calls_sum", "ts_min", "ts_max")
        if not self._sessions:
            return pa.table({c: pa.chunked_array([], pa.int64()) for c in cols})
        parts = pa.concat_tables([t.select(list(cols)) for t in self._sessions])
        parts = parts.set_column(0, "session_id", pc.cast(parts.column(0), pa.string()))
        if len(self._sessions) > 1:
            merged = parts.group_by("session_id").aggregate(
                [("cost_nanos_sum", "sum"), ("calls_sum", "sum"), ("ts_min", "min"),
                 ("ts_max", "max")])
            parts = merged.select(["session_id", "cost_nanos_sum_sum", "calls_sum_sum",
                                   "ts_min_min", "ts_max_max"]).rename_columns(list(cols))
        return parts.filter(pc.is_valid(parts.column("session_id")))

    def top_sessions(self, n: int = 5) -> list[dict[str, Any]]:
        totals = self._session_totals().sort_by([("cost_nanos_sum", "descending"),
                                                 ("session_id", "ascending")]).slice(0, n)
        top = totals.to_pylist()
        members: dict[str, set[str]] = {r["session_id"]: set() for r in top}
        wanted = pa.array(list(members), pa.string())
        for part in self._sessions:
            keys = pc.cast(part.column("session_id"), pa.string())
            hit = part.filter(pc.fill_null(pc.is_in(keys, value_set=wanted), False))
            for k, ms in zip(pc.cast(hit.column("session_id"), pa.string()).to_pylist(),
                             hit.column("member_distinct").to_pylist()):
                members[k].update(str(m) for m in ms)
        return [{"session": r["session_id"], "cost_nanos": int(r["cost_nanos_sum"]),
                 "cost_usd": nanos_to_usd(int(r["cost_nanos_sum"])),
                 "calls": int(r["calls_sum"]), "members": len(members[r["session_id"]]),
                 "first": r["ts_min"].astimezone(UTC).isoformat(),
                 "last": r["ts_max"].astimezone(UTC).isoformat()} for r in top]


class Spent:
    """What was spent from each period's start (``starts``: name -> UTC µs) until ``now``,
    fed chunks of ``ts`` and ``cost_nanos``: the projections' "so far"."""

    def __init__(self, starts: dict[str, int], now_us: int) -> None:
        self.starts, self.now_us = starts, now_us
        self.spent = dict.fromkeys(starts, 0)

    def add(self, t: pa.Table) -> None:
        if t.num_rows == 0:
            return
        us = t.column("ts").cast(pa.int64()).to_numpy()
        cost = t.column("cost_nanos").to_numpy()
        before_now = us < self.now_us
        for name, start in self.starts.items():
            self.spent[name] += int(cost[(us >= start) & before_now].sum(dtype=np.int64))



class DailyCosts:
    """Cost per local day in ``tz`` (``aggregate.daily_costs``), fed chunks of ``ts`` and
    ``cost_nanos``: what the spike baselines need of the days before a window."""

    def __init__(self, tz: str) -> None:
        self.tz = tz
        self._sums: dict[int, int] = {}

    def add(self, t: pa.Table) -> None:
        if t.num_rows == 0:
            return
        days = day_numbers(t.column("ts").cast(pa.int64()).to_numpy(), self.tz)
        sums = pa.table({"d": pa.array(days, pa.int64()), "c": _ints(t.column("cost_nanos"))}
                        ).group_by("d").aggregate([("c", "sum")])
        for d, c in zip(sums.column("d").to_pylist(), sums.column("c_sum").to_pylist()):
            self._sums[d] = self._sums.get(d, 0) + c

    def costs(self) -> dict[date, int]:
        return {_EPOCH + timedelta(days=n): c for n, c in self._sums.items()}
