"""push against the real Firestore emulator: exactly once across repeats, races and faults."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from google.cloud import firestore

from teamcost.errors import SyncError
from teamcost.ledger import Ledger
from teamcost.sync.mapping import COLLECTION, record_to_doc
from teamcost.sync.push import MAX_BATCH, push
from teamcost.sync.retry import Backoff
from teamcost.sync.rollup_doc import chunk_for_commit

from tests.sync_support import (TcpProxy, config_for, fill, make_calls, server_totals,
                                spy_commits)

pytestmark = pytest.mark.emulator
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)


def test_push_twice_exact_and_batches_never_exceed_500(firestore_emulator, firestore_client,
                                                       tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 1200)
    expected_sum = sum(c.cost_nanos for c in calls)  # from the records we made, not the ledger
    spy = spy_commits(firestore_client)

    first = push(cfg, ledger, firestore_client)
    assert (first.pushed, first.already, first.conflicts, first.remaining) == (1200, 0, [], 0)
    second = push(cfg, ledger, firestore_client)
    assert (second.pushed, second.already, second.batches) == (0, 0, 0)

    assert server_totals(firestore_client) == (1200, expected_sum)
    assert spy.sizes and max(spy.sizes) <= MAX_BATCH
    # 1200 calls in ledger batches of 500, each commit holding its calls and the rollup
    # writes counting them, split where those would pass Firestore's per-commit limits
    creates = [len(ch) for batch in (calls[:500], calls[500:1000], calls[1000:])
               for ch in chunk_for_commit(batch)]
    assert sum(creates) == 1200 and len(spy.sizes) == len(creates)
    assert ledger.status().unpushed == 0

    # the stored document round-trips exactly (ints stay ints, µs timestamps)
    doc = firestore_client.collection(COLLECTION).document(calls[7].call_id).get().to_dict()
    assert {k: doc[k] for k in record_to_doc(calls[7]) if k != "ts"} == \
        {k: v for k, v in record_to_doc(calls[7]).items() if k != "ts"}
    assert doc["ts"].timestamp() == calls[7].ts.timestamp()
    assert isinstance(doc["cost_nanos"], int) and isinstance(doc["pushed_at"], type(doc["ts"]))


def test_two_processes_pushing_one_ledger_at_once(firestore_emulator, firestore_client,
                                                  tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg = config_for(home, firestore_emulator.project)
    ledger, calls = fill(cfg, 1200)
    ledger.close()
    env = {**os.environ, "TEAMCOST_HOME": str(home), "TEAMCOST_PROJECT": cfg.project,
           "TEAMCOST_TEAM": "core", "TEAMCOST_MEMBER": cfg.member}
    cmd = [sys.executable, "-m", "teamcost.cli", "sync", "push", "--format", "json"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    import json
    results = [json.loads(o) for o, _ in outs]
    # between them every call was created exactly once; the loser found identical copies
    assert sum(r["pushed"] for r in results) == 1200
    assert sum(r["pushed"] + r["already"] for r in results) >= 1200
    assert all(r["conflicts"] == [] for r in results)
    assert server_totals(firestore_client) == (1200, sum(c.cost_nanos for c in calls))
    assert Ledger(cfg.ledger_file).status().unpushed == 0


def test_lost_response_is_retried_within_the_push(firestore_emulator, firestore_client,
                                                  tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 700)
    spy = spy_commits(firestore_client)
    spy.lose_responses = 1  # the first commit lands but its answer never arrives
    result = push(cfg, ledger, firestore_client, in_flight=1, backoff=FAST)
    assert result.retries == 1
    first = len(chunk_for_commit(calls[:500])[0])     # the commit whose answer was lost
    assert (result.pushed, result.already, result.conflicts) == (700 - first, first, [])
    assert server_totals(firestore_client) == (700, sum(c.cost_nanos for c in calls))
    assert ledger.status().unpushed == 0


def test_lost_responses_until_give_up_then_next_push_is_clean(firestore_emulator,
                                                              firestore_client,
                                                              tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 300)
    spy = spy_commits(firestore_client)
    spy.lose_responses = 1
    with pytest.raises(SyncError, match="DEADLINE_EXCEEDED") as info:
        push(cfg, ledger, firestore_client, backoff=Backoff(attempts=1))
    assert "run the command again" in str(info.value)
    # the server has every call, the ledger still thinks none were pushed
    assert server_totals(firestore_client) == (300, sum(c.cost_nanos for c in calls))
    assert ledger.status().unpushed == 300
    again = push(cfg, ledger, firestore_client)
    assert (again.pushed, again.already, again.conflicts) == (0, 300, [])
    assert server_totals(firestore_client) == (300, sum(c.cost_nanos for c in calls))
    assert ledger.status().unpushed == 0


CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from teamcost.config import load_config
    from teamcost.ledger import Ledger
    from teamcost.sync.push import push

    def die(self, ids, when=None):
        # the batch is committed in Firestore; die before the ledger learns of it
        os.kill(os.getpid(), signal.SIGKILL)

    Ledger.mark_pushed = die
    push(load_config(), in_flight=1)
""")


