"""`teamcost statusline`: the line Claude Code shows under its prompt.

``teamcost/__main__.py`` runs ``print_status_line`` directly for a bare ``teamcost
statusline`` (no typer, no rich: it runs on every assistant message); ``--help`` and
in-process callers come through the typer command below. Both exit 0 whatever happens:
a failing status command would break Claude Code's status bar.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False   # not typing's: the status line imports no more than it needs
if TYPE_CHECKING:
    import typer

_MAX_STDIN = 1 << 20   # Claude Code sends a few kilobytes


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command("statusline")(statusline)


def _read_stdin() -> str:
    stdin = sys.stdin
    if stdin is None or stdin.closed or stdin.isatty():   # run by hand: nothing to wait for
        return ""
    raw = stdin.buffer.read(_MAX_STDIN) if hasattr(stdin, "buffer") else stdin.read(_MAX_STDIN)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def print_status_line() -> int:
    """Read Claude Code's JSON from stdin, print one line, return 0."""
    from teamcost.agent.statusline import build_status_line

    try:
        text = _read_stdin()
    except (OSError, ValueError):
        text = ""
    line = build_status_line(text, color=not os.environ.get("NO_COLOR")) + "\n"
    out = sys.stdout
    try:
        if hasattr(out, "buffer"):     # UTF-8 whatever the locale says: Claude Code reads UTF-8
            out.flush()
            out.buffer.write(line.encode("utf-8"))
            out.buffer.flush()
        else:
            out.write(line)
    except BrokenPipeError:
        # the reader went away: nothing to tell anyone, and no traceback at exit either
        # (Python flushes stdout again on the way out: point it at /dev/null first)
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    return 0


def statusline() -> int:
    """Print one line for Claude Code's status bar: team budget, today, this session.

    Reads Claude Code's status JSON on stdin (session_id, model, workspace) and the agent's
    status snapshot; no network. Set it up with `teamcost agent claude-code-setup`.
    """
    return print_status_line()
