"""`teamcost agent ...`: the always-on agent's command group.

The lead's branch adds the run command and `agent status` here; `agent_setup` adds the
commands that install it as a service and point Claude Code at it.
"""

from __future__ import annotations

import typer

from teamcost.commands import agent_setup

agent_app = typer.Typer(help="The always-on agent: install it as a service, connect Claude Code.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `agent` group to the root app."""
    agent_setup.register(agent_app)
    app.add_typer(agent_app, name="agent")
