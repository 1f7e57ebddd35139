"""Keeping a long-running agent's memory flat on glibc (Linux).

Python frees memory to the C allocator, which keeps it. With many threads (the OTLP
receiver's per-connection threads, push's thread pool) glibc gives threads arenas of their
own (up to 8 per core), and the peak of a busy minute (a backlog pushed after Firestore was
down, a read-only ledger's retries) stays in them as RSS for good: the soak benchmark saw
+30% after one outage and one read-only minute. Two standard remedies, both no-ops where
glibc is absent (macOS, musl):

- ``limit_arenas()`` at start: at most ``ARENAS`` malloc arenas (``mallopt(M_ARENA_MAX)``,
  what ``MALLOC_ARENA_MAX`` sets), so freed memory is reused across threads;
- ``trim()`` now and then: ``malloc_trim(0)`` returns free heap pages to the kernel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

ARENAS = 2
_M_ARENA_MAX = -8


def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (before threads start); True if applied."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


def trim() -> bool:
    """Give free heap memory back to the kernel; True if some was."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
