"""Packs: an admin's rollup refreshes, recorded so members read a few documents instead of
every cell the team changed.

A refresh returns exactly the cells whose ``updated_at`` is after the copy's watermark,
and its new watermark is the newest ``updated_at`` it saw; Firestore is strongly
consistent, so no commit stamped at or before that watermark can show up later (see
rollup_cache.py). An admin's copy is therefore exact up to its watermark E, and the cells
it holds with ``updated_at`` in (S, E] are a complete account of what changed in (S, E]:
that set, each cell's full state, is a **pack** (S, E]. A reader whose watermark W has
S <= W < E may store the pack's cells and move its watermark to E; the copy never replaces
a cell's state by an older one, so overlapping packs, a pack whose cells were updated
again since, and cells read directly all combine exactly, in any order.

Documents (``teamcost_rollup_packs``): a pack's rows are encoded (``encode``), compressed,
and cut into chunks under Firestore's 1 MiB limit; chunk k of pack (level, S, E] has the id
``{sha(team)[:16]}-{level}-{S:017d}-{E:017d}-{k:04d}`` (deterministic: two admins packing
the same (S, E] from equal copies write equal bytes, and ``create()`` keeps the first).
Chunks 1.. are written first and chunk 0 last, so a pack is complete iff its chunk 0
exists (a kill -9 mid-pack leaves chunks nobody uses; ``prune`` deletes them later).

Levels, so a reader's chain is short whatever its watermark's age:
- 0: every admin pack run (the admin agent every ``pack_every``, `teamcost rollups pack`),
  from the newest end of any level;
- 1: a day's consolidation, from the newest end of level >= 1, once that is a day old;
- 2: a month's, from the newest level-2 end, once that is 30 days old (a team's first
  pack is level 2 from 0: every cell).
A reader plans the chain that reaches the newest end in the fewest chunk reads
(``plan``), reads those chunks, then the cells updated after the chain's end. No admin
packing: no packs, and the reader reads cells as before (exact either way).

The admin's run (refresh, then write what is due) is teamcost.sync.rollup_admin.pack_team.
Only admins write packs (firestore.rules): a pack sets the cells' states on every reader,
so a member's pack could change others' totals. `teamcost verify` compares the newest
packs' cells with the cell documents.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from teamcost.sync.retry import Backoff, call_with_retry
from teamcost.sync.rollup_doc import CELL_DIMS, METRICS


class Copy(Protocol):
    """What packs need of a machine's copy (teamcost.sync.rollup_cache.RollupCache)."""

    def watermark(self, team: str) -> datetime | None: ...

    def store(self, team: str, rows: Sequence[tuple[Any, ...]],
              watermark: datetime | None = None) -> int: ...

    def updated_after(self, team: str, after_us: int | None) -> list[tuple[Any, ...]]: ...


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(t: datetime) -> int:
    """A timestamp as integer µs since the epoch (Firestore's precision), exactly."""
    d = t.astimezone(UTC) - EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)

PACKS = "teamcost_rollup_packs"
CHUNK_BYTES = 900_000          # a chunk's bytes; the document stays under 1 MiB
MAX_UNPACKED = 1 << 31         # a pack that inflates past this is refused (2 GiB)
DAY_US = 86_400 * 1_000_000
MONTH_US = 30 * DAY_US
LEVELS = (0, 1, 2)
# a refresh looks packs up only when its watermark is older than this: a view refreshed
# every few seconds reads its few changed cells directly (one query, not two)
LOOKUP_AFTER = timedelta(minutes=5)
# pruning keeps level-0 packs this long after a day pack covers them, level-1 after a
# month pack does: readers that far behind take the longer pack instead
KEEP_L0_US = 2 * DAY_US
KEEP_L1_US = 35 * DAY_US
TIMEOUT_S = 60.0
_MAGIC = b"TCP1"
_ROW_LEN = 4 + len(CELL_DIMS) + 2      # doc_id, member, ledger, day, dims, updated_us, blob len
_SLOT_BYTES = 8 * (1 + len(METRICS))


class PackError(ValueError):
    """A pack's bytes are not what ``encode`` writes."""


def team_key(team: str) -> str:
    return hashlib.sha256(team.encode()).hexdigest()[:16]


def pack_id(team: str, level: int, start: int, end: int, chunk: int) -> str:
    return f"{team_key(team)}-{level}-{start:017d}-{end:017d}-{chunk:04d}"


# -- bytes --------------------------------------------------------------------------------

