"""Ctrl-C stops `teamcost watch` between frames: exit 0, "watch stopped", and every byte it
wrote is whole UTF-8 (a frame cut off mid-write could end inside a multi-byte character,
which is what a terminal or pexpect then fails to decode)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from teamcost.ledger import Ledger
from teamcost.models import CallRecord

TEAMCOST = str(Path(sys.executable).with_name("teamcost"))


@pytest.fixture
def busy_ledger(teamcost_home: Path) -> Path:
    """A month of calls whose labels are multi-byte (every frame is mostly such bytes)."""
    now = datetime.now(UTC)
    names = ["модель-Ω", "日本語のモデル", "ü-modèle", "✓-agent"]
    calls = [CallRecord(call_id=f"mb{i}", ts=now - timedelta(minutes=1 + i), team="default",
                        member=f"{names[i % 4]}@例え.jp", ledger_id="lap", provider="openai",
                        model=names[(i + 1) % 4], agent=names[(i + 2) % 4],
                        input_tokens=1000 + i, output_tokens=10 + i,
                        cost_nanos=1_234_567 * (i + 1), priced=True, price_source="test")
             for i in range(200)]
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(calls)
    return teamcost_home


@pytest.mark.parametrize("attempt", range(4))
def test_ctrl_c_during_a_redraw_exits_cleanly(busy_ledger: Path, attempt: int) -> None:
    import pexpect

    env = dict(os.environ, TEAMCOST_HOME=str(busy_ledger), TERM="xterm-256color",
               COLUMNS="120", LINES="60", TZ="UTC")
    child = pexpect.spawn(TEAMCOST, ["watch", "--interval", "200ms"], env=env,
                          dimensions=(60, 120), encoding=None, timeout=30)
    seen = b""
    try:
        child.expect(b"teamcost watch")         # the first frame is drawn
        seen += child.before + child.after
        for _ in range(attempt + 1):            # later frames: interrupt one mid-redraw
            child.expect(b"teamcost watch")
            seen += child.before + child.after
        child.sendintr()
        child.expect(pexpect.EOF)
        seen += child.before
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus)
    text = seen.decode("utf-8")                 # strict: raises on a cut character
    # and no byte lost on a character boundary either: every frame drawn whole
    assert text.count("╭") == text.count("╯") >= attempt + 2, text[-2000:]
    assert "watch stopped" in text.splitlines()[-1]
    assert "teamcost: interrupted" not in text
