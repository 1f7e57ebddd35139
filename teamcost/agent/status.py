"""What `teamcost agent status` says: the lock (is it running) plus the last snapshot."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from teamcost.config import Config
from teamcost.errors import TeamcostError

from .lock import holder
from .snapshot import load_snapshot, snapshot_path


def agent_status(config: Config) -> dict[str, Any]:
    pid = holder(config.home)
    problem = None
    try:
        snap = load_snapshot(config.home)
    except TeamcostError as exc:      # a broken snapshot: say so, and what runs
        snap, problem = None, str(exc)
    now = time.time()
    age = uptime = None
    if snap is not None:
        try:
            age = now - snapshot_path(config.home).stat().st_mtime
            uptime = now - datetime.fromisoformat(snap["started_at"].replace("Z", "+00:00")
                                                  ).timestamp()
        except (OSError, KeyError, ValueError):
            pass
    return {"running": pid is not None, "pid": pid if pid and pid > 0 else None,
            "uptime_s": uptime if pid else None, "snapshot_age_s": age,
            "snapshot": snap, "snapshot_error": problem, "home": str(config.home)}
