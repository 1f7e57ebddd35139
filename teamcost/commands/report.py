"""`teamcost report` and `teamcost export`: parse, call the reports library, render."""

from __future__ import annotations

import enum
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from teamcost.commands import billing_view, output
from teamcost.commands.output import emit, to_json
from teamcost.config import load_config
from teamcost.errors import InvalidValue
from teamcost.labels import one_line
from teamcost.money import format_usd as usd
from teamcost.periods import parse_month, parse_week, parse_window

# rich (and the table helpers made of it) load when a table is drawn: a report written as
# JSON or CSV does not pay for them
if TYPE_CHECKING:
    from rich.console import RenderableType

    from teamcost.commands.tables import Column


class ReportFormat(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ExportFormat(str, enum.Enum):
    csv = "csv"
    jsonl = "jsonl"
    json = "json"    # the 0.1 name of jsonl: still accepted, with a warning
    both = "both"
    focus = "focus"


class Source(str, enum.Enum):
    team = "team"
    local = "local"


WHEN_HELP = ("30m, 24h, 7d, 2w, today, yesterday, a date YYYY-MM-DD or a TIME in ISO 8601 "
             "(e.g. 2026-11-25T14:00:00Z)")


def report(
    since: str = typer.Option("7d", "--since", metavar="WHEN", show_default=False,
                              help=f"Start of the window: {WHEN_HELP}. Default: 7d."),
    until: str | None = typer.Option(None, "--until", metavar="WHEN",
                                     help="End of the window, same forms; a date includes "
                                          "that whole day. Default: now."),
    by: list[str] | None = typer.Option(None, "--by", metavar="FIELDS",
                                        help="Breakdowns, a comma list or repeated: member, "
                                             "model, provider, agent, session, task, "
                                             "project, repo, branch, ticket, pr, tag:NAME "
                                             "(any tag), day, week. Default: member,model."),
    member: str | None = typer.Option(None, "--member", metavar="MEMBER",
                                      help="Only this member's calls. Default: everyone's."),
    model: str | None = typer.Option(None, "--model", metavar="MODEL",
                                     help="Only this model's calls. Default: every model."),
    agent: str | None = typer.Option(None, "--agent", metavar="NAME",
                                     help="Only this agent's calls. Default: every agent."),
    repo: str | None = typer.Option(None, "--repo", metavar="REPO",
                                    help="Only calls made in this repository (its repo tag, "
                                         "e.g. github.com/acme/shop). Default: all."),
    branch: str | None = typer.Option(None, "--branch", metavar="BRANCH",
                                      help="Only calls made on this branch. Default: all."),
    ticket: str | None = typer.Option(None, "--ticket", metavar="TICKET",
                                      help="Only calls for this ticket (e.g. PAY-142). "
                                           "Default: all."),
    tz: str | None = typer.Option(None, "--tz", metavar="ZONE",
                                  help="Timezone for day boundaries, an IANA name such as "
                                       "America/Los_Angeles. Default: the team's."),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", metavar="FORMAT",
                                     show_default=False,
                                     help="table (for people), json (the versioned document) "
                                          "or csv. Default: table."),
    source: Source | None = typer.Option(None, "--source", metavar="SOURCE",
                                         help="team (the team cache + this machine's "
                                              "unpushed calls) or local (this ledger). "
                                              "Default: team when a project is configured, "
                                              "else local."),
    offline: bool = typer.Option(False, "--offline",
                                 help="Do not contact Firestore: no pull first, no budget "
                                      "line. Default: pull, then report."),
    chart: Path | None = typer.Option(None, "--chart", metavar="FILE",
                                      help="Also draw daily spend as FILE.png or FILE.html "
                                           "(stacked by the first of --by member, model, "
                                           "agent or provider, with the budget line and "
                                           "projection). Default: no chart."),
) -> None:
    """Team spend over a window: totals, by member and model, trend by day, rate, projection."""
    from teamcost.reports.frames import Filters
    from teamcost.reports.report import build_report, parse_by

    if chart is not None:  # a bad file name fails before any work
        from teamcost.reports.chart import check_chart_path
        check_chart_path(chart)
    config = load_config()
    zone = tz if tz is not None else config.timezone  # --tz '' is a bad zone, not "default"
    now = datetime.now(UTC)
    window = parse_window(since, until, now, zone)
    dims = parse_by(by)
    tags = tuple((k, v) for k, v in (("repo", repo), ("branch", branch), ("ticket", ticket))
                 if v is not None)
    _require_something(config, source)
    doc = build_report(config, window, by=dims, filters=Filters(member, model, agent, tags),
                       tz=zone,
                       source=source.value if source else None, now=now, refresh=not offline,
                       budget=not offline)
    for w in doc["warnings"]:
        output.err_console.print(f"teamcost: warning: {one_line(w)}")
    if fmt == ReportFormat.json:
        sys.stdout.write(to_json(doc) + "\n")
    elif fmt == ReportFormat.csv:
        from teamcost.reports.render import to_csv
        sys.stdout.write(to_csv(doc, dims))
    else:
        render_table(doc)
    if chart is not None:
        from teamcost.reports.chart import report_chart
        drawn = report_chart(config, doc, chart, dims, now=now)
        output.err_console.print(f"chart: {one_line(drawn.path)} ({drawn.kind}, {drawn.width}x{drawn.height}, "
                          f"{drawn.series} series over {drawn.days} days)")


