"""Live `teamcost watch` in a real terminal (a pty) fits the terminal's width and fits again
when the terminal is resized (issue 26: frames were drawn at their natural width, 134
columns in a 100-column terminal). No COLUMNS in the environment: the width must come from
the terminal itself."""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from teamcost.ledger import Ledger
from teamcost.models import CallRecord

TEAMCOST = str(Path(sys.executable).with_name("teamcost"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
CLEAR = "\x1b[2J"          # what watch writes before the first frame at a new width


def segments(raw: str) -> list[str]:
    """The visible pieces of terminal output between line starts."""
    return [s for s in re.split(r"[\r\n]", ANSI.sub("", raw)) if s.strip()]


def calls(now: datetime) -> list[CallRecord]:
    # long names and models: at its natural width the view is far wider than 120 columns
    return [CallRecord(call_id=f"w-{i}", ts=now - timedelta(minutes=7 * i + 1), team="core",
                       member=f"member-with-a-long-name-{i % 4}@a-long-domain.example.com",
                       ledger_id="lap", provider="openai",
                       model=f"a-very-long-model-name-{i % 3}-2026-11-20-preview",
                       input_tokens=1000 + i, output_tokens=100, cost_nanos=1_234_567 * (i + 1),
                       priced=True, price_source="test", agent="coder")
            for i in range(40)]


def wait_for_frame(child, after: str | None = None, timeout: float = 20) -> str:
    """Output until a whole frame has been drawn (its last line names the latest call)."""
    if after is not None:
        child.expect_exact(after, timeout=timeout)
    child.expect("latest", timeout=timeout)
    text = child.before + child.after
    # the rest of the frame: read until the output is quiet for a moment
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        try:
            text += child.read_nonblocking(65536, timeout=0.3)
        except Exception:
            break
    return text


@pytest.mark.slow
def test_live_watch_fits_60_80_and_120_columns_and_refits_on_resize(tmp_path: Path) -> None:
    import pexpect

    home = tmp_path / "home"
    home.mkdir()
    with Ledger(home / "ledger.db") as led:
        led.record_many(calls(datetime.now(UTC)))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TEAMCOST_") and k not in ("COLUMNS", "LINES")}
    env |= {"TEAMCOST_HOME": str(home), "TEAMCOST_TEAM": "core", "TERM": "xterm-256color",
            "TZ": "UTC"}
    child = pexpect.spawn(TEAMCOST, ["watch", "--interval", "1s"], env=env,
                          dimensions=(50, 60), encoding="utf-8", timeout=30)
    try:
        frame = wait_for_frame(child)
        widths = [60]
        for width in (120, 80):
            child.setwinsize(50, width)
            frame_at = wait_for_frame(child, after=CLEAR)
            widths.append(width)
            longest = max(len(s) for s in segments(frame_at))
            assert longest <= width, (width, [s for s in segments(frame_at) if len(s) > width])
            if width == 120:
                assert longest > 80          # it does use the room it is given
        longest = max(len(s) for s in segments(frame))
        assert 40 < longest <= 60, [s for s in segments(frame) if len(s) > 60]
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus)
    assert widths == [60, 120, 80]
