"""firestore.rules, tested over REST with unsigned emulator tokens (the rules apply).

The emulator for the test session is started with the repository's firestore.rules
(tests/conftest.py). Each case is its own test. The canary at the end shows why none of
this can be tested with the Python client: it is the owner, and bypasses the rules.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

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
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_create_is_denied(as_, firestore_client, case: str) -> None:
    doc = valid()
    BAD[case](doc)
    assert as_(ANA).create("ana-1", doc) == 403
    assert not exists(firestore_client, "ana-1")      # nothing landed


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


BUDGET = {"team": "A", "amount_nanos": 500_000_000_000, "period": "month",
          "timezone": "UTC", "thresholds": None, "hard_stop": False}


def test_non_admin_budget_write_is_denied(as_) -> None:
    assert as_(ANA).set_doc("teamcost_budgets", "A", BUDGET) == 403


def test_admin_budget_write_is_allowed_and_members_read_it(as_) -> None:
    assert as_(ANA, admin=True).set_doc("teamcost_budgets", "A", BUDGET) == 200
    assert as_(BO).get("A", "teamcost_budgets") == 200
    assert as_(CY, "B").get("A", "teamcost_budgets") == 403


def test_admin_of_another_team_cannot_write_the_budget(as_) -> None:
    assert as_(CY, "B", admin=True).set_doc("teamcost_budgets", "A", BUDGET) == 403


def test_alerts_are_created_once_and_never_changed(as_) -> None:
    rest = as_(ANA)
    alert = {"team": "A", "threshold": "80"}
    w = {"update": {"name": f"{rest.root}/teamcost_alerts/A_2026-11_80",
                    "fields": {"team": {"stringValue": "A"},
                               "threshold": {"stringValue": "80"}}},
         "currentDocument": {"exists": False}}
    assert rest.commit(w) == 200
    assert rest.set_doc("teamcost_alerts", "A_2026-11_80", alert) == 403    # an update
    forged = dict(w, update={**w["update"], "name": f"{rest.root}/teamcost_alerts/B_x_80",
                             "fields": {"team": {"stringValue": "B"}}})
    assert rest.commit(forged) == 403


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


def test_rules_field_list_matches_the_document_mapping() -> None:
    text = RULES.read_text()
    has_only = re.search(r"hasOnly\(\[(.*?)\]\)", text, re.S)
    assert has_only is not None
    fields = re.findall(r"'([a-z_]+)'", has_only.group(1))
    assert sorted(fields) == sorted(DOC_FIELDS)
