"""Push: every unpushed ledger call into ``trinity_costs``, exactly once.

How exactly-once holds:
- The document id is the call_id (deterministic), and every write is a ``create()``
  (precondition: the document must not exist), so a repeated write can never add a
  second copy or overwrite the first.
- A batch is marked pushed in the ledger only after Firestore acknowledged its commit.
  If the process dies between the commit and the mark, or the acknowledgement is lost,
  the next push meets ALREADY_EXISTS for that batch.
- ALREADY_EXISTS fails the whole (atomic) batch; push then reads the batch's stored
  documents: identical ones are marked pushed, missing ones are created again, and any
  whose payload differs is a conflict: reported, never overwritten, never marked.
- Two processes pushing one ledger meet the same way: whoever loses the race sees
  ALREADY_EXISTS, finds identical documents and marks them.
- ``teamcost reprice`` prices unpriced calls not yet pushed. A row is marked pushed with the
  price fields it was sent with, and a document that is the unpriced original of a call
  repriced here after it was sent counts as identical: either way the ledger keeps
  Firestore's copy, so a reprice racing a push never leaves a price Firestore lacks.

Rollups (teamcost/sync/rollup_doc.py): every commit that creates call documents also
increments the rollup documents counting exactly those calls, so ALREADY_EXISTS on any of
them fails the increments too, and a rollup counts a call iff its document exists, on
every path: a retried commit whose first attempt landed fails whole; the create-missing
round commits only the missing calls, with their own increments; of two pushers of one
ledger only the commit that creates a call counts it; a reprice racing the push cannot
change what was counted, because the increments are computed from the very records the
commit creates (and the ledger is marked with those); a kill -9 between commit and mark
re-pushes into ALREADY_EXISTS, which adds nothing. A batch is split (``chunk_for_commit``)
so creates plus rollup writes stay within Firestore's per-commit limits.

Throughput: batches of at most 500 writes (Firestore's documented batch limit) with
several in flight on a thread pool; gRPC multiplexes them on one channel. Writes are
encoded straight to protobuf (teamcost/sync/wire.py), not through WriteBatch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from teamcost.errors import LedgerError, SyncError, TeamcostError
from teamcost.ledger import Ledger
from teamcost.models import CALL_FIELDS, CallRecord
from teamcost.sync.client import client_for
from teamcost.sync.mapping import COLLECTION, doc_to_record, same_payload
from teamcost.sync.retry import DEFAULT_BACKOFF, Backoff, call_with_retry, describe
from teamcost.sync.rollup_doc import chunk_for_commit, rollup_writes
from teamcost.sync.rollup_fold import LedgerFold
from teamcost.sync.rollups import ensure_totals
from teamcost.sync.wire import commit_creates

if TYPE_CHECKING:
    from teamcost.config import Config

MAX_BATCH = 500          # writes per commit; never more
DEFAULT_IN_FLIGHT = 4    # concurrent commits; more brings little on 2 cores
COMMIT_TIMEOUT_S = 60.0
MAX_ROUNDS = 5           # create-missing rounds per batch when others race us

Progress = Callable[[int, int], None]  # (calls settled so far, calls to settle)


@dataclass(frozen=True)
class Conflict:
    call_id: str
    fields: tuple[str, ...]   # which fields differ between the ledger and Firestore

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "fields": list(self.fields)}


@dataclass
class PushResult:
    pushed: int = 0                  # created by this push
    already: int = 0                 # found identical in Firestore, marked pushed
    conflicts: list[Conflict] = field(default_factory=list)
    remaining: int = 0               # still unpushed here after this push
    batches: int = 0
    retries: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)   # done, but something to know

    @property
    def ok(self) -> bool:
        return not self.conflicts

    def to_dict(self) -> dict[str, Any]:
        return {"pushed": self.pushed, "already": self.already,
                "conflicts": [c.to_dict() for c in self.conflicts],
                "remaining": self.remaining, "batches": self.batches,
                "retries": self.retries, "seconds": round(self.seconds, 3),
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        line = (f"pushed {self.pushed}, already there {self.already}, "
                f"conflicts {len(self.conflicts)}, in {self.seconds:.1f}s")
        if self.remaining:
            line += f" ({self.remaining} still unpushed)"
        return line


def differing_fields(rec: CallRecord, data: dict[str, Any]) -> tuple[str, ...]:
    try:
        stored = doc_to_record(data)
    except Exception:
        return ("<malformed document>",)
    return tuple(n for n in CALL_FIELDS if getattr(stored, n) != getattr(rec, n))


_PRICE_FIELDS = frozenset({"cost_nanos", "priced", "price_source"})


def _sent_before_reprice(rec: CallRecord, data: dict[str, Any]) -> CallRecord | None:
    """The stored call, when it is ``rec`` as it was before ``teamcost reprice`` priced it
    here (an earlier push sent it unpriced and died before marking it): documents never
    change, so the ledger takes Firestore's copy back instead of reporting a conflict."""
    try:
        stored = doc_to_record(data)
    except Exception:
        return None
    if stored.priced or not rec.priced:
        return None
    differing = {n for n in CALL_FIELDS if getattr(stored, n) != getattr(rec, n)}
    return stored if differing <= _PRICE_FIELDS else None


