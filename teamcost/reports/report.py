"""The report document: one versioned dict that the table, JSON and CSV views all render.

Schema: ``teamcost/reports/report.schema.json`` (``"schema": "teamcost.report/1"``).
Additive changes keep the version; a renamed or removed field bumps it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from teamcost.errors import InvalidValue, TeamcostError
from teamcost.ledger import ts_to_us
from teamcost.local_read import claude_telemetry_note
from teamcost.periods import Window, zone
from teamcost.reports import aggregate as agg
from teamcost.reports import billing
from teamcost.reports.frames import Filters, scan_calls
from teamcost.reports.freshness import last_pull, latest
from teamcost.reports.rollup import DailyCosts, Rollup, Spent
from teamcost.reports.tagcolumns import TAG_PREFIX, with_tags

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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
            if name not in agg.BY_CHOICES and agg.tag_of(name) is None:
                raise InvalidValue("by", name, agg.BY_ACCEPTED)
            if name not in out:
                out.append(name)
    return tuple(out)




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
    # metered / seats / plan usage (reports/billing.py): fed the same chunks as the rollup
    plans, plans_warning = billing.load_plans(config, client if budget else None,
                                              online=budget)
    if plans_warning:
        warnings.append(plans_warning)
    # rollup cells keep no billing tag: a team with plans or seats reports from its calls,
    # where each call's classification is exact
    if use_team and (plans is None or not (plans.plans or plans.seats)):
        from_rollups = _rollup_report(config, window, by=by, filters=filters, tz=tz, now=now,
                                      refresh=refresh, budget=budget, client=client,
                                      plans=plans, warnings=warnings)
        if from_rollups is not None:
            return from_rollups
    pulled_now = False
    live = window.until >= now
    # without ``refresh`` but with a client (the dashboard: no pull per request), the
    # window is still read once the rollups are complete: nothing else fills the team
    # cache then, and a window already held costs one aggregation
    if use_team and (refresh or client is not None):
        # the calls of the window and of what the document reads before it (spike
        # baselines, projections); the whole history only while rollups are incomplete
        from teamcost.reports.window_source import refresh_window
        first = agg.baseline_start(window.since, tz)
        if live:
            first = min(first, agg.earliest_needed(window.since, now, tz))
        warning = refresh_window(config, first, window.until, client, pull=refresh)
        if warning:
            warnings.append(warning)
        pulled_now = warning is None and refresh
    note = claude_telemetry_note(config.home)
    if note:    # what this machine's agent cannot count (its Claude Code telemetry is off)
        warnings.append(f"this machine: {note}")
    source_used = "team" if use_team else "local"
    dims = [agg.column_of(b) for b in by if agg.is_breakdown(b)]
    bill = billing.Billing(window.since, window.until, plans, _billing_dims(by))
    # the window's calls in chunks: each is reduced to small partial sums and dropped
    rollup = Rollup(window.since, window.until, tz, dims)
    spent = Spent(agg.period_starts(now, tz), ts_to_us(now)) if live else None
    chunks, used = scan_calls(config, window.since, window.until, source=source_used,
                              filters=filters,
                              columns=tuple(dict.fromkeys([*_columns(dims),
                                                           *billing.columns(dims)])))
    for chunk in chunks:
        rollup.add(chunk)
        bill.add(chunk)
        if spent is not None:
            spent.add(chunk)
    # before the window only two columns are read: each day's spike baseline reaches back
    # BASELINE_DAYS, and a live window's projections need this day's, week's and month's
    # spend from their starts
    start = agg.baseline_start(window.since, tz)
    if live:
        start = min(start, agg.earliest_needed(window.since, now, tz))
    before = DailyCosts(tz)
    if start < window.since:
        earlier, _ = scan_calls(config, start, window.since, source=source_used,
                                filters=filters, columns=("ts", "cost_nanos"))
        for chunk in earlier:
            before.add(chunk)
            if spent is not None:
                spent.add(chunk)
    doc = _document(rollup, spent, window, by=by, now=now, team=config.team, source=used,
                    filters=filters, warnings=warnings,
                    budget=_budget(config, now, client) if budget else None,
                    before=before.costs())
    bill.apply(doc, tz)
    if used == "team":  # how old the cache is, so old numbers are not taken for current
        pulled = last_pull(config)
        doc["cache"] = {"pulled_now": pulled_now,
                        "last_pull": pulled.isoformat(timespec="seconds") if pulled else None}
    return doc


def _rollup_report(config: Config, window: Window, *, by: Sequence[str], filters: Filters,
                   tz: str, now: datetime, refresh: bool, budget: bool,
                   client: Any, plans: Any = None,
                   warnings: list[str] | None = None) -> dict[str, Any] | None:
    """The report from the team's rollups (teamcost/reports/rollup_source.py), or None when
    they cannot answer it (then the calls do, as before)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from teamcost.reports.rollup_source import rollup_answers, team_table
    from teamcost.sync.client import client_for
    from teamcost.sync.retry import DEFAULT_BACKOFF
    from teamcost.sync.rollups import rollups_in_use

    # every filter, the attribution tags included (a tag rollups do not keep: the calls answer)
    where = {k: v for k, v in filters.to_dict().items() if v is not None}
    where.update(filters.tags)
    if not rollup_answers(by, where, window.since):
        return None
    try:
        client = client if client is not None else client_for(config)
        if not rollups_in_use(client, config.team, DEFAULT_BACKOFF):
            return None
        live = window.until >= now
        start = agg.baseline_start(window.since, tz)
        if live:
            start = min(start, agg.earliest_needed(window.since, now, tz))
        table, read = team_table(config, client, start, window.until, where, refresh)
    except TeamcostError as exc:
        log.info("rollups unavailable (%s): the report reads the team cache", exc)
        return None
    # the rollup copy names an attribution column by its tag (``repo``); the report's
    # aggregation reads tags as ``tag:repo`` whatever the source, so one _document serves both
    table = table.rename_columns([agg.column_of(n) if agg.tag_of(n) == n else n
                                  for n in table.column_names])
    dims = [agg.column_of(b) for b in by if agg.is_breakdown(b)]
    rollup = Rollup(window.since, window.until, tz, dims)
    ts = table.column("ts")
    since = pa.scalar(window.since, type=ts.type)
    inside = table.filter(pc.greater_equal(ts, since))   # the window's rows: rollup, billing
    rollup.add(inside)
    before = DailyCosts(tz)
    before.add(table.filter(pc.less(ts, since)))
    spent = None
    if live:
        spent = Spent(agg.period_starts(now, tz), ts_to_us(now))
        spent.add(table)
    bill = billing.Billing(window.since, window.until, plans, _billing_dims(by))
    bill.add(inside.append_column("tags", pa.nulls(inside.num_rows, pa.string())))
    doc = _document(rollup, spent, window, by=by, now=now, team=config.team, source="team",
                    filters=filters, warnings=list(warnings or []),
                    budget=_budget(config, now, client) if budget else None,
                    before=before.costs())
    bill.apply(doc, tz)
    doc["cache"] = {"pulled_now": refresh, "last_pull": now.isoformat(timespec="seconds")
                    if refresh else None}
    return doc


