"""End to end as members: rules apply to push, pull, report and budget check.

Three members sign in (a stored session with an unsigned emulator ID token, as
`teamcost login` leaves it): ana and bo of team A, cy of team B. Every Firestore call
below goes through the member client, so the emulator enforces firestore.rules.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from teamcost.auth.session import Session, save_session
from teamcost.auth.tokens import unsigned_id_token
from teamcost.budget.check import check
from teamcost.budget.model import Budget
from teamcost.budget.spend import pushed_spend
from teamcost.budget.store import CHECK_BACKOFF, set_budget
from teamcost.config import Config
from teamcost.errors import PermissionDenied
from teamcost.ledger import Ledger
from teamcost.periods import parse_window
from teamcost.reports.report import build_report
from teamcost.sync.cache import TeamCache
from teamcost.sync.service import client_for, run_pull, run_push

from tests.sync_support import make_calls

pytestmark = pytest.mark.emulator
UTC = timezone.utc


def sign_in(home: Path, project: str, uid: str, team: str) -> Config:
    cfg = Config(home=home, team=team, member=uid, project=project)
    home.mkdir(parents=True, exist_ok=True)
    token = unsigned_id_token(project, uid, uid, {"team": team})
    save_session(cfg, Session(uid, team, False, project, "emulator-api-key", token,
                              "unused-refresh", time.time() + 3600))
    return cfg


def test_each_team_sees_exactly_its_own_calls(firestore_emulator, firestore_client,
                                              tmp_path: Path) -> None:
    project = firestore_emulator.project
    people = {"ana": ("ana@example.com", "A", 120), "bo": ("bo@example.com", "A", 80),
              "cy": ("cy@example.com", "B", 50)}
    cfgs, calls = {}, {}
    for name, (uid, team, n) in people.items():
        cfg = sign_in(tmp_path / name, project, uid, team)
        assert type(client_for(cfg)).__name__ == "MemberClient"
        with Ledger.for_config(cfg) as ledger:
            recs = make_calls(n, uid, ledger.ledger_id, team, seed=len(name))
            ledger.record_many(recs)
        result = run_push(cfg)
        assert (result.pushed, result.conflicts) == (n, [])
        cfgs[name], calls[name] = cfg, recs

    team_a = calls["ana"] + calls["bo"]
    expected = {"A": (len(team_a), sum(c.cost_nanos for c in team_a)),
                "B": (50, sum(c.cost_nanos for c in calls["cy"]))}
    now = datetime.now(UTC)
    for name, cfg in cfgs.items():
        run_pull(cfg)
        with TeamCache.for_config(cfg) as cache:
            assert cache.count() == expected[cfg.team][0]          # nothing of the other team
        doc = build_report(cfg, parse_window("60d", None, now, "UTC"), source="team",
                           now=now, refresh=False, budget=False)
        assert doc["summary"]["calls"] == expected[cfg.team][0]
        assert doc["summary"]["cost_nanos"] == expected[cfg.team][1]

    # cy (team B) cannot read team A's spend, not even as an aggregation
    with pytest.raises(PermissionDenied):
        pushed_spend(client_for(cfgs["cy"]), "A", now - timedelta(days=60), now,
                     CHECK_BACKOFF)

    # budget check works as a member (the budget itself set by an admin)
    set_budget(firestore_client, Budget("A", 10**15, "month"))
    st = check(cfgs["bo"])
    start = st.start
    assert st.spent_nanos == sum(c.cost_nanos for c in team_a if c.ts >= start)


def test_a_member_cannot_push_someone_elses_call_and_nothing_is_lost(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    cfg = sign_in(tmp_path / "ana", firestore_emulator.project, "ana@example.com", "A")
    with Ledger.for_config(cfg) as ledger:
        ledger.record_many(make_calls(3, "bo@example.com", ledger.ledger_id, "A"))
    with pytest.raises(PermissionDenied) as exc:
        run_push(cfg)
    assert "PERMISSION_DENIED" in str(exc.value)
    print(exc.value)
    token = (cfg.home / "auth.json").read_text().split('"id_token": "')[1].split('"')[0]
    assert token[:40] not in str(exc.value)            # secrets never in messages
    with Ledger.for_config(cfg) as ledger:
        assert ledger.unpushed_totals()[0] == 3
    assert list(firestore_client.collection("trinity_costs").stream()) == []