def _require_something(config: Any, source: Source | None) -> None:
    """A missing or empty home, or a team nobody here records for, is an error, not a
    report of zero spend."""
    from teamcost.presence import require_something

    if source == Source.team and not config.has_firestore:
        return   # the report says why --source team cannot be (exit 2)
    team = source == Source.team or (source is None and config.has_firestore)
    require_something(config, team_cache=team)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render_table(doc: dict[str, Any]) -> None:
    """The report for people, fitted to the terminal (natural width in a pipe)."""
    from teamcost.commands.tables import show, view_width

    show(report_view(doc, view_width()), view_width())


def _breakdown_columns() -> tuple[Column, ...]:
    from teamcost.commands.tables import Column

    return (Column("cost", "money"), Column("share", drop="share"), Column("calls"),
            Column("in tok", drop="in"), Column("out tok", drop="out"),
            Column("cache read", drop="cache_read"), Column("cache write", drop="cache_write"))


def __getattr__(name: str) -> Any:
    """``BREAKDOWN_COLUMNS`` (the breakdown tables' columns after the label), made when a
    table is drawn."""
    if name == "BREAKDOWN_COLUMNS":
        return _breakdown_columns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


TOP_ROWS = 15


def report_view(doc: dict[str, Any], width: int | None) -> RenderableType:
    """The whole table view of a report document at ``width`` (None: natural width)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from teamcost.commands.tables import LABEL_MIN, Column, pairs, shorten, table, wrap

    s = doc["summary"]
    w = doc["window"]
    head = (f"team {doc['team']} · {w['label']} ({w['timezone']}) · source {doc['source']}"
            + _cache_age(doc.get("cache"), doc["generated_at"]))
    if s["calls"] == 0:
        return Text("\n".join([*wrap(head, width, indent=2), "no calls"]))
    rows = [("total", f"{usd(s['cost_nanos'])}  over {s['calls']:,} calls, "
                      f"{s['members']:,} members, {s['models']:,} models, "
                      f"{s['sessions']:,} sessions"),
            ("tokens", f"{s['input_tokens']:,} in · {s['output_tokens']:,} out · "
                       f"{s['cache_read_tokens']:,} cache read · "
                       f"{s['cache_write_tokens']:,} cache write"),
            ("success", f"{_pct(s['success_rate'])} ({s['failed_calls']:,} failed)")]
    if s["unpriced_calls"]:
        rows.append(("UNPRICED", f"{s['unpriced_calls']:,} calls of "
                                 f"{', '.join(s['unpriced_models'])} "
                                 f"({s['unpriced_input_tokens']:,} in / "
                                 f"{s['unpriced_output_tokens']:,} out tokens) are not in "
                                 "the total: add a price override"))
    r = doc["rate"]
    rows.append(("rate", f"{usd(r['per_hour_nanos'])}/hour · {usd(r['per_day_nanos'])}/day"))
    if doc["projection"]:
        rows.append(("projected", projection_text(doc["projection"])))
    pays = billing_view.pays_row(doc)      # metered · seats · plan usage, when they differ
    if pays is not None:
        rows.append(pays)
    b = doc.get("budget")
    if b is not None:
        rows.append(("budget", budget_text(b, doc["generated_at"])))
    inner = None if width is None else width - 4  # the panel's borders and padding
    body = Text("\n".join(wrap(head, inner, indent=2)) + "\n")
    body.append_text(pairs(rows, inner, gap=1))
    parts: list[RenderableType] = [Panel(body, expand=False)]

    for dim, items in doc["breakdowns"].items():
        cols = [Column(dim, "label"), *_breakdown_columns()]
        unpriced = any(x["unpriced_calls"] for x in items)
        if unpriced:
            cols.append(Column("unpriced"))
        extra = billing_view.columns(doc)
        cols += [Column(h, "money") for h, _ in extra]
        cells = []
        for x in items[:TOP_ROWS]:
            cells.append([x[dim], usd(x["cost_nanos"]), _pct(x["share"]), f"{x['calls']:,}",
                          f"{x['input_tokens']:,}", f"{x['output_tokens']:,}",
                          f"{x['cache_read_tokens']:,}", f"{x['cache_write_tokens']:,}",
                          *([f"{x['unpriced_calls']:,}" if x["unpriced_calls"] else ""]
                            if unpriced else []),
                          *(usd(x.get(k, 0)) for _, k in extra)])
        if len(items) > TOP_ROWS:
            cells.append([f"... {len(items) - TOP_ROWS} more", *[""] * (len(cols) - 1)])
        parts.append(table(f"by {dim}", cols, cells, width))

    days = doc["trend"]["day"]
    top = max((d["cost_nanos"] for d in days), default=0)
    spikes = {sp["day"] for sp in doc["spikes"]}
    parts.append(table("trend by day", [
        Column("day", "fixed"), Column("cost", "money"), Column("calls"),
        Column("", "bar", min_width=len(" spike") if spikes else 0)],
        [[d["day"], usd(d["cost_nanos"]), f"{d['calls']:,}",
          (d["cost_nanos"] / top if top else 0.0, " spike" if d["day"] in spikes else "")]
         for d in days], width))
    if doc["top_sessions"]:
        parts.append(Text("\n".join(wrap("top sessions: " + ", ".join(
            f"{shorten(x['session'], 40 if width is None else max(LABEL_MIN, width // 2))} "
            f"{usd(x['cost_nanos'])}" for x in doc["top_sessions"]), width, indent=2))))
    return Group(*parts)


def _cache_age(cache: dict[str, Any] | None, now: str) -> str:
    """`` · cache as of 19:45 (2h13m old)`` when the team cache was not pulled just now."""
    if not cache or cache.get("pulled_now"):
        return ""
    from teamcost.commands.tables import as_of

    at = cache.get("last_pull")
    return f" · cache {as_of(at, now) if at else 'never pulled'}"


_PERIOD_NAMES = {"day": "today", "week": "this week", "month": "this month"}


def projection_text(projection: dict[str, dict[str, Any]]) -> str:
    """Each period's spend so far and where it ends at that period's own pace:
    ``today $0.04 → $0.252 · this week $57.25 → $355.23 · ...``. Both numbers side by side
    so a week projected below a day (a week mostly idle, a busy morning) reads as what it
    is, and nobody takes "day $0.252" for the daily rate."""
    parts = [f"{_PERIOD_NAMES.get(k, k)} {usd(v['spent_nanos'])} → {usd(v['projected_nanos'])}"
             for k, v in projection.items()]
    return " · ".join(parts) + " (spent so far → at this pace by its end)"


def budget_text(b: dict[str, Any], now: str) -> str:
    """The report's budget line: the status, or that it is unknown and what was known (why
    it is unknown is the warning above the report, and ``error`` in its JSON)."""
    if b.get("state") != "unknown" and "error" not in b:
        return str(b.get("line") or "")
    from teamcost.commands.tables import clock

    since = b.get("offline_since")
    text = f"unknown (offline since {clock(since, now)})" if since else "unknown (offline)"
    known = (b.get("last_known") or {})
    kb = known.get("budget") if known else None
    if kb:
        text += f"; last known {usd(kb['amount_nanos'])} per {kb['period']}"
    elif known:
        text += "; last known: no budget set"
    return text


def export(
    week: str | None = typer.Option(None, "--week", metavar="WEEK",
                                    help="last, this or an ISO week YYYY-Www (e.g. 2026-W47). "
                                         "Default: last, when --month is not given."),
    month: str | None = typer.Option(None, "--month", metavar="MONTH",
                                     help="last, this or YYYY-MM. Default: none (a week)."),
    fmt: ExportFormat = typer.Option(ExportFormat.both, "--format", metavar="FORMAT",
                                     show_default=False,
                                     help="csv, jsonl (JSON Lines, one call a line) or both; "
                                          "a summary JSON is always written. focus: FOCUS 1.2 "
                                          "cost and usage rows (CSV and Parquet) for FinOps "
                                          "tools (docs: FinOps). Default: both."),
    out: Path = typer.Option(Path("."), "--out", metavar="DIR", show_default=False,
                             help="Directory for the files. Default: the current one."),
    tz: str | None = typer.Option(None, "--tz", metavar="ZONE",
                                  help="Timezone for period boundaries, an IANA name. "
                                       "Default: the team's."),
    source: Source | None = typer.Option(None, "--source", metavar="SOURCE",
                                         help="team or local (see report). Default: team "
                                              "when a project is configured, else local."),
    offline: bool = typer.Option(False, "--offline",
                                 help="Do not pull new calls first. Default: pull first."),
    out_fmt: str = typer.Option("text", "--output", metavar="FORMAT", show_default=False,
                                help="How to describe what was written: text or json. "
                                     "Default: text."),
) -> None:
    """One row per call for an ISO week (or a month), plus the period's summary."""
    from teamcost.reports.export import export_period

    if week is not None and month is not None:
        raise InvalidValue("--week/--month", f"{week} and {month}", "one of --week or --month")
    if out_fmt not in ("text", "json"):
        raise InvalidValue("--output", out_fmt, "text or json")
    if fmt == ExportFormat.json:
        output.err_console.print("teamcost: warning: export --format json is now --format jsonl "
                          "(JSON Lines; every other command's json is one document)")
        fmt = ExportFormat.jsonl
    config = load_config()
    zone = tz if tz is not None else config.timezone
    now = datetime.now(UTC)
    # an empty --week/--month is a bad value, never "not given"
    window = (parse_month(month, now, zone) if month is not None
              else parse_week(week if week is not None else "last", now, zone))
    _require_something(config, source)
    result = export_period(config, window, out, fmt=fmt.value, tz=zone,
                           source=source.value if source else None, now=now,
                           refresh=not offline)
    for w in result.warnings:
        output.err_console.print(f"teamcost: warning: {one_line(w)}")
    from teamcost.commands.tables import say

    emit(result, out_fmt, lambda r: say(
        f"exported {r.label}: {r.calls:,} calls, {usd(r.cost_nanos)}"
        + (f" ({r.unpriced_calls:,} unpriced)" if r.unpriced_calls else "")
        + "".join(f"\n  {f}" for f in r.files)))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("export")(export)
