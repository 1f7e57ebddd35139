"""firestore.rules for teamcost_plans/{team}, over REST with unsigned emulator tokens (the
rules apply), as `teamcost plan set|assign` writes it (Plans.to_doc + updated_*)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Callable

import pytest

from teamcost.plans.model import Cover, Plan, Plans, Seat
from tests.rules_support import Rest

pytestmark = pytest.mark.emulator
ANA, BO, CY = "ana@example.com", "bo@example.com", "cy@example.com"   # A, A, B
PLANS = Plans("A", {"Max": Plan("Max", 200_000_000_000, (Cover(source="claude-code"),))},
              (Seat(ANA, "Max", datetime(2026, 11, 1, tzinfo=UTC)),)).to_doc()


@pytest.fixture
def as_(firestore_emulator) -> Callable[..., Rest]:
    def make(uid: str, team: str = "A", admin: bool = False) -> Rest:
        return Rest.as_member(firestore_emulator.host, firestore_emulator.project, uid, team,
                              admin)
    return make


def put(rest: Rest, doc: dict[str, Any], team: str = "A") -> int:
    return rest.set_doc("teamcost_plans", team, {**doc, "updated_by": ANA},
                        server_time=("updated_at",))


def test_admin_writes_members_of_the_team_read(as_) -> None:
    assert put(as_(ANA, admin=True), PLANS) == 200
    assert as_(BO).get("A", "teamcost_plans") == 200
    assert as_(CY, "B").get("A", "teamcost_plans") == 403


def test_a_member_or_another_teams_admin_cannot_write(as_) -> None:
    assert put(as_(BO), PLANS) == 403
    assert put(as_(CY, "B", admin=True), PLANS) == 403


@pytest.mark.parametrize("case", ["team", "extra", "plans", "seats", "many"])
def test_malformed_plans_are_denied(as_, case: str) -> None:
    doc = dict(PLANS)
    if case == "team":
        doc["team"] = "B"
    elif case == "extra":
        doc["owner"] = "me"
    elif case == "plans":
        doc["plans"] = "all of them"
    elif case == "seats":
        del doc["seats"]
    else:
        doc["plans"] = [PLANS["plans"][0]] * 33
    assert put(as_(ANA, admin=True), doc) == 403


def test_updated_at_must_be_the_server_time(as_) -> None:
    doc = {**PLANS, "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}
    assert as_(ANA, admin=True).set_doc("teamcost_plans", "A", doc) == 403
