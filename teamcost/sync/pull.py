"""Pull: the team's calls from ``trinity_costs`` into the local team cache, incrementally.

The query is ``team == T and pushed_at > watermark`` ordered by (pushed_at, __name__),
read a page at a time. Each page is upserted into the cache together with the new
watermark (pushed_at and document id of the page's last document) in one SQLite
transaction, so an interrupted pull resumes exactly after the last page it kept.

Documents are stamped with ``pushed_at`` = the request time of their commit, and a
commit that was in flight while we read can become visible later with a timestamp
older than documents we already saw (the emulator stamps the time the request
started). So when a pull reaches the end it also stores ``settled``: the wall time
just before its last read, minus ``OVERLAP_S``. Every commit with a timestamp up to
``settled`` had finished by then. The next pull continues exactly after the watermark
when the watermark is already settled, and otherwise re-reads from ``settled`` (only
the last few seconds before that read); the cache's UNIQUE call_id makes re-reads free
of double counting.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from teamcost.ledger import ts_to_us, us_to_ts
from teamcost.models import CallRecord
from teamcost.sync.cache import TeamCache
from teamcost.sync.client import client_for
from teamcost.sync.mapping import COLLECTION, doc_to_record, pushed_at
from teamcost.sync.retry import DEFAULT_BACKOFF, Backoff, call_with_retry
from teamcost.sync.wire import run_query

if TYPE_CHECKING:
    from teamcost.config import Config

PAGE_SIZE = 5000  # the emulator scans the collection per page: fewer, larger pages
READ_TIMEOUT_S = 120.0
OVERLAP_S = 2.0

# sync_state keys (per team: one cache may be shared by several teams' configs)
def _k(team: str, name: str) -> str:
    return f"pull:{team}:{name}"


Progress = Callable[[int, int | None], None]  # (documents read, documents expected)


@dataclass
class PullResult:
    read: int = 0            # documents read from Firestore by this pull
    new: int = 0             # of those, calls the cache did not have
    pages: int = 0
    cached: int = 0          # calls of this team in the cache afterwards
    watermark: datetime | None = None
    skipped: int = 0         # malformed documents that could not be read as calls
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "new": self.new, "pages": self.pages,
                "cached": self.cached, "skipped": self.skipped,
                "watermark": self.watermark.isoformat() if self.watermark else None,
                "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        return (f"pulled {self.read} documents, {self.new} new; cache holds {self.cached} "
                f"calls, in {self.seconds:.1f}s")


@dataclass(frozen=True)
class Watermark:
    pushed_at_us: int
    doc_id: str
    complete: bool       # the last pull reached the end of the query
    settled_us: int = 0  # every commit stamped at or before this was visible to that pull

    @classmethod
    def load(cls, cache: TeamCache, team: str) -> Watermark | None:
        us = cache.get_state(_k(team, "pushed_at_us"))
        if us is None:
            return None
        return cls(int(us), cache.get_state(_k(team, "doc_id"), "") or "",
                   cache.get_state(_k(team, "complete"), "1") == "1",
                   int(cache.get_state(_k(team, "settled_us"), "0") or 0))

    def state(self, team: str) -> dict[str, str]:
        return {_k(team, "pushed_at_us"): str(self.pushed_at_us),
                _k(team, "doc_id"): self.doc_id,
                _k(team, "complete"): "1" if self.complete else "0",
                _k(team, "settled_us"): str(self.settled_us)}

    def exact(self) -> bool:
        """May the next pull continue exactly after this document?"""
        return not self.complete or self.settled_us >= self.pushed_at_us


def _base_query(client: Any, team: str) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter
    # security rules are not filters: every query names the team explicitly
    return client.collection(COLLECTION).where(filter=FieldFilter("team", "==", team))


def pull(config: Config, client: Any = None, cache: TeamCache | None = None,
         progress: Progress | None = None, *, page_size: int = PAGE_SIZE,
         overlap_s: float = OVERLAP_S, max_pages: int | None = None,
         backoff: Backoff = DEFAULT_BACKOFF) -> PullResult:
    """Read the team's calls pushed since the watermark into the cache.

    ``max_pages`` stops early (as an interruption would); the next pull resumes.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    own_cache = cache is None
    if cache is None:
        cache = TeamCache.for_config(config)
    if client is None:
        client = client_for(config)
    team = config.team
    started = time.monotonic()
    result = PullResult()
    try:
        mark = Watermark.load(cache, team)
        query = _base_query(client, team)
        cursor: dict[str, Any] | None = None
        if mark is not None and mark.exact():
            # an interrupted pull, or nothing can still appear before the watermark:
            # continue exactly after the last document kept
            query = query.where(filter=FieldFilter("pushed_at", ">=", us_to_ts(mark.pushed_at_us)))
            cursor = {"pushed_at": us_to_ts(mark.pushed_at_us), "__name__": mark.doc_id}
        elif mark is not None:
            # the last pull ended less than the overlap after the newest commit it saw:
            # re-read from the settled point so a late-landing commit is not missed
            query = query.where(filter=FieldFilter("pushed_at", ">", us_to_ts(mark.settled_us)))
        query = query.order_by("pushed_at").order_by("__name__")

        expected: int | None = None
        if progress is not None:
            # a server-side count: the bar knows its length without reading documents
            agg = call_with_retry(lambda: query.count(alias="n").get(retry=None),
                                  "counting documents to pull", backoff)
            expected = int(agg[0][0].value)
            progress(0, expected)

        overlap_us = int(overlap_s * 1_000_000)
        while max_pages is None or result.pages < max_pages:
            read_at_us = time.time_ns() // 1000
            page_q = query.limit(page_size)
            if cursor is not None:
                page_q = page_q.start_after(cursor)
            snaps = call_with_retry(functools.partial(run_query, client, page_q, READ_TIMEOUT_S),
                                    f"reading the team's calls (page {result.pages + 1})", backoff)
            if not snaps:
                if mark is not None:
                    mark = Watermark(mark.pushed_at_us, mark.doc_id, True,
                                     read_at_us - overlap_us)
                    cache.upsert((), mark.state(team))
                break
            items: list[tuple[CallRecord, int]] = []
            last_us = 0
            for _doc_id, data in snaps:
                when = pushed_at(data)
                if when is None:  # unreachable through create(); kept out of the cache
                    result.skipped += 1
                    continue
                last_us = ts_to_us(when)
                try:
                    items.append((doc_to_record(data), last_us))
                except Exception:
                    result.skipped += 1
            last_id, last_data = snaps[-1]
            last_when = pushed_at(last_data)
            if last_when is not None:
                last_us = ts_to_us(last_when)
            done = len(snaps) < page_size
            mark = Watermark(last_us, last_id, done, read_at_us - overlap_us if done else 0)
            result.new += cache.upsert(items, mark.state(team))
            result.read += len(snaps)
            result.pages += 1
            cursor = {"pushed_at": us_to_ts(last_us), "__name__": last_id}
            if progress is not None:
                progress(result.read, expected)
            if done:
                break
        result.watermark = us_to_ts(mark.pushed_at_us) if mark is not None else None
        cache.set_state(_k(team, "last_pull"),
                        datetime.now(UTC).isoformat(timespec="seconds"))
        result.cached = cache.count(team)
    finally:
        result.seconds = time.monotonic() - started
        if own_cache:
            cache.close()
    return result


__all__ = ["pull", "PullResult", "Watermark", "PAGE_SIZE", "OVERLAP_S"]
