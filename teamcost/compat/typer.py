"""typer internals the CLI relies on (tests/unit/test_compat.py).

typer vendors click as ``typer._click`` from 0.2x on; the CLI catches click's usage and
"no arguments" exceptions to print one line and exit 2 (typer's own handler prints a box).

typer 0.29 prints a positional argument's type after its metavar in --help
(``FILE <path>``, ``MEMBER <str>``), a notation the rest of the help does not use; an
argument that names its metavar shows just that (``install_argument_metavars``, applied
when this module is imported, as the CLI does before any help is drawn).
"""

from __future__ import annotations

from typing import Any

from typer._click import exceptions as click_exceptions
from typer.core import TyperArgument

__all__ = ["click_exceptions", "install_argument_metavars"]

_typer_display_type = TyperArgument.display_type_rich


def _argument_display_type(self: TyperArgument, ctx: Any) -> str | None:
    if self.metavar is not None:
        return None
    return _typer_display_type(self, ctx)


def install_argument_metavars() -> None:
    TyperArgument.display_type_rich = _argument_display_type  # type: ignore[method-assign,assignment]


install_argument_metavars()
