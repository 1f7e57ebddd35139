"""With Firestore unreachable, views say what they do not know: the budget is unknown
(with the last one this machine read), not "no budget set", and the team cache shows
its age. Real emulator for the "earlier"; a closed port for the "now"."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from teamcost.config import write_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord

from tests.cli_support import run

pytestmark = pytest.mark.emulator


def closed_port() -> str:
    """host:port where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


def calls(n: int) -> list[CallRecord]:
    now = datetime.now(UTC)
    # minutes ago, but in this month (the views show the month's spend) even in its first ones
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return [CallRecord(call_id=f"off-{i}", ts=max(now - timedelta(minutes=5 + i), month_start),
                       team="core",
                       member="ana@example.com", ledger_id="lap", provider="openai",
                       model="gpt-4o", input_tokens=100, output_tokens=10,
                       cost_nanos=1_250_000_000, priced=True, price_source="test")
            for i in range(n)]


def go_offline(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = closed_port()
    write_config(home, {"emulator_host": host})
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)


@pytest.fixture
def online_home(firestore_emulator, teamcost_home: Path, monkeypatch) -> Path:
    write_config(teamcost_home, {"team": "core", "member": "ana@example.com",
                                 "project": firestore_emulator.project,
                                 "emulator_host": firestore_emulator.host})
    monkeypatch.delenv("TEAMCOST_MEMBER", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(calls(4))
    assert run("sync").exit_code == 0
    return teamcost_home


def test_offline_views_say_the_budget_is_unknown(online_home, monkeypatch) -> None:
    # earlier, online: an admin sets the budget; the views read it
    r = run("budget", "set", "--amount", "500", "--period", "month")
    assert r.exit_code == 0, r.output
    online = run("watch", "--once")
    assert online.exit_code == 0, online.output
    assert "$5.00 of $500.00" in online.stdout
    read_at = datetime.now(UTC)

    go_offline(online_home, monkeypatch)

    watch = run("watch", "--once")
    assert watch.exit_code == 0, watch.output
    text = " ".join(watch.stdout.split())
    assert "no budget set" not in text
    m = re.search(r"budget unknown \(offline since (\d\d:\d\d)\); last known \$500\.00 per month",
                  text)
    assert m, text
    # the last time Firestore answered, on this machine's clock
    assert m.group(1) in {(read_at + timedelta(minutes=d)).astimezone().strftime("%H:%M")
                          for d in (-1, 0)}
    assert "$5.00 of $500.00 (last known)" in text
    assert "pull failed, showing the cache as of" in text          # the cache's age
    doc = json.loads(run("watch", "--format", "json").stdout)
    assert doc["budget_state"] == "unknown" and doc["limit_nanos"] == 500_000_000_000
    assert doc["period_nanos"] == 4 * 1_250_000_000                 # still the cache's calls

    report = run("report", "--since", "7d")
    assert report.exit_code == 0, report.output
    text = " ".join(report.stdout.split())
    assert "no budget set" not in text
    assert re.search(r"budget unknown \(offline since \d\d:\d\d\); last known \$500\.00 per "
                     r"month", text), text
    assert "UNAVAILABLE" not in report.output and "ipv4" not in report.output   # no gRPC text
    assert re.search(r"cache as of \d\d:\d\d \(\d+[smhd]", text), text   # stale: its age
    assert "total $5.00 over 4 calls" in text
    doc = json.loads(run("report", "--since", "7d", "--format", "json").stdout)
    b = doc["budget"]
    assert b["state"] == "unknown" and b["last_known"]["budget"]["amount_nanos"] == 500 * 10**9
    assert doc["cache"]["pulled_now"] is False and doc["cache"]["last_pull"]


def test_offline_with_no_budget_ever_read_says_unknown(online_home, monkeypatch) -> None:
    """No budget was ever read here: still "unknown", never a claim that there is none."""
    go_offline(online_home, monkeypatch)
    watch = run("watch", "--once")
    assert watch.exit_code == 0, watch.output
    text = " ".join(watch.stdout.split())
    assert "budget unknown (offline since" in text and "no budget known" in text
    assert "no budget set" not in text


def test_online_views_without_a_budget_say_none_is_set(online_home) -> None:
    watch = run("watch", "--once")
    assert "no budget set (teamcost budget set --amount 500)" in " ".join(watch.stdout.split())
