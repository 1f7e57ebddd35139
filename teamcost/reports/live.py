"""The data behind `teamcost watch`: one snapshot of the team's spend, refreshed in a loop.

``snapshot`` is pure (a calls frame, a clock, a budget in; numbers out) so it is tested
with hand-worked figures; the maths is the reports' own (teamcost.reports.aggregate,
teamcost.periods). ``LiveSource`` does the I/O of one refresh: an incremental pull into
the team cache (only what was pushed since the last one), then the same frame a report
reads (cache + this machine's unpushed calls) from the start of the month.

Once the team's rollups are complete (``teamcost_rollup_state/{team}``), no call is pulled:
a refresh reads the rollup cells changed since the last one (``rollup_cache.refresh``)
and sums the period from them (``rollup_snapshot``), and the two figures that need
single calls come from Firestore on demand, bounded by the window: the newest calls
(``window.newest_calls``, ``latest`` documents) and the last hour's spend (one
aggregation, billed one read per 1,000 calls of that hour).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from teamcost.errors import TeamcostError
from teamcost.periods import period_bounds, project_to_end
from teamcost.reports import aggregate as agg
from teamcost.reports.frames import load_calls
from teamcost.reports.freshness import last_pull, latest
from teamcost.sync.client import client_for
from teamcost.sync.retry import Backoff

if TYPE_CHECKING:
    from teamcost.config import Config

WATCH_BACKOFF = Backoff(attempts=2, base_s=0.2, cap_s=1.0)
LISTEN_RETRY_S = 30.0   # a listener that ended (or never started) is tried again after this


@dataclass(frozen=True)
class BudgetLine:
    """What watch needs of a budget: the amount, the period and its warning thresholds."""

    limit_nanos: int
    period: str = "month"
    thresholds: tuple[float, ...] = (0.8,)


@dataclass(frozen=True)
class Share:
    key: str
    cost_nanos: int
    calls: int


@dataclass(frozen=True)
class LiveSnapshot:
    team: str
    now: datetime
    tz: str
    period: str
    period_start: datetime
    period_end: datetime
    today_nanos: int
    today_calls: int
    period_nanos: int
    period_calls: int
    limit_nanos: int | None
    rate_nanos_per_hour: int        # over the period so far
    last_hour_nanos: int            # spent in the 60 minutes before now
    projected_nanos: int            # period spend if the period's rate holds to its end
    by_member: list[Share]
    by_model: list[Share]
    latest: list[LatestCall]
    unpriced_calls: int = 0
    source: str = ""                # where the calls came from (cache / ledger)
    refreshed: dict[str, Any] = field(default_factory=dict)  # last refresh's facts
    # "set", "none" (no budget set), "local" (no project: budgets live in Firestore) or
    # "unknown" (it could not be read: limit_nanos is then the last known one, if any)
    budget_state: str = "none"
    budget_error: str | None = None
    budget_read_at: datetime | None = None   # when the limit shown was read
    offline_since: datetime | None = None    # unknown: the last time Firestore answered

    @property
    def used_fraction(self) -> float | None:
        if not self.limit_nanos:
            return None
        return self.period_nanos / self.limit_nanos

    @property
    def projected_fraction(self) -> float | None:
        if not self.limit_nanos:
            return None
        return self.projected_nanos / self.limit_nanos

    def to_dict(self) -> dict[str, Any]:
        return {
            "team": self.team, "now": self.now.isoformat(), "tz": self.tz,
            "period": self.period, "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "today_nanos": self.today_nanos, "today_calls": self.today_calls,
            "period_nanos": self.period_nanos, "period_calls": self.period_calls,
            "limit_nanos": self.limit_nanos, "used_fraction": self.used_fraction,
            "rate_nanos_per_hour": self.rate_nanos_per_hour,
            "last_hour_nanos": self.last_hour_nanos, "projected_nanos": self.projected_nanos,
            "by_member": [s.__dict__ for s in self.by_member],
            "by_model": [s.__dict__ for s in self.by_model],
            "latest": [{"ts": c.ts.isoformat(), "member": c.member, "agent": c.agent,
                        "model": c.model, "total_tokens": c.total_tokens,
                        "cost_nanos": c.cost_nanos, "call_id": c.call_id}
                       for c in self.latest], "unpriced_calls": self.unpriced_calls,
            "source": self.source, "refreshed": self.refreshed,
            "budget_state": self.budget_state, "budget_error": self.budget_error,
            "budget_read_at": _iso(self.budget_read_at),
            "offline_since": _iso(self.offline_since),
        }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t else None


@dataclass(frozen=True)
class LatestCall:
    ts: datetime
    member: str
    agent: str | None
    model: str
    total_tokens: int
    cost_nanos: int
    call_id: str


def _latest(df: pd.DataFrame, n: int) -> list[LatestCall]:
    if len(df) > n:  # sort only the newest (and their ties), not a month of calls
        df = df[df["ts"] >= df["ts"].nlargest(n).iloc[-1]]
    rows = df.sort_values(["ts", "call_id"], ascending=False, kind="stable").head(n)
    tokens = (rows["input_tokens"] + rows["output_tokens"] + rows["cache_read_tokens"]
              + rows["cache_write_tokens"])
    return [LatestCall(ts.to_pydatetime(), str(m), None if pd.isna(a) else str(a), str(mo),
                       int(t), int(c), str(cid))
            for ts, m, a, mo, t, c, cid in zip(rows["ts"], rows["member"], rows["agent"],
                                               rows["model"], tokens, rows["cost_nanos"],
                                               rows["call_id"])]


def _shares(df: pd.DataFrame, by: str, top: int) -> list[Share]:
    return [Share(r[by], r["cost_nanos"], r["calls"]) for r in agg.breakdown(df, by)[:top]]


def snapshot(df: pd.DataFrame, now: datetime, *, team: str, tz: str = "UTC",
             budget: BudgetLine | None = None, latest: int = 8, top: int = 8,
             source: str = "") -> LiveSnapshot:
    """The numbers watch shows, from a calls frame (``teamcost.reports.frames`` columns)
    that covers at least ``agg.earliest_needed(now, now, tz)`` up to ``now``.

    Rate and projection are the reports' and the budget check's own (``aggregate.spend_rate``
    and ``periods.project_to_end``) over the budget period so far.
    """
    period = budget.period if budget else "month"
    p_start, p_end = period_bounds(now, period, tz)
    d_start, _ = period_bounds(now, "day", tz)
    ts = df["ts"]
    in_period = df[(ts >= pd.Timestamp(p_start)) & (ts <= pd.Timestamp(now))]
    today = in_period[in_period["ts"] >= pd.Timestamp(d_start)]
    last_hour = in_period[in_period["ts"] > pd.Timestamp(now - timedelta(hours=1))]
    period_nanos = int(in_period["cost_nanos"].sum())
    rate = agg.spend_rate(period_nanos, p_start, p_end, now)["per_hour_nanos"]
    projected = project_to_end(period_nanos, p_start, p_end, now)
    return LiveSnapshot(
        team=team, now=now, tz=tz, period=period, period_start=p_start, period_end=p_end,
        today_nanos=int(today["cost_nanos"].sum()), today_calls=len(today),
        period_nanos=period_nanos, period_calls=len(in_period),
        limit_nanos=budget.limit_nanos if budget else None, rate_nanos_per_hour=rate,
        last_hour_nanos=int(last_hour["cost_nanos"].sum()), projected_nanos=projected,
        by_member=_shares(in_period, "member", top), by_model=_shares(in_period, "model", top),
        latest=_latest(in_period, latest),
        unpriced_calls=int((~in_period["priced"]).sum()), source=source)


class LiveSource:
    """One refresh = incremental pull (when a project is configured) + a read of the period.

    Without a Firestore project the local ledger is the source (a one-person team).
    The budget is read at the first refresh and then every ``budget_every`` refreshes.
    """

    def __init__(self, config: Config, *, client: Any = None, budget_every: int = 12,
                 others_pull: Callable[[], bool] = lambda: False, listen: bool = True,
                 listen_ready_s: float = 0.0, listen_retry_s: float = LISTEN_RETRY_S
                 ) -> None:
        """``others_pull``: True while something else keeps the cache fresh (an agent on this
        home): the refresh then reads the cache without a pull of its own. ``listen``:
        with complete rollups, keep the rollup copy current with a real-time listener
        (sync/rollup_listen.py) rather than a query per refresh; polled when it fails."""
        self.config = config
        self._listen = listen
        self._listen_ready_s = listen_ready_s
        self._listen_tried = -1e18
        self._listen_retry_s = listen_retry_s
        self.listener: Any = None
        self._others_pull = others_pull
        self._client = client
        self._view = BudgetView(None, None, "set" if config.project else "local", None)
        self._budget_every = budget_every
        self._n = 0
        self._memo: dict[str, Any] = {}    # the newest calls of the last rollup refresh

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()

    def _listening(self) -> Any:
        """The listener keeping the rollup copy current, when it is alive and has stored its
        first snapshot; else None, and this refresh polls (``rollup_cache.refresh``).

        A listener is started only after a poll brought the copy up to date (so its first
        snapshot holds only what changed since: a new member's first month of cells is
        read once, by the poll), and not more than once every LISTEN_RETRY_S (offline,
        a listener never delivers; the polls say so at once)."""
        if not self._listen:
            return None
        listener = self.listener
        if listener is not None and listener.alive and listener.ready:
            return listener
        if listener is not None and not listener.alive:
            listener.close()
            self.listener = None
        return None

    def _start_listener(self) -> None:
        if not self._listen or self.listener is not None:
            return
        if time.monotonic() - self._listen_tried < self._listen_retry_s:
            return
        self._listen_tried = time.monotonic()
        from teamcost.sync.rollup_listen import CellListener
        try:
            self.listener = CellListener(self._client, self.config, self.config.team)
        except Exception:   # noqa: BLE001 - no listener: the refreshes poll
            self.listener = None

    def _rollups(self) -> bool:
        """Whether the team's rollups count every call (remembered once true)."""
        if self._client is None:
            self._client = client_for(self.config)
        return rollups_ready(self.config, self._client)

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self, now: datetime | None = None) -> LiveSnapshot:
        cfg = self.config
        facts: dict[str, Any] = {}
        started = time.monotonic()
        now = now or datetime.now(UTC)
        if cfg.project and self._rollups():
            if self._n % self._budget_every == 0 or self._view.state == "unknown":
                from teamcost.budget.known import read_budget
                self._view = budget_view(read_budget(cfg, self._client), now, self._view)
            try:
                listener = self._listening()
                if listener is not None:
                    facts["listener"] = {"delivered": listener.delivered,
                                         "snapshots": listener.version}
                snap = rollup_snapshot(cfg, self._client, now, self._view.line,
                                       refresh=listener is None, memo=self._memo,
                                       version=None if listener is None
                                       else listener.version)
                if listener is None:        # the copy is current: listen from here on
                    self._start_listener()
                    if self.listener is not None and self._listen_ready_s:
                        self.listener.wait_ready(self._listen_ready_s)
            except TeamcostError as exc:
                # offline: what the rollup copy holds, without the calls only Firestore has
                facts["error"] = str(exc)
                snap = rollup_snapshot(cfg, None, now, self._view.line, refresh=False)
            self._n += 1
            facts["seconds"] = round(time.monotonic() - started, 3)
            facts["at"] = now.isoformat(timespec="seconds")
            snap.refreshed.update(facts)
            return self._view.apply(snap, cfg)
        if cfg.project:
            from teamcost.sync.cache import TeamCache
            from teamcost.sync.pull import pull
            if self._client is None:
                self._client = client_for(cfg)
            if self._n % self._budget_every == 0 or self._view.state == "unknown":
                from teamcost.budget.known import read_budget
                self._view = budget_view(read_budget(cfg, self._client), now, self._view)
            try:
                if self._others_pull():
                    facts["pulled_by"] = "agent"
                    facts["cache_pulled_at"] = _iso(last_pull(cfg))
                else:
                    # the next refresh is the retry: a short backoff keeps the view responsive
                    with TeamCache.for_config(cfg) as cache:
                        res = pull(cfg, self._client, cache, backoff=WATCH_BACKOFF)
                    facts |= {"pulled": res.read, "new": res.new}
            # offline, or a cache that cannot be written (a read-only home): keep showing
            # what the cache holds, as a report does (refresh_team_cache)
            except TeamcostError as exc:
                facts["error"] = str(exc)
                pulled = last_pull(cfg)
                facts["cache_pulled_at"] = _iso(pulled)
        # the same frame a report reads: team cache + this machine's unpushed calls
        snap = read_snapshot(cfg, now, self._view.line)
        self._n += 1
        facts["seconds"] = round(time.monotonic() - started, 3)
        facts["at"] = now.isoformat(timespec="seconds")
        snap.refreshed.update(facts)
        return self._view.apply(snap, cfg)


