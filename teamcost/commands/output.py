"""Rendering helpers shared by the CLI modules: one result as text or as JSON (like pipx).

Library functions return dataclasses / dicts; a command picks a renderer here.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

import teamcost.compat.typer  # noqa: F401  (--help shows an argument's metavar alone)

if TYPE_CHECKING:
    from teamcost.commands.tables import LiteralConsole

    # data reaches these (labels, paths, error text): printed literally, control bytes removed
    console: LiteralConsole
    err_console: LiteralConsole


def __getattr__(name: str) -> Any:
    """``console`` and ``err_console``, made on first use: rich loads with them (a report
    written as JSON never needs it)."""
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in globals():
        return globals()[name]
    from teamcost.commands.tables import LiteralConsole

    made = (LiteralConsole(soft_wrap=True) if name == "console"
            else LiteralConsole(stderr=True))
    globals()[name] = made
    return made


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


def format_option(what: str = "") -> Any:
    """The ``--format text|json`` option every command shares (one wording in --help)."""
    return typer.Option(OutputFormat.text, "--format", metavar="FORMAT", show_default=False,
                        help=f"text (for people) or json (for scripts){what}. Default: text.")


FORMAT = format_option()


def _default(obj: Any) -> Any:
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, (Path, Decimal)):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot render {type(obj).__name__} as JSON")


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=_default)


def emit(obj: Any, fmt: OutputFormat | str, text: Callable[[Any], None]) -> None:
    """Print ``obj`` as JSON on stdout, or call ``text(obj)`` to render it for people."""
    if str(getattr(fmt, "value", fmt)) == "json":
        sys.stdout.write(to_json(obj) + "\n")
    else:
        text(obj)




class ProgressBars:
    """Rich progress bars on a terminal, nothing otherwise (pipes, CI logs, --format json).

    ``bar(label)`` returns a ``(done, total)`` callback for library functions that
    report progress; use as a context manager around the work.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = __getattr__("err_console").is_terminal if enabled is None else enabled
        self._progress: Any = None

    def __enter__(self) -> ProgressBars:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeRemainingColumn(),
                                      console=__getattr__("err_console"), transient=True)
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def bar(self, label: str) -> Callable[[int, Any], None] | None:
        if self._progress is None:
            return None
        task = self._progress.add_task(label, total=None)

        def update(done: int, total: Any) -> None:
            self._progress.update(task, completed=done, total=total)

        return update
