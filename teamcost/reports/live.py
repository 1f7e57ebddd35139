"""The data behind `teamcost watch`: one snapshot of the team's spend, refreshed in a loop.

``snapshot`` is pure (calls, a clock, a budget in; numbers out) so it is tested with
hand-worked figures. ``LiveSource`` does the I/O of one refresh: an incremental pull
into the team cache (only what was pushed since the last one), then a read of the
cache for the current period.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Sequence
from zoneinfo import ZoneInfo

import pandas as pd

from teamcost.errors import SyncError
from teamcost.models import CallRecord
from teamcost.sync.retry import Backoff

if TYPE_CHECKING:
    from teamcost.config import Config

PERIODS = ("day", "week", "month")
US_PER_HOUR = 3_600_000_000
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
    latest: list[CallRecord]
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
            "latest": [c.call_id for c in self.latest], "unpriced_calls": self.unpriced_calls,
            "source": self.source, "refreshed": self.refreshed,
        }


def period_bounds(now: datetime, period: str, tz: str = "UTC") -> tuple[datetime, datetime]:
    """[start, end) of the calendar day / ISO week / month containing ``now``, in ``tz``.

    Returned in UTC. Computed on local wall-clock dates, so DST days are 23 or 25 hours.
    """
    if period not in PERIODS:
        from teamcost.errors import InvalidValue
        raise InvalidValue("period", period, "day, week or month")
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    start_d = local.date()
    if period == "week":
        start_d -= timedelta(days=local.weekday())
        end_d = start_d + timedelta(days=7)
    elif period == "month":
        start_d = start_d.replace(day=1)
        end_d = (start_d + timedelta(days=32)).replace(day=1)
    else:
        end_d = start_d + timedelta(days=1)

    def at_midnight(d: Any) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(timezone.utc)

    return at_midnight(start_d), at_midnight(end_d)


def _frame(calls: Sequence[CallRecord]) -> pd.DataFrame:
    return pd.DataFrame({
        "ts_us": pd.array([int(c.ts.timestamp() * 1_000_000) for c in calls], dtype="int64"),
        "member": [c.member for c in calls],
        "model": [c.model for c in calls],
        "cost_nanos": pd.array([c.cost_nanos for c in calls], dtype="int64"),
        "priced": [c.priced for c in calls],
    })


def _shares(df: pd.DataFrame, key: str, top: int) -> list[Share]:
    if df.empty:
        return []
    g = df.groupby(key, sort=False)["cost_nanos"].agg(["sum", "count"])
    g = g.sort_values(["sum", "count"], ascending=False, kind="stable").head(top)
    return [Share(str(k), int(r["sum"]), int(r["count"])) for k, r in g.iterrows()]


def _us(ts: datetime) -> int:
    # exact integer microseconds (float timestamps lose the last digit for far dates)
    delta = ts - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def snapshot(calls: Sequence[CallRecord], now: datetime, *, team: str, tz: str = "UTC",
             budget: BudgetLine | None = None, latest: int = 8, top: int = 8,
             source: str = "") -> LiveSnapshot:
    """The numbers watch shows, from the team's calls (any superset of the period).

    Rate = period spend / hours elapsed in the period; projection = spend + rate x hours
    left. All money stays integer nano-dollars (the rate is rounded down once).
    """
    period = budget.period if budget else "month"
    p_start, p_end = period_bounds(now, period, tz)
    d_start, _ = period_bounds(now, "day", tz)
    now_us = _us(now)
    in_period = [c for c in calls if p_start <= c.ts <= now]
    df = _frame(in_period)
    today = df[df["ts_us"] >= _us(d_start)]
    last_hour = df[df["ts_us"] > now_us - US_PER_HOUR]
    period_nanos = int(df["cost_nanos"].sum()) if not df.empty else 0
    elapsed_us = max(now_us - _us(p_start), 1)
    left_us = max(_us(p_end) - now_us, 0)
    rate = period_nanos * US_PER_HOUR // elapsed_us
    projected = period_nanos + period_nanos * left_us // elapsed_us
    newest = sorted(in_period, key=lambda c: (c.ts, c.call_id), reverse=True)[:latest]
    return LiveSnapshot(
        team=team, now=now, tz=tz, period=period, period_start=p_start, period_end=p_end,
        today_nanos=int(today["cost_nanos"].sum()) if not today.empty else 0,
        today_calls=len(today), period_nanos=period_nanos, period_calls=len(df),
        limit_nanos=budget.limit_nanos if budget else None, rate_nanos_per_hour=rate,
        last_hour_nanos=int(last_hour["cost_nanos"].sum()) if not last_hour.empty else 0,
        projected_nanos=projected, by_member=_shares(df, "member", top),
        by_model=_shares(df, "model", top), latest=newest,
        unpriced_calls=int((~df["priced"]).sum()) if not df.empty else 0, source=source)


class LiveSource:
    """One refresh = incremental pull (when a project is configured) + a read of the period.

    Without a Firestore project the local ledger is the source (a one-person team).
    The budget is read at the first refresh and then every ``budget_every`` refreshes.
    """

    def __init__(self, config: "Config", *, client: Any = None, budget_every: int = 12) -> None:
        self.config = config
        self._client = client
        self._budget: BudgetLine | None = None
        self._budget_every = budget_every
        self._n = 0
        self._cache: Any = None
        self._ledger: Any = None

    def close(self) -> None:
        for res in (self._cache, self._ledger):
            if res is not None:
                res.close()
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()

    def __enter__(self) -> "LiveSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self, now: datetime | None = None) -> LiveSnapshot:
        cfg = self.config
        facts: dict[str, Any] = {}
        started = time.monotonic()
        since_guess = (now or datetime.now(timezone.utc)) - timedelta(days=32)
        if cfg.project:
            from teamcost.sync.cache import TeamCache
            from teamcost.sync.pull import pull
            from teamcost.sync.service import client_for
            if self._client is None:
                self._client = client_for(cfg)
            if self._cache is None:
                self._cache = TeamCache.for_config(cfg)
            if self._n % self._budget_every == 0:
                self._budget = load_budget_line(cfg, self._client)
            try:
                # the next refresh is the retry: a short backoff keeps the view responsive
                res = pull(cfg, self._client, self._cache, backoff=WATCH_BACKOFF)
                facts |= {"pulled": res.read, "new": res.new}
            except SyncError as exc:  # offline: keep showing what the cache holds
                facts["error"] = str(exc)
            calls = self._cache.calls(cfg.team, since=since_guess)
            source = f"team cache {cfg.cache_file}"
        else:
            from teamcost.ledger import Ledger
            if self._ledger is None:
                self._ledger = Ledger.for_config(cfg)
            calls = self._ledger.calls(since=since_guess)
            source = f"local ledger {cfg.ledger_file}"
        self._n += 1
        now = now or datetime.now(timezone.utc)
        facts["seconds"] = round(time.monotonic() - started, 3)
        facts["at"] = now.isoformat(timespec="seconds")
        snap = snapshot(calls, now, team=cfg.team, tz=cfg.timezone, budget=self._budget,
                        source=source)
        snap.refreshed.update(facts)
        return snap


def load_budget_line(config: "Config", client: Any) -> BudgetLine | None:
    """The team's pooled budget, or None when none is set.

    TODO(budget issue): read it through teamcost.budget once that lands; until then the
    budget document is not read and watch shows spend without a limit.
    """
    return None
