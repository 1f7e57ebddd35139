"""`teamcost import jsonl|sqlite|claude-code|codex|gemini-cli|cursor|copilot`: existing
usage logs, and the usage that Cursor's and GitHub's team APIs hold, into this machine's
ledger."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from teamcost.commands.output import FORMAT, OutputFormat, ProgressBars, console, emit
from teamcost.config import load_config
from teamcost.errors import TeamcostError
from teamcost.labels import one_line
from teamcost.money import format_usd

if TYPE_CHECKING:
    from teamcost.capture.logs.base import ImportResult

import_app = typer.Typer(help="Import usage logs into this machine's ledger (idempotent).",
                         no_args_is_help=True)



def _path(value: str | None) -> Path | None:
    """A path argument: declared ``str`` because typer converts a ``Path`` through pydantic,
    whose import costs about 60 ms of every import command."""
    return None if value is None else Path(value)


def _run(fn: Callable[..., ImportResult], path: Path | None, fmt: OutputFormat) -> None:
    with ProgressBars(None if fmt == OutputFormat.text else False) as bars:
        result = fn(path, load_config(), progress=bars.bar("import"))
    emit(result, fmt, _render)
    if result.all_refused:   # "imported 0 calls" must not read as a success
        raise ImportRefused(f"every line read was refused ({result.skipped:,} bad lines): "
                            f"nothing was imported from {result.path}")


class ImportRefused(TeamcostError):
    """Lines were read and none could be imported (exit 1)."""


def _render(result: ImportResult) -> None:
    for line in result.bad:
        typer.echo(f"teamcost: warning: skipped {one_line(line)}", err=True)
    if result.skipped > len(result.bad):
        typer.echo(f"teamcost: warning: ... and {result.skipped - len(result.bad):,} "
                   "more bad lines", err=True)
    console.print(f"{result.summary()}; new cost {format_usd(result.cost_nanos)}", markup=False)


@import_app.command("jsonl")
def jsonl_cmd(file: str = typer.Argument(..., metavar="FILE",
                                          help="A teamcost .jsonl export."),
              fmt: OutputFormat = FORMAT) -> None:
    """Re-import a teamcost JSON Lines export (lossless)."""
    from teamcost.capture.logs.jsonl import import_jsonl  # each importer loads its own

    _run(import_jsonl, _path(file), fmt)


@import_app.command("sqlite")
def sqlite_cmd(file: str = typer.Argument(..., metavar="FILE",
                                           help="A teamcost ledger or an llm_calls database."),
               fmt: OutputFormat = FORMAT) -> None:
    """Import another teamcost ledger (calls) or a cost database (llm_calls table)."""
    from teamcost.capture.logs.sqlite import import_sqlite

    _run(import_sqlite, _path(file), fmt)


@import_app.command("claude-code")
def claude_code_cmd(
        path: str | None = typer.Argument(None, metavar="PATH", show_default=False,
                                           help="Projects directory or one session file. "
                                                "Default: ~/.claude/projects."),
        path_opt: str | None = typer.Option(None, "--path", metavar="PATH",
                                             help="Same as PATH. Default: "
                                                  "~/.claude/projects."),
        fmt: OutputFormat = FORMAT) -> None:
    """Import Claude Code session logs: one call per assistant message, counted once."""
    arg, opt = _path(path), _path(path_opt)
    if arg is not None and opt is not None and arg != opt:
        raise typer.BadParameter("give PATH or --path, not both")
    from teamcost.capture.logs.claude_code import import_claude_code

    _run(import_claude_code, arg or opt, fmt)


def _dir(path: str | None, path_opt: str | None) -> Path | None:
    arg, opt = _path(path), _path(path_opt)
    if arg is not None and opt is not None and arg != opt:
        raise typer.BadParameter("give DIR or --path, not both")
    return arg or opt


@import_app.command("codex")
def codex_cmd(
        path: str | None = typer.Argument(None, metavar="DIR", show_default=False,
                                           help="Codex home, sessions directory or one "
                                                "rollout file. Default: $CODEX_HOME, else "
                                                "~/.codex."),
        path_opt: str | None = typer.Option(None, "--path", metavar="DIR",
                                             help="Same as DIR. Default: $CODEX_HOME, else "
                                                  "~/.codex."),
        fmt: OutputFormat = FORMAT) -> None:
    """Import OpenAI Codex CLI session logs: one call per model request, counted once."""
    from teamcost.capture.logs.codex import import_codex

    _run(import_codex, _dir(path, path_opt), fmt)


@import_app.command("gemini-cli")
def gemini_cli_cmd(
        path: str | None = typer.Argument(None, metavar="DIR", show_default=False,
                                           help="Gemini CLI directory, a chats directory "
                                                "or one session file. Default: ~/.gemini."),
        path_opt: str | None = typer.Option(None, "--path", metavar="DIR",
                                             help="Same as DIR. Default: ~/.gemini."),
        fmt: OutputFormat = FORMAT) -> None:
    """Import Google Gemini CLI chat sessions: one call per model response, counted once."""
    from teamcost.capture.logs.gemini_cli import import_gemini_cli

    _run(import_gemini_cli, _dir(path, path_opt), fmt)


def _render_vendor(result: Any) -> None:
    _render(result)
    if result.rows_by_billing:
        console.print("billing of the calls read: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(result.rows_by_billing.items())), markup=False)


@import_app.command("cursor")
def cursor_cmd(since: str = typer.Option("30d", "--since", metavar="WHEN",
                                         show_default=False,
                                         help="Start of the window (report's forms: 7d, "
                                              "2026-11-01, ...). Cursor keeps only a "
                                              "rolling window. Default: 30d."),
               until: str | None = typer.Option(None, "--until", metavar="WHEN",
                                                help="End of the window. Default: now."),
               fmt: OutputFormat = FORMAT) -> None:
    """Import Cursor team usage events from Cursor's Admin API (CURSOR_ADMIN_API_KEY)."""
    import os
    from datetime import UTC, datetime

    from teamcost.capture.vendors.cursor import import_cursor
    from teamcost.periods import parse_window

    config = load_config()
    window = parse_window(since, until, datetime.now(UTC), config.timezone)
    emit(import_cursor(config, window, os.environ), fmt, _render_vendor)


@import_app.command("copilot")
def copilot_cmd(org: str = typer.Option(..., "--org", metavar="ORG",
                                        help="The GitHub organisation that pays the seats."),
                month: str | None = typer.Option(None, "--month", metavar="YYYY-MM",
                                                 help="Default: this month (UTC)."),
                fmt: OutputFormat = FORMAT) -> None:
    """Import GitHub Copilot seat holders' billed usage (GITHUB_TOKEN) per model and day."""
    import os

    from teamcost.capture.vendors.copilot import import_copilot

    emit(import_copilot(load_config(), org, month, os.environ), fmt, _render_vendor)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(import_app, name="import")
