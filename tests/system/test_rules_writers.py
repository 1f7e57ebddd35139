"""teamcost's own writes pass firestore.rules, and the bounds hold end to end.

The rules matrix (test_rules.py) proves what the rules refuse; this file proves the code's
real documents are what the rules accept: an alert claimed by `budget check` as a signed-in
member, a budget set by a signed-in admin member, a call at the per-call maximum pushed by
a member. It also makes the emulator's int64 sum overflow for real (documents written as
the owner, bypassing the rules, as a pre-bound forgery would have been) and shows that
teamcost refuses the double it gets back instead of truncating it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from teamcost.auth.session import Session, save_session
from teamcost.auth.tokens import unsigned_id_token
from teamcost.budget.check import check, set_team_budget, show_budget
from teamcost.budget.model import period_of
from teamcost.budget.spend import pushed_spend
from teamcost.budget.store import CHECK_BACKOFF
from teamcost.config import Config
from teamcost.errors import BudgetError, PermissionDenied
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.money import INT64_MAX, MAX_CALL_NANOS
from teamcost.sync.client import client_for
from teamcost.sync.service import run_push
from tests.cli_support import one_error_line, run

pytestmark = pytest.mark.emulator


def sign_in(home: Path, project: str, uid: str, team: str, admin: bool = False) -> Config:
    """A member as `teamcost login` leaves them: a stored session, unsigned emulator token."""
    cfg = Config(home=home, team=team, member=uid, project=project)
    home.mkdir(parents=True, exist_ok=True)
    claims: dict[str, Any] = {"team": team, **({"admin": True} if admin else {})}
    token = unsigned_id_token(project, uid, uid, claims)
    save_session(cfg, Session(uid, team, admin, project, "emulator-api-key", token,
                              "unused-refresh", time.time() + 3600))
    return cfg


def call(call_id: str, cfg: Config, ledger: Ledger, cost: int, ts: datetime) -> CallRecord:
    return CallRecord(call_id=call_id, ts=ts, team=cfg.team, member=cfg.member,
                      ledger_id=ledger.ledger_id, provider="openai", model="gpt-4o",
                      input_tokens=10, output_tokens=1, cost_nanos=cost, price_source="test")


def test_budget_set_and_alerts_as_members_pass_the_rules(firestore_emulator, firestore_client,
                                                          tmp_path: Path) -> None:
    project = firestore_emulator.project
    lead = sign_in(tmp_path / "lead", project, "lead@example.com", "x_y", admin=True)
    bo = sign_in(tmp_path / "bo", project, "bo@example.com", "x_y")
    assert type(client_for(lead)).__name__ == "MemberClient"

    # a signed-in admin member sets (creates, then replaces) the budget through the rules
    set_team_budget(lead, "2", "month", "0.5,0.9", hard_stop=True)
    stored = set_team_budget(lead, "1", "month", "0.25,0.5", hard_stop=True)
    assert (stored.amount_nanos, stored.thresholds, stored.hard_stop) == (
        1_000_000_000, (0.25, 0.5), True)
    assert show_budget(bo) == stored

    # bo spends $0.60 of $1: 25% and 50% crossed; bo's check claims both alerts
    now = datetime.now(UTC)
    with Ledger.for_config(bo) as ledger:
        ledger.record(call("bo-1", bo, ledger, 600_000_000, now))   # in now's period
    assert run_push(bo).pushed == 1
    status = check(bo, now=now)
    assert status.spent_nanos == 600_000_000 and status.exit_code == 3
    key = period_of(stored, now)[2]
    ids = [f"x_y_{key}_25", f"x_y_{key}_50"]
    assert len(status.alerts) == 2 and "crossed 50% of its month budget" in status.alerts[1]
    for alert_id in ids:
        doc = firestore_client.collection("teamcost_alerts").document(alert_id).get().to_dict()
        assert doc is not None, alert_id
        assert (doc["team"], doc["member"], doc["alert_id"]) == ("x_y", bo.member, alert_id)
        assert doc["spent_nanos"] == 600_000_000 and doc["limit_nanos"] == 1_000_000_000
    # checked again: the alerts exist, nobody sends them twice
    assert check(bo, now=now).alerts == []


def test_a_call_at_the_per_call_maximum_is_pushed_and_summed_exactly(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    ana = sign_in(tmp_path / "ana", firestore_emulator.project, "ana@example.com", "A")
    now = datetime.now(UTC)
    with Ledger.for_config(ana) as ledger:
        for i in range(3):
            ledger.record(call(f"ana-{i}", ana, ledger, MAX_CALL_NANOS, now - timedelta(seconds=i)))
    assert run_push(ana).pushed == 3
    n, s = pushed_spend(client_for(ana), "A", now - timedelta(hours=1), now + timedelta(hours=1),
                        CHECK_BACKOFF)
    assert (n, s) == (3, 30_000_000_000_000)


def test_a_call_from_the_future_in_a_ledger_is_refused_by_the_rules_and_kept(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    """A ledger row written past the tracker's check (a hand-edited ledger, a fast clock):
    the server refuses it, the call stays unpushed, nothing is lost."""
    ana = sign_in(tmp_path / "ana", firestore_emulator.project, "ana@example.com", "A")
    with Ledger.for_config(ana) as ledger:
        ledger.record(call("ana-future", ana, ledger, 5,
                           datetime.now(UTC) + timedelta(minutes=11)))
    with pytest.raises(PermissionDenied):
        run_push(ana)
    with Ledger.for_config(ana) as ledger:
        assert ledger.unpushed_totals() == (1, 5)
    assert list(firestore_client.collection("trinity_costs").stream()) == []


def forge_overflow(client: Any, team: str, ts: datetime) -> None:
    """As the owner (rules bypassed): two calls whose int64 sum overflows."""
    for i, cost in enumerate((INT64_MAX, 1)):
        client.collection("trinity_costs").document(f"forged-{i}").set(
            {"team": team, "ts": ts, "cost_nanos": cost})


def test_an_overflowing_sum_is_an_error_not_a_number(firestore_emulator, firestore_client
                                                      ) -> None:
    now = datetime.now(UTC)
    forge_overflow(firestore_client, "core", now - timedelta(seconds=1))
    with pytest.raises(BudgetError) as info:
        pushed_spend(firestore_client, "core", now - timedelta(hours=1), now, CHECK_BACKOFF)
    msg = str(info.value)
    # the emulator answered 2^63 as a double; int() of it would have been 9223372036854775808
    assert "sum(cost_nanos) is 9.223372036854776e+18, not an integer" in msg
    assert "\n" not in msg
    # one call less: an exact int again
    firestore_client.collection("trinity_costs").document("forged-1").delete()
    assert pushed_spend(firestore_client, "core", now - timedelta(hours=1), now,
                        CHECK_BACKOFF) == (1, INT64_MAX)


def test_budget_check_on_an_overflowing_sum_exits_1_with_one_line(
        firestore_emulator, firestore_client, monkeypatch, teamcost_home: Path) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    monkeypatch.setenv("TEAMCOST_TEAM", "core")
    assert run("budget", "set", "--amount", "500", "--period", "day").exit_code == 0
    forge_overflow(firestore_client, "core", datetime.now(UTC))     # in the check's day
    res = run("budget", "check")
    assert res.exit_code == 1, res.output
    assert "spend cannot be counted exactly" in one_error_line(res)
    assert res.stdout == ""
