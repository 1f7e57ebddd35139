"""`teamcost budget set|show|check`: the team's pooled budget.

check exits 0 (under the first warning threshold), 3 (a threshold crossed), 4 (exhausted,
or --estimate would exhaust it); errors exit 1 and usage errors 2, so CI can gate on it.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import typer

from teamcost.commands.output import FORMAT, OutputFormat, emit
from teamcost.commands.tables import say
from teamcost.config import load_config
from teamcost.money import format_usd

if TYPE_CHECKING:  # the budget stack (Firestore) loads when a command runs, not for --help
    from teamcost.budget.model import Budget, BudgetStatus

budget_app = typer.Typer(help="The team's pooled budget: set it, show it, check it.",
                         no_args_is_help=True)


class PeriodChoice(str, enum.Enum):
    day = "day"
    week = "week"
    month = "month"


@budget_app.command("set")
def set_cmd(
        amount: str = typer.Option(..., "--amount", metavar="DOLLARS",
                                   help="Dollars per period, e.g. 500 or 12.50."),
        period: PeriodChoice = typer.Option(PeriodChoice.month, "--period", metavar="PERIOD",
                                            show_default=False,
                                            help="day, week (from Monday) or month. "
                                                 "Default: month."),
        warn: str | None = typer.Option(None, "--warn", metavar="FRACTIONS",
                                        help="Warning thresholds, comma-separated fractions "
                                             "(0.8,0.9) or percentages (80%,90%). "
                                             "Default: 0.8,0.9."),
        hard_stop: bool = typer.Option(False, "--hard-stop/--no-hard-stop", show_default=False,
                                       help="Let the library guard refuse calls at the limit. "
                                            "Default: --no-hard-stop."),
        tz: str | None = typer.Option(None, "--tz", metavar="ZONE",
                                      help="Timezone of the period boundaries, an IANA name. "
                                           "Default: the team's."),
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
    say(f"team {b.team}: {format_usd(b.amount_nanos)} per {b.period} ({b.timezone}), "
        f"warn at {warn}, hard stop {'on' if b.hard_stop else 'off'}")
    if b.updated_at or b.updated_by:
        say(f"set by {b.updated_by or '?'} at "
            f"{b.updated_at.isoformat(timespec='seconds') if b.updated_at else '?'}")


@budget_app.command("check")
def check_cmd(
        estimate: str | None = typer.Option(None, "--estimate", metavar="DOLLARS",
                                            help="Dollars about to be spent, e.g. 25, counted "
                                                 "as spent. Default: 0."),
        fmt: OutputFormat = FORMAT) -> None:
    """Team spend this period vs the budget. Exit 0 OK, 3 warning, 4 exhausted.

    Alerts for newly crossed thresholds are sent once per team (log lines on stderr).
    """
    from teamcost.budget.check import check
    status = check(load_config(), estimate)
    emit(status, fmt, _render_status)
    raise typer.Exit(status.exit_code)


def _render_status(st: BudgetStatus) -> None:
    say(st.line)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(budget_app, name="budget")
