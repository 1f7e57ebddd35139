"""`teamcost agent ...` that writes a memory snapshot on SIGUSR1 (soak.py --trace uses it).

    SOAK_TRACE_DIR=/tmp/t [SOAK_TRACE_FRAMES=15] python benchmarks/agent_traced.py agent ...

Each SIGUSR1 writes ``snap-N.pickle`` into SOAK_TRACE_DIR: (time, info, snapshot) where the
snapshot is a ``tracemalloc`` snapshot (None with SOAK_TRACE_FRAMES=0: tracemalloc then
costs nothing, and RSS is what the plain agent's would be) and info holds what tells Python's
heap from native memory: glibc's ``mallinfo2`` (in use / free), /proc/self/status and
smaps (every mapping: glibc arenas, pymalloc's 1 MiB arenas, thread stacks), thread names,
open fds and the number of gc-tracked objects. pymalloc's own statistics
(``sys._debugmallocstats``: arenas mapped vs bytes in use) go to stderr, the agent's log.

Read them with tracemalloc (``Snapshot.compare_to``) and the smaps text; docs/soak.md says
what the soak found this way.
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

OUT = Path(os.environ["SOAK_TRACE_DIR"])
FRAMES = int(os.environ.get("SOAK_TRACE_FRAMES", "15"))
if FRAMES:
    tracemalloc.start(FRAMES)


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
count = 0


def write_snapshot() -> None:
    global count
    count += 1
    snap = tracemalloc.take_snapshot() if FRAMES else None
    sys._debugmallocstats()          # to stderr: the agent's log
    mi = libc.mallinfo2()
    info: dict[str, Any] = {f: getattr(mi, f) for f, _ in MallInfo2._fields_}
    info["traced"] = tracemalloc.get_traced_memory()
    info["rss"] = [line for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith(("VmRSS", "RssAnon", "RssFile", "Threads"))]
    info["threads"] = [t.name for t in threading.enumerate()]
    info["gc_objects"] = len(gc.get_objects())
    info["fds"] = len(os.listdir("/proc/self/fd"))
    info["maps"] = Path("/proc/self/smaps_rollup").read_text()
    info["smaps"] = Path("/proc/self/smaps").read_text()
    with (OUT / f"snap-{count}.pickle").open("wb") as fh:
        pickle.dump((time.time(), info, snap), fh)


def on_signal(_signum: int, _frame: Any) -> None:
    # not in the handler itself: the agent's main thread must not stop for the snapshot
    threading.Thread(target=write_snapshot, name="soak-snapshot", daemon=True).start()


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, on_signal)
    sys.argv = ["teamcost", *sys.argv[1:]]
    from teamcost.__main__ import main
    main()
