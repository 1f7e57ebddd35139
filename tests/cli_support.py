"""Running the real CLI in-process, and checking the one-line error contract."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from teamcost.cli import app

runner = CliRunner()


def run(*args: str) -> Any:
    """`teamcost ARGS...` through the root app (TeamcostGroup error handling included)."""
    return runner.invoke(app, list(args))


def one_error_line(result: Any) -> str:
    """The single stderr line of a failed command; fails if there is more than one."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("teamcost: error: ")
    return lines[0]
