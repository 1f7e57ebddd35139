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