class _Pusher:
    def __init__(self, client: Any, ledger: Ledger, backoff: Backoff,
                 progress: Progress | None, total: int) -> None:
        self.client = client
        self.col = client.collection(COLLECTION)
        self.ledger = ledger
        self.backoff = backoff
        self.progress = progress
        self.total = total
        self.result = PushResult()
        self._lock = threading.Lock()
        self._settled = 0
        self.fold = LedgerFold(ledger)
        self._ensured: set[str] = set()
        # the first batch Firestore took that the ledger could not mark (read-only, disk
        # full): the push goes on with the other batches, so Firestore holds every call
        # while the ledger cannot be written, and raises this at the end; the next push
        # meets those calls (ALREADY_EXISTS, identical) and marks them then
        self.mark_error: LedgerError | None = None

    def _mark(self, recs: Sequence[CallRecord], when: int | None = None) -> None:
        try:
            self.ledger.mark_pushed(recs, when)
        except LedgerError as exc:
            with self._lock:
                if self.mark_error is None:
                    self.mark_error = exc

    def _count_retry(self, attempt: int, exc: BaseException) -> None:
        with self._lock:
            self.result.retries += 1

    def _settle(self, pushed: int = 0, already: int = 0,
                conflicts: Sequence[Conflict] = ()) -> None:
        with self._lock:
            self.result.pushed += pushed
            self.result.already += already
            self.result.conflicts.extend(conflicts)
            self._settled += pushed + already + len(conflicts)
            done = self._settled
        if self.progress is not None:
            self.progress(done, self.total)

    def _commit_creates(self, recs: Sequence[CallRecord]) -> int | None:
        """Create ``recs`` and count them in the rollups, in one atomic commit; returns the
        commit time (µs). The increments are computed once, from ``recs`` themselves, so
        every retry of this commit carries the same ones."""
        assert len(recs) <= MAX_BATCH
        rollups = rollup_writes(recs, self.fold)
        ensure_totals(self.client, rollups, self._ensured, self._lock, self.backoff,
                      self._count_retry)
        ct = call_with_retry(lambda: commit_creates(self.client, COLLECTION, recs,
                                                    COMMIT_TIMEOUT_S, rollups=rollups),
                             f"pushing {len(recs)} calls", self.backoff, self._count_retry,
                             passthrough=(gexc.AlreadyExists,))
        if ct is None:
            return None
        return int(ct.timestamp()) * 1_000_000 + ct.microsecond

    def push_batch(self, recs: Sequence[CallRecord]) -> None:
        for part in chunk_for_commit(recs, self.fold, max_writes=MAX_BATCH):
            self._push_part(part)

    def _push_part(self, recs: Sequence[CallRecord]) -> None:
        pending = list(recs)
        for _ in range(MAX_ROUNDS):
            try:
                when = self._commit_creates(pending)
            except gexc.AlreadyExists:
                # some of these exist: pushed before (crash, lost response) or by a racer
                pass
            else:
                # as sent: a reprice that raced this push does not outlive it
                self._mark(pending, when)
                self._settle(pushed=len(pending))
                return
            pending = self._reconcile(pending)
            if not pending:
                return
        raise SyncError(f"{len(pending)} calls kept colliding with concurrent pushes after "
                        f"{MAX_ROUNDS} rounds; run `teamcost sync push` again")

    def _reconcile(self, recs: Sequence[CallRecord]) -> list[CallRecord]:
        """After ALREADY_EXISTS: mark identical, report conflicts, return what is missing."""
        refs = [self.col.document(r.call_id) for r in recs]
        snaps = call_with_retry(lambda: {s.id: s for s in self.client.get_all(refs)},
                                f"reading back {len(refs)} calls", self.backoff,
                                self._count_retry)
        identical: list[CallRecord] = []
        missing: list[CallRecord] = []
        conflicts: list[Conflict] = []
        for rec in recs:
            snap = snaps.get(rec.call_id)
            if snap is None or not snap.exists:
                missing.append(rec)
                continue
            data = snap.to_dict() or {}
            if same_payload(rec, data):
                identical.append(rec)
            elif (stored := _sent_before_reprice(rec, data)) is not None:
                identical.append(stored)    # Firestore's copy stands; the ledger follows it
            else:
                conflicts.append(Conflict(rec.call_id, differing_fields(rec, data)))
        if identical:
            self._mark(identical)
        self._settle(already=len(identical), conflicts=conflicts)
        return missing


