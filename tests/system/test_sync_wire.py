"""The hand-built commit request is byte-for-byte what google-cloud-firestore builds."""

from __future__ import annotations

from datetime import datetime, timezone

from google.cloud import firestore
from google.cloud.firestore_v1.types import firestore as firestore_types

from teamcost.models import CallRecord
from teamcost.money import MAX_CALL_NANOS
from teamcost.sync.mapping import COLLECTION, record_to_doc
from teamcost.sync.wire import create_write

from tests.sync_support import make_calls


def _reference_write(client, rec: CallRecord):
    batch = client.batch()
    batch.create(client.collection(COLLECTION).document(rec.call_id),
                 {**record_to_doc(rec), "pushed_at": firestore.SERVER_TIMESTAMP})
    (write,) = batch._write_pbs
    return write


def test_wire_writes_equal_writebatch_writes(monkeypatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")  # never contacted
    client = firestore.Client(project="demo-wire")
    calls = make_calls(30, "ana@example.com", "lap-1")
    calls.append(CallRecord(call_id="edge", ts=datetime(2099, 12, 31, 23, 59, 59, 999999,
                                                         tzinfo=timezone.utc),
                            team="core", member="a@b.c", ledger_id="l", provider="x",
                            model="m", cost_nanos=MAX_CALL_NANOS, priced=False, price_source="none",
                            success=False, error="boom", tags={}, estimated=True))
    prefix = f"{client._database_string}/documents/{COLLECTION}/"
    for rec in calls:
        ours = create_write(prefix + rec.call_id, rec)
        theirs = type(_reference_write(client, rec)).pb(_reference_write(client, rec))
        # map fields serialise in insertion order, so compare parsed messages
        assert ours == theirs, rec.call_id
        assert ours.update.fields["cost_nanos"].integer_value == rec.cost_nanos


import pytest


@pytest.mark.emulator
def test_raw_decode_equals_library_decode(firestore_emulator, firestore_client) -> None:
    from teamcost.sync.push import push
    from teamcost.sync.wire import run_query
    from tests.sync_support import config_for, fill
    import pathlib, tempfile

    cfg = config_for(pathlib.Path(tempfile.mkdtemp()) / "h", firestore_emulator.project)
    ledger, calls = fill(cfg, 25)
    push(cfg, ledger, firestore_client)
    query = firestore_client.collection(COLLECTION).order_by("__name__")
    ours = run_query(firestore_client, query, 30)
    theirs = [(s.id, s.to_dict()) for s in query.stream()]
    assert [i for i, _ in ours] == [i for i, _ in theirs] == sorted(c.call_id for c in calls)
    for (_, a), (_, b) in zip(ours, theirs):
        assert a.keys() == b.keys()
        for k in a:
            if hasattr(b[k], "timestamp"):
                assert a[k].timestamp() == b[k].timestamp() and a[k].tzinfo is not None
            else:
                assert a[k] == b[k] and type(a[k]) is type(b[k]), k
