"""Before a view reads raw calls of a window from the team cache: make the cache hold them.

Until the team's rollups are complete this is the incremental pull of every call, as it
always was (``refresh_team_cache``, below). Once they are, nothing pulls the whole history
any more: only the window's calls are read (``sync.window.fetch_window``: the UTC days
whose calls changed since this machine last held them). A failure is a warning (showing
what the cache holds), never the end of the view.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from teamcost.errors import TeamcostError

if TYPE_CHECKING:
    from teamcost.config import Config

log = logging.getLogger(__name__)


def rollups_ready(config: Config, client: Any, quick: bool = False) -> bool:
    """Whether the team's rollups count every call (False when that cannot be read).
    ``quick``: for a page's request, two tries (offline, the caller falls back to what
    is stored after a second or so, not after the minutes a CLI command may wait)."""
    from teamcost.sync.retry import DEFAULT_BACKOFF, Backoff
    from teamcost.sync.rollups import rollups_in_use
    backoff = Backoff(attempts=2, base_s=0.2, cap_s=1.0) if quick else DEFAULT_BACKOFF
    try:
        return rollups_in_use(client, config.team, backoff)
    except TeamcostError:
        return False


def refresh_window(config: Config, since: datetime, until: datetime, client: Any = None,
                   doing: str = "showing", pull: bool = True) -> str | None:
    """Make the team cache hold the team's calls with since <= ts < until; a warning
    (``doing`` the cached team data: why) when it could not. ``pull=False``: while the
    rollups are incomplete, read nothing (the caller's cache is kept by someone else's
    pull, as the dashboard's is by the agent or --pull-every)."""
    try:
        from teamcost.sync.client import client_for
        client = client if client is not None else client_for(config)
        if not rollups_ready(config, client):
            if not pull:
                return None
            return refresh_team_cache(config, doing)
        from teamcost.sync.window import fetch_window
        res = fetch_window(config, client, since, until)
        log.info("window %s..%s: %s", since, until, res.to_dict())
    except TeamcostError as exc:
        return f"{doing} the cached team data: could not read the window's calls " \
               f"({getattr(exc, 'reason', None) or exc})"
    return None


def refresh_team_cache(config: Config, doing: str = "showing") -> str | None:
    """An incremental pull before reading the team cache; a failure is a warning (``doing``
    the cached team data: why), not the end."""
    try:
        from teamcost.sync.service import run_pull
        run_pull(config)
    except TeamcostError as exc:
        # a stopped emulator is said in a few words (sync.retry.FirestoreUnreachable)
        return f"{doing} the cached team data: could not pull new calls " \
               f"({getattr(exc, 'reason', None) or exc})"
    return None
