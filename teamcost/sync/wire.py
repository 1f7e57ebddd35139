"""Build commit requests for call documents directly as protocol buffers.

Why: building a 500-write batch through ``WriteBatch.create`` costs ~180 µs per
document in Python (dict walking, proto-plus wrappers, deep copies), which was
two thirds of a push's time and is serialised by the GIL however many commits are
in flight. A call document has a fixed, known shape, so it is encoded straight into
the raw protobuf messages (upb, in C) at a few µs each and handed to the same
gapic ``commit`` method ``WriteBatch.commit`` uses, with the same metadata.
``tests/system/test_sync_wire.py`` checks that the bytes equal what ``WriteBatch`` builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.cloud.firestore_v1.types import common as common_types
from google.cloud.firestore_v1.types import document as document_types
from google.cloud.firestore_v1.types import firestore as firestore_types
from google.cloud.firestore_v1.types import write as write_types
from google.protobuf import struct_pb2, timestamp_pb2

from teamcost.compat.firestore import database_path, gapic, query_request, rpc_metadata
from teamcost.models import CallRecord
from teamcost.sync.mapping import ROLLED_UP, record_to_doc
from teamcost.sync.rollup_doc import RollupWrite

_Value = document_types.Value.pb()
_MapValue = document_types.MapValue.pb()
_Document = document_types.Document.pb()
_Write = write_types.Write.pb()
_FieldTransform = write_types.DocumentTransform.FieldTransform.pb()
_Precondition = common_types.Precondition.pb()
_DocumentMask = common_types.DocumentMask.pb()
_CommitRequest = firestore_types.CommitRequest.pb()
_REQUEST_TIME = int(write_types.DocumentTransform.FieldTransform.ServerValue.REQUEST_TIME)
_NULL = _Value(null_value=struct_pb2.NULL_VALUE)


def encode_value(value: Any) -> Any:
    """One Python value as a Firestore Value message (the types a call document holds)."""
    if value is None:
        return _NULL
    if isinstance(value, bool):  # before int: bool is an int
        return _Value(boolean_value=value)
    if isinstance(value, int):
        return _Value(integer_value=value)
    if isinstance(value, float):
        return _Value(double_value=value)
    if isinstance(value, str):
        return _Value(string_value=value)
    if isinstance(value, datetime):
        ts = value.astimezone(UTC)
        secs = int(ts.replace(microsecond=0).timestamp())
        return _Value(timestamp_value=timestamp_pb2.Timestamp(seconds=secs,
                                                              nanos=ts.microsecond * 1000))
    if isinstance(value, dict):
        return _Value(map_value=_MapValue(fields={k: encode_value(v) for k, v in value.items()}))
    raise TypeError(f"a call document has no {type(value).__name__} values")


def create_write(doc_name: str, rec: CallRecord, rolled_up: bool = False) -> Any:
    """``create()`` of one call document with ``pushed_at`` = server request time.

    ``rolled_up``: the same commit counts the call in its rollups (the document says so,
    so the migration never counts it a second time)."""
    fields = {k: encode_value(v) for k, v in record_to_doc(rec).items()}
    if rolled_up:
        fields[ROLLED_UP] = _Value(boolean_value=True)
    return _Write(
        update=_Document(name=doc_name, fields=fields),
        current_document=_Precondition(exists=False),
        update_transforms=[_FieldTransform(field_path="pushed_at",
                                           set_to_server_value=_REQUEST_TIME)],
    )


def rollup_write(database: str, w: RollupWrite) -> Any:
    """Upsert of one rollup document: its identity fields set (unchanged after the first
    write), its metrics incremented, ``updated_at`` = server time. Increments of int64
    stay int64, so sums stay exact."""
    name = f"{database}/documents/{w.collection}/{w.doc_id}"
    transforms = [_FieldTransform(field_path=path, increment=_Value(integer_value=v))
                  for path, v in sorted(w.incs.items())]
    transforms.append(_FieldTransform(field_path="updated_at",
                                      set_to_server_value=_REQUEST_TIME))
    return _Write(update=_Document(name=name,
                                   fields={k: encode_value(v) for k, v in w.static.items()}),
                  update_mask=_DocumentMask(field_paths=sorted(w.static)),
                  update_transforms=transforms)


def commit_creates(client: Any, collection: str, recs: Sequence[CallRecord],
                   timeout: float, rollups: Sequence[RollupWrite] | None = None
                   ) -> datetime | None:
    """Commit create() writes for ``recs`` atomically; returns the commit time.

    ``rollups``: the rollup increments counting exactly ``recs``, in the same commit, so
    ALREADY_EXISTS on any call fails them too (a rollup counts a call iff it exists)."""
    database = database_path(client)
    prefix = f"{database}/documents/{collection}/"
    writes = [create_write(prefix + r.call_id, r, rollups is not None) for r in recs]
    writes += [rollup_write(database, w) for w in rollups or ()]
    request = _CommitRequest(database=database, writes=writes)
    response = gapic(client).commit(
        request=firestore_types.CommitRequest.wrap(request),
        metadata=rpc_metadata(client), retry=None, timeout=timeout)
    ct = response.commit_time
    return ct if isinstance(ct, datetime) else None


def create_if_missing(client: Any, collection: str, doc_id: str, fields: dict[str, Any],
                      timeout: float) -> bool:
    """create() one document; False when it already exists (nothing changed)."""
    from google.api_core import exceptions as gexc

    database = database_path(client)
    write = _Write(update=_Document(name=f"{database}/documents/{collection}/{doc_id}",
                                    fields={k: encode_value(v) for k, v in fields.items()}),
                   current_document=_Precondition(exists=False),
                   update_transforms=[_FieldTransform(field_path="updated_at",
                                                      set_to_server_value=_REQUEST_TIME)])
    try:
        gapic(client).commit(request=firestore_types.CommitRequest.wrap(
            _CommitRequest(database=database, writes=[write])),
            metadata=rpc_metadata(client), retry=None, timeout=timeout)
    except gexc.AlreadyExists:
        return False
    return True


def commit_with_marks(client: Any, collection: str, call_ids: Sequence[str],
                      rollups: Sequence[RollupWrite], timeout: float) -> None:
    """The migration's commit: create() a marker per call and the increments counting
    those calls, atomically (an existing marker fails it all)."""
    database = database_path(client)
    prefix = f"{database}/documents/{collection}/"
    writes = [_Write(update=_Document(name=prefix + cid,
                                      fields={"call_id": encode_value(cid)}),
                     current_document=_Precondition(exists=False)) for cid in call_ids]
    writes += [rollup_write(database, w) for w in rollups]
    gapic(client).commit(request=firestore_types.CommitRequest.wrap(
        _CommitRequest(database=database, writes=writes)),
        metadata=rpc_metadata(client), retry=None, timeout=timeout)


# -- reading: RunQuery responses decoded straight from the raw protobuf --------------
# DocumentSnapshot.to_dict() deep-copies every document and proto-plus wraps every
# value; for a first pull of a large team that was ~500 µs per call.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decode_value(v: Any) -> Any:
    kind = v.WhichOneof("value_type")
    if kind == "string_value":
        return v.string_value
    if kind == "integer_value":
        return v.integer_value
    if kind == "timestamp_value":
        t = v.timestamp_value
        from datetime import timedelta
        return _EPOCH + timedelta(seconds=t.seconds, microseconds=t.nanos // 1000)
    if kind == "boolean_value":
        return v.boolean_value
    if kind == "double_value":
        return v.double_value
    if kind == "null_value" or kind is None:
        return None
    if kind == "map_value":
        return {k: decode_value(x) for k, x in v.map_value.fields.items()}
    raise TypeError(f"unexpected {kind} in a call document")


def run_query(client: Any, query: Any, timeout: float) -> list[tuple[str, dict[str, Any]]]:
    """Run ``query`` (a google-cloud-firestore Query); (document id, fields) pairs.

    The request is the one ``Query.stream()`` sends (built by the library itself).
    """
    responses = gapic(client).run_query(request=query_request(query, timeout),
                                        metadata=rpc_metadata(client), retry=None,
                                        timeout=timeout)
    out: list[tuple[str, dict[str, Any]]] = []
    for resp in responses:
        pb = firestore_types.RunQueryResponse.pb(resp)
        if pb.HasField("document"):
            doc = pb.document
            out.append((doc.name.rsplit("/", 1)[1],
                        {k: decode_value(x) for k, x in doc.fields.items()}))
    return out


# A rollup cell as stored on a member's machine: identity strings, then its quarter-hour
# slots packed as int64 rows [quarter, calls, tokens..., cost, ...] (array 'q', zlib):
# decoding a cell's ~300 values through decode_value and dicts was most of a first report.
def run_query_cells(client: Any, query: Any, timeout: float, labels: Sequence[str],
                    metrics: Sequence[str]) -> list[tuple[Any, ...]]:
    """(doc id, *labels, packed slots, updated_at) per cell document of ``query``."""
    import zlib
    from array import array

    responses = gapic(client).run_query(request=query_request(query, timeout),
                                        metadata=rpc_metadata(client), retry=None,
                                        timeout=timeout)
    out: list[tuple[Any, ...]] = []
    for resp in responses:
        pb = firestore_types.RunQueryResponse.pb(resp)
        if not pb.HasField("document"):
            continue
        doc = pb.document
        f = doc.fields
        row: list[Any] = [doc.name.rsplit("/", 1)[1]]
        for name in labels:
            v = f.get(name)
            row.append(v.string_value if v is not None else "")
        packed = array("q")
        s = f.get("s")
        if s is not None:
            for key, slot in s.map_value.fields.items():
                if not key.startswith("q"):
                    continue
                m = slot.map_value.fields
                packed.append(int(key[1:]))
                for name in metrics:
                    x = m.get(name)
                    packed.append(x.integer_value if x is not None else 0)
        row.append(zlib.compress(packed.tobytes(), 1))
        u = f.get("updated_at")
        row.append(decode_value(u) if u is not None else None)
        out.append(tuple(row))
    return out
