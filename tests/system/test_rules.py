"""firestore.rules, tested over REST with unsigned emulator tokens (the rules apply).

The emulator for the test session is started with the repository's firestore.rules
(tests/conftest.py). Each case is its own test. The canary at the end shows why none of
this can be tested with the Python client: it is the owner, and bypasses the rules.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from teamcost.budget.alerts import crossed
from teamcost.budget.model import Budget, BudgetStatus, period_of
from teamcost.money import INT64_MAX, MAX_BUDGET_NANOS, MAX_CALL_NANOS
from teamcost.sync.mapping import DOC_FIELDS, record_to_doc

from tests.rules_support import Rest
from tests.sync_support import make_calls

pytestmark = pytest.mark.emulator
RULES = Path(__file__).resolve().parents[2] / "firestore.rules"
ANA, BO, CY = "ana@example.com", "bo@example.com", "cy@example.com"   # A, A, B


def valid(call_id: str = "ana-1", member: str = ANA, team: str = "A") -> dict[str, Any]:
    rec = make_calls(1, member, "ledger-ana", team, prefix=call_id)[0]
    doc = record_to_doc(rec)
    doc["call_id"] = call_id
    return doc


def exists(admin_client: Any, doc_id: str) -> bool:
    """Looked up as the owner: a member's get of a missing document is denied, not 404."""
    return admin_client.collection("trinity_costs").document(doc_id).get().exists


@pytest.fixture
def as_(firestore_emulator) -> Callable[..., Rest]:
    def make(uid: str | None, team: str = "A", admin: bool = False) -> Rest:
        if uid is None:
            return Rest(firestore_emulator.host, firestore_emulator.project, None)
        return Rest.as_member(firestore_emulator.host, firestore_emulator.project, uid, team,
                              admin)
    return make


@pytest.fixture
def seeded(as_) -> None:
    """Two calls of team A (ana, bo) and one of team B (cy), created through the rules."""
    assert as_(ANA).create("ana-1", valid("ana-1")) == 200
    assert as_(BO).create("bo-1", valid("bo-1", BO)) == 200
    assert as_(CY, "B").create("cy-1", valid("cy-1", CY, "B")) == 200


def test_valid_create_is_allowed(as_) -> None:
    assert as_(ANA).create("ana-1", valid()) == 200
    assert as_(ANA).get("ana-1") == 200


