"""The data behind `teamcost watch`: one snapshot of the team's spend, refreshed in a loop.

``snapshot`` is pure (a calls frame, a clock, a budget in; numbers out) so it is tested
with hand-worked figures; the maths is the reports' own (teamcost.reports.aggregate,
teamcost.periods). ``LiveSource`` does the I/O of one refresh: an incremental pull into
the team cache (only what was pushed since the last one), then the same frame a report
reads (cache + this machine's unpushed calls) from the start of the month.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from teamcost.errors import SyncError, TeamcostError
from teamcost.periods import period_bounds, project_to_end
from teamcost.reports import aggregate as agg
from teamcost.reports.frames import load_calls
from teamcost.sync.client import client_for
from teamcost.sync.retry import Backoff

if TYPE_CHECKING:
    from teamcost.config import Config

WATCH_BACKOFF = Backoff(attempts=2, base_s=0.2, cap_s=1.0)


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
            "limit_nanos": self.limit_nanos, "rate_nanos_per_hour": self.rate_nanos_per_hour,
            "last_hour_nanos": self.last_hour_nanos, "projected_nanos": self.projected_nanos,
            "by_member": [s.__dict__ for s in self.by_member],
            "by_model": [s.__dict__ for s in self.by_model],
            "latest": [{"ts": c.ts.isoformat(), "member": c.member, "agent": c.agent,
                        "model": c.model, "total_tokens": c.total_tokens,
                        "cost_nanos": c.cost_nanos, "call_id": c.call_id}
                       for c in self.latest], "unpriced_calls": self.unpriced_calls,
            "source": self.source, "refreshed": self.refreshed,
        }


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

    def __init__(self, config: Config, *, client: Any = None, budget_every: int = 12) -> None:
        self.config = config
        self._client = client
        self._budget: BudgetLine | None = None
        self._budget_every = budget_every
        self._n = 0

    def close(self) -> None:
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self, now: datetime | None = None) -> LiveSnapshot:
        cfg = self.config
        facts: dict[str, Any] = {}
        started = time.monotonic()
        now = now or datetime.now(UTC)
        if cfg.project:
            from teamcost.sync.cache import TeamCache
            from teamcost.sync.pull import pull
            if self._client is None:
                self._client = client_for(cfg)
            if self._n % self._budget_every == 0:
                self._budget = load_budget_line(cfg, self._client)
            try:
                # the next refresh is the retry: a short backoff keeps the view responsive
                with TeamCache.for_config(cfg) as cache:
                    res = pull(cfg, self._client, cache, backoff=WATCH_BACKOFF)
                facts |= {"pulled": res.read, "new": res.new}
            except SyncError as exc:  # offline: keep showing what the cache holds
                facts["error"] = str(exc)
        # the same frame a report reads: team cache + this machine's unpushed calls
        df, used = load_calls(cfg, agg.earliest_needed(now, now, cfg.timezone),
                              now + timedelta(microseconds=1),
                              source="team" if cfg.project else "local")
        source = (f"team cache {cfg.cache_file}" if used == "team"
                  else f"local ledger {cfg.ledger_file}")
        self._n += 1
        facts["seconds"] = round(time.monotonic() - started, 3)
        facts["at"] = now.isoformat(timespec="seconds")
        snap = snapshot(df, now, team=cfg.team, tz=cfg.timezone, budget=self._budget,
                        source=source)
        snap.refreshed.update(facts)
        return snap


def load_budget_line(config: Config, client: Any = None) -> BudgetLine | None:
    """The team's pooled budget, or None when none is set (or it cannot be read now)."""
    if not config.project:
        return None
    from teamcost.budget.store import get_budget
    if client is None:
        client = client_for(config)
    try:
        b = get_budget(client, config.team)
    except TeamcostError:  # offline: the view goes on without a limit until the next read
        return None
    return None if b is None else BudgetLine(b.amount_nanos, b.period, b.thresholds)
