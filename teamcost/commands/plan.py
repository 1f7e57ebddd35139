"""`teamcost plan set|assign|show`: the team's seat plans (admin credentials to write)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from teamcost.commands.output import FORMAT, OutputFormat, emit
from teamcost.commands.tables import say
from teamcost.config import load_config
from teamcost.labels import one_line
from teamcost.money import format_usd

if TYPE_CHECKING:
    from teamcost.plans.model import Plans

plan_app = typer.Typer(help="The team's seat plans (subscriptions): set them, assign seats, "
                            "show them.", no_args_is_help=True)


@plan_app.command("set")
def set_cmd(name: str = typer.Argument(..., metavar="NAME", help="The plan, e.g. 'Claude Max'."),
            price: str = typer.Option(..., "--price", metavar="DOLLARS",
                                      help="Price per seat per month, e.g. 200 or 19.99."),
            covers: list[str] = typer.Option([], "--covers", metavar="PATTERNS",
                                             help="Calls it covers: source=,provider=,model= "
                                                  "patterns (* any), repeatable, e.g. "
                                                  "source=claude-code,model=claude-*. "
                                                  "Default: covers nothing."),
            fmt: OutputFormat = FORMAT) -> None:
    """Create or replace a plan (admin)."""
    from teamcost.money import usd_to_nanos
    from teamcost.plans.model import parse_covers
    from teamcost.plans.store import set_plan

    nanos = usd_to_nanos(price, "price")
    emit(set_plan(load_config(), name, nanos, parse_covers(covers)), fmt, _render)


@plan_app.command("assign")
def assign_cmd(member: str = typer.Argument(..., metavar="MEMBER"),
               plan: str = typer.Argument(..., metavar="PLAN", help="A plan's name."),
               since: str = typer.Option("now", "--from", metavar="WHEN",
                                         help="From when (2026-11-16, an ISO time, now); "
                                              "rounded up to the next quarter hour UTC. "
                                              "Default: now."),
               end: bool = typer.Option(False, "--end", help="End MEMBER's seat of PLAN "
                                                            "at --from instead. Default: "
                                                            "give the seat."),
               fmt: OutputFormat = FORMAT) -> None:
    """Give MEMBER a seat of PLAN from --from on (or end it: --end); calls before keep
    their plans (admin). A member may hold several plans."""
    from datetime import UTC, datetime

    from teamcost.periods import parse_point
    from teamcost.plans.store import assign

    config = load_config()
    when = parse_point("since", since, datetime.now(UTC), config.timezone, end_of_day=False)
    plans, seat = assign(config, member, plan, when, holds=not end)
    if fmt.value == "text":
        say(f"{one_line(member)} {'holds' if seat.holds else 'no longer holds'} "
            f"{one_line(seat.plan)} from {seat.since.isoformat(timespec='minutes')}")
    emit(plans, fmt, _render)


@plan_app.command("show")
def show_cmd(fmt: OutputFormat = FORMAT) -> None:
    """Show the team's plans and seat history."""
    from teamcost.plans.store import show
    emit(show(load_config()), fmt, _render)


def _render(p: Plans) -> None:
    if not p.plans:
        say(f"team {p.team} has no plans: add one with `teamcost plan set NAME --price 200 "
            "--covers source=claude-code`")
        return
    for plan in sorted(p.plans.values(), key=lambda x: x.name):
        covers = "; ".join(f"source={c.source} provider={c.provider} model={c.model}"
                           for c in plan.covers) or "nothing"
        say(f"{one_line(plan.name)}: {format_usd(plan.seat_nanos)} per seat per month, "
            f"covers {one_line(covers)}")
    for s in p.seats:
        say(f"  {s.since.isoformat(timespec='minutes')}  {one_line(s.member)} "
            f"{'+' if s.holds else '-'} {one_line(s.plan)}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(plan_app, name="plan")
