"""Raw calls of one time window, read on demand (never the team's whole history).

Once a team's rollups are complete (``rollups.rollups_in_use``), nothing pulls every call
any more: a view that needs single calls (``export``, ``report --by task``, the dashboard's
call list, watch's latest calls) reads only its window, by ``ts``, on the calls collection
(composite index team + ts, in firestore.indexes.json).

``fetch_window`` keeps what it read in the team cache, and a second run of a window reads
only the UTC days whose calls changed: call documents are create-only (rules forbid
updates and deletes) and the cache holds only documents read from Firestore, so the
cache's calls of a day are a subset of Firestore's, and equal counts mean equal sets. A
day is counted by one aggregation (billed one read per 1,000 index entries, at least one)
and re-read only when Firestore's count differs from the cache's; when the whole window's
count already agrees, that one aggregation is all the run costs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from teamcost.ledger import ts_to_us, us_to_ts
from teamcost.models import CallRecord
from teamcost.sync.mapping import COLLECTION, doc_to_record, pushed_at
from teamcost.sync.retry import DEFAULT_BACKOFF, Backoff, call_with_retry
from teamcost.sync.wire import run_query

if TYPE_CHECKING:
    from teamcost.config import Config
    from teamcost.sync.cache import TeamCache

TIMEOUT_S = 60.0
PAGE_SIZE = 5000


@dataclass
class WindowResult:
    read: int = 0               # call documents read
    aggregation_reads: int = 0  # reads billed for the counts (one per 1,000 entries, >= 1)
    new: int = 0                # calls the cache did not hold
    days_read: int = 0          # UTC days (parts of the window) read again
    skipped: int = 0            # documents that could not be read as calls

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _range_query(client: Any, team: str, since: datetime, until: datetime) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter
    return (client.collection(COLLECTION)
            .where(filter=FieldFilter("team", "==", team))
            .where(filter=FieldFilter("ts", ">=", since))
            .where(filter=FieldFilter("ts", "<", until)))


def _billed(n: int) -> int:
    return max(1, -(-n // 1000))


def count_calls(client: Any, team: str, since: datetime, until: datetime,
                backoff: Backoff = DEFAULT_BACKOFF) -> int:
    """How many call documents of the team have since <= ts < until (one aggregation)."""
    q = _range_query(client, team, since, until).count(alias="n")
    res = call_with_retry(lambda: q.get(retry=None, timeout=TIMEOUT_S),
                          "counting the window's calls", backoff)
    return int(res[0][0].value)


def sum_calls(client: Any, team: str, since: datetime, until: datetime,
              backoff: Backoff = DEFAULT_BACKOFF) -> tuple[int, int]:
    """(calls, cost_nanos) of the team's call documents with since <= ts < until, in one
    aggregation query (billed one read per 1,000 calls it matches)."""
    q = _range_query(client, team, since, until).count(alias="n").sum("cost_nanos", alias="c")
    res = call_with_retry(lambda: q.get(retry=None, timeout=TIMEOUT_S),
                          "summing the window's calls", backoff)
    got = {r.alias: r.value for r in res[0]}
    return int(got.get("n") or 0), int(got.get("c") or 0)


def _cached_count(cache: TeamCache, team: str, since: datetime, until: datetime) -> int:
    return int(cache.conn.execute(
        "SELECT count(*) FROM team_calls WHERE team = ? AND ts >= ? AND ts < ?",
        (team, ts_to_us(since), ts_to_us(until))).fetchone()[0])


def _utc_days(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    start = since.astimezone(UTC)
    while start < until:
        midnight = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
        end = min(midnight, until)
        out.append((start, end))
        start = end
    return out


def _read_range(client: Any, cache: TeamCache, team: str, since: datetime, until: datetime,
                backoff: Backoff, result: WindowResult) -> None:
    query = _range_query(client, team, since, until).order_by("ts").order_by("__name__")
    cursor: dict[str, Any] | None = None
    while True:
        page_q = query.limit(PAGE_SIZE)
        if cursor is not None:
            page_q = page_q.start_after(cursor)
        snaps = call_with_retry(functools.partial(run_query, client, page_q, TIMEOUT_S),
                                "reading the window's calls", backoff)
        items: list[tuple[CallRecord, int]] = []
        for _doc_id, data in snaps:
            when = pushed_at(data)
            try:
                rec = doc_to_record(data)
            except Exception:
                result.skipped += 1
                continue
            if when is None:
                result.skipped += 1
                continue
            items.append((rec, ts_to_us(when)))
        result.new += cache.upsert(items)
        result.read += len(snaps)
        if len(snaps) < PAGE_SIZE:
            return
        last_id, last = snaps[-1]
        cursor = {"ts": last["ts"], "__name__": last_id}


def fetch_window(config: Config, client: Any, since: datetime, until: datetime, *,
                 cache: TeamCache | None = None,
                 backoff: Backoff = DEFAULT_BACKOFF) -> WindowResult:
    """Make the team cache hold every call document of the team with since <= ts < until,
    reading only the UTC days whose calls changed since the cache last held them."""
    from teamcost.sync.cache import TeamCache

    own = cache is None
    if cache is None:
        cache = TeamCache.for_config(config)
    team = config.team
    result = WindowResult()
    try:
        n = count_calls(client, team, since, until, backoff)
        result.aggregation_reads += _billed(n)
        if n == _cached_count(cache, team, since, until):
            return result
        for a, b in _utc_days(since, until):
            n = count_calls(client, team, a, b, backoff)
            result.aggregation_reads += _billed(n)
            if n != _cached_count(cache, team, a, b):
                _read_range(client, cache, team, a, b, backoff, result)
                result.days_read += 1
    finally:
        if own:
            cache.close()
    return result


def newest_calls(client: Any, team: str, *, since: datetime | None = None,
                 until: datetime | None = None, before: tuple[int, str] | None = None,
                 limit: int = 50, backoff: Backoff = DEFAULT_BACKOFF) -> list[CallRecord]:
    """The team's ``limit`` newest call documents (ts, then id, descending) with
    since <= ts < until that sort below ``before`` = (ts µs, call id): one read each."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    q = client.collection(COLLECTION).where(filter=FieldFilter("team", "==", team))
    if since is not None:
        q = q.where(filter=FieldFilter("ts", ">=", since))
    if until is not None:
        q = q.where(filter=FieldFilter("ts", "<", until))
    q = q.order_by("ts", direction="DESCENDING").order_by("__name__", direction="DESCENDING")
    if before is not None:
        q = q.start_after({"ts": us_to_ts(before[0]), "__name__": before[1]})
    q = q.limit(limit)
    return _records(client, q, "reading the newest calls", backoff)


def session_calls(client: Any, team: str, session_id: str, *, limit: int,
                  backoff: Backoff = DEFAULT_BACKOFF) -> list[CallRecord]:
    """The team's call documents of one session, newest first (ts, then id), at most
    ``limit``: one read each, whatever the team's history (composite index team +
    session_id + ts descending, in firestore.indexes.json)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    q = (client.collection(COLLECTION)
         .where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("session_id", "==", session_id))
         .order_by("ts", direction="DESCENDING").order_by("__name__", direction="DESCENDING")
         .limit(limit))
    return _records(client, q, "reading the session's calls", backoff)


def _records(client: Any, q: Any, doing: str, backoff: Backoff) -> list[CallRecord]:
    """The query's call documents as records; a document that is not a valid call is
    left out (the views show what can be shown; `teamcost verify` lists the rest)."""
    snaps = call_with_retry(functools.partial(run_query, client, q, TIMEOUT_S), doing, backoff)
    out = []
    for _doc_id, data in snaps:
        try:
            out.append(doc_to_record(data))
        except Exception:
            continue
    return out


__all__ = ["fetch_window", "newest_calls", "session_calls", "count_calls", "sum_calls",
           "WindowResult"]
