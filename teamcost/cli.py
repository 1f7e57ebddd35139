"""The `teamcost` command line: parse, call one library function, render.

Every TeamcostError becomes one line on stderr (``teamcost: error: ...``) and its
exit code; click usage errors become one line and exit 2. Command groups live in
``teamcost/commands/`` and register themselves on ``app``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from teamcost.compat.typer import click_exceptions as _cx
from teamcost.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    InvalidValue,
    TeamcostError,
)

_LONG_WORD = 160   # a path or value longer than this is shown by its two ends


def _one_line(msg: str) -> str:
    """The message on one line; a huge word (a 10,000-character path) keeps its two ends."""
    words = str(msg).split()
    return " ".join(w if len(w) <= _LONG_WORD else f"{w[:80]}...{w[-60:]}" for w in words)


def _given_value(argv: Sequence[str], opts: Sequence[str]) -> str | None:
    """What the command line gave an option (``--seed abc`` or ``--seed=abc``)."""
    for i, arg in enumerate(argv):
        for opt in opts:
            if arg == opt and i + 1 < len(argv):
                return argv[i + 1]
            if opt.startswith("--") and arg.startswith(opt + "="):
                return arg[len(opt) + 1:]
    return None


def _bad_parameter(exc: Any, argv: Sequence[str]) -> str:
    """click's "Invalid value for '--seed': ..." as teamcost says it: the flag and the
    value the user typed (click's own message does not show it)."""
    param = exc.param
    if param is not None and param.param_type_name == "option":
        flag = ([o for o in param.opts if o.startswith("--")] or list(param.opts))[0]
        value = _given_value(argv, param.opts)
        if value is not None:
            why = str(exc.message)
            return f"invalid {flag}: {value!r}; {why[:1].lower()}{why[1:]}"
    return str(exc.format_message())


class TeamcostGroup(TyperGroup):
    """Turns exceptions into one-line messages and exit codes, also under CliRunner."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        _install_log_handler()
        try:
            rv = super().main(args, prog_name or "teamcost", complete_var,
                              standalone_mode=False,
                              windows_expand_args=windows_expand_args, **extra)
        except _cx.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            return _exit(EXIT_USAGE, standalone_mode)
        except _cx.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            argv = list(args) if args is not None else sys.argv[1:]
            msg = (_bad_parameter(exc, argv) if isinstance(exc, _cx.BadParameter)
                   else exc.format_message())
            typer.echo(f"teamcost: error: {_one_line(msg)}{hint}", err=True)
            return _exit(EXIT_USAGE, standalone_mode)
        except _cx.ClickException as exc:
            typer.echo(f"teamcost: error: {_one_line(exc.format_message())}", err=True)
            return _exit(exc.exit_code, standalone_mode)
        except InvalidValue as exc:  # the library names fields; say the flag the user typed
            argv = list(args) if args is not None else sys.argv[1:]
            message = exc.message(lambda field: self._flag_for(field, argv))
            typer.echo(f"teamcost: error: {_one_line(message)}", err=True)
            return _exit(exc.exit_code, standalone_mode)
        except TeamcostError as exc:
            typer.echo(f"teamcost: error: {_one_line(str(exc))}", err=True)
            return _exit(exc.exit_code, standalone_mode)
        except (typer.Abort, KeyboardInterrupt):
            return _interrupted(standalone_mode)
        except OSError as exc:
            # the last line of defence: a file the library did not expect to be odd (a
            # directory where a file belongs, a read-only place, a name too long) is one
            # line naming it, never a traceback
            typer.echo(f"teamcost: error: {_one_line(_os_error(exc))}", err=True)
            return _exit(EXIT_ERROR, standalone_mode)
        code = rv if isinstance(rv, int) else 0
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C inside a command into Exit(130)
            return _interrupted(standalone_mode)
        return _exit(code, standalone_mode)


    def _flag_for(self, field: str, argv: list[str]) -> str:
        """How the command ``argv`` invokes spells the library's ``field`` (``since`` ->
        ``--since``, ``thresholds`` -> ``--warn``); the field itself when it has no flag."""
        names = (field, *FIELD_ALIASES.get(field, ()))
        try:
            params = _leaf_command(self, argv).params
        except Exception:  # an unparsable command line: the field's own name will do
            return field
        for param in params:
            if param.param_type_name == "option" and param.name in names:
                return ([o for o in param.opts if o.startswith("--")] or list(param.opts))[0]
        return field


# library field -> the parameter names commands give it
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "thresholds": ("warn",), "timezone": ("tz",), "format": ("fmt",),
}


def _leaf_command(group: Any, argv: list[str]) -> Any:
    """The (sub)command ``argv`` names, resolved without running anything."""
    ctx = group.make_context("teamcost", list(argv), resilient_parsing=True)
    cmd = group
    while hasattr(cmd, "resolve_command"):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, sub, rest = cmd.resolve_command(ctx, rest)
        if sub is None:
            break
        ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=True)
        cmd = sub
    return cmd


def _interrupted(standalone_mode: bool) -> int:
    try:
        typer.echo("teamcost: interrupted", err=True)
    except OSError:  # stderr is gone too: the exit code still says it
        pass
    return _exit(EXIT_INTERRUPTED, standalone_mode)


def _os_error(exc: OSError) -> str:
    what = exc.strerror or type(exc).__name__
    if exc.filename is not None:
        return f"{exc.filename}: {what}"
    return what


class _StderrLog(logging.Handler):
    """Library warnings (alerts, guard, unpriced models) as lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(record.getMessage(), err=True)


def _install_log_handler() -> None:
    log = logging.getLogger("teamcost")
    if not any(isinstance(h, _StderrLog) for h in log.handlers):
        h = _StderrLog(logging.WARNING)
        log.addHandler(h)


def _exit(code: int, standalone_mode: bool) -> int:
    if standalone_mode:
        sys.exit(code)
    return code


app = typer.Typer(
    cls=TeamcostGroup,
    name="teamcost",
    help="One true number for what your team's LLM calls cost, inside a shared budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module adds its commands; import order is the order in --help.
from teamcost.commands import agent as _agent  # noqa: E402
from teamcost.commands import auth as _auth  # noqa: E402
from teamcost.commands import budget as _budget  # noqa: E402
from teamcost.commands import demo as _demo  # noqa: E402
from teamcost.commands import imports as _imports  # noqa: E402
from teamcost.commands import ledger as _ledger  # noqa: E402
from teamcost.commands import reconcile as _reconcile  # noqa: E402
from teamcost.commands import report as _report  # noqa: E402
from teamcost.commands import reprice as _reprice  # noqa: E402
from teamcost.commands import serve as _serve  # noqa: E402
from teamcost.commands import statusline as _statusline  # noqa: E402
from teamcost.commands import sync as _sync  # noqa: E402
from teamcost.commands import watch as _watch  # noqa: E402

for _module in (_ledger, _sync, _report, _budget, _reconcile, _auth, _imports, _reprice, _demo,
                _watch, _agent, _statusline, _serve):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
