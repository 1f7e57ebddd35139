"""`teamcost rollups build` (admin): count the calls pushed before rollups existed.

A call document created by a rollup-aware push says ``rolled_up: true``: its commit
counted it. Any other call is counted here, exactly once, by a commit that creates the
marker ``teamcost_rollup_marks/{call_id}`` together with the rollup increments for the
calls it marks. A second run (or two admins at once) meets ALREADY_EXISTS on the marker,
which fails the whole commit, increments included; the calls whose markers exist are
dropped and the rest committed again, as push does. A later push of the same call meets
ALREADY_EXISTS on the call document and adds nothing. So a call is counted by its push
commit or by its marker commit, never both and never twice.

Resumable: the last call document name done is kept in ``teamcost_rollup_state/{team}``
(``cursor``) after every page; a run starts after it. When a run reaches the end it sets
``complete: true``: budget checks and reports then use the rollups.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from google.api_core import exceptions as gexc

from teamcost.errors import SyncError
from teamcost.models import CallRecord
from teamcost.sync.mapping import COLLECTION, ROLLED_UP, doc_to_record
from teamcost.sync.retry import Backoff, call_with_retry
from teamcost.sync.rollup_doc import (
    MARKS,
    MAX_VALUES,
    OTHER,
    STATE,
    RollupBatch,
    chunk_for_commit,
)
from teamcost.sync.rollups import ensure_totals
from teamcost.sync.wire import commit_with_marks, run_query

PAGE = 2000
TIMEOUT_S = 60.0
MAX_ROUNDS = 5


@dataclass
class MigrateResult:
    scanned: int = 0
    counted: int = 0          # counted by this run
    already: int = 0          # marked by an earlier run (or a concurrent one)
    rolled_up: int = 0        # counted by their push commit
    complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MemoryFold:
    """Distinct-value bound for migrated calls: the first MAX_VALUES values of a (ledger,
    day, dimension) met by this run keep their cells. Only where a call lands among the
    cells can depend on it; totals cannot."""

    def __init__(self, max_values: int = MAX_VALUES) -> None:
        self.max_values = max_values
        self.seen: dict[tuple[str, str, str], set[str]] = {}
        self.ledger = ""

    def __call__(self, day: str, dim: str, value: str, call_id: str) -> str:
        s = self.seen.setdefault((self.ledger, day, dim), set())
        if value in s:
            return value
        if len(s) < self.max_values:
            s.add(value)
            return value
        return OTHER


def _get_all(client: Any, refs: list[Any]) -> list[Any]:
    return list(client.get_all(refs))


_ENSURED: set[str] = set()
_LOCK = threading.Lock()


def _commit(client: Any, recs: Sequence[CallRecord], fold: MemoryFold,
            backoff: Backoff) -> None:
    batch = RollupBatch()
    for r in recs:
        fold.ledger = r.ledger_id
        batch.fold = fold
        batch.add(r)
    writes = list(batch.writes.values())
    ensure_totals(client, writes, _ENSURED, _LOCK, backoff)
    call_with_retry(lambda: commit_with_marks(client, MARKS, [r.call_id for r in recs],
                                              writes, TIMEOUT_S),
                    f"counting {len(recs)} calls in the rollups", backoff,
                    passthrough=(gexc.AlreadyExists,))


def _count(client: Any, recs: list[CallRecord], fold: MemoryFold, backoff: Backoff,
           res: MigrateResult) -> None:
    for part in chunk_for_commit(recs, max_writes=500):
        pending = list(part)
        for _ in range(MAX_ROUNDS):
            try:
                _commit(client, pending, fold, backoff)
            except gexc.AlreadyExists:
                refs = [client.collection(MARKS).document(r.call_id) for r in pending]
                snaps = call_with_retry(partial(_get_all, client, refs),
                                        "reading migration marks", backoff)
                done = {s.id for s in snaps if s.exists}
                res.already += len(done)
                pending = [r for r in pending if r.call_id not in done]
                if not pending:
                    break
                continue
            res.counted += len(pending)
            break
        else:
            raise SyncError(f"{len(pending)} calls kept colliding with another migration; "
                            "run `teamcost rollups build` again")


def build_rollups(client: Any, team: str, backoff: Backoff,
                  progress: Callable[[MigrateResult], None] | None = None,
                  page: int = PAGE) -> MigrateResult:
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    res = MigrateResult()
    state_ref = client.collection(STATE).document(team)
    snap = call_with_retry(lambda: state_ref.get(retry=None, timeout=TIMEOUT_S),
                           "reading the rollup state", backoff)
    state = snap.to_dict() or {} if snap.exists else {}
    cursor = state.get("cursor")
    fold = MemoryFold()
    while True:
        q = (client.collection(COLLECTION).where(filter=FieldFilter("team", "==", team))
             .order_by("__name__").limit(page))
        if cursor:
            q = q.start_after({"__name__": client.collection(COLLECTION).document(cursor)})
        docs = call_with_retry(partial(run_query, client, q, TIMEOUT_S),
                               f"reading team {team}'s calls", backoff)
        if not docs:
            break
        res.scanned += len(docs)
        todo = []
        for _, d in docs:
            if d.get(ROLLED_UP) is True:
                res.rolled_up += 1
            else:
                todo.append(doc_to_record(d))
        _count(client, todo, fold, backoff, res)
        cursor = docs[-1][0]
        call_with_retry(partial(state_ref.set, {"team": team, "cursor": cursor,
                                                "updated_at": firestore.SERVER_TIMESTAMP},
                                merge=True, retry=None, timeout=TIMEOUT_S),
                        "saving migration progress", backoff)
        if progress is not None:
            progress(res)
        if len(docs) < page:
            break
    # done: from now on every call is counted (new ones by their push commits); the next
    # run starts over, cheaply proving the same
    call_with_retry(lambda: state_ref.set(
        {"team": team, "complete": True, "cursor": None,
         "updated_at": firestore.SERVER_TIMESTAMP}, merge=True, retry=None,
        timeout=TIMEOUT_S), "saving the rollup state", backoff)
    res.complete = True
    return res
