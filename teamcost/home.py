"""Setting up a TEAMCOST_HOME: the config file and the ledger it names, together.

Above both config and ledger (which know nothing of each other), so ``teamcost init`` can
prove the ledger opens before it writes a config that points at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from teamcost.config import (
    CONFIG_FILE,
    Config,
    check_values,
    load_config,
    read_config_file,
    write_config,
)
from teamcost.ledger import Ledger


def init_config(home: Path, values: Mapping[str, Any]) -> tuple[Path, Config, str]:
    """``teamcost init``: validate, make sure the ledger opens, then write the config.

    Returns (config path, the config now in effect, ledger_id). Nothing is written when
    a value is bad, the existing config cannot be read or the ledger cannot be opened.
    """
    check_values(values)
    read_config_file(home / CONFIG_FILE)
    current = load_config(home)
    with Ledger.for_config(current) as ledger:
        ledger_id = ledger.ledger_id
    path = write_config(home, values)
    return path, load_config(home), ledger_id


# What teamcost itself writes at the top of a TEAMCOST_HOME (tests/unit/test_home_files.py
# checks each against the module that writes it). A folder that holds a home (the demo's)
# knows these as teamcost's own, never as someone else's files.
OWN_FILES: frozenset[str] = frozenset({
    "config.toml", "ledger.db", "team-cache.db", "price-cache.json", "auth.json",
    "agent.lock", "agent.log", "agent-status.json",
})
OWN_DIRS: frozenset[str] = frozenset({"team-cache.parquet", "ledger.parquet"})
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")   # part of a database while it is open


def is_own_file(rel: str) -> bool:
    """Whether ``rel`` (a path relative to a TEAMCOST_HOME) is one teamcost writes there."""
    parts = Path(rel).parts
    if not parts:
        return False
    if parts[0] in OWN_DIRS:
        return True
    if len(parts) != 1:
        return False
    name = parts[0]
    return name in OWN_FILES or any(
        name == f"{db}{suffix}" for db in OWN_FILES if db.endswith(".db")
        for suffix in _SQLITE_COMPANIONS)