def encode(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Cache rows (RollupCache.updated_after: doc_id, team, member, ledger_id, day, *dims,
    slots, updated_us), sorted by doc id, as one compressed payload."""
    head = []
    blobs = []
    for r in sorted(rows, key=lambda r: r[0]):
        slots = bytes(r[-2])
        head.append([r[0], *r[2:-2], int(r[-1]), len(slots)])
        blobs.append(slots)
    js = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()
    return zlib.compress(_MAGIC + struct.pack(">I", len(js)) + js + b"".join(blobs), 6)


def decode(team: str, data: bytes, end: int) -> list[tuple[Any, ...]]:
    """``encode``'s rows back, as rollup_cache.store takes them; PackError when the bytes
    are not a pack (anything about them: a pack comes from another machine)."""
    try:
        d = zlib.decompressobj()
        raw = d.decompress(data, MAX_UNPACKED)
        if d.unconsumed_tail or d.unused_data or not d.eof:
            raise PackError("truncated or too large")
        if raw[:4] != _MAGIC:
            raise PackError("not a pack")
        (n,) = struct.unpack(">I", raw[4:8])
        head = json.loads(raw[8:8 + n])
    except (zlib.error, struct.error, ValueError, UnicodeDecodeError) as exc:
        raise PackError(str(exc)) from None
    if not isinstance(head, list):
        raise PackError("rows are not a list")
    out = []
    pos = 8 + n
    for r in head:
        if (not isinstance(r, list) or len(r) != _ROW_LEN
                or not all(isinstance(x, str) and len(x) <= 1024 for x in r[:-2])
                or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x
                           for x in r[-2:]) or r[-2] > end):
            raise PackError(f"a malformed row: {str(r)[:200]!r}")
        blob = raw[pos:pos + r[-1]]
        pos += r[-1]
        try:
            if len(blob) != r[-1] or len(zlib.decompress(blob)) % _SLOT_BYTES:
                raise PackError(f"cell {r[0][:100]!r}: malformed slots")
        except zlib.error:
            raise PackError(f"cell {r[0][:100]!r}: malformed slots") from None
        out.append((r[0], team, *r[1:-2], blob, r[-2]))
    if pos != len(raw):
        raise PackError("trailing bytes")
    return out


def split(payload: bytes) -> list[bytes]:
    return [payload[i:i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]


# -- planning ------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Pack:
    level: int
    start: int       # µs; the pack holds every cell updated in (start, end]
    end: int
    chunks: int


def plan(packs: Sequence[Pack], watermark: int) -> list[Pack]:
    """The chain of packs from ``watermark`` to the newest end reachable (each pack's
    start <= where the chain is < its end), in the fewest chunks; [] if none applies."""
    best: dict[int, tuple[int, int, Pack | None]] = {watermark: (0, watermark, None)}
    for pos in sorted({watermark, *(p.end for p in packs)}):
        if pos < watermark or pos not in best:
            continue
        cost = best[pos][0]
        for p in packs:
            if p.start <= pos < p.end:
                c = cost + p.chunks
                if p.end not in best or c < best[p.end][0]:
                    best[p.end] = (c, pos, p)
    target = max(best)
    chain: list[Pack] = []
    while target != watermark:
        _, prev, step = best[target]
        assert step is not None
        chain.append(step)
        target = prev
    return chain[::-1]


# -- reading -------------------------------------------------------------------------------

def list_packs(client: Any, team: str, after: int, backoff: Backoff) -> list[dict[str, Any]]:
    """The headers (level, start, end, chunk, chunks) of the team's pack documents ending
    after ``after`` (µs): one read each, not their bytes."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from teamcost.sync.wire import run_query
    q = (client.collection(PACKS).where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("end", ">", after))
         .select(["level", "start", "end", "chunk", "chunks"]))
    return [d for _, d in call_with_retry(partial(run_query, client, q, TIMEOUT_S),
                                          f"listing team {team}'s rollup packs", backoff)]


def complete_packs(headers: Sequence[dict[str, Any]]) -> list[Pack]:
    """The packs whose every chunk is listed (a pack cut short has no chunk 0)."""
    seen: dict[Pack, set[int]] = {}
    for h in headers:
        try:
            p = Pack(int(h["level"]), int(h["start"]), int(h["end"]), int(h["chunks"]))
            k = int(h["chunk"])
        except (KeyError, TypeError, ValueError):
            continue
        if 0 < p.chunks <= 100_000 and 0 <= p.start < p.end:
            seen.setdefault(p, set()).add(k)
    return [p for p, ks in seen.items() if ks == set(range(p.chunks))]


def read_pack(client: Any, team: str, p: Pack, backoff: Backoff) -> bytes | None:
    """A pack's payload; None when a chunk is gone (pruned meanwhile)."""
    col = client.collection(PACKS)
    refs = [col.document(pack_id(team, p.level, p.start, p.end, k)) for k in range(p.chunks)]
    snaps = call_with_retry(lambda: {s.id: s for s in client.get_all(refs)},
                            f"reading team {team}'s rollup pack", backoff)
    parts = []
    for ref in refs:
        s = snaps.get(ref.id)
        data = (s.to_dict() or {}).get("data") if s is not None and s.exists else None
        if not isinstance(data, bytes):
            return None
        parts.append(data)
    return b"".join(parts)


