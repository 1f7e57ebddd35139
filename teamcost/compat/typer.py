"""typer internals the CLI relies on (tests/unit/test_compat.py).

typer vendors click as ``typer._click`` from 0.2x on; the CLI catches click's usage and
"no arguments" exceptions to print one line and exit 2 (typer's own handler prints a box),
and builds plain click commands to list lazily loaded commands in the root --help.

typer 0.29 prints a positional argument's type after its metavar in --help
(``FILE <path>``, ``MEMBER <str>``), a notation the rest of the help does not use; an
argument that names its metavar shows just that (``install_argument_metavars``, applied
when this module is imported, as the CLI does before any help is drawn).

typer 0.29 coerces every parameter through a pydantic ``TypeAdapter``, built when the
command line is parsed, even for a parameter left at its default: importing pydantic and
building the adapters costs about 0.1 s, which ``teamcost record`` in a shell loop or a
status line feels. ``defer_adapters`` gives each parameter a coercer that handles the plain
cases itself with typer's own functions (an absent value, a string for a ``str``, a choice
of an Enum, a date in the option's formats, a list of strings, an int default) and hands
everything else, and every value it cannot take, to typer's adapter: results and error
messages stay typer's own.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, get_args, get_origin

from typer._click import exceptions as click_exceptions
from typer._coercion import RuntimeParam, build_runtime_param
from typer._param_types import coerce_cli_choice
from typer.core import TyperArgument, _TyperParameter
from typer.core import TyperCommand as click_command

__all__ = ["click_command", "click_exceptions", "defer_adapters", "install_argument_metavars"]

_NO_FAST_PATH = object()


class _Deferred:
    """A parameter's coercion: the plain cases here, the rest by typer's adapter (built on
    first need, as typer would have built it)."""

    def __init__(self, param: _TyperParameter) -> None:
        self.descriptor = param.type_descriptor
        self.real: RuntimeParam | None = None

    def coerce(self, value: Any, param: _TyperParameter, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:  # what RuntimeParam.coerce returns before any adapter
            return () if multi else None
        try:
            fast = self._fast(value, multi, ctx)
        except Exception:  # typer's adapter says what is wrong, in typer's words
            fast = _NO_FAST_PATH
        if fast is not _NO_FAST_PATH:
            return fast
        if self.real is None:
            self.real = build_runtime_param(self.descriptor)
        return self.real.coerce(value, param=param, ctx=ctx)

    def _fast(self, value: Any, multi: bool, ctx: Any) -> Any:
        d = self.descriptor
        info = d.parameter_info
        if info.parser is not None or d.file_annotation is not None:
            return _NO_FAST_PATH
        ann = d.annotation
        if multi:
            if get_origin(ann) is list and isinstance(value, (list, tuple)):
                item = get_args(ann)
                if not value:
                    return []
                if item == (str,) and all(type(v) is str for v in value):
                    return list(value)
            return _NO_FAST_PATH
        if ann is str and type(value) is str:
            return value
        if ann is int and type(value) is int and info.min is None and info.max is None:
            return value
        if isinstance(ann, type) and issubclass(ann, Enum):
            return coerce_cli_choice(value, choices=list(ann), case_sensitive=info.case_sensitive,
                                     ctx=ctx)
        if ann is datetime and info.formats:
            if type(value) is datetime:
                return value
            if type(value) is str:
                for fmt in info.formats:
                    try:
                        return datetime.strptime(value, fmt)
                    except ValueError:
                        continue
        return _NO_FAST_PATH


def _defer(param: Any) -> None:
    if isinstance(param, _TyperParameter) and param._runtime_param is None:
        param._runtime_param = _Deferred(param)  # type: ignore[assignment]


def defer_adapters(cmd: Any, subcommands: bool = True) -> Any:
    """Give every typer parameter of ``cmd`` (and of its subcommands) the deferred coercion,
    the --help option too (click makes that one when a command line is parsed)."""
    for param in getattr(cmd, "params", ()):
        _defer(param)
    make_help = cmd.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help(ctx)
        _defer(option)
        return option

    cmd.get_help_option = get_help_option
    if subcommands:
        for sub in getattr(cmd, "commands", {}).values():
            defer_adapters(sub)
    return cmd


_typer_display_type = TyperArgument.display_type_rich


def _argument_display_type(self: TyperArgument, ctx: Any) -> str | None:
    if self.metavar is not None:
        return None
    return _typer_display_type(self, ctx)


def install_argument_metavars() -> None:
    TyperArgument.display_type_rich = _argument_display_type  # type: ignore[method-assign,assignment]


install_argument_metavars()
