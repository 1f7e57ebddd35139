"""The library guard: snapshot/TTL logic with a fake clock, then against the emulator."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest

import teamcost
from teamcost.budget.guard import BudgetGuard, Snapshot
from teamcost.budget.model import Budget
from teamcost.budget.check import set_team_budget
from teamcost.config import BudgetSettings, Config
from teamcost.budget.model import BudgetExceeded, BudgetUnavailable
from teamcost.errors import SyncError
from teamcost.sync.service import run_push
from teamcost.tracker import Tracker

LIMIT = 1_000_000_000   # $1


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeStore:
    """Stands in for Firestore in the pure TTL tests only (system tests below use the
    emulator): spend and budget to answer with, or an error to raise."""

    def __init__(self, clock: Clock, spent: int, hard_stop: bool = True) -> None:
        self.clock, self.spent, self.hard_stop = clock, spent, hard_stop
        self.limit = LIMIT
        self.fail: Exception | None = None
        self.fetches = 0

    def __call__(self) -> Snapshot:
        self.fetches += 1
        if self.fail:
            raise self.fail
        return Snapshot(Budget("core", self.limit, "month", hard_stop=self.hard_stop),
                        self.spent, float("inf"), "month", self.clock())


def guard(store: FakeStore, clock: Clock, **kw) -> BudgetGuard:
    cfg = Config(home=Path("/nonexistent"), team="core", project="demo-x")
    return BudgetGuard(cfg, ttl_s=30, clock=clock, fetch=store, **kw)


def wait_refreshes(g: BudgetGuard, n: int) -> None:
    deadline = time.monotonic() + 5
    while g.refreshes < n and time.monotonic() < deadline:
        time.sleep(0.001)
    assert g.refreshes >= n


def test_answers_from_the_snapshot_within_the_ttl() -> None:
    clock = Clock()
    store = FakeStore(clock, spent=900_000_000)
    g = guard(store, clock)
    g.check(99_999_999)                      # 0.9 + 0.099999999 < 1: allowed
    with pytest.raises(BudgetExceeded) as exc:
        g.check(100_000_000)                 # lands exactly on the limit: refused
    assert (exc.value.spent_nanos, exc.value.limit_nanos, exc.value.period) == (
        900_000_000, LIMIT, "month")
    clock.t += 29
    g.check()
    assert store.fetches == 1


def test_recorded_calls_count_before_the_next_snapshot() -> None:
    clock = Clock()
    g = guard(FakeStore(clock, spent=900_000_000), clock)
    g.check()
    g.note(60_000_000)
    g.check(39_999_999)
    with pytest.raises(BudgetExceeded):
        g.check(40_000_000)


def test_stale_allowed_answer_refreshes_in_the_background() -> None:
    clock = Clock()
    store = FakeStore(clock, spent=0)
    g = guard(store, clock)
    g.check()
    store.spent = LIMIT                       # someone else spent it all
    clock.t += 31
    g.check()                                 # answered from the stale snapshot...
    wait_refreshes(g, 2)                      # ...while a thread refreshes it
    with pytest.raises(BudgetExceeded):
        g.check()
    assert store.fetches == 2


def test_stale_refusal_waits_for_a_fresh_answer() -> None:
    clock = Clock()
    store = FakeStore(clock, spent=LIMIT)
    g = guard(store, clock)
    with pytest.raises(BudgetExceeded):
        g.check()
    store.limit = 2 * LIMIT                   # an admin raised the budget
    clock.t += 10
    with pytest.raises(BudgetExceeded):       # within the TTL: still the old answer
        g.check()
    clock.t += 21
    g.check()                                 # after it: fresh, allowed at once
    assert store.fetches == 2


def test_no_hard_stop_never_refuses() -> None:
    clock = Clock()
    g = guard(FakeStore(clock, spent=5 * LIMIT, hard_stop=False), clock)
    g.check(LIMIT)


def test_unreachable_fail_open_warns_once(caplog) -> None:
    clock = Clock()
    store = FakeStore(clock, spent=LIMIT)
    store.fail = SyncError("UNAVAILABLE: connection refused")
    g = guard(store, clock, fail_closed=False)
    with caplog.at_level(logging.WARNING, logger="teamcost"):
        g.check()
        g.check()
    warnings = [r.getMessage() for r in caplog.records if "fail open" in r.getMessage()]
    assert len(warnings) == 1 and "UNAVAILABLE" in warnings[0]


def test_unreachable_fail_closed_refuses() -> None:
    clock = Clock()
    store = FakeStore(clock, spent=0)
    store.fail = SyncError("UNAVAILABLE: connection refused")
    g = guard(store, clock, fail_closed=True)
    with pytest.raises(BudgetUnavailable, match="fails closed"):
        g.check()


def test_unreachable_uses_a_recent_snapshot_then_the_policy() -> None:
    clock = Clock()
    store = FakeStore(clock, spent=LIMIT)
    g = guard(store, clock, fail_closed=False)
    with pytest.raises(BudgetExceeded):
        g.check()
    store.fail = SyncError("UNAVAILABLE")
    clock.t += 31                              # stale, refresh fails: keep the snapshot
    with pytest.raises(BudgetExceeded):
        g.check()
    clock.t += 300                             # 331 s > 10 x TTL: the policy (open) applies
    g.check()
    g2 = guard(FakeStore(clock, spent=0), clock, fail_closed=True)
    g2.check()
    g2._fetch.fail = SyncError("UNAVAILABLE")  # type: ignore[attr-defined]
    clock.t += 400
    with pytest.raises(BudgetUnavailable):
        g2.check()


def test_no_project_means_no_guard(teamcost_home: Path) -> None:
    with teamcost.budget_guard(estimated_usd=1e6):
        pass


# -- against the real emulator --

@pytest.mark.emulator
def test_pooled_spend_stops_a_member_and_a_raised_limit_lets_them_go(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    project = firestore_emulator.project
    settings = BudgetSettings(guard_ttl_s=0.5)
    ana = Config(home=tmp_path / "ana", team="core", member="ana@example.com",
                 project=project, budget=settings)
    bo = replace(ana, home=tmp_path / "bo", member="bo@example.com")
    for c in (ana, bo):
        c.home.mkdir()
    set_team_budget(ana, "1", "month", hard_stop=True, client=firestore_client)
    t_ana, t_bo = Tracker(ana), Tracker(bo)
    t_ana.guard(estimated_usd=0.5)
    t_ana.record("gpt-4o", 160_000, 0)            # $0.40, counted locally at once
    with pytest.raises(BudgetExceeded):
        t_ana.guard(estimated_usd=0.6)            # 0.4 + 0.6 = the limit
    t_bo.record("gpt-4o", 200_000, 0)             # bo spends $0.50 on another machine
    run_push(bo, client=firestore_client)
    time.sleep(0.6)                               # ana's snapshot is past its TTL
    t_ana.guard(estimated_usd=0.05)               # stale answer allows; refresh starts
    deadline = time.monotonic() + 5
    while True:                                   # pooled: 0.4 + 0.5 + 0.1 = the limit
        try:
            t_ana.guard(estimated_usd=0.1)
        except BudgetExceeded as exc:
            assert (exc.spent_nanos, exc.limit_nanos) == (900_000_000, 1_000_000_000)
            break
        assert time.monotonic() < deadline, "the background refresh never landed"
        time.sleep(0.01)
    with teamcost.budget_guard(estimated_usd=0.05, tracker=t_ana):
        pass
    set_team_budget(ana, "2", "month", hard_stop=True, client=firestore_client)
    with pytest.raises(BudgetExceeded):
        t_ana.guard(estimated_usd=0.5)            # within the TTL: the old limit
    time.sleep(0.6)
    t_ana.guard(estimated_usd=0.5)                # after the TTL: the raised limit
    t_ana.close()
    t_bo.close()


@pytest.mark.emulator
@pytest.mark.parametrize("fail_closed", [False, True])
def test_unreachable_firestore(firestore_emulator, tmp_path: Path, caplog,
                               fail_closed: bool) -> None:
    cfg = Config(home=tmp_path, team="core", member="ana@example.com", project="demo-gone",
                 emulator_host="127.0.0.1:9",
                 budget=BudgetSettings(fail_closed=fail_closed))
    tracker = Tracker(cfg)
    t0 = time.monotonic()
    if fail_closed:
        with pytest.raises(BudgetUnavailable, match="is not running"):
            tracker.guard(estimated_usd=0.01)
    else:
        with caplog.at_level(logging.WARNING, logger="teamcost"):
            tracker.guard(estimated_usd=0.01)
        assert any("fail open" in r.getMessage() for r in caplog.records)
    assert time.monotonic() - t0 < 15              # bounded retries, not a hang
    tracker.close()
