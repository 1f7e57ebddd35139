"""`teamcost report` and `teamcost export`: parse, call the reports library, render."""

from __future__ import annotations

import enum
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table

from teamcost.commands.output import console, emit, err_console, to_json
from teamcost.config import load_config
from teamcost.errors import InvalidValue
from teamcost.money import format_usd
from teamcost.periods import parse_month, parse_week, parse_window


class ReportFormat(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ExportFormat(str, enum.Enum):
    csv = "csv"
    json = "json"
    both = "both"


class Source(str, enum.Enum):
    team = "team"
    local = "local"


def report(
    since: str = typer.Option("7d", "--since", help="30m, 24h, 7d, 2w, today, YYYY-MM-DD or ISO time."),
    until: str | None = typer.Option(None, "--until", help="Same forms; a date includes that day. Default: now."),
    by: list[str] | None = typer.Option(None, "--by", help="member, model, provider, agent, session, task, day, week (comma list or repeat)."),
    member: str | None = typer.Option(None, "--member", help="Only this member's calls."),
    model: str | None = typer.Option(None, "--model", help="Only this model's calls."),
    agent: str | None = typer.Option(None, "--agent", help="Only this agent's calls."),
    tz: str | None = typer.Option(None, "--tz", help="Timezone for day boundaries (default: the team's)."),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", help="table, json or csv."),
    source: Source | None = typer.Option(None, "--source", help="team (cache + this machine) or local (this ledger). Default: team when a project is configured."),
    offline: bool = typer.Option(False, "--offline", help="Do not contact Firestore: no pull first, no budget line."),
    chart: Path | None = typer.Option(None, "--chart", help="Also draw daily spend (stacked by the first of --by member/model/agent/provider, with the budget line and projection) as FILE.png or FILE.html."),
) -> None:
    """Team spend over a window: totals, by member and model, trend by day, rate, projection."""
    from teamcost.reports.frames import Filters
    from teamcost.reports.report import build_report, parse_by

    if chart is not None:  # a bad file name fails before any work
        from teamcost.reports.chart import chart_kind
        chart_kind(chart)
    config = load_config()
    zone = tz if tz is not None else config.timezone  # --tz '' is a bad zone, not "default"
    now = datetime.now(UTC)
    window = parse_window(since, until, now, zone)
    dims = parse_by(by)
    doc = build_report(config, window, by=dims, filters=Filters(member, model, agent), tz=zone,
                       source=source.value if source else None, now=now, refresh=not offline,
                       budget=not offline)
    for w in doc["warnings"]:
        err_console.print(f"teamcost: warning: {w}")
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
        err_console.print(f"chart: {drawn.path} ({drawn.kind}, {drawn.width}x{drawn.height}, "
                          f"{drawn.series} series over {drawn.days} days)")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render_table(doc: dict[str, Any]) -> None:
    s = doc["summary"]
    w = doc["window"]
    head = f"team {doc['team']} · {w['label']} ({w['timezone']}) · source {doc['source']}"
    if s["calls"] == 0:
        console.print(f"{head}\nno calls")
        return
    lines = [f"total   {format_usd(s['cost_nanos'])}  over {s['calls']:,} calls, "
             f"{s['members']} members, {s['models']} models, {s['sessions']} sessions",
             f"tokens  {s['input_tokens']:,} in · {s['output_tokens']:,} out · "
             f"{s['cache_read_tokens']:,} cache read · {s['cache_write_tokens']:,} cache write",
             f"success {_pct(s['success_rate'])} ({s['failed_calls']:,} failed)"]
    if s["unpriced_calls"]:
        lines.append(f"UNPRICED {s['unpriced_calls']:,} calls of {', '.join(s['unpriced_models'])}")
        lines.append(f"         ({s['unpriced_input_tokens']:,} in / {s['unpriced_output_tokens']:,} "
                     "out tokens) are not in the total: add a price override")
    r = doc["rate"]
    lines.append(f"rate    {format_usd(r['per_hour_nanos'])}/hour · {format_usd(r['per_day_nanos'])}/day")
    if doc["projection"]:
        p = doc["projection"]
        lines.append("project " + " · ".join(f"{k} {format_usd(v['projected_nanos'])}"
                                             for k, v in p.items()))
    b = doc.get("budget")
    if b and "error" not in b:
        lines.append(f"budget  {b.get('line') or b}")
    elif b:
        lines.append(f"budget  unavailable: {b['error']}")
    console.print(Panel("\n".join(lines), title=head, expand=False))

    for dim, rows in doc["breakdowns"].items():
        t = Table(title=f"by {dim}", title_justify="left")
        for col, just in ((dim, "left"), ("cost", "right"), ("share", "right"), ("calls", "right"),
                          ("in tok", "right"), ("out tok", "right"), ("unpriced", "right")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for row in rows[:15]:
            t.add_row(row[dim], format_usd(row["cost_nanos"]), _pct(row["share"]), f"{row['calls']:,}",
                      f"{row['input_tokens']:,}", f"{row['output_tokens']:,}",
                      str(row["unpriced_calls"]) if row["unpriced_calls"] else "")
        if len(rows) > 15:
            t.add_row(f"... {len(rows) - 15} more", "", "", "", "", "", "")
        console.print(t)

    days = doc["trend"]["day"]
    top = max((d["cost_nanos"] for d in days), default=0)
    spikes = {sp["day"] for sp in doc["spikes"]}
    t = Table(title="trend by day", title_justify="left")
    t.add_column("day")
    t.add_column("cost", justify="right")
    t.add_column("calls", justify="right")
    t.add_column("")
    for d in days:
        bar = "█" * (round(30 * d["cost_nanos"] / top) if top else 0)
        mark = " spike" if d["day"] in spikes else ""
        t.add_row(d["day"], format_usd(d["cost_nanos"]), f"{d['calls']:,}", bar + mark)
    console.print(t)
    if doc["top_sessions"]:
        console.print("top sessions: " + ", ".join(
            f"{x['session']} {format_usd(x['cost_nanos'])}" for x in doc["top_sessions"]))


def export(
    week: str | None = typer.Option(None, "--week", help="last, this or YYYY-Www (ISO week)."),
    month: str | None = typer.Option(None, "--month", help="last, this or YYYY-MM."),
    fmt: ExportFormat = typer.Option(ExportFormat.both, "--format", help="csv, json (JSON Lines) or both; a summary JSON is always written."),
    out: Path = typer.Option(Path("."), "--out", help="Directory for the files."),
    tz: str | None = typer.Option(None, "--tz", help="Timezone for period boundaries (default: the team's)."),
    source: Source | None = typer.Option(None, "--source", help="team or local."),
    offline: bool = typer.Option(False, "--offline", help="Do not pull new calls first."),
    out_fmt: str = typer.Option("text", "--output", help="text or json: how to describe what was written."),
) -> None:
    """One row per call for an ISO week (or a month), plus the period's summary."""
    from teamcost.reports.export import export_period

    if week is not None and month is not None:
        raise InvalidValue("--week/--month", f"{week} and {month}", "one of --week or --month")
    if out_fmt not in ("text", "json"):
        raise InvalidValue("--output", out_fmt, "text or json")
    config = load_config()
    zone = tz if tz is not None else config.timezone
    now = datetime.now(UTC)
    # an empty --week/--month is a bad value, never "not given"
    window = (parse_month(month, now, zone) if month is not None
              else parse_week(week if week is not None else "last", now, zone))
    result = export_period(config, window, out, fmt=fmt.value, tz=zone,
                           source=source.value if source else None, now=now,
                           refresh=not offline)
    for w in result.warnings:
        err_console.print(f"teamcost: warning: {w}")
    emit(result, out_fmt, lambda r: console.print(
        f"exported {r.label}: {r.calls:,} calls, {format_usd(r.cost_nanos)}"
        + (f" ({r.unpriced_calls} unpriced)" if r.unpriced_calls else "")
        + "".join(f"\n  {f}" for f in r.files)))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("export")(export)
