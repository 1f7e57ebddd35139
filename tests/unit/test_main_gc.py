"""``teamcost``'s start: no cyclic GC for the first moments, then collection as usual."""

from __future__ import annotations

import gc
import time

from teamcost.__main__ import _collect_later


def test_collection_resumes_after_the_delay() -> None:
    was = gc.isenabled()
    try:
        _collect_later(after_s=0.05)
        assert not gc.isenabled()
        deadline = time.monotonic() + 10
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.isenabled()
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()
