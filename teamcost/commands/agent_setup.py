"""`teamcost agent install | uninstall | claude-code-setup`: run the agent as a user service
and point Claude Code's telemetry and status line at it. Nothing here starts a service:
each command prints the one command that does."""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer

from teamcost.agent import claude_settings, service_files
from teamcost.config import default_home


class Platform(str, enum.Enum):
    systemd = "systemd"
    launchd = "launchd"


def register(agent_app: typer.Typer) -> None:
    """Add this module's commands to the `agent` group."""
    agent_app.command("install")(install)
    agent_app.command("uninstall")(uninstall)
    agent_app.command("claude-code-setup")(claude_code_setup)


def _kind(platform: Platform | None) -> str:
    return platform.value if platform else service_files.platform_kind()


def install(
    print_only: bool = typer.Option(False, "--print",
                                    help="Print the service file instead of writing it. "
                                         "Default: write it."),
    platform: Platform | None = typer.Option(None, "--platform", metavar="KIND",
                                             help="systemd or launchd. Default: this "
                                                  "system's."),
) -> None:
    """Install the agent as a user service: a systemd user unit (Linux) or a launchd agent (macOS).

    Writes the file for this TEAMCOST_HOME and prints the one command that starts it; never
    overwrites a file teamcost did not write.
    """
    sf = service_files.service_file(_kind(platform), default_home())
    if print_only:
        typer.echo(sf.content.decode("utf-8"), nl=False)
        return
    result = service_files.install(sf)
    typer.echo(f"{'wrote' if result.changed else 'already installed (unchanged)'}: {result.path}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"to start it now and at every login, run:\n  {result.command}")


def uninstall(
    platform: Platform | None = typer.Option(None, "--platform", metavar="KIND",
                                             help="systemd or launchd. Default: this "
                                                  "system's."),
) -> None:
    """Remove the service file `teamcost agent install` wrote (never one it did not write)."""
    result = service_files.uninstall(_kind(platform))
    if not result.removed:
        typer.echo(f"nothing to remove: {result.path} does not exist")
        return
    typer.echo(f"removed: {result.path}")
    if result.command:
        typer.echo(f"to make the service manager forget it, run:\n  {result.command}")


def claude_code_setup(
    settings: Path | None = typer.Option(
        None, "--settings", metavar="FILE", help="Claude Code's settings file. Default: "
        "$CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json."),
) -> None:
    """Send Claude Code's telemetry to the agent and show teamcost's status line.

    Merges the OpenTelemetry `env` entries and a `statusLine` into Claude Code's settings,
    keeping every other key, any value you set differently and any status line you have;
    backs the old file up next to it. Running it again changes nothing.
    """
    path = settings if settings is not None else claude_settings.default_settings_path()
    r = claude_settings.claude_code_setup(path, claude_settings.DEFAULT_OTLP_ENDPOINT,
                                          claude_settings.statusline_command())
    if not r.changed:
        typer.echo(f"nothing to change in {r.path}")
    else:
        typer.echo(f"{'created' if r.created else 'updated'}: {r.path}")
    if r.backup:
        typer.echo(f"backup of the old file: {r.backup}")
    for name, value in r.env_added.items():
        typer.echo(f"env: added {name}={value}")
    for name, (theirs, ours) in r.env_kept.items():
        typer.echo(f"env: kept your {name}={json.dumps(theirs)} (teamcost's agent needs {ours}; "
                   "change it yourself to send telemetry to the agent)")
    command = claude_settings.statusline_command()
    if r.statusline == "added":
        typer.echo(f"statusLine: added: {command}")
    elif r.statusline == "kept":
        typer.echo(f"statusLine: kept yours ({json.dumps(r.their_statusline)}); teamcost's "
                   f"would be: {command}")
    if r.changed:
        typer.echo("new Claude Code sessions pick this up")
