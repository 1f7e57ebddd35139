"""`teamcost demo`: a realistic team on a local Firestore emulator, end to end."""

from __future__ import annotations

import os
import shlex
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from teamcost.commands.output import FORMAT, OutputFormat, console, emit, err_console
from teamcost.money import format_usd

if TYPE_CHECKING:  # the demo (pandas, the emulator client) loads when it runs
    from teamcost.demo.run import DemoResult

DEFAULT_DIR = Path("demo-output")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("demo")(demo)


def demo(
    directory: str = typer.Option(str(DEFAULT_DIR), "--dir", metavar="DIR", show_default=False,
                                  help="Folder for the demo's ledgers, TEAMCOST_HOME, report "
                                       "and exports: a new or empty folder, or an earlier "
                                       f"demo's (whose files it replaces). Default: {DEFAULT_DIR}."),
    seed: int = typer.Option(20261123, "--seed", metavar="N", show_default=False,
                             help="Seed of the generated team, an integer. "
                                  "Default: 20261123."),
    local: bool = typer.Option(False, "--local",
                               help="Skip Firestore: the local ledger alone. Default: use "
                                    "the Firestore emulator when one is available."),
    serve: bool = typer.Option(False, "--serve",
                               help="Keep the demo's emulator running (Ctrl-C stops it) so "
                                    "the CLI can sync and check budgets. Default: stop it."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Generate a month of a 5-person team, push it, pull it, budget it, report it."""
    from teamcost.demo.run import run_demo

    text = fmt == OutputFormat.text

    def say(msg: str) -> None:
        if text:
            err_console.print(Text.assemble(("demo:", "dim"), " ", msg))

    result = run_demo(directory, seed=seed, local_only=local, say=say,
                      emulator_host=os.environ.get("FIRESTORE_EMULATOR_HOST") or None,
                      keep_emulator=_serve if serve else None, render=render_step)
    if not (serve and result.emulator_started):  # --serve printed it while serving
        emit(result, fmt, _render)


def render_step(step: str, obj: Any) -> str:
    """The text the CLI command for ``step`` prints (same renderer), captured for the folder
    at its natural width, so member emails and model names are never shortened there."""
    from teamcost.commands.report import report_view
    from teamcost.commands.tables import to_text

    renderers = {"report": lambda doc: to_text(report_view(doc, None), None)}
    return renderers[step](obj)


def _serve(result: DemoResult) -> None:
    _render(result, serving=True)
    console.print(f"\nThe emulator keeps running on {result.emulator_host}; in another "
                  "terminal run the commands above. Ctrl-C stops it.")
    def on_term(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM too: the emulator is stopped, never orphaned

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping the emulator")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _render(result: DemoResult, serving: bool = False) -> None:
    for step, out in result.outputs.items():
        console.rule(step)
        console.print(out, markup=False, end="")
    console.rule("teamcost demo")
    mode = ("Firestore emulator at " + str(result.emulator_host) if result.mode == "firestore"
            else "local ledger only")
    console.print(f"{result.calls} calls, {format_usd(result.total_nanos)} over 30 days, "
                  f"{len(result.members)} members on {len(result.ledgers)} machines, "
                  f"{len(result.models)} models ({mode}); spike day {result.spike_day}")
    for s in result.steps:
        console.print(f"  {s.seconds:6.1f}s  {s.name}" + (f": {s.detail}" if s.detail else ""),
                      markup=False)
    console.print(f"  {result.seconds:6.1f}s  total", markup=False)
    console.print("\nWhere everything is:")
    console.print(f"  folder          {result.directory}", markup=False)
    console.print(f"  TEAMCOST_HOME   {result.home}", markup=False)
    for name, path in result.ledgers.items():
        console.print(f"  ledger          {path}  ({name})", markup=False)
    for what, path in result.files.items():
        console.print(f"  {what:<15} {path}", markup=False)
    if result.budget_status:
        console.print(f"\nBudget: {result.budget_status} (budget check exit code "
                      f"{result.budget_exit_code})", markup=False)
    for note in result.notes:
        console.print(f"\nnote: {note}", markup=False)
    console.print("\nPoint the CLI at the demo's data:")
    console.print(f"  export TEAMCOST_HOME={shlex.quote(str(result.home))}", markup=False)
    console.print("  teamcost report --since 30d --by model", markup=False)
    chart = shlex.quote(str(result.directory / "spend.html"))
    console.print(f"  teamcost report --since 30d --chart {chart}", markup=False)
    if result.mode == "firestore" and result.emulator_started and not serving:
        console.print("  # the emulator stops with the demo: report, watch and serve show the "
                      "pulled team cache and the last known budget; sync and budget check "
                      "need it running (`teamcost demo --serve`)", markup=False)
