"""The agent's status snapshot: a small JSON file in TEAMCOST_HOME, written atomically after
each cycle, read by ``agent status``, ``statusline``, ``watch`` and ``serve`` with no network.

Shape (version 1)::

    {"version": 1, "written_at": ISO, "pid": int, "started_at": ISO, "home": str, "team": str,
     "budget": {"level", "limit_nanos", "spent_nanos", "fraction", "period", "period_key",
                "projected_nanos"} | null,
     "today_nanos": int | null, "period_nanos": int | null,
     "backlog": {"calls": int, "cost_nanos": int},
     "jobs": {"push" | "pull" | "check": {"at", "ok", "result", "error", "next_at"}},
     "sources": {name: {"files", "calls", "lines", "bad", "last_at", "last_error"}}}
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SNAPSHOT_FILE = "agent-status.json"
VERSION = 1


def snapshot_path(home: Path) -> Path:
    return home / SNAPSHOT_FILE


def write_snapshot(home: Path, data: dict[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".agent-status-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, snapshot_path(home))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_snapshot(home: Path) -> dict[str, Any] | None:
    """The last snapshot, or None when there is none or it cannot be read."""
    try:
        data = json.loads(snapshot_path(home).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == VERSION else None
