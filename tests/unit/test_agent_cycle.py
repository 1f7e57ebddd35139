"""The agent's loop survives any error in one cycle (issue 23, item 1): it is logged,
kept in the status snapshot, backed off, and the next cycle runs. In process, with a real
ledger; no Firestore project (capture only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from teamcost.agent.loop import CYCLE_RETRY_CAP_S, Agent, AgentOptions
from teamcost.config import load_config


@pytest.mark.parametrize("error", [sqlite3.OperationalError("disk I/O error"),
                                   OSError(28, "No space left on device"),
                                   RuntimeError("a bug")])
def test_any_error_in_a_cycle_is_logged_kept_and_backed_off(teamcost_home: Path,
                                                            error: Exception) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    agent = Agent(load_config(), AgentOptions(otlp_port=0, claude_dirs=[], codex_dirs=[],
                                              gemini_dirs=[]),
                  emit=lambda event, **fields: events.append((event, fields)))
    try:
        real_tail = agent.tail

        def failing_tail() -> None:
            raise error

        agent.tail = failing_tail  # type: ignore[method-assign]
        delays = []
        for _ in range(7):
            agent._next_tail = 0.0
            delays.append(agent.safe_cycle())
        assert delays == sorted(delays) and delays[0] == 1.0 and delays[-1] == CYCLE_RETRY_CAP_S
        failed = [f for e, f in events if e == "cycle-failed"]
        assert len(failed) == 7 and str(error) in failed[0]["error"]
        loop = agent.snapshot()["loop"]
        assert loop["failures"] == 7 and type(error).__name__ in loop["last_error"]
        agent.tail = real_tail  # type: ignore[method-assign]
        agent._next_tail = 0.0
        assert agent.safe_cycle() <= 1.0                       # back to its tick
        assert agent.snapshot()["loop"]["failures"] == 0
        assert ("cycle-recovered", {}) in events
    finally:
        agent.close()


def test_keyboard_interrupt_still_ends_it(teamcost_home: Path) -> None:
    agent = Agent(load_config(), AgentOptions(otlp_port=0, claude_dirs=[], codex_dirs=[],
                                              gemini_dirs=[]))
    try:
        def interrupted() -> None:
            raise KeyboardInterrupt

        agent.tail = interrupted  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            agent.safe_cycle()
    finally:
        agent.close()
