"""The recording API: context managers stamp calls, in threads and asyncio tasks too."""

from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

import teamcost
from teamcost.config import load_config, write_config
from teamcost.errors import DuplicateCallError, InvalidValue
from teamcost.ledger import Ledger
from teamcost.tracker import Tracker, current_context, default_tracker

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def tracker(teamcost_home: Path) -> Tracker:
    write_config(teamcost_home, {"team": "core"})
    t = Tracker(load_config())
    yield t
    t.close()


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT call_id, session_id, agent, task_id, cost_nanos "
                            "FROM calls ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_record_prices_stamps_and_stores(tracker: Tracker, teamcost_home: Path) -> None:
    rec = tracker.record("gpt-4o", 1000, 500)
    # $2.50 x 1000 / 1e6 + $10 x 500 / 1e6 = $0.0075
    assert rec.cost_nanos == 7_500_000 and rec.priced and rec.provider == "openai"
    assert rec.team == "core" and rec.member == "tester@example.com"
    assert rec.ledger_id == tracker.ledger.ledger_id
    assert UUID7.match(rec.call_id)
    assert rec.session_id is None and rec.agent is None
    assert tracker.ledger.path == teamcost_home / "ledger.db"
    assert tracker.ledger.get(rec.call_id) == rec


def test_session_agent_task_nest_and_unwind(tracker: Tracker) -> None:
    with tracker.session("s-1", tags={"env": "ci"}) as ctx:
        assert ctx.session_id == "s-1" and current_context() is ctx
        a = tracker.record("gpt-4o", 1, 1)
        with tracker.agent("Planner"):
            b = tracker.record("gpt-4o", 1, 1)
            with tracker.task("T-7"):
                c = tracker.record("gpt-4o", 1, 1, tags={"step": "3"})
            with tracker.agent("Coder", task_id="T-8"):
                d = tracker.record("gpt-4o", 1, 1)
            e = tracker.record("gpt-4o", 1, 1)
        f = tracker.record("gpt-4o", 1, 1)
    g = tracker.record("gpt-4o", 1, 1)
    stamps = [(r.session_id, r.agent, r.task_id) for r in (a, b, c, d, e, f, g)]
    assert stamps == [("s-1", None, None), ("s-1", "Planner", None), ("s-1", "Planner", "T-7"),
                      ("s-1", "Coder", "T-8"), ("s-1", "Planner", None), ("s-1", None, None),
                      (None, None, None)]
    assert c.tags == {"env": "ci", "step": "3"} and a.tags == {"env": "ci"} and g.tags == {}
    assert [r[1:4] for r in rows(tracker.ledger.path)] == stamps


def test_session_without_id_gets_a_uuid7_and_explicit_values_win(tracker: Tracker) -> None:
    with tracker.session() as ctx:
        assert UUID7.match(ctx.session_id)
        rec = tracker.record("gpt-4o", 1, 1, session_id="mine", agent="Tier 3")
    assert (rec.session_id, rec.agent) == ("mine", "Tier 3")
    with tracker.session("outer"), tracker.session(correlation_id="corr-1") as inner:
        assert inner.session_id != "outer"      # a new session, fresh id
        assert tracker.record("gpt-4o", 1, 1).correlation_id == "corr-1"


