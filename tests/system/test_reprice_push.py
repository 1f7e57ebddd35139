"""`teamcost reprice` against push on the real Firestore emulator: a repriced call is pushed
with its price; a reprice that races a push, or follows a push that died before marking
its calls, never leaves the ledger holding a price Firestore does not have."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import teamcost.sync.push as push_module
from teamcost.ledger import Ledger
from teamcost.pricing import PriceOverride
from teamcost.reprice import reprice
from teamcost.sync.mapping import COLLECTION, doc_to_record
from teamcost.sync.push import push
from teamcost.tracker import Tracker

from tests.sync_support import config_for

pytestmark = pytest.mark.emulator
WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ACME = PriceOverride.from_mapping({"pattern": "^acme-", "input": "0.5", "output": "1.5"})
# 1,000 input x $0.5 + 200 output x $1.5 per million = 500 + 300 = 800 -> 800_000 nanos
ACME_COST = 800_000


def setup(firestore_emulator, tmp_path: Path, call_id: str):  # type: ignore[no-untyped-def]
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger = Ledger.for_config(cfg)
    rec = Tracker(cfg, ledger).record("acme-large-2", 1_000, 200, call_id=call_id, ts=WHEN)
    assert not rec.priced
    return cfg, replace(cfg, price_overrides=(ACME,)), ledger, rec


def stored(client, call_id: str):  # type: ignore[no-untyped-def]
    return doc_to_record(client.collection(COLLECTION).document(call_id).get().to_dict())


def test_a_repriced_call_is_pushed_with_its_price(firestore_emulator, firestore_client,
                                                   tmp_path: Path) -> None:
    _, priced_cfg, ledger, _ = setup(firestore_emulator, tmp_path, "rp-1")
    assert reprice(priced_cfg, ledger).cost_nanos == ACME_COST
    assert push(priced_cfg, ledger, firestore_client).pushed == 1
    doc = stored(firestore_client, "rp-1")
    assert (doc.priced, doc.cost_nanos, doc.price_source) == (True, ACME_COST, "override:^acme-")
    assert ledger.get("rp-1") == doc


def test_a_reprice_racing_a_push_does_not_outlive_it(firestore_emulator, firestore_client,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, priced_cfg, ledger, sent = setup(firestore_emulator, tmp_path, "rp-2")
    real = push_module.commit_creates
    repriced = []

    def commit_then_reprice(*args, **kwargs):  # type: ignore[no-untyped-def]
        ct = real(*args, **kwargs)               # Firestore has the call, unpriced ...
        repriced.append(reprice(priced_cfg, ledger).repriced)   # ... a reprice commits
        return ct

    monkeypatch.setattr(push_module, "commit_creates", commit_then_reprice)
    assert push(cfg, ledger, firestore_client).pushed == 1
    assert repriced == [1]
    # the push marks the row as it sent it: the ledger agrees with Firestore
    assert stored(firestore_client, "rp-2") == sent == ledger.get("rp-2")
    monkeypatch.undo()
    res = reprice(priced_cfg, ledger)
    assert (res.repriced, res.pushed_unpriced) == (0, 1)


def test_a_reprice_after_a_push_died_before_marking(firestore_emulator, firestore_client,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, priced_cfg, ledger, sent = setup(firestore_emulator, tmp_path, "rp-3")

    def die(self, calls, pushed_at_us=None):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt("killed between commit and mark")

    monkeypatch.setattr(Ledger, "mark_pushed", die)
    with pytest.raises(KeyboardInterrupt):
        push(cfg, ledger, firestore_client, in_flight=1)
    monkeypatch.undo()
    assert ledger.status().unpushed == 1 and stored(firestore_client, "rp-3") == sent
    # the ledger does not know Firestore has it: reprice prices it here
    assert reprice(priced_cfg, ledger).repriced == 1
    # the next push meets the unpriced original: it stands, the ledger takes it back
    res = push(cfg, ledger, firestore_client)
    assert (res.pushed, res.already, res.conflicts) == (0, 1, [])
    assert ledger.get("rp-3") == sent and ledger.status().unpushed == 0
    again = reprice(priced_cfg, ledger)
    assert (again.repriced, again.pushed_unpriced, again.models[0].pushed_unpriced_tokens) \
        == (0, 1, 1_200)
