"""The report document: one versioned dict that the table, JSON and CSV views all render.

Schema: ``teamcost/reports/report.schema.json`` (``"schema": "teamcost.report/1"``).
Additive changes keep the version; a renamed or removed field bumps it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from teamcost.errors import InvalidValue, TeamcostError
from teamcost.periods import Window, zone
from teamcost.reports import aggregate as agg
from teamcost.reports.frames import Filters, load_calls, load_daily_costs
from teamcost.reports.freshness import last_pull, latest

if TYPE_CHECKING:
    from teamcost.config import Config

SCHEMA_ID = "teamcost.report/1"
DEFAULT_BY = ("member", "model")
log = logging.getLogger(__name__)


def parse_by(values: Sequence[str] | None) -> tuple[str, ...]:
    """--by member,model (repeatable, comma separated) -> validated names, in order."""
    if not values:
        return DEFAULT_BY
    out: list[str] = []
    for item in values:
        for name in (p.strip() for p in item.split(",")):
            if name not in agg.BY_CHOICES:
                raise InvalidValue("by", name, ", ".join(agg.BY_CHOICES))
            if name not in out:
                out.append(name)
    return tuple(out)


def _refresh(config: Config) -> str | None:
    """An incremental pull before reporting; a failure is a warning, not the end."""
    try:
        from teamcost.sync.service import run_pull
        run_pull(config)
    except TeamcostError as exc:
        return f"showing the cached team data: could not pull new calls ({exc})"
    return None


def _budget(config: Config, now: datetime | None = None,
            client: Any = None) -> dict[str, Any] | None:
    """The budget's status; when it cannot be read, ``state: unknown`` with the error, the
    last budget this machine read (``last_known``) and ``offline_since``: the last time
    Firestore answered (that read, or the cache's last pull)."""
    from teamcost.budget.check import budget_status  # late: the budget stack loads Firestore
    from teamcost.budget.known import last_known

    try:
        status = budget_status(config, client, now=now)
    except TeamcostError as exc:
        known = last_known(config)
        since = latest(known.read_at if known else None, last_pull(config))
        return {"state": "unknown", "error": str(exc),
                "last_known": known.to_dict() if known else None,
                "offline_since": since.isoformat(timespec="seconds") if since else None}
    return status.to_dict() if status is not None else None


def build_report(config: Config, window: Window, *, by: Sequence[str] = DEFAULT_BY,
                 filters: Filters = Filters(), tz: str | None = None,
                 source: str | None = None, now: datetime | None = None,
                 refresh: bool = True, budget: bool = True,
                 client: Any = None) -> dict[str, Any]:
    """Everything ``teamcost report`` shows, as plain data (ints for money).

    ``client`` is the Firestore client for the budget line (a long-running caller such
    as ``teamcost serve`` keeps one instead of making one per report).
    """
    tz = tz or config.timezone
    zone(tz)  # validate before any work
    now = now or datetime.now(UTC)
    warnings: list[str] = []
    if source not in (None, "team", "local"):
        raise InvalidValue("source", source, "team or local")
    if source == "team" and not config.has_firestore:
        raise InvalidValue("source", source, "local (no Firestore project is configured; "
                           "run `teamcost init --project ID` to report on the team)")
    use_team = source == "team" or (source is None and config.has_firestore)
    pulled_now = False
    if use_team and refresh:
        warning = _refresh(config)
        if warning:
            warnings.append(warning)
        pulled_now = warning is None
    live = window.until >= now
    start = agg.earliest_needed(window.since, now, tz) if live else window.since
    end = max(window.until, now) if live else window.until
    source = "team" if use_team else "local"
    # each day's spike baseline reaches back before the window: of the days before what
    # the report loads, only their costs are read (first, while memory is still free)
    base = agg.baseline_start(window.since, tz)
    before = (load_daily_costs(config, base, start, tz, source=source, filters=filters)
              if base < start else {})
    context, used = load_calls(config, start, end, source=source, filters=filters)
    if start == window.since and end == window.until:
        df = context  # the context is exactly the window: no copy
    else:
        df = context[(context["ts"] >= pd.Timestamp(window.since))
                     & (context["ts"] < pd.Timestamp(window.until))]
    costs = agg.add_costs(agg.daily_costs(context, tz), before)
    doc = report_document(df, context if live else None, window, by=by, tz=tz, now=now,
                          team=config.team, source=used, filters=filters,
                          warnings=warnings, budget=_budget(config, now, client) if budget else None,
                          history=costs)
    if used == "team":  # how old the cache is, so old numbers are not taken for current
        pulled = last_pull(config)
        doc["cache"] = {"pulled_now": pulled_now,
                        "last_pull": pulled.isoformat(timespec="seconds") if pulled else None}
    return doc


def report_document(df: pd.DataFrame, context: pd.DataFrame | None, window: Window, *,
                    by: Sequence[str], tz: str, now: datetime, team: str, source: str,
                    filters: Filters = Filters(), warnings: Sequence[str] = (),
                    budget: dict[str, Any] | None = None,
                    history: pd.DataFrame | Mapping[date, int] | None = None
                    ) -> dict[str, Any]:
    """The document from frames alone (pure; golden tests call this directly).

    ``context`` (for a window reaching now) holds the calls since the start of the month,
    for the projections; ``history`` the calls since ``aggregate.baseline_start`` (at
    least), or their ``aggregate.daily_costs``, so each day's spike baseline reaches back
    before the window. Without it the baselines see the window's own days only.
    """
    summ = agg.summary(df)
    days = agg.trend(df, window.since, window.until, tz, "day")
    costs = (agg.daily_costs(history, tz) if isinstance(history, pd.DataFrame)
             else history)
    breakdowns = {b: agg.breakdown(df, b) for b in by if b in agg.BREAKDOWNS}
    for required in ("member", "model"):  # every view shows who and what
        breakdowns.setdefault(required, agg.breakdown(df, required))
    return {
        "schema": SCHEMA_ID,
        "generated_at": now.isoformat(),
        "team": team,
        "source": source,
        "window": {"since": window.since.isoformat(), "until": window.until.isoformat(),
                   "label": window.label, "timezone": tz},
        "filters": filters.to_dict(),
        "by": list(by),
        "summary": summ,
        "rate": agg.spend_rate(summ["cost_nanos"], window.since, window.until, now),
        "projection": agg.projections(context, now, tz) if context is not None else None,
        "breakdowns": breakdowns,
        "trend": {"day": days,
                  "week": agg.trend(df, window.since, window.until, tz, "week")},
        "spikes": agg.spike_days(days, costs),
        "spike_rule": {"factor": agg.SPIKE_FACTOR, "baseline_days": agg.BASELINE_DAYS,
                       "baseline": "median of the same kind of day (weekday or weekend) "
                                   f"in the {agg.BASELINE_DAYS} days before each day; a spike "
                                   "also costs more than the median weekday among them"},
        "top_sessions": agg.top_sessions(df),
        "budget": budget,
        "warnings": list(warnings),
    }
