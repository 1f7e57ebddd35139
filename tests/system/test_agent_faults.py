"""The agent under real faults: its ledger made unwritable in the middle of a push, a 1 GB
file without a newline in a followed folder, an unreadable log file; and `sync push` on a
ledger that cannot be written. Every fault is real (the kernel refuses the write).

How a file is made unwritable here: the tests run as root (the Makefile's CI does), and root
ignores permission bits, so ``chattr +i`` (immutable, ext4/xfs/btrfs) is used on the
ledger's ``-wal`` file. An immutable ``-wal`` under an open connection makes SQLite's COMMIT
fail with "disk I/O error" and the ROLLBACK after it with "no transaction is active", the
exact failure issue 23 saw. Never on the ``-shm`` file: SQLite writes it through mmap, and an
immutable one kills the process with SIGBUS. Every ``chattr +i`` is undone in a ``finally``.
An unreadable log file: ``chmod 000``, and the agent runs as root without the capabilities
that bypass permission bits (``setpriv --bounding-set=-dac_override,-dac_read_search``), so
the kernel refuses it the file as it would any user (it still owns its home and the venv).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from teamcost.agent.snapshot import snapshot_path
from teamcost.ledger import Ledger
from tests.sync_support import TcpProxy, make_calls, server_totals
from tests.system.test_agent import (
    TEAMCOST,
    AgentProc,
    agents,  # noqa: F401 - the fixture
    ledger_totals,
    wait_for,
    write_home,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("chattr") is None,
                                reason="needs root and chattr to make a file unwritable "
                                       "for the agent (root ignores permission bits)")


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def snapshot(home: Path) -> dict:
    try:
        return json.loads(snapshot_path(home).read_text())
    except (OSError, ValueError):
        return {}


@pytest.mark.emulator
def test_ledger_unwritable_mid_push_the_agent_lives_and_nothing_is_lost_or_doubled(
        firestore_emulator, firestore_client, tmp_path: Path, agents) -> None:  # noqa: F811
    proxy = TcpProxy(firestore_emulator.host)
    proxy.refuse = True                       # Firestore unreachable until the fault is set
    try:
        home = write_home(tmp_path / "home", firestore_emulator.project, proxy.host)
        with Ledger(home / "ledger.db") as led:
            led.record_many(make_calls(700, "ana@example.com", "ana-laptop", seed=23))
        a: AgentProc = agents(home)
        a.started()
        wal = home / "ledger.db-wal"
        wait_for("the agent's -wal file", wal.exists)
        with immutable(wal):
            proxy.refuse = False              # Firestore takes the batches; the mark fails
            wait_for("Firestore to hold every call",
                     lambda: server_totals(firestore_client)[0] == 700, timeout=60)
            wait_for("the failed mark in the log", lambda: "cannot mark" in a.text())
            wait_for("the failed mark in the status snapshot", lambda: "cannot mark" in str(
                (snapshot(home).get("jobs") or {}).get("push", {}).get("error")))
            time.sleep(3)                     # retries meet ALREADY_EXISTS, mark fails again
            assert a.proc.poll() is None, a.text()
            assert ledger_totals(home)[2] == 700     # nothing marked: the ledger is read-only
        # writable again: the next push finds every call in Firestore, identical: marked
        wait_for("the backlog resolved", lambda: ledger_totals(home)[2] == 0, timeout=60)
        n, total, _ = ledger_totals(home)
        assert n == 700
        assert server_totals(firestore_client) == (n, total)
        assert a.stop() == 0, a.text()
        assert "Traceback" not in a.text()
        # every later push found the calls already there and created none: a push goes on
        # past a batch it cannot mark, so Firestore held all 700 while the ledger was
        # read-only (a push whose mark failed logged nothing, so the log cannot be summed
        # to 700: the counts above are the proof that each call is in Firestore once)
        created = [int(m) for m in re.findall(r"agent: pushed pushed=(\d+)", a.text())]
        already = [int(m) for m in re.findall(r"agent: pushed .*?already=(\d+)", a.text())]
        assert sum(created) == 0 and sum(already) > 0, a.text()
    finally:
        proxy.close()


@pytest.mark.emulator
def test_sync_push_on_an_unwritable_ledger_is_one_line_and_the_next_push_resolves_it(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    env = dict(os.environ, TEAMCOST_HOME=str(home), HOME=str(home / "user"))
    led = Ledger(home / "ledger.db")          # held open: its -wal stays, with the calls
    try:
        led.record_many(make_calls(300, "ana@example.com", "ana-laptop", seed=5))
        with immutable(home / "ledger.db-wal"):
            out = subprocess.run([TEAMCOST, "sync", "push"], env=env, capture_output=True,
                                 text=True, timeout=120)
        assert out.returncode == 1, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert "ledger" in lines[0] and "Traceback" not in out.stderr
        assert server_totals(firestore_client)[0] == 300       # Firestore took them
        out = subprocess.run([TEAMCOST, "sync", "push"], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "already there 300" in out.stdout, out.stdout
    finally:
        led.close()
    assert ledger_totals(home)[2] == 0
    assert server_totals(firestore_client) == ledger_totals(home)[:2]


def test_a_1gb_file_without_newlines_is_read_once_and_reported_once(
        tmp_path: Path, agents) -> None:  # noqa: F811
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('team = "core"\nmember = "ana@example.com"\n')
    projects = tmp_path / "projects"
    (projects / "p").mkdir(parents=True)
    big = projects / "p" / "zeros.jsonl"
    subprocess.run(["truncate", "-s", "1G", str(big)], check=True)    # sparse: no disk used
    a: AgentProc = agents(home, "--claude-dir", str(projects))
    a.started()
    wait_for("the big file's bad line in the status",
             lambda: (snapshot(home).get("sources") or {}).get("claude-code", {}).get("bad"),
             timeout=60)
    pid = a.proc.pid

    def rss_mb() -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def cpu_s() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    time.sleep(1)
    cpu0 = cpu_s()
    time.sleep(4)                        # four more scans of the folder
    assert cpu_s() - cpu0 < 1.0          # not re-read (1 GB a second is most of a core)
    assert rss_mb() < 200, rss_mb()      # not held: the line is skipped in 1 MiB chunks
    st = snapshot(home)["sources"]["claude-code"]
    assert st["bad"] == 1, st            # reported once
    assert "longer than" in (st["last_error"] or "")
    big.unlink()
    time.sleep(2)
    assert rss_mb() < 200
    assert a.proc.poll() is None
    assert a.stop() == 0, a.text()


def test_an_unreadable_log_file_is_reported_once_not_every_second(
        tmp_path: Path, agents) -> None:  # noqa: F811
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop the agent's permission-bypassing capabilities")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('team = "core"\nmember = "ana@example.com"\n')
    projects = tmp_path / "projects"
    (projects / "p").mkdir(parents=True)
    secret = projects / "p" / "secret.jsonl"
    secret.write_text("{}\n")
    secret.chmod(0o000)                  # refused to the agent below (not to full root)
    env = dict(os.environ, TEAMCOST_HOME=str(home), HOME=str(home / "user"))
    log = tmp_path / "agent.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                                 TEAMCOST, "agent", "--otlp-port", "0", "--claude-dir",
                                 str(projects)], env=env, stdout=subprocess.DEVNULL,
                                stderr=fh, stdin=subprocess.DEVNULL)
        try:
            wait_for("the unreadable file in the status", lambda: (
                (snapshot(home).get("sources") or {}).get("claude-code", {}).get("bad")))
            time.sleep(4)                    # four more scans
            st = snapshot(home)["sources"]["claude-code"]
            assert st["bad"] == 1, st
            assert "Permission denied" in st["last_error"]
            secret.chmod(0o644)              # a change: read now, and nothing more reported
            wait_for("the file read", lambda: (snapshot(home).get("sources") or {}).get(
                "claude-code", {}).get("lines"))
            assert snapshot(home)["sources"]["claude-code"]["bad"] == 1
        finally:
            proc.terminate()
            assert proc.wait(10) == 0, log.read_text()
