"""``sqlite3`` for the status line without ``sqlite3/dbapi2.py``: CPython's ``_sqlite3``.

``sqlite3`` is a Python layer over the C module ``_sqlite3``: it re-exports it
(``sqlite3.connect is _sqlite3.connect``, the same exception classes) and adds the
date/time adapters and converters, for which it imports ``datetime``, ``time`` and
``collections.abc`` (1.5-2 ms of the status line's budget, issue 28). The status line binds
one string and reads two integers, so it needs none of them. A Python without
``_sqlite3`` (or one whose layout changed) gets ``sqlite3`` itself.
tests/unit/test_compat.py checks that the two are still the same objects.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


def sqlite_module() -> ModuleType:
    """``_sqlite3`` when it is what ``sqlite3`` re-exports, else ``sqlite3``."""
    try:
        import _sqlite3
    except ImportError:   # pragma: no cover - CPython built with sqlite has it
        pass
    else:
        if hasattr(_sqlite3, "connect") and hasattr(_sqlite3, "DatabaseError"):
            return _sqlite3
    import sqlite3  # pragma: no cover

    return sqlite3  # pragma: no cover
