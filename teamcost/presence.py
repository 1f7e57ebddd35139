"""Whether a home has anything to report on, so an empty answer is never mistaken for zero.

A report over a TEAMCOST_HOME that does not exist, one where nothing was ever recorded or
pulled, or a team no call here belongs to (a typo in ``--team`` / TEAMCOST_TEAM) would print
"no calls", which a budget owner reads as "we spent nothing". These say what is wrong
instead, without creating or migrating anything (read-only SQLite), so looking does not
make a home appear. A home with a ledger and no calls in the window is a real zero.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from teamcost.errors import TeamcostError

if TYPE_CHECKING:
    from teamcost.config import Config


class NothingRecorded(TeamcostError):
    """The home, its files or the team a view asks about are not there (exit 1)."""


def _teams(db: Path, table: str, team: str) -> tuple[bool, list[str]]:
    """(``team`` has calls in ``db``, up to 5 teams that do) — read-only; an unreadable
    file counts as empty (the view that opens it says why)."""
    if not db.is_file():
        return False, []
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False, []
    try:
        if conn.execute(f"SELECT 1 FROM {table} WHERE team = ? LIMIT 1", (team,)).fetchone():
            return True, [team]
        rows = conn.execute(f"SELECT DISTINCT team FROM {table} LIMIT 5").fetchall()
        return False, [str(r[0]) for r in rows]
    except sqlite3.Error:
        return False, []
    finally:
        conn.close()


def require_something(config: Config, team_cache: bool) -> None:
    """Raise NothingRecorded when ``config``'s home cannot hold an answer for its team:
    missing, empty (no ledger, and no team cache when ``team_cache``), or, for a team
    report (``team_cache``), holding only other teams' calls."""
    home = config.home
    if not home.exists():
        raise NothingRecorded(f"TEAMCOST_HOME {home} does not exist, so there is nothing to "
                              "report: check the path, or `teamcost init` to start a home "
                              "there")
    ledger, cache = config.ledger_file, config.cache_file
    has_cache = team_cache and cache.is_file()
    if not ledger.is_file() and not has_cache:
        where = "no ledger and no team cache" if team_cache else "no ledger"
        raise NothingRecorded(f"nothing was recorded in TEAMCOST_HOME {home} yet ({where}): "
                              "record or import calls, or `teamcost sync` to pull the team's")
    if not team_cache:
        return   # a local report shows this ledger's calls, whatever their team
    found, others = _teams(ledger, "calls", config.team)
    if not found and has_cache:
        found, more = _teams(cache, "team_calls", config.team)
        others = sorted({*others, *more})
    if not found and others:
        raise NothingRecorded(f"team {config.team!r} has no calls in TEAMCOST_HOME {home}; "
                              f"the calls here are of team {', '.join(others)} (check "
                              "TEAMCOST_TEAM, or `team` in the config)")