def _line(budget: Any) -> BudgetLine | None:
    return None if budget is None else BudgetLine(budget.amount_nanos, budget.period,
                                                  budget.thresholds)


def read_snapshot(config: Config, now: datetime, budget: BudgetLine | None = None
                  ) -> LiveSnapshot:
    """The snapshot of what is stored now (no pull): the same frame a report reads, the
    team cache + this machine's unpushed calls (the ledger alone without a project)."""
    df, used = load_calls(config, agg.earliest_needed(now, now, config.timezone),
                          now + timedelta(microseconds=1),
                          source="team" if config.project else "local")
    source = (f"team cache {config.cache_file}" if used == "team"
              else f"local ledger {config.ledger_file}")
    return snapshot(df, now, team=config.team, tz=config.timezone, budget=budget,
                    source=source)


@dataclass(frozen=True)
class BudgetView:
    """The budget a view shows: its line, when it was read, and its state (set, none, unknown,
    local) with the error that made it unknown."""

    line: BudgetLine | None
    read_at: datetime | None
    state: str
    error: str | None

    def apply(self, snap: LiveSnapshot, config: Config) -> LiveSnapshot:
        offline = (latest(self.read_at, last_pull(config)) if self.state == "unknown"
                   else None)
        return replace(snap, budget_state=self.state, budget_error=self.error,
                       budget_read_at=self.read_at, offline_since=offline)