@pytest.mark.parametrize("kwargs,field", [
    (dict(input_tokens=-1), "input_tokens"), (dict(output_tokens=2.5), "output_tokens"),
    (dict(cache_read_tokens="3"), "cache_read_tokens"), (dict(model=""), "model"),
    (dict(provider=""), "provider"), (dict(session_id=""), "session_id"),
    (dict(call_id="a b"), "call_id"), (dict(ts=datetime(2026, 1, 1)), "ts"),
    (dict(cost_usd="-0.1"), "cost_usd"), (dict(tags={"k": 1}), "tags[k]"),
])
def test_invalid_calls_write_nothing(tracker: Tracker, kwargs: dict, field: str) -> None:
    args = {"model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, **kwargs}
    with pytest.raises(InvalidValue) as info:
        tracker.record(**args)
    assert info.value.field == field
    assert rows(tracker.ledger.path) == []


def test_bad_context_names_are_refused(tracker: Tracker) -> None:
    with pytest.raises(InvalidValue):
        tracker.agent("")
    with pytest.raises(InvalidValue):
        tracker.task("   ")


def test_idempotent_re_record(tracker: Tracker) -> None:
    ts = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    a = tracker.record("gpt-4o", 10, 10, call_id="req_1", ts=ts)
    assert tracker.record("gpt-4o", 10, 10, call_id="req_1", ts=ts) == a
    with pytest.raises(DuplicateCallError):
        tracker.record("gpt-4o", 11, 10, call_id="req_1", ts=ts)
    assert tracker.record_call(a) is False
    assert len(rows(tracker.ledger.path)) == 1


def test_price_overrides_from_the_config_file(teamcost_home: Path) -> None:
    (teamcost_home / "config.toml").write_text(
        'team = "core"\n[[price_overrides]]\npattern = "^acme-"\ninput = 2\noutput = 4\n')
    with Ledger(teamcost_home / "other.db") as lg:
        t = Tracker(load_config(), lg)
        # 1000 x $2 / 1e6 + 250 x $4 / 1e6 = $0.002 + $0.001 = 3_000_000 nanos
        rec = t.record("acme-7b", 1000, 250, provider="internal")
        assert (rec.cost_nanos, rec.price_source, rec.provider) == (3_000_000, "override:^acme-",
                                                                   "internal")
        unknown = t.record("nobody-knows-me", 5, 5)
        assert (unknown.cost_nanos, unknown.priced, unknown.provider) == (0, False, "unknown")
        assert lg.status().unpriced == 1


def test_threads_carry_their_own_context(tracker: Tracker) -> None:
    """Each thread runs in a copied context: its session stamps only its calls."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with tracker.session(f"s-{n}"), tracker.agent(f"agent-{n}"):
                for _ in range(20):
                    rec = tracker.record("gpt-4o", n, 1)
                    assert (rec.session_id, rec.agent) == (f"s-{n}", f"agent-{n}")
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    with tracker.session("outer"):
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(work, n))
                   for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert current_context().session_id == "outer"
    assert not errors
    got = rows(tracker.ledger.path)
    assert len(got) == 160
    assert sorted({(r[1], r[2]) for r in got}) == sorted((f"s-{n}", f"agent-{n}") for n in range(8))


def test_a_thread_started_inside_a_session_inherits_it_when_the_context_is_copied(
        tracker: Tracker) -> None:
    out: list = []
    with tracker.session("s-x"):
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(lambda: out.append(tracker.record("gpt-4o")),))
        t.start()
        t.join()
    assert out[0].session_id == "s-x"


def test_asyncio_tasks_keep_their_context(tracker: Tracker) -> None:
    async def agent(name: str) -> list[str | None]:
        seen = []
        with tracker.agent(name):
            for _ in range(5):
                await asyncio.sleep(0)           # interleave with the other tasks
                seen.append(tracker.record("gpt-4o", 1, 1).agent)
            # asyncio.to_thread copies the context into the worker thread
            rec = await asyncio.to_thread(tracker.record, "gpt-4o", 2, 2)
            seen.append(rec.agent)
        return seen

    async def main() -> list[list[str | None]]:
        with tracker.session("async-s"):
            return await asyncio.gather(agent("Planner"), agent("Coder"), agent("Reviewer"))

    results = asyncio.run(main())
    assert results == [["Planner"] * 6, ["Coder"] * 6, ["Reviewer"] * 6]
    got = rows(tracker.ledger.path)
    assert len(got) == 18 and {r[1] for r in got} == {"async-s"}


def test_module_level_record_uses_the_default_tracker(teamcost_home: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMCOST_TEAM", "platform")
    rec = teamcost.record("gemini-2.5-flash", 6000, 500)
    # $0.30 x 6000 / 1e6 + $2.50 x 500 / 1e6 = $0.0018 + $0.00125 = $0.00305
    assert rec.cost_nanos == 3_050_000 and rec.team == "platform"
    assert default_tracker().ledger.path == teamcost_home / "ledger.db"
    assert rows(teamcost_home / "ledger.db")[0][0] == rec.call_id
    default_tracker().close()
