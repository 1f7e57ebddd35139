"""`teamcost team invite`, `teamcost login`, `logout`, `whoami`: member identities.

Tokens are secrets: invite prints its token only as plain text (or writes it to a 0600
file with --out), and no JSON output or error message ever carries a token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from teamcost.auth.service import (
    Invitation,
    WhoAmI,
    invite,
    login,
    logout,
    read_token_file,
    whoami,
)
from teamcost.commands.output import FORMAT, OutputFormat, console, emit
from teamcost.config import load_config
from teamcost.labels import one_line

team_app = typer.Typer(help="Team membership: invite members (admins).", no_args_is_help=True)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@team_app.command("invite")
def invite_cmd(member: str = typer.Argument(..., metavar="MEMBER",
                                            help="The member's id (their uid), "
                                                 "e.g. their email."),
               admin: bool = typer.Option(False, "--admin",
                                          help="May also set budgets. Default: a member."),
               out: Path | None = typer.Option(None, "--out", metavar="FILE",
                                               help="Write the token to FILE (mode 0600) "
                                                    "instead of printing it. Default: print "
                                                    "it on stdout."),
               fmt: OutputFormat = FORMAT) -> None:
    """Mint a one-hour invitation token carrying the team claim (admin credentials)."""
    inv = invite(load_config(), member, admin, out)
    emit(inv, fmt, _render_invite)


def _render_invite(inv: Invitation) -> None:
    role = "admin" if inv.admin else "member"
    where = f"written to {inv.token_file}" if inv.token_file else "below"
    typer.echo(f"invitation for {one_line(inv.member)} ({role} of team {inv.team}), valid until "
               f"{_when(inv.expires_at)}, {where}; they run: teamcost login --token TOKEN",
               err=inv.token_file is None)
    if inv.token_file is None:
        typer.echo(inv.token)       # stdout: the token alone, for piping


def register_login(app: typer.Typer) -> None:
    @app.command("login")
    def login_cmd(token: str | None = typer.Option(None, "--token", metavar="TOKEN",
                                                   help="The invitation token (this or "
                                                        "--token-file). Default: none."),
                  token_file: Path | None = typer.Option(None, "--token-file", metavar="FILE",
                                                         help="Read the token from FILE. "
                                                              "Default: none."),
                  api_key: str | None = typer.Option(None, "--api-key", metavar="KEY",
                                                     help="The Firebase Web API key (not "
                                                          "needed on the emulator). Default: "
                                                          "the config's."),
                  fmt: OutputFormat = FORMAT) -> None:
        """Sign in as a member with an invitation token; stores tokens with mode 0600."""
        if (token is None) == (token_file is None):
            raise typer.BadParameter("give --token TOKEN or --token-file FILE")
        if token_file is not None:
            token = read_token_file(token_file)
        emit(login(load_config(), token or "", api_key), fmt, _render_who)

    @app.command("logout")
    def logout_cmd() -> None:
        """Forget this machine's member sign-in (back to admin credentials)."""
        gone = logout(load_config())
        console.print("signed out" if gone else "not signed in")

    @app.command("whoami")
    def whoami_cmd(fmt: OutputFormat = FORMAT) -> None:
        """Who this machine writes calls as: the signed-in member, or the config's."""
        emit(whoami(load_config()), fmt, _render_who)


def _render_who(w: WhoAmI) -> None:
    if w.signed_in:
        console.print(f"{one_line(w.member)} of team {w.team}{' (admin)' if w.admin else ''}, signed "
                      f"in to {w.project or '?'}; ID token valid until {_when(w.expires_at)}",
                      markup=False)
    else:
        console.print(f"{one_line(w.member)} of team {w.team}, not signed in (Firestore access, if "
                      "any, uses admin credentials)", markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(team_app, name="team")
    register_login(app)
