"""Independent oracles for the rollup tests: sums worked out from call records with plain
loops, and the stored rollup documents read back raw (no teamcost reader involved)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from teamcost.models import CallRecord

Slots = dict[tuple[str, str, int], list[int]]


def _metrics(r: CallRecord) -> list[int]:
    return [1, r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens,
            r.cost_nanos, int(not r.priced), int(not r.success),
            0 if r.priced else r.input_tokens, 0 if r.priced else r.output_tokens]


def oracle_slots(recs: Iterable[CallRecord]) -> Slots:
    out: Slots = defaultdict(lambda: [0] * 10)
    for r in recs:
        t = r.ts.astimezone(UTC)
        acc = out[(r.ledger_id, t.date().isoformat(), t.hour * 4 + t.minute // 15)]
        for i, v in enumerate(_metrics(r)):
            acc[i] += v
    return dict(out)


def stored_slots(client: Any, team: str = "core") -> Slots:
    from google.cloud.firestore_v1.base_query import FieldFilter
    out: Slots = defaultdict(lambda: [0] * 10)
    names = ("n", "i", "o", "cr", "cw", "c", "u", "f", "ui", "uo")
    for snap in client.collection("teamcost_rollups").where(
            filter=FieldFilter("team", "==", team)).stream():
        d = snap.to_dict()
        for key, m in d.get("s", {}).items():
            acc = out[(d["ledger_id"], d["day"], int(key[1:]))]
            for i, name in enumerate(names):
                acc[i] += m.get(name, 0)
        # the document's totals are the sum of its slots
        assert [d.get(n, 0) for n in names] == [
            sum(m.get(n, 0) for m in d.get("s", {}).values()) for n in names]
    return dict(out)


def oracle_days(recs: Iterable[CallRecord]) -> dict[tuple[str, str], tuple[int, int]]:
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in recs:
        acc = out[(r.ledger_id, r.ts.astimezone(UTC).date().isoformat())]
        acc[0] += 1
        acc[1] += r.cost_nanos
    return {k: (v[0], v[1]) for k, v in out.items()}


def stored_days(client: Any, team: str = "core") -> dict[tuple[str, str], tuple[int, int]]:
    from google.cloud.firestore_v1.base_query import FieldFilter
    out = {}
    for snap in client.collection("teamcost_ledger_totals").where(
            filter=FieldFilter("team", "==", team)).stream():
        d = snap.to_dict()
        year = d["month"][:4]
        for k, v in d.items():
            if k.startswith("d") and k.endswith("_c") and (v or d[k[:-2] + "_n"]):
                day = f"{year}-{k[1:3]}-{k[3:5]}"
                out[(d["ledger_id"], day)] = (d[k[:-2] + "_n"], v)
    return out


def stored_calls(client: Any, team: str = "core") -> list[CallRecord]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from teamcost.sync.mapping import doc_to_record
    return [doc_to_record(s.to_dict()) for s in client.collection("trinity_costs").where(
        filter=FieldFilter("team", "==", team)).stream()]


def window_sum(recs: Iterable[CallRecord], start: datetime, end: datetime) -> tuple[int, int]:
    inside = [r for r in recs if start <= r.ts < end]
    return len(inside), sum(r.cost_nanos for r in inside)


def assert_rollups_match_calls(client: Any, team: str = "core") -> list[CallRecord]:
    """Every rollup number equals the sum of the call documents Firestore holds."""
    calls = stored_calls(client, team)
    assert stored_slots(client, team) == oracle_slots(calls)
    assert stored_days(client, team) == oracle_days(calls)
    return calls
