"""The `teamcost` command line: parse, call one library function, render.

Every TeamcostError becomes one line on stderr (``teamcost: error: ...``) and its
exit code; click usage errors become one line and exit 2. Commands live in
``teamcost/commands/`` modules with a ``register(app)`` function; ``COMMANDS`` below names
each command, its module and its one-line help, and a module is imported only when one of
its commands runs (or shows its own --help): ``teamcost record`` never loads pandas or the
Firestore stack, and ``teamcost --help`` loads no command module at all.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from teamcost.compat.typer import click_exceptions as _cx
from teamcost.compat.typer import defer_adapters
from teamcost.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    InvalidValue,
    TeamcostError,
)
from teamcost.labels import one_line

_LONG_WORD = 160   # a path or value longer than this is shown by its two ends


def _one_line(msg: str) -> str:
    """The message on one line; a huge word (a 10,000-character path) keeps its two ends."""
    words = one_line(" ".join(str(msg).split())).split(" ")  # no control byte either
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


_NOT_ONE_OF = re.compile(r"^(?:value error, )?'.*' is not one of (?P<choices>.*?)\.?$", re.S | re.I)


def _choices(why: str) -> str:
    """The parser's "value error, 'xml' is not one of 'table', 'json'." as teamcost says a
    choice: "expected table or json"."""
    m = _NOT_ONE_OF.match(why)
    if not m:
        return why
    names = re.findall(r"'([^']*)'", m.group("choices"))
    if not names:
        return why
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"expected {listed}"


def _bad_parameter(exc: Any, argv: Sequence[str]) -> str:
    """click's "Invalid value for '--seed': ..." as teamcost says it: the flag and the
    value the user typed (click's own message does not show it)."""
    param = exc.param
    if param is not None and param.param_type_name == "option":
        flag = ([o for o in param.opts if o.startswith("--")] or list(param.opts))[0]
        value = _given_value(argv, param.opts)
        if value is not None:
            # typer's coercion (pydantic) prefixes its reasons with "Value error, ": that
            # is how the message came about, not what the user needs to read
            why = re.sub(r"^\s*value error,\s*", "", str(exc.message), flags=re.IGNORECASE)
            why = _choices(why)
            return f"invalid {flag}: {value!r}; {why[:1].lower()}{why[1:]}"
    return str(exc.format_message())


# command -> (its module in teamcost/commands/, the first paragraph of its help, which the
# root --help lists without importing the module). The order here is the order in --help.
# Adding a command is one line here plus the module's register(app).
# tests/unit/test_cli_lazy.py checks every line against what the module registers.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("ledger", "Write the config file in TEAMCOST_HOME (merging with what is there)."),
    "record": ("ledger", "Record one call in this machine's ledger (for shell scripts)."),
    "report": ("report", "Team spend over a window: totals, by member and model, trend by day, "
                         "rate, projection."),
    "pr": ("pr", "What a branch's work cost across the team: total, by member, model, agent "
                 "and day."),
    "export": ("report", "One row per call for an ISO week (or a month), plus the period's "
                         "summary."),
    "reconcile": ("reconcile", "Compare the provider's billed usage and cost with the team's "
                               "recorded calls, per UTC day and model. Needs an admin key "
                               "(ANTHROPIC_ADMIN_API_KEY / OPENAI_ADMIN_KEY). Exit 0 within "
                               "tolerance, 3 billed more than recorded, 4 recorded more than "
                               "billed."),
    "login": ("auth", "Sign in as a member with an invitation token; stores tokens with mode "
                      "0600."),
    "logout": ("auth", "Forget this machine's member sign-in (back to admin credentials)."),
    "whoami": ("auth", "Who this machine writes calls as: the signed-in member, or the "
                       "config's."),
    "reprice": ("reprice", "Price unpriced calls not yet pushed, from the current prices and "
                           "price overrides."),
    "demo": ("demo", "Generate a month of a 5-person team, push it, pull it, budget it, report "
                     "it."),
    "watch": ("watch", "Live view: today's and the period's spend vs the budget, rate, "
                       "projection, who and what."),
    "statusline": ("statusline", "Print one line for Claude Code's status bar: team budget, "
                                 "today, this session."),
    "serve": ("serve", "The team dashboard: a live web page of spend, budget, breakdowns and "
                       "sessions."),
    "ledger": ("ledger", "The local ledger on this machine."),
    "sync": ("sync", "Push this machine's calls to Firestore and pull the team's."),
    "budget": ("budget", "The team's pooled budget: set it, show it, check it."),
    "rollups": ("rollups", "The team's rollup documents (admins): `rollups build` counts calls "
                           "pushed before rollups existed."),
    "verify": ("rollups", "Recompute a window's rollups from the calls and list differences "
                          "(admins). Exit 0 they agree, 6 they differ."),
    "plan": ("plan", "The team's seat plans (subscriptions): set them, assign seats, show them."),
    "team": ("auth", "Team membership: invite members (admins)."),
    "import": ("imports", "Import usage logs into this machine's ledger (idempotent)."),
    "agent": ("agent", "The always-on agent: capture, push, pull and budget checks."),
    "rules": ("rules", "Write firestore.rules, firestore.indexes.json and firebase.json for "
                       "`firebase deploy`."),
}