def budget_view(read: Any, now: datetime, before: BudgetView | None = None) -> BudgetView:
    """What a view shows after a budget read (``budget.known.read_budget``): the budget read
    now; when it cannot be read, the one this view read before, else the last one this
    machine read, said to be unknown."""
    if not read.unknown:
        return BudgetView(_line(read.budget), now,
                          "set" if read.budget is not None else "none", None)
    if before is not None and before.read_at is not None:
        return BudgetView(before.line, before.read_at, "unknown", read.error)
    known = read.known
    if known is None:
        return BudgetView(before.line if before else None, None, "unknown", read.error)
    return BudgetView(_line(known.budget), known.read_at, "unknown", read.error)


def stored_snapshot(config: Config, now: datetime, client: Any = None) -> LiveSnapshot:
    """What watch shows after a refresh, without the pull (the dashboard's view): the stored
    calls and the budget read now, or, when it cannot be read, the last known one, said to
    be unknown. With complete rollups: the rollup copy as the dashboard's loop last
    refreshed it, and the window's newest calls and last hour read from Firestore."""
    from teamcost.budget.known import read_budget

    if not config.project:
        return read_snapshot(config, now)
    client = client if client is not None else client_for(config)
    view = budget_view(read_budget(config, client), now)
    if rollups_ready(config, client):
        try:
            snap = rollup_snapshot(config, client, now, view.line, refresh=False)
        except TeamcostError as exc:
            snap = rollup_snapshot(config, None, now, view.line, refresh=False)
            snap.refreshed["error"] = str(exc)
        return view.apply(snap, config)
    return view.apply(read_snapshot(config, now, view.line), config)


