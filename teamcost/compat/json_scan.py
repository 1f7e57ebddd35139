"""``json.loads`` for the status line without importing ``json``: CPython's C scanner.

``json`` imports ``re`` (and with it ``enum``, ``functools``...): a quarter of what the status
line may take, which reads two small JSON texts (Claude Code's stdin, the agent's snapshot).
``_json.make_scanner`` is the C scanner ``json.scanner`` itself uses, given the options
``json.JSONDecoder()`` gives it; the whitespace around the value and the refusal of extra data
are ``JSONDecoder.decode``'s. Anything the scanner does not accept, or a Python without
``_json``, goes to ``json.loads`` itself, so errors (and their messages) are json's.
tests/unit/test_compat.py compares it with ``json.loads``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Options:
    """What ``json.JSONDecoder()`` passes the scanner (``strict`` and no hooks)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


def _make() -> Callable[[str, int], tuple[Any, int]] | None:
    try:
        from _json import make_scanner
    except ImportError:   # pragma: no cover - CPython always has it
        return None
    try:
        return make_scanner(_Options())   # type: ignore[arg-type]
    except Exception:   # pragma: no cover - a Python whose scanner wants other options
        return None


_scan = _make()


def loads(text: str) -> Any:
    """``json.loads(text)`` for a str."""
    if _scan is not None and isinstance(text, str):
        start = len(text) - len(text.lstrip(_WS))
        try:
            value, end = _scan(text, start)
        except Exception:   # StopIteration, JSONDecodeError, RecursionError: json says why
            pass
        else:
            if not text[end:].strip(_WS):   # nothing but whitespace after the value
                return value
    import json

    return json.loads(text)
