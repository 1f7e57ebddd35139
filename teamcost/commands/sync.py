"""`teamcost sync` (push then pull), `sync push`, `sync pull`, `sync status`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from teamcost.commands.output import FORMAT, OutputFormat, ProgressBars, console, emit
from teamcost.commands.tables import age, say_pairs
from teamcost.config import load_config
from teamcost.errors import EXIT_CONFLICT
from teamcost.labels import one_line
from teamcost.money import format_usd

if TYPE_CHECKING:  # the sync stack (gRPC) loads when a command runs, not for --help
    from teamcost.sync.push import PushResult
    from teamcost.sync.service import SyncResult, SyncStatus

sync_app = typer.Typer(help="Push this machine's calls to Firestore and pull the team's.",
                       invoke_without_command=True)


def _show_conflicts(result: PushResult) -> None:
    for c in result.conflicts[:20]:
        console.print(f"conflict: {one_line(c.call_id)} differs in {', '.join(c.fields)} "
                      "(kept unpushed; Firestore's copy was not changed)")
    if len(result.conflicts) > 20:
        console.print(f"... and {len(result.conflicts) - 20} more conflicts")


def _format(ctx: typer.Context, fmt: OutputFormat) -> OutputFormat:
    """The subcommand's own --format, else the one given to `sync` before it."""
    source = ctx.get_parameter_source("fmt")
    given = source is not None and source.name != "DEFAULT"
    parent = ctx.parent.obj if ctx.parent is not None else None
    return fmt if given or not isinstance(parent, OutputFormat) else parent


def _exit_for(result: PushResult) -> None:
    if result.conflicts:
        raise typer.Exit(EXIT_CONFLICT)


@sync_app.callback()
def sync(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """Push this machine's new calls, then pull the team's (default when no subcommand)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = fmt  # `sync --format json push`: the subcommand's default
        return
    from teamcost.sync.service import run_sync
    with ProgressBars(None if fmt == OutputFormat.text else False) as bars:
        result = run_sync(load_config(), bars.bar)
    emit(result, fmt, _render_sync)
    _exit_for(result.push)


def _render_sync(result: SyncResult) -> None:
    _show_conflicts(result.push)
    console.print(result.push.summary())
    _warn(result.push)
    console.print(result.pull.summary())


@sync_app.command("push")
def push_cmd(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """Push this machine's unpushed calls to trinity_costs, exactly once."""
    fmt = _format(ctx, fmt)
    from teamcost.sync.service import run_push
    with ProgressBars(None if fmt == OutputFormat.text else False) as bars:
        result = run_push(load_config(), bars.bar("push"))
    emit(result, fmt, _render_push)
    _exit_for(result)


def _render_push(result: PushResult) -> None:
    _show_conflicts(result)
    console.print(result.summary())
    _warn(result)


def _warn(result: PushResult) -> None:
    for w in result.warnings:
        typer.echo(f"teamcost: warning: {one_line(w)}", err=True)


@sync_app.command("pull")
def pull_cmd(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """Pull the team's calls pushed since the last pull into the local team cache."""
    fmt = _format(ctx, fmt)
    from teamcost.sync.service import run_pull
    with ProgressBars(None if fmt == OutputFormat.text else False) as bars:
        result = run_pull(load_config(), bars.bar("pull"))
    emit(result, fmt, lambda r: console.print(r.summary()))


@sync_app.command("status")
def status_cmd(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """What is waiting here, what the team cache holds, and when sync last ran."""
    fmt = _format(ctx, fmt)
    from teamcost.sync.service import sync_status
    emit(sync_status(load_config()), fmt, _render_status)


def _render_status(st: SyncStatus) -> None:
    wm = st.watermark.isoformat() if st.watermark else "never pulled"
    if st.pull_complete is False:
        wm += " (last pull interrupted; the next one resumes)"
    lp = st.last_push
    say_pairs([
        ("team", f"{st.team} (project {st.project or 'none: local only'})"),
        ("unpushed", f"{st.unpushed:,} calls, {format_usd(st.unpushed_cost_nanos)} "
                     f"({st.ledger_path})"),
        ("cache", f"{st.cached_calls:,} calls, {format_usd(st.cached_cost_nanos)} "
                  f"({st.cache_path})"),
        ("watermark", wm),
        ("last push", f"{lp['at']}: pushed {lp['pushed']:,}, already {lp['already']:,}, "
                      f"conflicts {len(lp['conflicts']):,}" if lp else "never"),
        ("last pull", f"{st.last_pull} ({age_of(st.last_pull)} ago)" if st.last_pull
         else "never")])


def age_of(iso: str) -> str:
    return age((datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds())


def register(app: typer.Typer) -> None:
    app.add_typer(sync_app, name="sync")