def rollups_ready(config: Config, client: Any) -> bool:
    """True when the team's rollups count every call. When that cannot be read now
    (offline): True if this machine's rollup copy holds the team's cells (it is filled
    only once they are complete, and they stay so), so the view shows the copy; else
    False, and the calls path shows what the team cache holds, as before rollups."""
    from teamcost.sync.rollups import rollups_in_use
    try:
        return rollups_in_use(client, config.team, WATCH_BACKOFF)
    except TeamcostError:
        path = Path(config.cache_file).with_name("rollups.sqlite")
        if not path.is_file():
            return False
        from teamcost.sync.rollup_cache import RollupCache
        try:
            with RollupCache(path) as cache:
                return cache.watermark(config.team) is not None
        except TeamcostError:
            return False


def _unpushed_latest(config: Config, since: datetime, now: datetime, n: int
                     ) -> list[Any]:
    """This machine's newest calls of the team not pushed yet (since <= ts <= now)."""
    from teamcost.ledger import Ledger, ts_to_us
    from teamcost.reports.calls import _newest

    if not config.ledger_file.exists():
        return []
    with Ledger.for_reading(config) as ledger:
        return _newest(ledger.conn, "calls", config.team, since, None, n,
                       " AND pushed_at IS NULL AND ts <= ?", (ts_to_us(now),))


