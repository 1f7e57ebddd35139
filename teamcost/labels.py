"""The one way a label becomes text for people: one line, every character visible.

A label is anything a user, a teammate or a log file chose: a model, member, agent,
session, task, tag, path, provider's error text. Teamcost prints labels inside its own
lines (tables, confirmations, warnings, log lines), so a label must never add a line,
move the cursor or recolour the terminal: ``one_line`` escapes every character that could
(newlines, carriage returns, tabs, C0/C1 controls, DEL, the Unicode line and paragraph
separators, bidi overrides, lone surrogates) the way Python writes them (``\\n``,
``\\x1b``, ``\\u2028``), so a forged ``x\\ntotal $0.00`` reads as what it is. Everything
else is kept literally, rich markup such as ``[bold]`` included: front ends print labels
as plain text, never as markup. Standard library only: the status line imports it.
"""

from __future__ import annotations

TYPE_CHECKING = False   # the status line imports this module: no typing at import
if TYPE_CHECKING:
    from typing import Any

# bidi embeddings, overrides and isolates, and the marks: they reorder what a terminal shows
_BIDI = frozenset((0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _hidden(ch: str) -> bool:
    """Would ``ch`` break the line, act on the terminal or hide what follows?"""
    from unicodedata import category  # here: printable ASCII (the status line) needs none

    return (category(ch) in ("Cc", "Zl", "Zp", "Cs")
            or ord(ch) in _BIDI)


def one_line(value: Any) -> str:
    """``value`` as text on one line, with every control character escaped visibly."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and text.isascii():  # the common case, and cheap
        return text
    return "".join(_escape(ch) if _hidden(ch) else ch for ch in text)
