"""The numeric bounds that firestore.rules also enforce, where teamcost applies them itself.

Recording refuses a call from the future and a call above the per-call maximum before
anything is written; a budget check refuses an aggregation result that is not an exact
integer; a stored budget of the wrong shape is one BudgetError line. (The rules side is
tests/system/test_rules.py; the emulator overflow for real is test_rules_writers.py.)
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from teamcost.budget.model import MAX_THRESHOLDS, Budget, parse_thresholds
from teamcost.budget.spend import exact_aggregate
from teamcost.cli import app
from teamcost.config import Config
from teamcost.errors import BudgetError, InvalidValue
from teamcost.pricing import PriceOverride
from teamcost.tracker import Tracker

runner = CliRunner()


def rows(home: Path) -> list[Any] | None:
    led = home / "ledger.db"
    if not led.exists():
        return None
    conn = sqlite3.connect(led)
    try:
        return conn.execute("SELECT call_id, cost_nanos FROM calls ORDER BY seq").fetchall()
    finally:
        conn.close()


def one_error_line(result: Any) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("teamcost: error: ")
    return lines[0]


# -- recording: the tracker and `teamcost record` --

def test_tracker_refuses_a_call_from_the_future_and_writes_nothing(teamcost_home: Path) -> None:
    tracker = Tracker(Config(home=teamcost_home, team="core", member="ann@example.com"))
    try:
        ahead = datetime.now(UTC) + timedelta(minutes=10, seconds=30)
        with pytest.raises(InvalidValue) as info:
            tracker.record("gpt-4o", 10, 1, ts=ahead)
        assert info.value.field == "ts"
        assert rows(teamcost_home) is None                 # no ledger file was even created
        near = datetime.now(UTC) + timedelta(minutes=9, seconds=30)
        assert tracker.record("gpt-4o", 10, 1, ts=near, call_id="near").ts == near
    finally:
        tracker.close()
    assert [r[0] for r in rows(teamcost_home) or []] == ["near"]


def test_record_from_the_future_exits_2_naming_ts(teamcost_home: Path) -> None:
    ahead = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    res = runner.invoke(app, ["record", "-m", "gpt-4o", "-i", "10", "--ts", ahead])
    assert res.exit_code == 2
    line = one_error_line(res)
    assert "--ts" in line and "a call cannot come from the future" in line
    assert rows(teamcost_home) is None


def test_tracker_cost_usd_bound_is_exact(teamcost_home: Path) -> None:
    tracker = Tracker(Config(home=teamcost_home, team="core", member="ann@example.com"))
    try:
        assert tracker.record("gpt-4o", cost_usd="10000", call_id="max").cost_nanos == 10**13
        with pytest.raises(InvalidValue) as info:
            tracker.record("gpt-4o", cost_usd="10000.000000001", call_id="over")
        assert info.value.field == "cost_usd"
        assert "at most $10,000" in str(info.value)
    finally:
        tracker.close()
    assert rows(teamcost_home) == [("max", 10**13)]


def test_record_above_the_per_call_maximum_exits_2(teamcost_home: Path) -> None:
    res = runner.invoke(app, ["record", "-m", "gpt-4o", "--cost-usd", "10000.01"])
    assert res.exit_code == 2
    assert "--cost-usd" in one_error_line(res)
    assert rows(teamcost_home) is None


def test_priced_tokens_above_the_maximum_name_cost_nanos(teamcost_home: Path) -> None:
    # 10^12 input tokens (in range) at $1.25/Mtok = $1,250,000 (not): worked out by hand
    cfg = Config(home=teamcost_home, team="core", member="ann@example.com",
                 price_overrides=(PriceOverride("big-.*", Decimal("1.25"), Decimal("10")),))
    tracker = Tracker(cfg)
    try:
        with pytest.raises(InvalidValue) as info:
            tracker.record("big-model", 10**12, 0)
        assert info.value.field == "cost_nanos" and info.value.value == 1_250_000 * 10**9
        # 8 * 10^9 tokens = $10,000 exactly: the maximum, recorded
        assert tracker.record("big-model", 8 * 10**9, 0).cost_nanos == 10**13
    finally:
        tracker.close()


# -- a budget check's aggregation result --

@pytest.mark.parametrize("value,expected", [
    (None, 0), (0.0, 0), (0, 0), (7, 7), (2**63 - 1, 2**63 - 1),
])
def test_exact_aggregate_accepts_integers(value: Any, expected: int) -> None:
    got = exact_aggregate(value, "sum(cost_nanos)", "core")
    assert got == expected and type(got) is int


@pytest.mark.parametrize("value", [
    9.223372036854776e18,      # what Firestore answers for 2^63 - 1 + 1
    1.5, 1.0, -1, True, "5", float("nan"),
])
def test_exact_aggregate_refuses_anything_else(value: Any) -> None:
    with pytest.raises(BudgetError) as info:
        exact_aggregate(value, "sum(cost_nanos)", "core")
    msg = str(info.value)
    assert msg.startswith(f"team core's spend cannot be counted exactly: Firestore's "
                          f"sum(cost_nanos) is {value!r}, not an integer from 0 to "
                          "9223372036854775807")
    assert "922,337 calls at the $10,000.00 a call maximum" in msg
    assert "\n" not in msg


# -- the stored budget document --

GOOD = {"team": "core", "amount_nanos": 500 * 10**9, "period": "month", "timezone": "UTC",
        "thresholds": [0.8, 0.9], "hard_stop": False, "updated_by": "ann@example.com"}


def test_a_well_formed_budget_document_reads_back() -> None:
    b = Budget.from_doc("core", GOOD)
    assert (b.amount_nanos, b.thresholds, b.hard_stop) == (500 * 10**9, (0.8, 0.9), False)
    assert Budget.from_doc("core", {"amount_nanos": 1}).thresholds == (0.8, 0.9)   # defaults


@pytest.mark.parametrize("change,field", [
    ({"amount_nanos": 5e11}, "amount"),
    ({"amount_nanos": "500"}, "amount"),
    ({"amount_nanos": True}, "amount"),
    ({"amount_nanos": 10**18 + 1}, "amount"),
    ({"period": "year"}, "period"),
    ({"period": ["month"]}, "period"),
    ({"timezone": 5}, "timezone"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"thresholds": "0.8,0.9"}, "thresholds"),
    ({"thresholds": None}, "thresholds"),
    ({"thresholds": ["0.8"]}, "thresholds"),
    ({"thresholds": [True]}, "thresholds"),
    ({"thresholds": [0.9, 0.8]}, "thresholds"),
    ({"thresholds": [i / 10 for i in range(1, 10)]}, "thresholds"),
    ({"hard_stop": "false"}, "hard_stop"),
    ({"hard_stop": 0}, "hard_stop"),
    ({"updated_by": 7}, "updated_by"),
    ({"amount_nanos": None}, "amount"),
])
def test_a_malformed_budget_document_is_one_line_naming_the_field(change: dict[str, Any],
                                                                  field: str) -> None:
    with pytest.raises(BudgetError) as info:
        Budget.from_doc("core", {**GOOD, **change})
    msg = str(info.value)
    assert msg.startswith(f"the budget document teamcost_budgets/core is malformed "
                          f"(invalid {field}: ")
    assert msg.endswith("; set it again with `teamcost budget set`")
    assert "\n" not in msg


def test_a_budget_document_without_an_amount_says_so() -> None:
    doc = {k: v for k, v in GOOD.items() if k != "amount_nanos"}
    with pytest.raises(BudgetError, match=r"invalid amount_nanos: None; .*the field is missing"):
        Budget.from_doc("core", doc)


def test_thresholds_are_bounded_to_what_the_rules_check() -> None:
    assert MAX_THRESHOLDS == 8
    eight = ",".join(f"0.{i}" for i in range(1, 9))
    assert parse_thresholds(eight) == tuple(i / 10 for i in range(1, 9))
    with pytest.raises(InvalidValue) as info:
        parse_thresholds(eight + ",0.95")
    assert info.value.field == "thresholds" and "at most 8" in str(info.value)


def test_a_log_line_from_the_future_is_a_bad_line_and_the_rest_is_imported(
        tmp_path: Path, teamcost_home: Path) -> None:
    from teamcost.capture.logs.claude_code import import_claude_code
    from teamcost.config import load_config

    def line(msg_id: str, ts: datetime) -> str:
        return json.dumps({
            "type": "assistant", "sessionId": "s-1", "requestId": f"req_{msg_id}",
            "cwd": "/home/ana/src/shop", "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "uuid": f"u-{msg_id}",
            "message": {"id": msg_id, "type": "message", "role": "assistant",
                        "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "ok"}],
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": 10, "output_tokens": 5}}})

    log = tmp_path / "projects" / "-home-ana-src-shop" / "s-1.jsonl"
    log.parent.mkdir(parents=True)
    now = datetime.now(UTC)
    log.write_text("\n".join([line("msg_future", now + timedelta(days=1)),
                              line("msg_now", now - timedelta(minutes=1))]) + "\n")
    res = import_claude_code(tmp_path / "projects", load_config())
    assert res.imported == 1
    assert len(res.bad) == 1 and res.bad[0].startswith(f"{log}:1: ")
    assert "a call cannot come from the future" in res.bad[0]
    assert [r[0] for r in rows(teamcost_home) or []] == ["cc-req-req_msg_now"]


def test_import_jsonl_refuses_a_call_from_the_future_as_a_bad_line(tmp_path) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    from teamcost.capture.logs.jsonl import import_jsonl
    from teamcost.config import load_config
    from teamcost.models import CallRecord, record_to_json

    now = datetime.now(UTC)
    ok = CallRecord(call_id="past-1", ts=now - timedelta(hours=1), team="default",
                    member="a@b.c", ledger_id="l1", provider="openai", model="gpt-4o")
    future = ok.replace(call_id="future-1", ts=now + timedelta(days=3))
    f = tmp_path / "calls.jsonl"
    f.write_text("".join(json.dumps(record_to_json(r)) + "\n" for r in (ok, future)))
    res = import_jsonl(f, load_config())
    assert (res.imported, res.skipped) == (1, 1)
    assert res.bad[0].startswith(f"{f}:2: invalid ts: ")