def _latest_records(records: list[Any], n: int) -> list[LatestCall]:
    seen: dict[str, Any] = {}
    for r in records:
        seen.setdefault(r.call_id, r)
    newest = sorted(seen.values(), key=lambda r: (r.ts, r.call_id), reverse=True)[:n]
    return [LatestCall(r.ts, r.member, r.agent, r.model,
                       r.input_tokens + r.output_tokens + r.cache_read_tokens
                       + r.cache_write_tokens, r.cost_nanos, r.call_id) for r in newest]


def _rollup_shares(table: Any, col: str, top: int) -> list[Share]:
    if not table.num_rows:
        return []
    g = table.group_by(col).aggregate([("cost_nanos", "sum"), ("calls", "sum")])
    rows = [(("(none)" if k is None else str(k)), int(c), int(n))
            for k, c, n in zip(g.column(col).to_pylist(), g.column("cost_nanos_sum").to_pylist(),
                               g.column("calls_sum").to_pylist(), strict=True)]
    rows.sort(key=lambda r: (-r[1], r[0]))
    return [Share(k, c, n) for k, c, n in rows[:top]]


def _sums(table: Any) -> tuple[int, int, int]:
    """(cost_nanos, calls, unpriced calls) of a rollup table."""
    if not table.num_rows:
        return 0, 0, 0
    return (int(table.column("cost_nanos").to_numpy().sum()),
            int(table.column("calls").to_numpy().sum()),
            int(table.column("unpriced_calls").to_numpy().sum()))


