"""What the `teamcost sync` commands call: push, pull, both, and the status of it all.

These wrap push/pull with the bookkeeping a person asks about later (when did this
machine last push, how did it go) kept in the team cache's ``sync_state``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from teamcost.errors import TeamcostError
from teamcost.ledger import Ledger, us_to_ts
from teamcost.sync.cache import TeamCache
from teamcost.sync.client import client_for, require_project
from teamcost.sync.pull import OVERLAP_S, PullResult, Watermark, pull
from teamcost.sync.push import PushResult, push

if TYPE_CHECKING:
    from teamcost.config import Config

Progress = Callable[[int, Any], None]
ProgressFactory = Callable[[str], Progress | None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_push(config: Config, progress: Progress | None = None, client: Any = None) -> PushResult:
    """Push the ledger. The team cache only keeps a note of the push for `sync status`: a
    broken cache is a warning, never a reason not to push."""
    require_project(config)
    client = client if client is not None else client_for(config)
    with Ledger.for_config(config) as ledger:
        result = push(config, ledger, client, progress)
    try:
        with TeamCache.for_config(config) as cache:
            cache.set_state("push:last", json.dumps({"at": _now(), **result.to_dict()}))
    except (TeamcostError, OSError, sqlite3.DatabaseError) as exc:
        result.warnings.append(f"pushed, but `sync status` will not show this push: {exc}")
    return result


def run_pull(config: Config, progress: Progress | None = None, client: Any = None) -> PullResult:
    require_project(config)
    client = client if client is not None else client_for(config)
    with TeamCache.for_config(config) as cache:
        return pull(config, client, cache, progress)


@dataclass
class SyncResult:
    push: PushResult
    pull: PullResult

    def to_dict(self) -> dict[str, Any]:
        return {"push": self.push.to_dict(), "pull": self.pull.to_dict()}


def run_sync(config: Config, progress: ProgressFactory | None = None,
             client: Any = None) -> SyncResult:
    """Push this machine's new calls, then pull the team's."""
    require_project(config)
    client = client if client is not None else client_for(config)
    pushed = run_push(config, progress("push") if progress else None, client)
    pulled = run_pull(config, progress("pull") if progress else None, client)
    return SyncResult(pushed, pulled)


@dataclass(frozen=True)
class SyncStatus:
    team: str
    project: str | None
    ledger_path: str
    unpushed: int
    unpushed_cost_nanos: int
    cache_path: str
    cached_calls: int
    cached_cost_nanos: int
    watermark: datetime | None
    pull_complete: bool | None
    overlap_s: float
    last_push: dict[str, Any] | None
    last_pull: str | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["watermark"] = self.watermark.isoformat() if self.watermark else None
        return d


def sync_status(config: Config) -> SyncStatus:
    """Local facts only (no network): what is waiting here and what the cache holds."""
    with Ledger.for_reading(config) as ledger, TeamCache.for_reading(config) as cache:
        unpushed, unpushed_nanos = ledger.unpushed_totals()
        cached, cached_nanos = cache.totals(config.team)
        mark = Watermark.load(cache, config.team)
        last_push = cache.get_state("push:last")
        return SyncStatus(
            team=config.team, project=config.project, ledger_path=str(ledger.path),
            unpushed=unpushed, unpushed_cost_nanos=unpushed_nanos, cache_path=str(cache.path),
            cached_calls=cached, cached_cost_nanos=cached_nanos,
            watermark=us_to_ts(mark.pushed_at_us) if mark else None,
            pull_complete=mark.complete if mark else None, overlap_s=OVERLAP_S,
            last_push=json.loads(last_push) if last_push else None,
            last_pull=cache.get_state(f"pull:{config.team}:last_pull"))
