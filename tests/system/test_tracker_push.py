"""Tracker(push_every=...): a process no agent serves pushes its own calls, in the background
while it runs and once more at exit, exactly once (real emulator, real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from teamcost.config import load_config
from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger
from teamcost.tracker import Tracker
from tests.sync_support import server_totals
from tests.system.test_agent import ledger_totals, wait_for, write_home

JOB = textwrap.dedent("""\
    import sys, time
    import teamcost
    tracker = teamcost.Tracker(push_every=0.5)
    for i in range(int(sys.argv[1])):
        tracker.record("gpt-4o", 1000 + i, 10, call_id=f"job-{sys.argv[2]}-{i}")
    if sys.argv[3] == "wait":
        time.sleep(30)          # killed by the test once the calls are in Firestore
    # "exit": leave at once, without close(): the exit hook pushes
""")


def run_job(home: Path, n: int, tag: str, mode: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TEAMCOST_HOME=str(home))
    env.pop("TEAMCOST_MEMBER", None)
    return subprocess.Popen([sys.executable, "-c", JOB, str(n), tag, mode], env=env)


@pytest.mark.emulator
def test_a_job_that_exits_at_once_still_pushes_every_call(firestore_emulator, firestore_client,
                                                          tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    assert run_job(home, 25, "exit", "exit").wait(60) == 0
    n, total, unpushed = ledger_totals(home)
    assert (n, unpushed) == (25, 0)
    assert server_totals(firestore_client) == (25, total)


@pytest.mark.emulator
def test_a_running_job_pushes_in_the_background(firestore_emulator, firestore_client,
                                                tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    proc = run_job(home, 10, "bg", "wait")
    try:
        wait_for("the background push", lambda: server_totals(firestore_client)[0] == 10,
                 timeout=20)
        assert proc.poll() is None          # pushed while the job still runs
    finally:
        proc.kill()
        proc.wait(10)
    assert server_totals(firestore_client) == ledger_totals(home)[:2]


def test_push_every_is_validated_and_needs_no_project(tmp_path: Path) -> None:
    cfg = load_config()
    for bad in (0, -1, "5", True, 10**9):
        with pytest.raises(InvalidValue, match="push_every"):
            Tracker(cfg, push_every=bad)
    t = Tracker(cfg, Ledger(tmp_path / "l.db"), push_every=1)   # no project: records only
    t.record("gpt-4o", 10, 1)
    t.close()
