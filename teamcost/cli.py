"""The `teamcost` command line: parse, call one library function, render.

Every TeamcostError becomes one line on stderr (``teamcost: error: ...``) and its
exit code; click usage errors become one line and exit 2. Command groups live in
``teamcost/commands/`` and register themselves on ``app``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x vendors click; older releases use the click package
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover
    import click.exceptions as _cx  # type: ignore[no-redef]

from teamcost.errors import TeamcostError


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


class TeamcostGroup(TyperGroup):
    """Turns exceptions into one-line messages and exit codes, also under CliRunner."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        _install_log_handler()
        try:
            rv = super().main(args, prog_name or "teamcost", complete_var,
                              standalone_mode=False, **extra)
        except _cx.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            return _exit(2, standalone_mode)
        except _cx.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            typer.echo(f"teamcost: error: {_one_line(exc.format_message())}{hint}", err=True)
            return _exit(2, standalone_mode)
        except _cx.ClickException as exc:
            typer.echo(f"teamcost: error: {_one_line(exc.format_message())}", err=True)
            return _exit(exc.exit_code, standalone_mode)
        except TeamcostError as exc:
            typer.echo(f"teamcost: error: {_one_line(str(exc))}", err=True)
            return _exit(exc.exit_code, standalone_mode)
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("teamcost: interrupted", err=True)
            return _exit(130, standalone_mode)
        code = rv if isinstance(rv, int) else 0
        return _exit(code, standalone_mode)


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
from teamcost.commands import ledger as _ledger  # noqa: E402
from teamcost.commands import sync as _sync  # noqa: E402
from teamcost.commands import report as _report  # noqa: E402
from teamcost.commands import budget as _budget  # noqa: E402
from teamcost.commands import auth as _auth  # noqa: E402
from teamcost.commands import imports as _imports  # noqa: E402
from teamcost.commands import demo as _demo  # noqa: E402
from teamcost.commands import watch as _watch  # noqa: E402
from teamcost.commands import serve as _serve  # noqa: E402

for _module in (_ledger, _sync, _report, _budget, _auth, _imports, _demo, _watch, _serve):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
