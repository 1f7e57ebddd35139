"""``teamcost``'s start: no cyclic GC for the first moments, then collection as usual.

The timer runs in a child on the real clock: the unit suite runs under libfaketime
(make test), whose pthread_cond_timedwait never wakes a timed wait, so in this process a
threading.Timer would never fire (the suite's first run under faketime failed so)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

from teamcost.__main__ import _collect_later

CHILD = """
import gc, time
from teamcost.__main__ import _collect_later
_collect_later(after_s=0.05)
off = not gc.isenabled()
deadline = time.monotonic() + 10
while not gc.isenabled() and time.monotonic() < deadline:
    time.sleep(0.01)
print(off, gc.isenabled())
"""


def test_collection_is_off_at_once() -> None:
    was = gc.isenabled()
    try:
        _collect_later(after_s=3600)      # the timer is a daemon: it never holds the suite
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_collection_resumes_after_the_delay() -> None:
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    assert out == ["True", "True"]