def _billing_dims(by: Sequence[str]) -> dict[str, str]:
    """The breakdowns every document has (member and model always) -> their columns."""
    names = dict.fromkeys([*(b for b in by if b in agg.BREAKDOWNS), "member", "model"])
    return {b: agg.BREAKDOWNS[b] for b in names}


def _columns(dims: Sequence[str]) -> tuple[str, ...]:
    """What the aggregates are made of: only the labels the breakdowns use are read."""
    labels = dict.fromkeys(["member", "model", "session_id", *dims])
    return ("ts", *labels, "input_tokens", "output_tokens", "cache_read_tokens",
            "cache_write_tokens", "cost_nanos", "priced", "success")


def report_document(df: pd.DataFrame, context: pd.DataFrame | None, window: Window, *,
                    by: Sequence[str], tz: str, now: datetime, team: str, source: str,
                    filters: Filters = Filters(), warnings: Sequence[str] = (),
                    budget: dict[str, Any] | None = None,
                    history: pd.DataFrame | Mapping[date, int] | None = None
                    ) -> dict[str, Any]:
    """The document from frames alone (pure; golden tests call this directly), as report
    and export build it from chunks.

    ``context`` (for a window reaching now) holds the calls since the start of the month,
    for the projections; ``history`` the calls since ``aggregate.baseline_start`` (at
    least), or their ``aggregate.daily_costs``, so each day's spike baseline reaches back
    before the window. Without it the baselines see the window's own days only.
    """
    import pandas as pd
    import pyarrow as pa

    dims = [agg.column_of(b) for b in by if agg.is_breakdown(b)]
    rollup = Rollup(window.since, window.until, tz, dims)
    rollup.add(pa.Table.from_pandas(df[list(_columns(dims))], preserve_index=False))
    spent = None
    if context is not None:
        spent = Spent(agg.period_starts(now, tz), ts_to_us(now))
        spent.add(pa.Table.from_pandas(context[["ts", "cost_nanos"]], preserve_index=False))
    costs = (agg.daily_costs(history, tz) if isinstance(history, pd.DataFrame)
             else history)
    return _document(rollup, spent, window, by=by, now=now, team=team, source=source,
                     filters=filters, warnings=warnings, budget=budget,
                     costs=dict(costs) if costs is not None else None)


