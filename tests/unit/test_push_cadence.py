"""The agent's push cadence (agent/cadence.py): a burst goes in one commit, and no call
waits more than every + settle seconds (plus a tick)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from teamcost.agent.cadence import push_now, simulate


def test_push_now_waits_for_a_pause_but_not_past_settle() -> None:
    assert not push_now(19.0, 20.0, None, 10.0)          # not due
    assert push_now(20.0, 20.0, None, 10.0)              # due, nothing new
    assert not push_now(20.0, 20.0, 15.0, 10.0)          # a call 5 s ago: wait
    assert push_now(25.0, 20.0, 15.0, 10.0)              # 10 s quiet
    assert push_now(30.0, 20.0, 29.0, 10.0)              # never past due + settle


def test_a_burst_goes_in_one_commit() -> None:
    turn = [22.0 + 3 * i for i in range(6)]               # 22..37 s, 3 s apart
    assert simulate(turn, 20.0, 10.0) == [(47.0, list(range(6)))]   # due at 40, quiet at 47
    # on the old 5 s cadence the same turn took four commits
    assert len(simulate(turn, 5.0, 0.0)) == 4


@given(st.lists(st.floats(0, 3600, allow_nan=False), max_size=60),
       st.floats(1, 60), st.floats(0, 30))
def test_every_call_is_pushed_once_within_every_plus_settle(
        times: list[float], every: float, settle: float) -> None:
    arrivals = sorted(times)
    pushes = simulate(arrivals, every, settle)
    assert sorted(i for _, p in pushes for i in p) == list(range(len(arrivals)))
    for when, idx in pushes:
        assert all(0 <= when - arrivals[i] <= every + settle + 2.0 for i in idx)
