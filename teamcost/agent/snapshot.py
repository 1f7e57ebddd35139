"""The agent's status snapshot: a small JSON file the agent rewrites atomically when a cycle changed something (and every 30 s),
so ``agent status``, ``statusline``, ``watch`` and ``serve`` can show the team's numbers
without touching the network.

``TEAMCOST_HOME/agent-status.json``, version 1::

    {"version": 1, "written_at": ISO, "pid": int, "started_at": ISO, "home": str, "team": str,
     "project": str | null,
     "budget": {"level", "limit_nanos", "spent_nanos", "fraction", "period", "period_key",
                "projected_nanos", "checked_at"} | null,
     "today_nanos": int | null, "period_nanos": int | null,
     "backlog": {"calls": int, "cost_nanos": int},
     "jobs": {"push" | "pull" | "check": {"at", "ok", "result", "error"}},
     "loop": {"failures": int, "last_error": str | null, "last_error_at": ISO | null},
     "sources": {name: {"files", "calls", "lines", "bad", "last_at", "last_error"}}}
"""

from __future__ import annotations

import os

from teamcost.compat.json_scan import loads
from teamcost.errors import TeamcostError

TYPE_CHECKING = False   # the status line reads the snapshot: no pathlib, no typing at import
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

SNAPSHOT_FILE = "agent-status.json"
SNAPSHOT_VERSION = 1


def snapshot_path(home: Path | str) -> Path:
    from pathlib import Path

    return Path(home) / SNAPSHOT_FILE


def load_snapshot(home: Path | str) -> dict[str, Any] | None:
    """The last snapshot the agent wrote, or None when there is none yet.

    Raises TeamcostError naming the file when it exists but cannot be used (unreadable,
    not JSON, not an object, another version): the agent writes it atomically, so a broken
    file is something to report, not to wait out.
    """
    path = os.path.join(os.fspath(home), SNAPSHOT_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise TeamcostError(f"agent status {path} is a directory, expected a JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise TeamcostError(f"cannot read agent status {path}: {why}") from None
    try:
        data = loads(text)
    except ValueError as exc:   # json.JSONDecodeError (loads leaves errors to json)
        where = (getattr(exc, "msg", exc), getattr(exc, "lineno", "?"), getattr(exc, "colno", "?"))
        raise TeamcostError(f"agent status {path} is not valid JSON ({where[0]} at line "
                            f"{where[1]} column {where[2]})") from None
    if not isinstance(data, dict):
        raise TeamcostError(f"agent status {path} is not a JSON object")
    if data.get("version") != SNAPSHOT_VERSION:
        raise TeamcostError(f"agent status {path} has version {data.get('version')!r}; this "
                            f"teamcost reads version {SNAPSHOT_VERSION} (restart the agent)")
    return data


VERSION = SNAPSHOT_VERSION


def write_snapshot(home: Path, data: dict[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    import json  # here: the status line reads snapshots on every message, never writes
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=home, prefix=".agent-status-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, snapshot_path(home))
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
