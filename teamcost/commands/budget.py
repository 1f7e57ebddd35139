"""`teamcost budget set|show|check`: the team's pooled budget.

check exits 0 (under the first warning threshold), 3 (a threshold crossed), 4 (exhausted,
or --estimate would exhaust it); errors exit 1 and usage errors 2, so CI can gate on it.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import typer

from teamcost.commands.output import OutputFormat, console, emit
from teamcost.config import load_config
from teamcost.money import format_usd

if TYPE_CHECKING:  # the budget stack (Firestore) loads when a command runs, not for --help
    from teamcost.budget.model import Budget, BudgetStatus

budget_app = typer.Typer(help="The team's pooled budget: set it, show it, check it.",
                         no_args_is_help=True)

FORMAT = typer.Option(OutputFormat.text, "--format", help="text or json.")


class PeriodChoice(str, enum.Enum):
    day = "day"
    week = "week"
    month = "month"


@budget_app.command("set")
def set_cmd(
        amount: str = typer.Option(..., "--amount", help="Dollars per period, e.g. 500."),
        period: PeriodChoice = typer.Option(PeriodChoice.month, "--period",
                                            help="day, week (from Monday) or month."),
        warn: str | None = typer.Option(None, "--warn",
                                           help="Warning thresholds, default 0.8,0.9."),
        hard_stop: bool = typer.Option(False, "--hard-stop/--no-hard-stop",
                                       help="Let the library guard refuse calls at the limit."),
        tz: str | None = typer.Option(None, "--tz",
                                         help="Period timezone (default: the team's)."),
        fmt: OutputFormat = FORMAT) -> None:
    """Set the team's budget (admin credentials: Firestore rules let only admins write)."""
    from teamcost.budget.check import set_team_budget
    budget = set_team_budget(load_config(), amount, period.value, warn, hard_stop, tz)
    emit(budget, fmt, _render_budget)


@budget_app.command("show")
def show_cmd(fmt: OutputFormat = FORMAT) -> None:
    """Show the team's budget."""
    from teamcost.budget.check import show_budget
    emit(show_budget(load_config()), fmt, _render_budget)


def _render_budget(b: Budget) -> None:
    warn = ", ".join(f"{t:.0%}" for t in b.thresholds)
    console.print(f"team {b.team}: {format_usd(b.amount_nanos, 2)} per {b.period} ({b.timezone}), "
                  f"warn at {warn}, hard stop {'on' if b.hard_stop else 'off'}", markup=False)
    if b.updated_at or b.updated_by:
        console.print(f"set by {b.updated_by or '?'} at "
                      f"{b.updated_at.isoformat(timespec='seconds') if b.updated_at else '?'}",
                      markup=False)


@budget_app.command("check")
def check_cmd(
        estimate: str | None = typer.Option(None, "--estimate",
                                               help="Dollars about to be spent (e.g. 25)."),
        fmt: OutputFormat = FORMAT) -> None:
    """Team spend this period vs the budget. Exit 0 OK, 3 warning, 4 exhausted.

    Alerts for newly crossed thresholds are sent once per team (log lines on stderr).
    """
    from teamcost.budget.check import check
    status = check(load_config(), estimate)
    emit(status, fmt, _render_status)
    raise typer.Exit(status.exit_code)


def _render_status(st: BudgetStatus) -> None:
    console.print(st.line, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(budget_app, name="budget")