BAD: dict[str, Callable[[dict[str, Any]], None]] = {
    "forged member": lambda d: d.update(member=BO),
    "forged team": lambda d: d.update(team="B"),
    "negative tokens": lambda d: d.update(input_tokens=-1),
    "non-integer tokens": lambda d: d.update(output_tokens=1.5),
    "float cost_nanos": lambda d: d.update(cost_nanos=1234.0),
    "unknown extra key": lambda d: d.update(note="hello"),
    "too-long string": lambda d: d.update(model="m" * 257),
    "missing field": lambda d: d.pop("cost_nanos"),
    "string ts": lambda d: d.update(ts="2026-11-16T08:00:00Z"),
    "too many tags": lambda d: d.update(tags={f"k{i}": "v" for i in range(17)}),
    "cost_nanos above the per-call maximum": lambda d: d.update(cost_nanos=MAX_CALL_NANOS + 1),
    "cost_nanos of int64 max": lambda d: d.update(cost_nanos=INT64_MAX),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_create_is_denied(as_, firestore_client, case: str) -> None:
    doc = valid()
    BAD[case](doc)
    assert as_(ANA).create("ana-1", doc) == 403
    assert not exists(firestore_client, "ana-1")      # nothing landed


def test_cost_nanos_at_the_per_call_maximum_is_allowed(as_) -> None:
    assert as_(ANA).create("ana-1", {**valid(), "cost_nanos": MAX_CALL_NANOS,
                                     "cost_usd": 10_000.0}) == 200


def test_a_forged_call_cannot_overflow_the_teams_sum(as_, firestore_client) -> None:
    """Before the bound, 9.2e18 nanos landed and a second call made the int64 sum
    overflow into a double. Now the largest calls there can be sum exactly."""
    rest = as_(ANA)
    assert rest.create("big-0", {**valid("big-0"), "cost_nanos": INT64_MAX}) == 403
    assert rest.create("big-1", {**valid("big-1"), "cost_nanos": INT64_MAX // 2 + 1}) == 403
    assert not exists(firestore_client, "big-0") and not exists(firestore_client, "big-1")
    for i in (2, 3):
        assert rest.create(f"big-{i}", {**valid(f"big-{i}"), "cost_nanos": MAX_CALL_NANOS,
                                        "cost_usd": 10_000.0}) == 200
    status, total = rest.sum_cost("A")
    assert status == 200 and type(total) is int and total == 20_000_000_000_000


def test_a_call_from_the_future_is_denied(as_, firestore_client) -> None:
    # the rules allow 10 minutes ahead of the server's clock; 30 s margin for the request
    ts = datetime.now(timezone.utc) + timedelta(minutes=10, seconds=30)
    assert as_(ANA).create("ana-1", {**valid(), "ts": ts}) == 403
    assert not exists(firestore_client, "ana-1")
    far = datetime(2200, 1, 1, tzinfo=timezone.utc)
    assert as_(ANA).create("ana-2", {**valid("ana-2"), "ts": far}) == 403


def test_a_call_within_the_clock_skew_allowance_is_allowed(as_) -> None:
    ts = datetime.now(timezone.utc) + timedelta(minutes=9, seconds=30)
    assert as_(ANA).create("ana-1", {**valid(), "ts": ts}) == 200


def test_id_not_equal_to_call_id_is_denied(as_) -> None:
    assert as_(ANA).create("other-id", valid("ana-1")) == 403


def test_pushed_at_must_be_the_server_time(as_) -> None:
    rest = as_(ANA)
    w = rest.create_write("ana-1", {**valid(), "pushed_at": datetime(2020, 1, 1,
                                                                       tzinfo=timezone.utc)})
    w.pop("updateTransforms")
    assert rest.commit(w) == 403


def test_unauthenticated_create_is_denied(as_) -> None:
    assert as_(None).create("ana-1", valid()) == 403


def test_update_of_own_call_is_denied(as_, seeded) -> None:
    assert as_(ANA).update("ana-1", {"cost_nanos": 0}) == 403


def test_delete_of_own_call_is_denied(as_, seeded) -> None:
    assert as_(ANA).delete("ana-1") == 403
    assert as_(ANA).get("ana-1") == 200


def test_recreate_of_existing_call_is_refused(as_, seeded) -> None:
    assert as_(ANA).create("ana-1", valid()) in (403, 409)


def test_unfiltered_list_is_denied(as_, seeded) -> None:
    assert as_(ANA).list(None)[0] == 403


def test_other_teams_list_is_denied(as_, seeded) -> None:
    assert as_(ANA).list("B")[0] == 403


def test_other_teams_aggregation_is_denied(as_, seeded) -> None:
    assert as_(ANA).sum_cost("B")[0] == 403


def test_other_teams_document_get_is_denied(as_, seeded) -> None:
    assert as_(ANA).get("cy-1") == 403


def test_own_team_list_is_allowed(as_, seeded) -> None:
    assert as_(ANA).list("A") == (200, 2)


def test_own_team_aggregation_is_allowed(as_, seeded) -> None:
    expected = valid("ana-1")["cost_nanos"] + valid("bo-1", BO)["cost_nanos"]
    assert as_(BO).sum_cost("A") == (200, expected)


# -- budgets: as `teamcost budget set` writes them (Budget.to_doc + updated_at) --

BUDGET = Budget("A", 500_000_000_000, "month", "Europe/Berlin", (0.5, 0.8, 0.9),
                hard_stop=True, updated_by=ANA).to_doc()


def set_budget_as(rest: Rest, doc: dict[str, Any], team: str = "A") -> int:
    return rest.set_doc("teamcost_budgets", team, doc, server_time=("updated_at",))


def test_non_admin_budget_write_is_denied(as_) -> None:
    assert set_budget_as(as_(ANA), BUDGET) == 403


def test_admin_budget_write_is_allowed_and_members_read_it(as_) -> None:
    assert set_budget_as(as_(ANA, admin=True), BUDGET) == 200
    assert as_(BO).get("A", "teamcost_budgets") == 200
    assert as_(CY, "B").get("A", "teamcost_budgets") == 403


def test_admin_of_another_team_cannot_write_the_budget(as_) -> None:
    assert set_budget_as(as_(CY, "B", admin=True), BUDGET) == 403


def test_budget_with_the_most_thresholds_and_amount_is_allowed(as_) -> None:
    doc = {**BUDGET, "amount_nanos": MAX_BUDGET_NANOS,
           "thresholds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "updated_by": None}
    assert set_budget_as(as_(ANA, admin=True), doc) == 200
    assert set_budget_as(as_(ANA, admin=True), {**BUDGET, "thresholds": []}) == 200


BAD_BUDGET: dict[str, Callable[[dict[str, Any]], None]] = {
    "amount_nanos a float": lambda d: d.update(amount_nanos=5e11),
    "amount_nanos a string": lambda d: d.update(amount_nanos="500000000000"),
    "amount_nanos zero": lambda d: d.update(amount_nanos=0),
    "amount_nanos above the maximum": lambda d: d.update(amount_nanos=MAX_BUDGET_NANOS + 1),
    "period not a period": lambda d: d.update(period="year"),
    "period a number": lambda d: d.update(period=30),
    "timezone a number": lambda d: d.update(timezone=1),
    "timezone empty": lambda d: d.update(timezone=""),
    "thresholds a string": lambda d: d.update(thresholds="0.8,0.9"),
    "thresholds null": lambda d: d.update(thresholds=None),
    "threshold above 1": lambda d: d.update(thresholds=[0.8, 1.5]),
    "threshold a string": lambda d: d.update(thresholds=["0.8"]),
    "threshold a bool": lambda d: d.update(thresholds=[True]),
    "thresholds not increasing": lambda d: d.update(thresholds=[0.9, 0.8]),
    "nine thresholds": lambda d: d.update(thresholds=[i / 10 for i in range(1, 10)]),
    "hard_stop a string": lambda d: d.update(hard_stop="false"),
    "updated_by a number": lambda d: d.update(updated_by=7),
    "unknown key": lambda d: d.update(amount_usd=500),
    "missing key": lambda d: d.pop("period"),
    "team not the document id": lambda d: d.update(team="B"),
}


@pytest.mark.parametrize("case", list(BAD_BUDGET))
def test_malformed_budget_is_denied_and_the_stored_one_kept(as_, firestore_client,
                                                            case: str) -> None:
    """An admin's typo must not replace the budget every member's check reads."""
    admin = as_(ANA, admin=True)
    assert set_budget_as(admin, BUDGET) == 200
    doc = dict(BUDGET)
    BAD_BUDGET[case](doc)
    assert set_budget_as(admin, doc) == 403                         # an update
    stored = firestore_client.collection("teamcost_budgets").document("A").get().to_dict()
    assert Budget.from_doc("A", stored) == Budget.from_doc("A", {**BUDGET,
                                                                 "updated_at": stored["updated_at"]})
    firestore_client.collection("teamcost_budgets").document("A").delete()
    assert set_budget_as(admin, doc) == 403                         # a create


def test_budget_updated_at_must_be_the_server_time(as_) -> None:
    doc = {**BUDGET, "updated_at": datetime(2020, 1, 1, tzinfo=timezone.utc)}
    assert as_(ANA, admin=True).set_doc("teamcost_budgets", "A", doc) == 403


# -- alerts: as budget/alerts.py claim() writes them --

def alert(team: str = "A", member: str = ANA) -> tuple[str, dict[str, Any]]:
    """The id and fields of the team's 80% alert for November 2026, built by the code."""
    b = Budget(team, 500_000_000_000, "month")
    now = datetime(2026, 11, 16, tzinfo=timezone.utc)
    start, end, key = period_of(b, now)
    a = crossed(BudgetStatus(b, now, start, end, key, 450_000_000_000, 3, 0, 0))[0]
    return a.alert_id, {**a.payload(), "created_by": "0123456789abcdef" * 2, "member": member}


def create_alert(rest: Rest, alert_id: str, doc: dict[str, Any]) -> int:
    return rest.commit(rest.create_write(alert_id, doc, "teamcost_alerts", ("created_at",)))


def test_alerts_are_created_once_and_never_changed(as_) -> None:
    rest = as_(ANA)
    alert_id, doc = alert()
    assert alert_id == "A_2026-11_80"
    assert create_alert(rest, alert_id, doc) == 200
    assert create_alert(as_(BO), alert_id, {**doc, "member": BO}) in (403, 409)   # once
    assert rest.set_doc("teamcost_alerts", alert_id, doc, ("created_at",)) == 403  # update
    assert as_(BO).get(alert_id, "teamcost_alerts") == 200
    assert as_(CY, "B").get(alert_id, "teamcost_alerts") == 403


def test_an_alert_id_of_another_team_is_denied(as_, firestore_client) -> None:
    """Team A taking B_2026-11_80 (with team = A) would make B's real alert meet
    ALREADY_EXISTS and never be sent."""
    _, doc = alert("A")
    assert create_alert(as_(ANA), "B_2026-11_80", {**doc, "alert_id": "B_2026-11_80"}) == 403
    assert create_alert(as_(ANA), "B_2026-11_80", doc) == 403
    assert not firestore_client.collection("teamcost_alerts").document("B_2026-11_80").get().exists
    b_id, b_doc = alert("B", CY)
    assert create_alert(as_(CY, "B"), b_id, b_doc) == 200          # B's own alert lands


def test_a_team_whose_name_prefixes_another_cannot_take_its_alert(as_) -> None:
    """Team names may contain '_': team x must not claim x_y's alert x_y_2026-11_80."""
    xy_id, xy_doc = alert("x_y", CY)
    assert xy_id == "x_y_2026-11_80"
    forged = {**alert("x", ANA)[1], "alert_id": xy_id, "period": "y_2026-11"}
    assert create_alert(as_(ANA, "x"), xy_id, forged) == 403
    forged = {**forged, "period": "y", "threshold": "2026-11_80"}
    assert create_alert(as_(ANA, "x"), xy_id, forged) == 403
    assert create_alert(as_(CY, "x_y"), xy_id, xy_doc) == 200


BAD_ALERT: dict[str, Callable[[dict[str, Any]], None]] = {
    "forged team": lambda d: d.update(team="B"),
    "forged member": lambda d: d.update(member=BO),
    "alert_id not the document id": lambda d: d.update(alert_id="A_2026-11_90"),
    "threshold not the id's": lambda d: d.update(threshold="90"),
    "period not the id's": lambda d: d.update(period="2026-12"),
    "event not teamcost.budget": lambda d: d.update(event="x"),
    "spent_nanos a string": lambda d: d.update(spent_nanos="450000000000"),
    "spent_nanos a float": lambda d: d.update(spent_nanos=4.5e11),
    "spent_nanos negative": lambda d: d.update(spent_nanos=-1),
    "limit_nanos above the budget maximum": lambda d: d.update(limit_nanos=MAX_BUDGET_NANOS + 1),
    "spent_usd a string": lambda d: d.update(spent_usd="450"),
    "limit_usd an int": lambda d: d.update(limit_usd=500),
    "message too long": lambda d: d.update(message="m" * 1001),
    "message a number": lambda d: d.update(message=1),
    "created_by a number": lambda d: d.update(created_by=1),
    "unknown key": lambda d: d.update(note="hello"),
    "missing key": lambda d: d.pop("limit_nanos"),
}


@pytest.mark.parametrize("case", list(BAD_ALERT))
def test_malformed_alert_is_denied(as_, firestore_client, case: str) -> None:
    alert_id, doc = alert()
    BAD_ALERT[case](doc)
    assert create_alert(as_(ANA), alert_id, doc) == 403
    assert not firestore_client.collection("teamcost_alerts").document(alert_id).get().exists


def test_alert_created_at_must_be_the_server_time(as_) -> None:
    rest = as_(ANA)
    alert_id, doc = alert()
    w = rest.create_write(alert_id, {**doc, "created_at": datetime(2020, 1, 1,
                                                                    tzinfo=timezone.utc)},
                          "teamcost_alerts", ())
    assert rest.commit(w) == 403


def test_other_collections_are_denied(as_) -> None:
    assert as_(ANA).set_doc("anything", "x", {"team": "A"}) == 403


def test_a_commit_mixing_forged_and_valid_lands_nothing(as_, firestore_client) -> None:
    rest = as_(ANA)
    ok = rest.create_write("ana-1", valid("ana-1"))
    forged = rest.create_write("ana-2", valid("ana-2", member=BO))
    assert rest.commit(ok, forged) == 403
    assert not exists(firestore_client, "ana-1") and not exists(firestore_client, "ana-2")
    assert rest.commit(ok) == 200


def test_canary_the_python_client_bypasses_rules(firestore_client) -> None:
    """The admin client sends `Bearer owner`: a forged, malformed write succeeds. So a
    test written with it proves nothing about the rules."""
    firestore_client.collection("trinity_costs").document("forged").set(
        {"member": "nobody", "team": "B", "cost_nanos": -5.5, "junk": True})
    firestore_client.collection("trinity_costs").document("forged").delete()


def rules_fields(function: str, which: str = "hasOnly") -> list[str]:
    """The field names in ``which([...])`` inside the rules function ``function``."""
    text = RULES.read_text()
    body = text[text.index(f"function {function}("):]
    found = re.search(which + r"\(\[(.*?)\]\)", body, re.S)
    assert found is not None
    return sorted(re.findall(r"'([a-z_]+)'", found.group(1)))


def test_rules_field_list_matches_the_document_mapping() -> None:
    assert rules_fields("validCall") == sorted(DOC_FIELDS)


def test_rules_budget_fields_match_what_budget_set_writes() -> None:
    written = sorted([*Budget("A", 1).to_doc(), "updated_at"])
    assert rules_fields("validBudget") == written
    assert set(rules_fields("validBudget", "hasAll")) == set(written) - {"updated_by",
                                                                         "updated_at"}


def test_rules_alert_fields_match_what_claim_writes() -> None:
    written = sorted([*alert()[1], "created_at"])
    assert rules_fields("validAlert") == written == rules_fields("validAlert", "hasAll")
