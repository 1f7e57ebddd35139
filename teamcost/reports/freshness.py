"""How old the team cache is: the time of its last completed pull.

A view that reads the team cache without having pulled just now (``--offline``, or a pull
that failed) shows this, so old numbers are never taken for current ones.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from teamcost.errors import TeamcostError

if TYPE_CHECKING:
    from teamcost.config import Config


def last_pull(config: Config) -> datetime | None:
    """When the last pull of this team into the cache finished (None: never, or unknown)."""
    from teamcost.sync.cache import TeamCache

    if not config.cache_file.exists():
        return None
    try:
        with TeamCache.for_config(config) as cache:
            # the key sync.pull writes when a pull completes (also read by sync status)
            at = cache.get_state(f"pull:{config.team}:last_pull")
        return datetime.fromisoformat(at) if at else None
    except (TeamcostError, sqlite3.Error, OSError, ValueError):
        return None


def latest(*times: datetime | None) -> datetime | None:
    """The most recent of ``times`` (None when there is none)."""
    known = [t for t in times if t is not None]
    return max(known) if known else None