# The root --help, for someone who has just installed teamcost: what to try first, then
# what to look at, then the budget, then how calls get recorded and shared, then members.
# Each line is whole at 80 columns (tests/unit/test_cli_help.py checks every command is
# here once); `teamcost COMMAND --help` has the full text (COMMANDS above).
HELP_SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Start", [
        ("demo", "A month of a five-person team on a local emulator, reported"),
        ("init", "Set this machine's team, member and Firestore project"),
    ]),
    ("See the spend", [
        ("report", "Team spend over a window: who, which model, rate, projection"),
        ("watch", "Live view in the terminal: today, the period, the budget"),
        ("serve", "The team dashboard: a live web page on this machine"),
        ("pr", "What a branch or pull request cost the team (Markdown for CI)"),
        ("export", "One row per call for a week or a month (CSV, JSON Lines, FOCUS)"),
    ]),
    ("Budget", [
        ("budget", "The team's pooled budget: set it, show it, check it"),
        ("plan", "Seats and subscriptions: set plans, assign seats, show them"),
        ("statusline", "One line for Claude Code's status bar: budget, today, session"),
    ]),
    ("Record and share calls", [
        ("record", "Record one call in this machine's ledger (shell scripts)"),
        ("import", "Import Claude Code, Codex, Gemini CLI or teamcost logs"),
        ("agent", "Always on: capture, push, pull and budget checks"),
        ("sync", "Push this machine's calls to Firestore, pull the team's"),
        ("ledger", "This machine's ledger: its calls, cost and what awaits a push"),
        ("reprice", "Price calls recorded unpriced once a price is known"),
    ]),
    ("Members and the bill", [
        ("login", "Sign in as a team member with an invitation token"),
        ("logout", "Forget this machine's member sign-in"),
        ("whoami", "Who this machine records calls as"),
        ("team", "Invite members (admins)"),
        ("rules", "Write the Firestore rules and indexes a team deploys"),
        ("rollups", "Build the team's rollups once from calls pushed before (admins)"),
        ("verify", "Recompute a window's rollups from the calls and compare (admins)"),
        ("reconcile", "Compare the provider's bill with the recorded calls"),
    ]),
]


def load_module_commands(module: str) -> dict[str, Any]:
    """The click commands ``teamcost.commands.<module>``'s register(app) adds, built as the
    root app would build them (their options parsed without pydantic where typer allows)."""
    mod = importlib.import_module(f"teamcost.commands.{module}")
    holder = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False,
                         add_completion=False)
    mod.register(holder)
    return dict(defer_adapters(typer.main.get_group(holder)).commands)


class LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: every name in COMMANDS, each module imported on first use.

    Walking all of them (``items()``) imports every module, as a test or a doc tool wants;
    looking one up imports only its own.
    """

    def __init__(self, table: dict[str, tuple[str, str]]) -> None:
        self.table = table
        self.loaded: dict[str, Any] = {}
        self._modules: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded and name in self.table:
            module = self.table[name][0]
            if module not in self._modules:
                self._modules.add(module)
                for key, cmd in load_module_commands(module).items():
                    self.loaded.setdefault(key, cmd)
        return self.loaded[name]

    def __setitem__(self, name: str, cmd: Any) -> None:
        self.loaded[name] = cmd

    def __delitem__(self, name: str) -> None:
        raise TypeError("teamcost commands cannot be removed")

    def __iter__(self) -> Iterator[str]:
        yield from self.table
        yield from (n for n in self.loaded if n not in self.table)

    def __len__(self) -> int:
        return len(set(self.table) | set(self.loaded))

    def __contains__(self, name: object) -> bool:
        return name in self.table or name in self.loaded


class TeamcostGroup(TyperGroup):
    """Turns exceptions into one-line messages and exit codes, also under CliRunner; loads a
    command's module only when that command is used (see COMMANDS)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        lazy = LazyCommands(COMMANDS)
        for name, cmd in self.commands.items():
            lazy[name] = cmd
        self.commands = lazy
        defer_adapters(self, subcommands=False)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The root --help: HELP_SECTIONS in their order, each command's whole one line (no
        command module is imported)."""
        listed = {name for _, rows in HELP_SECTIONS for name, _ in rows}
        extra = [(n, "") for n in self.commands if n not in listed]
        width = max(len(n) for n in self.commands)   # one column for every section
        for title, rows in [*HELP_SECTIONS, *([("Other", extra)] if extra else [])]:
            with formatter.section(title):
                formatter.write_dl([(n.ljust(width), t) for n, t in rows], col_max=12)

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
                typed = [o for o in param.opts  # the long name used: --tz, not --timezone
                         if o.startswith("--")
                         and any(a == o or a.startswith(o + "=") for a in argv)]
                return (typed or [o for o in param.opts if o.startswith("--")]
                        or list(param.opts))[0]
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
        # one record, one line: a label in the message (a model, a path) cannot add one
        typer.echo(one_line(record.getMessage()), err=True)


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


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"teamcost {version('teamcost')}")
        except PackageNotFoundError:   # run from a source tree that was never installed
            from teamcost import __version__
            typer.echo(f"teamcost {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    _version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                  help="Print teamcost's version and exit. Default: off."),
) -> None:
    """(The commands come from COMMANDS, through TeamcostGroup.)"""



def main() -> None:
    from teamcost.stdio import standard_streams

    standard_streams()  # `python -m teamcost.cli` too: a closed stdout is /dev/null
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
