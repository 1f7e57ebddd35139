"""teamcost: one true number for what a team's LLM calls cost, inside a shared budget.

The public names load on first use (PEP 562), so ``import teamcost.money`` or the status
line do not pay for the tracker, pricing data and SDK hooks. Touching any of them first
imports the budget guard and the background pusher, which install themselves into the
tracker (``Tracker.guard`` and ``Tracker(push_every=...)``).
"""

from __future__ import annotations

# no ``typing`` at import (the status line starts here on every Claude Code message)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from teamcost.budget.guard import budget_guard
    from teamcost.budget.model import BudgetExceeded, BudgetUnavailable
    from teamcost.capture.sdk import instrument
    from teamcost.errors import TeamcostError
    from teamcost.models import CallRecord
    from teamcost.tracker import Tracker, default_tracker, record, set_default_tracker

__version__ = "0.1.0"

_EXPORTS = {
    "budget_guard": "teamcost.budget.guard",
    "BudgetExceeded": "teamcost.budget.model",
    "BudgetUnavailable": "teamcost.budget.model",
    "instrument": "teamcost.capture.sdk",
    "TeamcostError": "teamcost.errors",
    "CallRecord": "teamcost.models",
    "Tracker": "teamcost.tracker",
    "default_tracker": "teamcost.tracker",
    "record": "teamcost.tracker",
    "set_default_tracker": "teamcost.tracker",
}
__all__ = ["BudgetExceeded", "BudgetUnavailable", "budget_guard", "instrument", "CallRecord",
           "TeamcostError", "Tracker", "default_tracker", "record", "set_default_tracker",
           "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:  # also how ``from teamcost import tracker`` finds the submodule
        raise AttributeError(f"module 'teamcost' has no attribute {name!r}")
    import importlib

    importlib.import_module("teamcost.budget.guard")  # installs the guard into the tracker
    importlib.import_module("teamcost.sync.background")  # and the background pusher
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