def push(config: Config, ledger: Ledger | None = None, client: Any = None,
         progress: Progress | None = None, *, batch_size: int = MAX_BATCH,
         in_flight: int = DEFAULT_IN_FLIGHT, backoff: Backoff = DEFAULT_BACKOFF) -> PushResult:
    """Push this ledger's unpushed calls; returns what happened (conflicts included).

    Raises PermissionDenied / SyncError when Firestore refuses or stays unreachable;
    everything committed before that point is already marked pushed.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        from teamcost.errors import InvalidValue
        raise InvalidValue("batch size", batch_size, f"1..{MAX_BATCH}")
    own_ledger = ledger is None
    if ledger is None:
        ledger = Ledger.for_config(config)
    if client is None:
        client = client_for(config)
    started = time.monotonic()
    total, _ = ledger.unpushed_totals()
    pusher = _Pusher(client, ledger, backoff, progress, total)
    if progress is not None:
        progress(0, total)
    try:
        if in_flight <= 1:
            # one batch at a time, on this thread: also what works at interpreter exit, when
            # thread pools refuse new work
            after = 0
            while rows := ledger.unpushed(limit=batch_size, after_seq=after):
                after = rows[-1][0]
                pusher.result.batches += 1
                pusher.push_batch([r for _, r in rows])
            if pusher.mark_error is not None:
                raise pusher.mark_error
            return pusher.result
        with ThreadPoolExecutor(max_workers=max(1, in_flight),
                                thread_name_prefix="teamcost-push") as pool:
            futures: set[Future[None]] = set()
            after = 0
            try:
                while True:
                    rows = ledger.unpushed(limit=batch_size, after_seq=after)
                    if not rows:
                        break
                    after = rows[-1][0]
                    while len(futures) >= in_flight:
                        done, futures = wait(futures, return_when=FIRST_COMPLETED)
                        for f in done:
                            f.result()  # surface the first failure now
                    futures.add(pool.submit(pusher.push_batch, [r for _, r in rows]))
                    pusher.result.batches += 1
                for f in futures:
                    f.result()
                if pusher.mark_error is not None:
                    raise pusher.mark_error
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    except TeamcostError as exc:
        # say how far we got: everything acknowledged so far is already marked pushed
        r = pusher.result
        exc.args = (f"{exc.args[0] if exc.args else exc} (this push: {r.pushed} pushed, "
                    f"{r.already} already there before it stopped)",)
        exc.partial = r  # type: ignore[attr-defined]
        raise
    finally:
        pusher.result.seconds = time.monotonic() - started
        pusher.result.remaining = ledger.unpushed_totals()[0]
        if own_ledger:
            ledger.close()
    return pusher.result


__all__ = ["push", "PushResult", "Conflict", "MAX_BATCH", "describe"]
