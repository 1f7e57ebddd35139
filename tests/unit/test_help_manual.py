"""--help reads like a manual: every command's options have plain metavars (FIELDS,
KEY=VALUE, TIME, DIR, FILE, DURATION, ...), never typer's type notation such as
``<list[str]>`` or a strptime format, and every option says its default."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from teamcost.cli import app

from tests.cli_support import run

BAD = re.compile(r"[\[<%|]")


def commands() -> Iterator[tuple[list[str], Any, Any]]:
    """(path, click command, context) for every command and group, depth first."""
    root = typer.main.get_command(app)

    def walk(cmd: Any, path: list[str], parent: Any) -> Iterator[tuple[list[str], Any, Any]]:
        ctx = cmd.context_class(cmd, info_name=path[-1] if path else "teamcost",
                                parent=parent)
        yield path, cmd, ctx
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, [*path, name], ctx)

    yield from walk(root, [], None)


ALL = list(commands())


def test_the_walk_reaches_every_command() -> None:
    paths = {" ".join(p) for p, _, _ in ALL}
    for expected in ("report", "export", "watch", "record", "budget set", "budget check",
                     "sync status", "ledger status", "agent status", "import codex",
                     "team invite", "demo", "init", "login"):
        assert expected in paths, expected


@pytest.mark.parametrize("path, cmd, ctx", ALL, ids=[" ".join(p) or "teamcost" for p, _, _ in ALL])
def test_metavars_are_plain_and_defaults_are_stated(path, cmd, ctx) -> None:
    for param in cmd.params:
        record = param.get_help_record(ctx)
        if record is None or "--help" in param.opts:
            continue
        names, help_text = record
        # an argument shows its metavar; an option its names, then the metavar
        if param.param_type_name == "argument":
            metavar = names
        else:
            last = names.split(", ")[-1]
            metavar = "" if param.is_flag or " " not in last else last.split(" ", 1)[1]
        assert not BAD.search(metavar), f"{' '.join(path)} {names!r}: metavar {metavar!r}"
        if param.param_type_name == "option" and not param.is_flag:
            assert metavar and metavar == metavar.upper(), (path, names)
        assert "default" in help_text.lower() or "[required]" in help_text, \
            f"{' '.join(path)} {names}: the help does not state the default: {help_text!r}"


def test_help_output_has_no_type_notation() -> None:
    """The rendered --help of every command, as a person reads it."""
    for path, _, _ in ALL:
        out = run(*path, "--help").stdout
        options = out.split("Options:", 1)[-1]
        for line in options.splitlines():
            first = line.strip().split("  ")[0]
            assert not re.search(r"<[a-z]|%[A-Za-z]|\|", first), (path, line)


def test_record_ts_takes_the_iso_time_the_help_shows(teamcost_home) -> None:
    out = run("record", "--help").stdout
    assert "--ts TIME" in out and "2026-11-25T14:00:00Z" in " ".join(out.split())
    r = run("record", "-m", "gpt-4o", "-i", "1", "--ts", "2026-11-25T14:00:00Z",
            "--format", "json")
    assert r.exit_code == 0, r.output
    assert '"ts": "2026-11-25T14:00:00' in r.stdout
