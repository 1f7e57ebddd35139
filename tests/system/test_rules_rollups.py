"""firestore.rules for the rollups: a signed-in member's real push (calls and rollups in
one commit) passes; nobody writes another member's rollups, forges their identity, or
inflates a metric past what the call count allows; reads stay within the team."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest

from teamcost.errors import PermissionDenied
from teamcost.ledger import Ledger
from teamcost.sync.client import client_for
from teamcost.sync.push import push

from tests.rollup_support import assert_rollups_match_calls
from tests.rules_support import Rest
from tests.sync_support import make_calls
from tests.system.test_rules_writers import sign_in

pytestmark = pytest.mark.emulator
ANA, BO = "ana@example.com", "bo@example.com"


def _cell(member: str = ANA, team: str = "A", **over: Any) -> dict[str, Any]:
    doc = {"team": team, "member": member, "ledger_id": "L1", "day": "2026-11-16",
           "provider": "openai", "model": "gpt-4o", "agent": "", "session_id": "s1",
           "project": "", "repo": "", "branch": "", "ticket": "", "pr": "",
           "n": 2, "i": 10, "o": 5, "c": 1000, "s": {"q32": {"n": 2, "c": 1000}}}
    doc.update(over)
    return doc


def _id(member: str, rest: str = "a" * 40) -> str:
    return hashlib.sha256(member.encode()).hexdigest()[:16] + "-" + rest


def _upsert(r: Rest, doc_id: str, fields: dict[str, Any],
            collection: str = "teamcost_rollups") -> int:
    from tests.rules_support import encode
    return r.commit({"update": {"name": f"{r.root}/{collection}/{doc_id}",
                                "fields": {k: encode(v) for k, v in fields.items()}},
                     "updateTransforms": [{"fieldPath": "updated_at",
                                           "setToServerValue": "REQUEST_TIME"}]})


@pytest.fixture
def as_(firestore_emulator):  # type: ignore[no-untyped-def]
    def make(uid: str, team: str = "A") -> Rest:
        return Rest.as_member(firestore_emulator.host, firestore_emulator.project, uid, team)
    return make


def test_a_members_real_push_passes_the_rules(firestore_emulator, firestore_client,
                                              tmp_path: Path) -> None:
    cfg = sign_in(tmp_path / "ana", firestore_emulator.project, ANA, "A")
    ledger = Ledger.for_config(cfg)
    recs = make_calls(120, ANA, ledger.ledger_id, "A", seed=3)
    recs = [dataclasses.replace(r, tags={"project": "apollo", "repo": "x/y"}) for r in recs]
    ledger.record_many(recs)
    client = client_for(cfg)
    assert type(client).__name__ == "MemberClient"
    assert push(cfg, ledger, client).pushed == 120
    assert_rollups_match_calls(firestore_client, "A")


def test_own_cells_only_and_bounded(as_) -> None:
    ana, bo = as_(ANA), as_(BO)
    assert _upsert(ana, _id(ANA), _cell()) == 200
    # bo can neither update ana's cell nor create one under ana's prefix or name
    assert _upsert(bo, _id(ANA), _cell(BO)) == 403
    assert _upsert(bo, _id(ANA, "b" * 40), _cell(BO)) == 403
    assert _upsert(bo, _id(BO), _cell()) == 403
    assert _upsert(bo, _id(BO), _cell(BO, team="B")) == 403
    # metrics: a cost above $10,000 a call, more unpriced or failed calls than calls,
    # a float, a negative count, an unknown key, a 257-character label
    for bad in ({"c": 2 * 10**13 + 1}, {"u": 3}, {"f": 3}, {"c": 1.5}, {"n": -1},
                {"extra": 1}, {"model": "m" * 257}, {"day": "16 Nov"}):
        assert _upsert(ana, _id(ANA, "c" * 40), _cell(**bad)) == 403, bad
    # counts only grow, identity never changes
    assert _upsert(ana, _id(ANA), _cell(n=3, c=1500)) == 200
    assert _upsert(ana, _id(ANA), _cell(n=2, c=1000)) == 403
    assert _upsert(ana, _id(ANA), _cell(n=4, c=1600, model="other")) == 403


def test_ledger_totals_own_only_and_reads_within_the_team(as_) -> None:
    ana, bo, cy = as_(ANA), as_(BO), as_("cy@example.com", "B")
    doc = {"team": "A", "member": ANA, "ledger_id": "L1", "month": "2026-11",
           "m202611_c": 5, "m202611_n": 1}
    assert _upsert(ana, _id(ANA), doc, "teamcost_ledger_totals") == 200
    assert _upsert(bo, _id(ANA), {**doc, "member": BO}, "teamcost_ledger_totals") == 403
    assert _upsert(ana, _id(ANA), {**doc, "ledger_id": "L2"}, "teamcost_ledger_totals") == 403
    assert bo.get(_id(ANA), "teamcost_ledger_totals") == 200
    assert cy.get(_id(ANA), "teamcost_ledger_totals") == 403
    # the state is the admins'; the markers nobody's
    assert _upsert(ana, "A", {"team": "A", "complete": True}, "teamcost_rollup_state") == 403
    assert _upsert(ana, "x", {"call_id": "x"}, "teamcost_rollup_marks") == 403


def test_a_member_push_cannot_claim_the_rollups_of_a_call_it_did_not_create(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    # the whole commit is refused when any part is: a forged call is not counted either
    cfg = sign_in(tmp_path / "bo", firestore_emulator.project, BO, "A")
    ledger = Ledger.for_config(cfg)
    rec = make_calls(1, ANA, ledger.ledger_id, "A", seed=9)[0]   # ana's name on bo's machine
    ledger.record(rec)
    with pytest.raises(PermissionDenied):
        push(cfg, ledger, client_for(cfg))
    for coll in ("trinity_costs", "teamcost_rollups", "teamcost_ledger_totals"):
        assert list(firestore_client.collection(coll).stream()) == []


def _pack(team: str = "A", **over: Any) -> dict[str, Any]:
    doc = {"team": team, "level": 0, "start": 10, "end": 20, "chunk": 0, "chunks": 1,
           "cells": 3}
    doc.update(over)
    return doc


def _pack_write(r: Rest, doc_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    w = r.create_write(doc_id, fields, "teamcost_rollup_packs", ("created_at",))
    w["update"]["fields"]["data"] = {"bytesValue": "eJwDAAAAAAE="}
    return w


def test_packs_only_admins_write_them_members_of_the_team_read_them(as_) -> None:
    ana, cy = as_(ANA), as_("cy@example.com", "B")
    admin = Rest.as_member(ana.host, ana.project, "boss@example.com", "A", admin=True)
    other_admin = Rest.as_member(ana.host, ana.project, "boss@b.example.com", "B", admin=True)
    assert ana.commit(_pack_write(ana, "p1", _pack())) == 403           # a member: never
    assert other_admin.commit(_pack_write(other_admin, "p1", _pack())) == 403  # not its team
    assert admin.commit(_pack_write(admin, "p1", _pack(start=20))) == 403   # empty span
    assert admin.commit(_pack_write(admin, "p1", _pack(chunk=1))) == 403    # past chunks
    assert admin.commit(_pack_write(admin, "p1", _pack(extra=1))) == 403
    assert admin.commit(_pack_write(admin, "p1", _pack())) == 200
    assert ana.get("p1", "teamcost_rollup_packs") == 200
    assert cy.get("p1", "teamcost_rollup_packs") == 403
    root = f"{ana.root}/teamcost_rollup_packs/p1"
    assert ana.commit({"delete": root}) == 403
    assert admin.commit({"update": {"name": root, "fields": {"team": {"stringValue": "A"}}},
                         "updateMask": {"fieldPaths": ["cells"]}}) == 403
    assert admin.commit({"delete": root}) == 200
