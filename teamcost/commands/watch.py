"""`teamcost watch`: a live terminal view of the team's spend against its budget."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from teamcost.commands.output import OutputFormat, console, emit
from teamcost.config import load_config
from teamcost.money import format_usd
from teamcost.periods import parse_duration

if TYPE_CHECKING:  # pandas and the sync stack load when watch runs, not for --help
    from teamcost.reports.live import LiveSnapshot


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("watch")(watch)


def parse_interval(value: str) -> float:
    return parse_duration(value, "interval", minimum=0.2, maximum=3600)


def watch(
    interval: str = typer.Option("5s", "--interval", "-i",
                                 help="Time between refreshes: 5s, 500ms, 2m."),
    once: bool = typer.Option(False, "--once", help="Refresh once, print the view and exit."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format",
                                     help="text or json (json implies --once)."),
) -> None:
    """Live view: today's and the period's spend vs the budget, rate, projection, who and what.

    Each refresh pulls only the calls pushed since the last one. Ctrl-C quits.
    """
    from teamcost.reports.live import LiveSource

    seconds = parse_interval(interval)
    config = load_config()
    with LiveSource(config) as source:
        if once or fmt == OutputFormat.json:
            emit(source.refresh(), fmt, lambda s: console.print(render(s)))
            return
        from rich.live import Live
        try:
            snap = source.refresh()
            with Live(render(snap, seconds), console=console, auto_refresh=False,
                      screen=False, transient=False) as live:
                while True:
                    time.sleep(seconds)
                    snap = source.refresh()
                    live.update(render(snap, seconds), refresh=True)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how one leaves watch: a clean exit, not an error
    console.print("watch stopped")


def _bar(fraction: float | None, width: int = 40) -> RenderableType:
    if fraction is None:
        return Text("no budget set (teamcost budget set ...)", style="dim")
    style = "green" if fraction < 0.8 else "yellow" if fraction < 1 else "red"
    return ProgressBar(total=1.0, completed=min(fraction, 1.0), width=width,
                       complete_style=style, finished_style="red")


def _pct(f: float | None) -> str:
    return "" if f is None else f"{f * 100:5.1f}%"


def render(s: LiveSnapshot, interval: float | None = None) -> RenderableType:
    """The whole view as one rich renderable (also what --once prints)."""
    head = Text.assemble(
        ("teamcost watch", "bold"), f"  team {s.team}  ",
        (f"{s.now.astimezone().strftime('%Y-%m-%d %H:%M:%S')}", "cyan"),
        f"  {s.period} {s.period_start:%Y-%m-%d}..{s.period_end:%Y-%m-%d} ({s.tz})")

    money = Table.grid(padding=(0, 2))
    money.add_column(justify="left")
    money.add_column(justify="right")
    money.add_column()
    limit = f" of {format_usd(s.limit_nanos)}" if s.limit_nanos else ""
    money.add_row("today", format_usd(s.today_nanos), f"{s.today_calls} calls")
    money.add_row(f"this {s.period}", format_usd(s.period_nanos) + limit,
                  f"{s.period_calls} calls  {_pct(s.used_fraction)}")
    money.add_row("budget", "", _bar(s.used_fraction))
    money.add_row("rate", f"{format_usd(s.rate_nanos_per_hour)}/h",
                  f"last hour {format_usd(s.last_hour_nanos)}")
    money.add_row("projection", format_usd(s.projected_nanos),
                  f"by {s.period_end:%Y-%m-%d}  {_pct(s.projected_fraction)}")
    if s.unpriced_calls:
        money.add_row("unpriced", str(s.unpriced_calls), "calls with no known price")

    def shares(title: str, rows: Any) -> Table:
        t = Table(title=title, title_justify="left", expand=False, pad_edge=False)
        t.add_column(title.split()[1])
        t.add_column("cost", justify="right")
        t.add_column("calls", justify="right")
        for r in rows:
            t.add_row(r.key, format_usd(r.cost_nanos), str(r.calls))
        return t

    side = Table.grid(padding=(0, 3))
    side.add_row(shares(f"by member ({s.period})", s.by_member),
                 shares(f"by model ({s.period})", s.by_model))

    latest = Table(title="latest calls", title_justify="left", pad_edge=False)
    for col in ("time", "member", "agent", "model"):
        latest.add_column(col, no_wrap=True)
    latest.add_column("tokens", justify="right", no_wrap=True)
    latest.add_column("cost", justify="right", no_wrap=True)
    today = s.now.astimezone().date()
    for c in s.latest:
        local = c.ts.astimezone()
        when = local.strftime("%H:%M:%S" if local.date() == today else "%m-%d %H:%M")
        latest.add_row(when, c.member, c.agent or "", c.model, f"{c.total_tokens:,}",
                       format_usd(c.cost_nanos))

    r = s.refreshed
    foot = Text(f"source: {s.source}  "
                + (f"last pull: {r.get('pulled', 0)} read, {r.get('new', 0)} new  "
                   if "pulled" in r else "")
                + (f"refresh every {interval:g}s  Ctrl-C quits" if interval else ""),
                style="dim", overflow="fold")
    parts: list[RenderableType] = [head, Text(""), money, Text(""), side, Text(""), latest, foot]
    if r.get("error"):
        parts.append(Text(f"pull failed, showing the cache: {r['error']}", style="red", overflow="fold"))
    return Panel(Group(*parts),
                 expand=False)
