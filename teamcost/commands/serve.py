"""`teamcost serve`: the team dashboard, a live web page over the same library."""

from __future__ import annotations

import typer

from teamcost.commands.output import console
from teamcost.config import load_config
from teamcost.errors import InvalidValue


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("serve")(serve)


def parse_pull_every(value: str | None, has_project: bool) -> float:
    """Seconds between background refreshes: 30 by default with a project, 0 = never."""
    from teamcost.commands.watch import parse_interval
    from teamcost.web.server import DEFAULT_PULL_EVERY_S

    if value is None:
        return DEFAULT_PULL_EVERY_S if has_project else 0.0
    if value.strip() in ("0", "0s", "off"):
        return 0.0
    try:
        return parse_interval(value)
    except InvalidValue:
        raise InvalidValue("--pull-every", value, "a duration such as 60s or 5m, or 0 "
                           "to never pull (an agent pulls into the same cache)") from None


def serve(
    host: str = typer.Option("127.0.0.1", "--host", metavar="HOST", show_default=False,
                             help="Address to listen on. Anything but loopback needs --token. "
                                  "Default: 127.0.0.1."),
    port: int = typer.Option(8787, "--port", metavar="PORT", show_default=False,
                             envvar="TEAMCOST_SERVE_PORT", show_envvar=True,
                             help="TCP port (0 picks a free one). Default: 8787."),
    open_: bool = typer.Option(False, "--open", help="Open the page in a browser. "
                                                     "Default: do not."),
    pull_every: str | None = typer.Option(
        None, "--pull-every", metavar="DURATION", help="Pull the team's new calls this often "
        "(e.g. 5m), or 0 when an agent already pulls. Default: 30s with a Firestore project."),
    token: str | None = typer.Option(
        None, "--token", envvar="TEAMCOST_SERVE_TOKEN", show_envvar=True, metavar="TOKEN",
        help="Require this token on every request (Bearer header, or /login?token=...). "
             "Default: none (loopback only)."),
    metrics_members: bool = typer.Option(
        False, "--metrics-members", help="Label /metrics series by member too (one series "
        "per person and model). Default: team, provider and model only."),
) -> None:
    """The team dashboard: a live web page of spend, budget, breakdowns and sessions."""
    from teamcost.web.server import ServeOptions
    from teamcost.web.server import serve as run_server

    if not 0 <= port <= 65535:
        raise InvalidValue("--port", port, "a TCP port from 0 to 65535")
    config = load_config()
    options = ServeOptions(host=host, port=port, token=token or None,
                           pull_every=parse_pull_every(pull_every, config.has_firestore),
                           open_browser=open_, metrics_members=metrics_members)

    def announce(url: str) -> None:
        pulling = (f", pulling every {options.pull_every:g}s" if options.pull_every
                   else "")
        console.print(f"teamcost dashboard for team {config.team} at {url}"
                      f"{' (token required)' if options.token else ''}{pulling}; "
                      "Ctrl-C stops", markup=False)

    run_server(config, options, announce)
    console.print("teamcost dashboard stopped", markup=False)