def rollup_snapshot(config: Config, client: Any, now: datetime,
                    budget: BudgetLine | None = None, *, refresh: bool = True,
                    latest: int = 8, top: int = 8,
                    memo: dict[str, Any] | None = None,
                    version: int | None = None) -> LiveSnapshot:
    """``snapshot``'s numbers from the team's rollup cells (plus this machine's unpushed
    calls), equal to the calls' sums to the nano-dollar: the period and today start on a
    local midnight, a whole number of quarter-hours in every real zone. ``client`` None:
    offline, from the copy alone (no newest calls, no last hour but this machine's).

    ``memo`` (a refresh loop's): the newest calls read last time are reused when this
    refresh found no changed cell in the same period, since a call document and its cell
    are written by one commit and a refresh sees every commit before it: no new call.
    ``version``: the copy is kept by a listener (no refresh here), at this snapshot
    count; the newest calls are read again only when it moved."""
    import pyarrow.compute as pc

    from teamcost.reports.rollup_source import team_table, unpushed_table
    from teamcost.sync.window import newest_calls, sum_calls

    tz = config.timezone
    period = budget.period if budget else "month"
    p_start, p_end = period_bounds(now, period, tz)
    d_start, _ = period_bounds(now, "day", tz)
    start = min(p_start, d_start)
    end = now + timedelta(microseconds=1)          # the calls' path counts ts <= now
    table, read = team_table(config, client, start, end, refresh=refresh and client is not None,
                             backoff=WATCH_BACKOFF)
    ts = table.column("ts")
    in_period = table.filter(pc.greater_equal(ts, pa_scalar(p_start, ts.type)))
    today = table.filter(pc.greater_equal(ts, pa_scalar(d_start, ts.type)))
    period_nanos, period_calls, unpriced = _sums(in_period)
    today_nanos, today_calls, _ = _sums(today)
    hour_from = now - timedelta(hours=1) + timedelta(microseconds=1)   # ts > now - 1h
    mine_hour = unpushed_table(config, hour_from, end)
    hour_nanos = _sums(mine_hour)[0]
    records = _unpushed_latest(config, p_start, now, latest)
    facts: dict[str, Any] = {"rollups": True, "cells_read": read}
    if client is not None:
        unchanged = (read == 0 and refresh) if version is None else (
            memo is not None and memo.get("version") == version)
        # calls only leave the last hour as time passes: an hour with no pushed call stays
        # empty until a cell changes, so an idle team's refresh reads nothing for it
        if memo is not None and unchanged and memo.get("hour") == (0, 0):
            n, c = 0, 0
        else:
            n, c = sum_calls(client, config.team, hour_from, end, WATCH_BACKOFF)
        if memo is not None and (refresh or version is not None):
            memo["hour"] = (n, c)
        hour_nanos += c
        if (memo is not None and unchanged and memo.get("period_start") == p_start
                and "latest" in memo):
            got = memo["latest"]
            facts |= {"hour_calls": n, "latest_read": 0}
        else:
            got = newest_calls(client, config.team, since=p_start, until=end, limit=latest,
                               backoff=WATCH_BACKOFF)
            facts |= {"hour_calls": n, "latest_read": len(got)}
            if memo is not None and (refresh or version is not None):
                memo.update(period_start=p_start, latest=got, version=version)
        records += got
    rate = agg.spend_rate(period_nanos, p_start, p_end, now)["per_hour_nanos"]
    snap = LiveSnapshot(
        team=config.team, now=now, tz=tz, period=period, period_start=p_start,
        period_end=p_end, today_nanos=today_nanos, today_calls=today_calls,
        period_nanos=period_nanos, period_calls=period_calls,
        limit_nanos=budget.limit_nanos if budget else None, rate_nanos_per_hour=rate,
        last_hour_nanos=hour_nanos,
        projected_nanos=project_to_end(period_nanos, p_start, p_end, now),
        by_member=_rollup_shares(in_period, "member", top),
        by_model=_rollup_shares(in_period, "model", top),
        latest=_latest_records(records, latest), unpriced_calls=unpriced,
        source=f"team rollups {Path(config.cache_file).with_name('rollups.sqlite')}")
    snap.refreshed.update(facts)
    return snap


def pa_scalar(t: datetime, typ: Any) -> Any:
    import pyarrow as pa
    return pa.scalar(t, type=typ)


def load_budget_line(config: Config, client: Any = None) -> BudgetLine | None:
    """The team's pooled budget; when it cannot be read now, the last one this machine read
    (a chart keeps its budget line offline); None when none is set or none is known
    (``LiveSource`` tells those apart; this is for callers that need only a limit)."""
    if not config.project:
        return None
    from teamcost.budget.known import read_budget
    if client is None:
        client = client_for(config)
    read = read_budget(config, client)
    if read.unknown:
        return _line(read.known.budget) if read.known is not None else None
    return _line(read.budget)
