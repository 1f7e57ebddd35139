"""Rollups against the real emulator: they equal the calls' sums after every push path and
fault (concurrent pushers, kill -9 between commit and mark, lost responses, a conflict, a
reprice racing a push), the migration of a pre-rollup team, and budget checks from them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import firestore

from teamcost.budget.spend import calls_spend, pushed_spends
from teamcost.ledger import Ledger
from teamcost.periods import period_bounds
from teamcost.sync import push as push_module
from teamcost.sync.mapping import COLLECTION, record_to_doc
from teamcost.sync.migrate import build_rollups
from teamcost.sync.push import push
from teamcost.sync.retry import Backoff
from teamcost.sync.rollups import rollups_in_use
from teamcost.sync.verify import verify

from tests.rollup_support import assert_rollups_match_calls, window_sum
from tests.sync_support import T0, config_for, fill, make_calls, spy_commits

pytestmark = pytest.mark.emulator
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)


def _windows() -> list[tuple[datetime, datetime]]:
    out = []
    for tz in ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/Los_Angeles"):
        for period in ("day", "week", "month"):
            out.append(period_bounds(T0 + timedelta(hours=5), period, tz))
    return out


def _assert_budget_sums(client: object, calls: list) -> None:
    windows = _windows()
    got = pushed_spends(client, "core", windows, FAST)
    assert got == [window_sum(calls, s, e) for s, e in windows]
    assert got == [calls_spend(client, "core", s, e, FAST) for s, e in windows]


def _complete(client: object) -> None:
    # a team whose every call was pushed with rollups: the build run only marks it complete
    res = build_rollups(client, "core", FAST)
    assert res.counted == 0 and res.complete
    assert rollups_in_use(client, "core", FAST)


def test_concurrent_pushers_of_several_ledgers(firestore_emulator, firestore_client,
                                               tmp_path: Path) -> None:
    cfgs = [config_for(tmp_path / n, firestore_emulator.project, member=f"{n}@example.com")
            for n in ("ana", "bo", "cy")]
    ledgers = [fill(c, 900, seed=i)[0] for i, c in enumerate(cfgs)]
    errors: list[BaseException] = []

    def run(cfg, ledger) -> None:  # type: ignore[no-untyped-def]
        try:
            push(cfg, ledger, firestore.Client(project=cfg.project))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # two pushers on ana's ledger at once, one each on the others
    threads = [threading.Thread(target=run, args=(cfgs[0], ledgers[0]))]
    threads += [threading.Thread(target=run, args=(c, Ledger(c.ledger_file))) for c in cfgs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    calls = assert_rollups_match_calls(firestore_client)
    assert len(calls) == 2700
    _complete(firestore_client)
    _assert_budget_sums(firestore_client, calls)
    res = verify(firestore_client, "core", T0.date() - timedelta(days=1),
                 T0.date() + timedelta(days=3), FAST)
    assert res.ok and res.calls == 2700 and res.not_rolled_up == 0


CRASH_SCRIPT = """
import os, signal
from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.sync.push import push

def die(self, ids, when=None):
    os.kill(os.getpid(), signal.SIGKILL)   # committed in Firestore, never marked here