def read_packs(client: Any, cache: Copy, team: str, backoff: Backoff,
               now: datetime | None = None) -> int:
    """Apply the packs from the copy's watermark on; returns documents read. Any pack
    missing or malformed ends the chain there: the cells query after it reads the rest."""
    w = cache.watermark(team)
    now = now or datetime.now(UTC)
    if w is not None and w > now - LOOKUP_AFTER:
        return 0
    at = to_us(w) if w is not None else 0
    headers = list_packs(client, team, at, backoff)
    read = len(headers)
    for p in plan(complete_packs(headers), at):
        payload = read_pack(client, team, p, backoff)
        read += p.chunks
        if payload is None:
            break
        try:
            rows = decode(team, payload, p.end)
        except PackError:
            break
        cache.store(team, rows, watermark=from_us(p.end))
    return read


# -- writing (admins) ----------------------------------------------------------------------

@dataclass
class PackResult:
    refreshed: int = 0               # documents the admin's refresh read
    written: list[dict[str, int]] = field(default_factory=list)   # level, start, end, cells, chunks
    pruned: int = 0                  # documents deleted

    def to_dict(self) -> dict[str, Any]:
        return {"refreshed": self.refreshed, "written": list(self.written),
                "pruned": self.pruned}


def newest_end(client: Any, team: str, level: int, backoff: Backoff) -> int | None:
    """The newest complete pack's end at ``level`` (one read)."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    from teamcost.sync.wire import run_query
    q = (client.collection(PACKS).where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("level", "==", level))
         .where(filter=FieldFilter("chunk", "==", 0))
         .order_by("end", direction=firestore.Query.DESCENDING).limit(1)
         .select(["end"]))
    rows = call_with_retry(partial(run_query, client, q, TIMEOUT_S),
                           f"finding team {team}'s newest rollup pack", backoff)
    return int(rows[0][1]["end"]) if rows else None


def write_pack(client: Any, team: str, level: int, start: int, end: int,
               rows: Sequence[tuple[Any, ...]], backoff: Backoff) -> int:
    """create() the pack's chunks, chunk 0 last; an existing chunk (another admin wrote
    the same pack, or this one before a crash) is kept. Returns the chunks."""
    from google.api_core import exceptions as gexc
    from google.cloud import firestore

    parts = split(encode(rows))
    col = client.collection(PACKS)
    for k in [*range(1, len(parts)), 0]:
        doc = {"team": team, "level": level, "start": start, "end": end, "chunk": k,
               "chunks": len(parts), "cells": len(rows), "data": parts[k],
               "created_at": firestore.SERVER_TIMESTAMP}
        ref = col.document(pack_id(team, level, start, end, k))

        def create(ref: Any = ref, doc: dict[str, Any] = doc) -> None:
            try:
                ref.create(doc, retry=None, timeout=TIMEOUT_S)
            except gexc.AlreadyExists:
                pass
        call_with_retry(create, f"writing team {team}'s rollup pack", backoff)
    return len(parts)


def prune(client: Any, team: str, backoff: Backoff) -> int:
    """Delete level-0 packs ending KEEP_L0_US before the newest day pack's end and level-1
    packs ending KEEP_L1_US before the newest month pack's (chunks of packs cut short
    too). A reader that meets a deleted chunk stops its chain there and reads cells."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from teamcost.sync.wire import run_query
    n1 = max((x for x in (newest_end(client, team, 1, backoff),
                          newest_end(client, team, 2, backoff)) if x is not None), default=None)
    n2 = newest_end(client, team, 2, backoff)
    deleted = 0
    for level, before in ((0, n1 - KEEP_L0_US if n1 else None),
                          (1, n2 - KEEP_L1_US if n2 else None)):
        if before is None or before <= 0:
            continue
        q = (client.collection(PACKS).where(filter=FieldFilter("team", "==", team))
             .where(filter=FieldFilter("level", "==", level))
             .where(filter=FieldFilter("end", "<=", before)).select(["end"]))
        ids = [i for i, _ in call_with_retry(partial(run_query, client, q, TIMEOUT_S),
                                             f"listing team {team}'s old rollup packs",
                                             backoff)]
        for i in range(0, len(ids), 400):
            batch = client.batch()
            for doc_id in ids[i:i + 400]:
                batch.delete(client.collection(PACKS).document(doc_id))
            call_with_retry(partial(batch.commit, retry=None, timeout=TIMEOUT_S),
                            f"pruning team {team}'s rollup packs", backoff)
            deleted += len(ids[i:i + 400])
    return deleted


__all__ = ["PACKS", "Pack", "PackResult", "plan", "read_packs", "write_pack", "prune",
           "newest_end", "encode", "decode", "to_us", "from_us", "list_packs",
           "read_pack", "complete_packs"]
