"""What the agent's failed Firestore jobs leave behind in memory, through a real dead path.

Firestore is unreachable here the way the soak benchmark makes it (benchmarks/soak.py): a TCP
proxy that accepts every connection and closes it at once, in front of nothing, so the real
gRPC client fails every RPC with UNAVAILABLE. The agent runs in this process so that the
garbage collector can be asked what each failed job left: a reference cycle frees what it
holds only at the collector's rare full pass, and while Firestore was down the agent's
failed pushes (one every second or two, each holding the whole backlog it had read) piled up
that way; the memory it took stayed with the process after Firestore came back (the soak's
step after an outage, docs/soak.md).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from teamcost.agent.loop import Agent, AgentOptions
from teamcost.config import load_config
from teamcost.ledger import Ledger
from tests.sync_support import TcpProxy, make_calls
from tests.system.test_agent import write_home


def test_failed_jobs_while_firestore_is_down_leave_no_garbage_cycles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = TcpProxy("127.0.0.1:1")      # nothing listens upstream; and it refuses anyway
    proxy.refuse = True
    # the client reads it (and would set it process-wide from the config): restored after
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", proxy.host)
    home = write_home(tmp_path / "home", "demo-agent-memory", proxy.host)
    config = load_config(home)
    with Ledger.for_config(config) as ledger:
        for rec in make_calls(900, config.member, ledger.ledger_id):   # two push batches
            ledger.record(rec)
    agent = Agent(config, AgentOptions(otlp_port=0, claude_dirs=[], codex_dirs=[],
                                       gemini_dirs=[]))
    gc.collect()
    gc.disable()
    try:
        for job in (agent.push, agent.pull, agent.check):
            job()          # the first failure builds what is built once (lazy imports, caches)
        gc.collect()
        left = {}
        for name, job in (("push", agent.push), ("pull", agent.pull), ("check", agent.check)):
            for _ in range(2):
                job()
                assert agent.jobs[name].last["ok"] is False      # it did fail, for real
                assert "UNAVAILABLE" in agent.jobs[name].last["error"]
            left[name] = gc.collect()
        assert left == {"push": 0, "pull": 0, "check": 0}
        assert agent.ledger.unpushed_totals()[0] == 900            # nothing lost meanwhile
    finally:
        gc.enable()
        agent.close()
        proxy.close()