def test_crash_between_commit_and_mark(firestore_emulator, firestore_client,
                                       tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg = config_for(home, firestore_emulator.project)
    ledger, calls = fill(cfg, 800)
    env = {**os.environ, "TEAMCOST_HOME": str(home), "TEAMCOST_PROJECT": cfg.project,
           "TEAMCOST_TEAM": "core", "TEAMCOST_MEMBER": cfg.member}
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT], env=env, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    landed, _ = server_totals(firestore_client)
    first = len(chunk_for_commit(calls[:500])[0])
    assert landed == first  # exactly the first commit made it before the kill
    assert ledger.status().unpushed == 800

    result = push(cfg, ledger, firestore_client)
    assert (result.pushed, result.already, result.conflicts) == (800 - first, first, [])
    assert server_totals(firestore_client) == (800, sum(c.cost_nanos for c in calls))
    assert ledger.status().unpushed == 0


def test_dropped_connection_mid_push_is_retried(firestore_emulator, tmp_path: Path) -> None:
    proxy = TcpProxy(firestore_emulator.host, cut_after_bytes=200_000)
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = proxy.host
        client = firestore.Client(project=firestore_emulator.project)
        cfg = config_for(tmp_path / "home", firestore_emulator.project)
        ledger, calls = fill(cfg, 1500)
        result = push(cfg, ledger, client, backoff=FAST)
        assert proxy.cuts == 1  # the proxy really cut the connection mid-push
        assert result.retries >= 1
        assert result.pushed + result.already == 1500 and result.conflicts == []
    finally:
        proxy.close()
        os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_emulator.host
    admin = firestore.Client(project=firestore_emulator.project)
    assert server_totals(admin) == (1500, sum(c.cost_nanos for c in calls))
    assert ledger.status().unpushed == 0


def test_dead_network_fails_clearly_then_later_push_completes(firestore_emulator,
                                                              tmp_path: Path) -> None:
    proxy = TcpProxy(firestore_emulator.host)
    proxy.refuse = True
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 50)
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = proxy.host
        client = firestore.Client(project=firestore_emulator.project)
        with pytest.raises(SyncError) as info:
            push(cfg, ledger, client, backoff=FAST)
        msg = str(info.value)
        assert "UNAVAILABLE" in msg and "after 4 attempts" in msg and "nothing was lost" in msg
        assert ledger.status().unpushed == 50
    finally:
        proxy.close()
        os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_emulator.host
    admin = firestore.Client(project=firestore_emulator.project)
    result = push(cfg, ledger, admin)
    assert result.pushed == 50
    assert server_totals(admin) == (50, sum(c.cost_nanos for c in calls))


def test_same_call_id_different_payload_is_a_conflict(firestore_emulator, firestore_client,
                                                      tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 20)
    victim = calls[11]
    theirs = {**record_to_doc(victim), "cost_nanos": victim.cost_nanos + 1,
              "model": "gpt-4o-mini", "pushed_at": firestore.SERVER_TIMESTAMP}
    firestore_client.collection(COLLECTION).document(victim.call_id).create(theirs)

    result = push(cfg, ledger, firestore_client)
    assert [c.call_id for c in result.conflicts] == [victim.call_id]
    assert result.conflicts[0].fields == ("model", "cost_nanos")
    assert (result.pushed, result.already, result.remaining) == (19, 0, 1)
    stored = firestore_client.collection(COLLECTION).document(victim.call_id).get().to_dict()
    assert stored["cost_nanos"] == victim.cost_nanos + 1 and stored["model"] == "gpt-4o-mini"
    assert [r.call_id for _, r in ledger.unpushed()] == [victim.call_id]
    # pushing again changes nothing and reports the same conflict
    again = push(cfg, ledger, firestore_client)
    assert [c.call_id for c in again.conflicts] == [victim.call_id] and again.pushed == 0


def test_bad_batch_size_is_refused(firestore_emulator, firestore_client, tmp_path: Path) -> None:
    from teamcost.errors import InvalidValue
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    with pytest.raises(InvalidValue, match="1..500"):
        push(cfg, Ledger.for_config(cfg), firestore_client, batch_size=501)