def table_document(table: pa.Table, window: Window, *, by: Sequence[str], tz: str,
                   now: datetime, team: str, source: str, warnings: Sequence[str] = (),
                   before: Mapping[date, int] | None = None) -> dict[str, Any]:
    """The document (without projections) of an Arrow table of a window's calls;
    ``before``: the daily costs of the days before it (``aggregate.baseline_start`` on),
    for the spike baselines."""
    dims = [agg.column_of(b) for b in by if agg.is_breakdown(b)]
    rollup = Rollup(window.since, window.until, tz, dims)
    cols = list(_columns(dims))
    rollup.add(with_tags(table, cols) if any(c.startswith(TAG_PREFIX) for c in cols)
               else table.select(cols))
    return _document(rollup, None, window, by=by, now=now, team=team, source=source,
                     warnings=warnings, before=before)


def _document(rollup: Rollup, spent: Spent | None, window: Window, *, by: Sequence[str],
              now: datetime, team: str, source: str, filters: Filters = Filters(),
              warnings: Sequence[str] = (), budget: dict[str, Any] | None = None,
              before: Mapping[date, int] | None = None,
              costs: dict[date, int] | None = None) -> dict[str, Any]:
    """The document from the window's aggregates; the spike baselines' daily costs are
    ``costs`` (whole history), or the window's own days plus ``before``."""
    if costs is None and before is not None:
        costs = agg.add_costs(before, rollup.daily_costs())
    summ = rollup.summary()
    days = rollup.trend("day")
    breakdowns = {b: rollup.breakdown(b, agg.column_of(b)) for b in by if agg.is_breakdown(b)}
    for required in ("member", "model"):  # every view shows who and what
        breakdowns.setdefault(required, rollup.breakdown(required, required))
    return {
        "schema": SCHEMA_ID,
        "generated_at": now.isoformat(),
        "team": team,
        "source": source,
        "window": {"since": window.since.isoformat(), "until": window.until.isoformat(),
                   "label": window.label, "timezone": rollup.tz},
        "filters": filters.document(),
        "by": list(by),
        "summary": summ,
        "rate": agg.spend_rate(summ["cost_nanos"], window.since, window.until, now),
        "projection": (agg.projections_from_spent(spent.spent, now, rollup.tz)
                       if spent is not None else None),
        "breakdowns": breakdowns,
        "trend": {"day": days, "week": rollup.trend("week")},
        "spikes": agg.spike_days(days, costs),
        "spike_rule": {"factor": agg.SPIKE_FACTOR, "baseline_days": agg.BASELINE_DAYS,
                       "baseline": "median of the same kind of day (weekday or weekend) "
                                   f"in the {agg.BASELINE_DAYS} days before each day; a spike "
                                   "also costs more than the median weekday among them"},
        "top_sessions": rollup.top_sessions(),
        "budget": budget,
        "warnings": list(warnings),
    }
