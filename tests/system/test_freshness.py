"""A call recorded on A is visible on B: the mechanism of benchmarks/freshness.py with short
intervals (the benchmark measures the defaults). A runs the real agent; B's watch and
dashboard read the rollup cells (the team's rollups are complete) and pull no call."""

from __future__ import annotations

import math

import pytest

from benchmarks.freshness import measure

pytestmark = pytest.mark.emulator


def test_a_call_on_a_reaches_watch_and_the_dashboard_on_b(firestore_emulator) -> None:
    delays = measure(4, seed=7, agent_args=("--push-every", "0.5s", "--check-every", "1s"),
                     watch_every=0.5, serve_every=0.5, gap_s=(0.1, 0.6))
    assert set(delays) == {"watch", "polling", "dashboard"}
    for view, d in delays.items():
        assert all(math.isfinite(x) for x in d), (view, d)
        # push every 0.5 s + refresh every 0.5 s (+1 s dashboard poll) on 2 shared cores
        assert max(d) < 15, (view, d)