Ledger.mark_pushed = die
push(load_config(), in_flight=1)
"""


def test_kill_9_between_commit_and_mark_and_a_lost_response(firestore_emulator,
                                                            firestore_client,
                                                            tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg = config_for(home, firestore_emulator.project)
    ledger, _ = fill(cfg, 800)
    env = {**os.environ, "TEAMCOST_HOME": str(home), "TEAMCOST_PROJECT": cfg.project,
           "TEAMCOST_TEAM": "core", "TEAMCOST_MEMBER": cfg.member}
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT], env=env, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert_rollups_match_calls(firestore_client)     # the landed commit, counted once
    # the next push meets ALREADY_EXISTS for that commit, and loses one answer itself
    spy = spy_commits(firestore_client)
    spy.lose_responses = 1
    result = push(cfg, ledger, firestore_client, in_flight=1, backoff=FAST)
    assert result.conflicts == [] and ledger.status().unpushed == 0
    calls = assert_rollups_match_calls(firestore_client)
    assert len(calls) == 800
    _complete(firestore_client)
    _assert_budget_sums(firestore_client, calls)


def test_a_conflict_is_not_counted_until_the_migration_counts_the_stored_call(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 40)
    victim = calls[11]
    # someone else's different copy, written without rollups
    theirs = {**record_to_doc(victim), "cost_nanos": victim.cost_nanos + 1,
              "pushed_at": firestore.SERVER_TIMESTAMP}
    firestore_client.collection(COLLECTION).document(victim.call_id).create(theirs)
    result = push(cfg, ledger, firestore_client)
    assert [c.call_id for c in result.conflicts] == [victim.call_id]
    days = (T0.date(), T0.date() + timedelta(days=1))
    before = verify(firestore_client, "core", *days, FAST)
    assert before.not_rolled_up == 1 and not before.ok
    assert build_rollups(firestore_client, "core", FAST).counted == 1
    stored = assert_rollups_match_calls(firestore_client)
    assert sum(c.cost_nanos for c in stored) == sum(c.cost_nanos for c in calls) + 1
    assert verify(firestore_client, "core", *days, FAST).ok


def test_a_reprice_racing_a_push(firestore_emulator, firestore_client, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 30)
    real = push_module.commit_creates

    def commit_then_reprice(*args, **kwargs):  # type: ignore[no-untyped-def]
        ct = real(*args, **kwargs)
        # a reprice lands between the commit and the mark: the ledger's prices change
        ledger.set_prices([(c.call_id, c.cost_nanos * 3, "override:x") for c in calls])
        return ct

    monkeypatch.setattr(push_module, "commit_creates", commit_then_reprice)
    assert push(cfg, ledger, firestore_client, in_flight=1).pushed == 30
    stored = assert_rollups_match_calls(firestore_client)
    # what was sent is what is counted, and the ledger follows it
    assert sorted(c.cost_nanos for c in stored) == sorted(c.cost_nanos for c in calls)


def test_migration_of_a_pre_rollup_team_is_resumable_and_exact(firestore_emulator,
                                                               firestore_client,
                                                               tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    old = make_calls(700, cfg.member, "old-ledger", seed=5)
    col = firestore_client.collection(COLLECTION)
    batch = firestore_client.batch()
    for i, rec in enumerate(old):     # pushed by an older teamcost: no rollups
        batch.create(col.document(rec.call_id),
                     {**record_to_doc(rec), "pushed_at": firestore.SERVER_TIMESTAMP})
        if i % 400 == 399:
            batch.commit()
            batch = firestore_client.batch()
    batch.commit()
    ledger, new = fill(cfg, 300, seed=6)
    push(cfg, ledger, firestore_client)
    assert not rollups_in_use(firestore_client, "core", FAST)

    class Stop(Exception):
        pass

    def stop_after_first_page(res):  # type: ignore[no-untyped-def]
        raise Stop
    with pytest.raises(Stop):
        build_rollups(firestore_client, "core", FAST, progress=stop_after_first_page, page=250)
    second = build_rollups(firestore_client, "core", FAST, page=250)   # resumes
    assert second.complete
    calls = assert_rollups_match_calls(firestore_client)
    assert len(calls) == 1000
    # a second full run and a re-push of a migrated call count nothing again
    third = build_rollups(firestore_client, "core", FAST, page=250)
    assert (third.counted, third.already, third.rolled_up) == (0, 700, 300)
    other = Ledger(tmp_path / "other.sqlite", create_parent=True)
    other.record_many(old[:10])
    cfg2 = config_for(tmp_path / "home2", firestore_emulator.project)
    assert push(cfg2, other, firestore_client).already == 10
    assert_rollups_match_calls(firestore_client)
    _assert_budget_sums(firestore_client, calls)
    assert verify(firestore_client, "core", T0.date() - timedelta(days=1),
                  T0.date() + timedelta(days=3), FAST).ok
