"""The lazily loaded root group: COMMANDS tells the truth about every module, and what the
CLI prints is what an eagerly built group of the same modules prints."""

from __future__ import annotations

import importlib
import inspect

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from teamcost.cli import COMMANDS, TeamcostGroup, app, load_module_commands


def _first_paragraph(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


class EagerGroup(TeamcostGroup):
    """TeamcostGroup's error handling over typer's own command table and --help."""

    def __init__(self, **attrs: object) -> None:
        TyperGroup.__init__(self, **attrs)  # type: ignore[arg-type]

    list_commands = TyperGroup.list_commands
    # the root --help's sections (HELP_SECTIONS) are the CLI's choice, not the modules'
    format_commands = TeamcostGroup.format_commands


# the order modules registered in when cli.py imported them all up front
EAGER_ORDER = ("ledger", "sync", "report", "budget", "reconcile", "auth", "imports", "reprice",
               "demo", "watch", "agent", "statusline", "serve")


def _eager_app() -> typer.Typer:
    """The root app as it was built before: every module registered up front, every
    option parsed by typer's own (pydantic) coercion."""
    eager = typer.Typer(cls=EagerGroup, name="teamcost", help=app.info.help,
                        no_args_is_help=True, add_completion=False,
                        pretty_exceptions_enable=False, rich_markup_mode=None,
                        context_settings={"help_option_names": ["-h", "--help"]})
    eager.callback()(app.registered_callback.callback)   # --version
    modules = dict.fromkeys([*EAGER_ORDER, *(m for m, _ in COMMANDS.values())])
    for module in modules:
        importlib.import_module(f"teamcost.commands.{module}").register(eager)
    return eager


def test_every_line_of_commands_matches_what_its_module_registers() -> None:
    by_module: dict[str, set[str]] = {}
    for name, (module, _) in COMMANDS.items():
        by_module.setdefault(module, set()).add(name)
    for module, names in by_module.items():
        loaded = load_module_commands(module)
        assert set(loaded) == names, f"teamcost.commands.{module} registers {sorted(loaded)}"
        for name in names:
            real = loaded[name].help or ""
            assert COMMANDS[name][1] == _first_paragraph(real), name


def test_the_root_lists_commands_without_importing_their_modules() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TeamcostGroup)
    assert list(group.list_commands(None)) == list(COMMANDS)   # type: ignore[arg-type]
    assert group.commands.loaded == {}                         # type: ignore[attr-defined]


@pytest.mark.parametrize("args", [["--help"], [], ["repot"], ["--bogus"], ["ledger"],
                                  ["sync", "--help"], ["record", "--help"],
                                  ["report", "--since", "bogus", "--offline"],
                                  ["budget", "chek"]])
@pytest.mark.parametrize("width", [60, 100, 200])
def test_output_is_what_the_eager_group_prints(args: list[str], width: int,
                                               teamcost_home: object) -> None:
    runner = CliRunner()
    env = {"COLUMNS": str(width)}
    lazy = runner.invoke(app, args, env=env, terminal_width=width)
    eager = runner.invoke(_eager_app(), args, env=env, terminal_width=width)
    assert lazy.stdout or lazy.stderr
    assert lazy.exit_code == eager.exit_code
    assert _unordered_listing(lazy.stdout) == _unordered_listing(eager.stdout)
    assert _unordered_listing(lazy.stderr) == _unordered_listing(eager.stderr)
    if set(COMMANDS) <= {n for m in EAGER_ORDER for n, (mod, _) in COMMANDS.items() if mod == m}:
        assert (lazy.stdout, lazy.stderr) == (eager.stdout, eager.stderr)  # the order too


def _unordered_listing(text: str) -> tuple[str, list[str]]:
    """The text with its "Commands:" lines sorted: COMMANDS chooses the order in --help,
    typer put plain commands before groups."""
    head, sep, listing = text.partition("Commands:\n")
    return head + sep, sorted(listing.splitlines())


def test_a_mistyped_command_is_suggested_from_the_table() -> None:
    res = CliRunner().invoke(app, ["whoam"])
    assert res.exit_code == 2
    assert "No such command 'whoam'. Did you mean 'whoami'?" in res.stderr
