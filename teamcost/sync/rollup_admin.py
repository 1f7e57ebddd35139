"""The admin's rollup commands as library calls: build (migrate), pack and verify."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from teamcost.errors import ConfigError
from teamcost.periods import parse_window
from teamcost.sync.client import client_for
from teamcost.sync.retry import DEFAULT_BACKOFF, Backoff

if TYPE_CHECKING:
    from teamcost.config import Config
    from teamcost.sync.migrate import MigrateResult
    from teamcost.sync.rollup_cache import RollupCache
    from teamcost.sync.rollup_packs import PackResult
    from teamcost.sync.verify import VerifyResult


def _client(config: Config, client: Any) -> Any:
    if not config.project:
        raise ConfigError("rollups live in Firestore and no project is configured: run "
                          "`teamcost init --project ID` (or set TEAMCOST_PROJECT)")
    return client if client is not None else client_for(config)


def build(config: Config, client: Any = None,
          progress: Callable[[MigrateResult], None] | None = None) -> MigrateResult:
    """`teamcost rollups build`: count every call pushed before rollups existed (admin)."""
    from teamcost.sync.migrate import build_rollups
    return build_rollups(_client(config, client), config.team, DEFAULT_BACKOFF, progress)


def is_admin(config: Config) -> bool:
    """Whether this machine writes as an admin: no member session (the admin client, or
    the emulator's owner), or a session whose token says admin."""
    from teamcost.auth.session import load_session
    session = load_session(config)
    return session is None or session.admin is True


def pack(config: Config, client: Any = None) -> PackResult:
    """`teamcost rollups pack`: record what changed in the team's rollups since the newest
    pack as a pack (and the day's, the month's consolidation when due), so members'
    refreshes read a few documents (admin; the admin agent does it every ``pack_every``)."""
    from teamcost.sync.rollup_cache import RollupCache
    client = _client(config, client)
    with RollupCache.for_config(config) as cache:
        return pack_team(client, cache, config.team, DEFAULT_BACKOFF)


def pack_team(client: Any, cache: RollupCache, team: str, backoff: Backoff) -> PackResult:
    """An admin's pack run: refresh the copy, then write the level-0 pack of what changed
    since the newest pack, and the day's and month's consolidations when due."""
    from teamcost.sync.rollup_cache import refresh
    from teamcost.sync.rollup_packs import (
        DAY_US,
        LEVELS,
        MONTH_US,
        PackResult,
        newest_end,
        prune,
        to_us,
        write_pack,
    )

    result = PackResult(refreshed=refresh(client, cache, team, backoff))
    w = cache.watermark(team)
    if w is None:
        return result                  # no cells yet
    e = to_us(w)
    newest = {lv: newest_end(client, team, lv, backoff) for lv in LEVELS}
    ends = [x for x in newest.values() if x is not None]

    def emit(level: int, start: int) -> None:
        rows = cache.updated_after(team, start if start > 0 else None)
        if not rows:
            return
        chunks = write_pack(client, team, level, start, e, rows, backoff)
        result.written.append({"level": level, "start": start, "end": e,
                               "cells": len(rows), "chunks": chunks})

    if not ends:
        emit(2, 0)                     # the team's first pack: every cell
        return result
    if e > max(ends):
        emit(0, max(ends))
    s1 = max((x for x in (newest[1], newest[2]) if x is not None), default=0)
    if e - s1 >= DAY_US:
        emit(1, s1)
    s2 = newest[2] or 0
    if e - s2 >= MONTH_US:
        emit(2, s2)
    if any(w_["level"] > 0 for w_ in result.written):
        result.pruned = prune(client, team, backoff)
    return result


def verify_window(config: Config, since: str, until: str | None = None, client: Any = None,
                  now: datetime | None = None) -> VerifyResult:
    """`teamcost verify --since D [--until D]`: the UTC days covering the window."""
    from teamcost.sync.verify import verify
    w = parse_window(since, until, now or datetime.now(UTC), "UTC")
    first: date = w.since.astimezone(UTC).date()
    end = w.until.astimezone(UTC)
    last = end.date() + (timedelta(days=1) if end.time() != datetime.min.time() else
                         timedelta(0))
    return verify(_client(config, client), config.team, first, last, DEFAULT_BACKOFF)
