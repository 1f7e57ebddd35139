"""Rendering helpers shared by the CLI modules: one result as text or as JSON (like pipx).

Library functions return dataclasses / dicts; a command picks a renderer here.
"""

from __future__ import annotations

import enum
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


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


def usd(nanos: int, places: int | None = None) -> str:
    """Dollars for display: cents for large amounts, more places for tiny ones."""
    value = nanos / 1e9
    if places is None:
        places = 2 if abs(value) >= 1 or value == 0 else 4 if abs(value) >= 0.01 else 6
    return f"${value:,.{places}f}"
