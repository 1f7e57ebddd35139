"""Labels print literally: a teammate's model, agent, session, member or tag that looks
like rich markup, or carries terminal control bytes, never crashes a view, is never
interpreted, and reaches the terminal as its text with the control bytes escaped visibly
(``teamcost.labels.one_line``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from teamcost.ledger import Ledger
from teamcost.models import CallRecord

from tests.cli_support import run

LONG = "L" * 97 + "-middle-" + "R" * 95   # 200 characters
# label -> what a terminal must show of it (worked out by hand: ESC and NUL escaped)
LABELS = {
    "planner[/]": "planner[/]",
    "[bold]x": "[bold]x",
    "a\x1b[31mred": "a\\x1b[31mred",
    "\x00nul": "\\x00nul",
    LONG: LONG,
}
CONTROL = [chr(c) for c in range(32) if c not in (9, 10)] + ["\x7f", "\x9b"]


def no_control_bytes(text: str) -> bool:
    return not any(c in text for c in CONTROL)


@pytest.fixture
def hostile_ledger(teamcost_home):
    """Calls a teammate pushed: every label field set to each hostile label."""
    now = datetime.now(UTC)
    calls = [CallRecord(call_id=f"h{i}", ts=now - timedelta(minutes=3 + i), team="default",
                        member=label[:128], ledger_id="their-laptop", provider="openai",
                        model=label, input_tokens=100, output_tokens=10,
                        cost_nanos=10_000_000 * (i + 1), priced=True, price_source="test",
                        agent=label, session_id=label, task_id=label, tags={"k": label})
             for i, label in enumerate(LABELS)]
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(calls)
    return calls


@pytest.mark.parametrize("label", list(LABELS), ids=["close-tag", "bold", "esc", "nul", "long"])
def test_record_prints_the_label_literally(label: str) -> None:
    r = run("record", "-m", label, "-i", "10", "-o", "5", "--agent", label, "--session", label,
            "--tag", f"k={label}", "--cost-usd", "0.01")
    assert r.exit_code == 0, (r.output, r.exception)
    assert no_control_bytes(r.stdout), repr(r.stdout)
    assert f"unknown/{LABELS[label]} 10 in / 5 out, $0.01" in r.stdout.replace("\n", "")
    # the ledger holds the label exactly as given
    doc = json.loads(run("report", "--since", "1h", "--by", "model", "--format", "json").stdout)
    assert [row["model"] for row in doc["breakdowns"]["model"]] == [label]


@pytest.mark.parametrize("width", [None, "80", "40"])
def test_views_show_hostile_labels_literally(hostile_ledger, width, monkeypatch) -> None:
    if width:
        monkeypatch.setenv("COLUMNS", width)
    else:
        monkeypatch.delenv("COLUMNS", raising=False)
    for args in (["report", "--since", "1d", "--by", "member,model,agent,session,task"],
                 ["watch", "--once"], ["ledger", "status"], ["sync", "status"]):
        r = run(*args)
        assert r.exit_code == 0, (args, r.output, r.exception)
        assert no_control_bytes(r.stdout), (args, repr(r.stdout))
        if width is None and args[0] in ("report", "watch"):
            # a pipe gets the natural width: every label whole and literal
            for shown in LABELS.values():
                assert shown in r.stdout, (args, shown)
    # JSON keeps the exact labels (control bytes included: they are data)
    doc = json.loads(run("report", "--since", "1d", "--by", "agent", "--format", "json").stdout)
    assert {row["agent"] for row in doc["breakdowns"]["agent"]} == set(LABELS)
