"""teamcost: one true number for what a team's LLM calls cost, inside a shared budget."""

from teamcost.budget.guard import budget_guard
from teamcost.budget.model import BudgetExceeded, BudgetUnavailable
from teamcost.capture.sdk import instrument
from teamcost.errors import TeamcostError
from teamcost.models import CallRecord
from teamcost.sync import background as _background  # noqa: F401 - installs Tracker(push_every)
from teamcost.tracker import Tracker, default_tracker, record, set_default_tracker

__version__ = "0.1.0"
__all__ = ["BudgetExceeded", "BudgetUnavailable", "budget_guard", "instrument", "CallRecord", "TeamcostError", "Tracker", "default_tracker",
           "record", "set_default_tracker", "__version__"]
