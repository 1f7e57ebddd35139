"""``sqlite3`` for the status line without what it costs to load: CPython's ``_sqlite3``.

``sqlite3`` is a Python layer over the C module ``_sqlite3``: it re-exports it
(``sqlite3.connect is _sqlite3.connect``, the same exception classes) and adds the
date/time adapters and converters, for which it imports ``datetime``, ``time`` and
``collections.abc`` (1.5-2 ms of the status line's budget, issue 28). The status line binds
one string and reads two integers, so it needs none of them.

``_sqlite3`` itself, when it loads, imports ``functools`` (with ``collections``, ``operator``,
``reprlib``, ``keyword``: 2.5-3.5 ms, more than all of teamcost's own modules) only to keep
``functools.lru_cache`` as the factory of each connection's prepared-statement cache
(CPython 3.11-3.13 ``Modules/_sqlite/module.c``, ``load_functools_lru_cache``). In a process
that has not loaded ``functools`` (only the bare ``teamcost statusline`` is that lean),
``lean_sqlite_module`` loads ``_sqlite3`` with a stand-in ``functools`` whose ``lru_cache``
caches nothing, then removes the stand-in: the real ``functools`` loads as usual for anyone
who imports it later. The one effect: connections of that process re-prepare a statement
they run again (the status line runs one, once). Everywhere else (``functools`` already
loaded, as in every other command and in tests) it is plain ``_sqlite3``.
tests/unit/test_compat.py checks both.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any


class _NoCacheFunctools:
    """What ``_sqlite3`` takes from ``functools`` at load: ``lru_cache``, here caching nothing."""

    __name__ = "functools"

    @staticmethod
    def lru_cache(maxsize: Any = 128, typed: bool = False) -> Callable[[Any], Any]:
        return lambda fn: fn


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


def lean_sqlite_module() -> ModuleType:
    """``sqlite_module()``, loaded without ``functools`` in a process that has none yet."""
    if "functools" in sys.modules or "_sqlite3" in sys.modules:
        return sqlite_module()
    sys.modules["functools"] = _NoCacheFunctools  # type: ignore[assignment]
    try:
        return sqlite_module()
    except Exception:   # pragma: no cover - a _sqlite3 that wants more of functools
        pass
    finally:
        if sys.modules.get("functools") is _NoCacheFunctools:
            del sys.modules["functools"]
    return sqlite_module()  # pragma: no cover
