"""The last budget this machine read, kept so an offline view can say what it knew.

When Firestore cannot be reached, "no budget set" would be a false statement: the budget
is unknown now. Each successful read of ``teamcost_budgets/{team}`` (a budget, or the
fact that there is none) is stored in the team cache's ``sync_state`` with the time it
was read, and ``read_budget`` answers with that memory when the read fails, so views can
say "budget: unknown (offline since 19:45); last known $500.00 per month".

Remembering is best effort: a cache that cannot be written (a read-only home) never
stops the view that read the budget.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from teamcost.budget.model import Budget
from teamcost.errors import TeamcostError

if TYPE_CHECKING:
    from teamcost.config import Config

log = logging.getLogger(__name__)


def _key(team: str) -> str:
    return f"budget:{team}:last_known"


@dataclass(frozen=True)
class KnownBudget:
    """What the last successful read found (``budget`` None: no budget was set)."""

    budget: Budget | None
    read_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget.to_dict() if self.budget else None,
                "read_at": self.read_at.isoformat(timespec="seconds")}


@dataclass(frozen=True)
class BudgetRead:
    """One attempt to read the team's budget.

    ``budget`` is what Firestore holds now (None: none set) when ``error`` is None;
    otherwise the budget is unknown and ``known`` is the last successful read, if any.
    """

    budget: Budget | None
    error: str | None = None
    known: KnownBudget | None = None

    @property
    def unknown(self) -> bool:
        return self.error is not None


def remember(config: Config, budget: Budget | None, now: datetime | None = None) -> None:
    """Store a successful read in the team cache (best effort)."""
    from teamcost.sync.cache import TeamCache

    doc = {"budget": budget.to_dict() if budget else None,
           "read_at": (now or datetime.now(UTC)).isoformat(timespec="seconds")}
    try:
        with TeamCache.for_config(config) as cache:
            cache.set_state(_key(config.team), json.dumps(doc))
    except (TeamcostError, sqlite3.Error, OSError) as exc:
        log.debug("could not remember the budget: %s", exc)


def last_known(config: Config) -> KnownBudget | None:
    """The last successful read stored by ``remember``, or None."""
    from teamcost.sync.cache import TeamCache

    if not config.cache_file.exists():
        return None
    try:
        with TeamCache.for_config(config) as cache:
            raw = cache.get_state(_key(config.team))
        if raw is None:
            return None
        doc = json.loads(raw)
        b = doc.get("budget")
        budget = None if b is None else Budget.from_doc(config.team, {
            **b, "updated_at": datetime.fromisoformat(b["updated_at"])
            if b.get("updated_at") else None})
        return KnownBudget(budget, datetime.fromisoformat(doc["read_at"]))
    except (TeamcostError, sqlite3.Error, OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("no usable last known budget: %s", exc)
        return None


def read_budget(config: Config, client: Any) -> BudgetRead:
    """The team's budget now, remembered; or, when it cannot be read, what was known."""
    from teamcost.budget.store import get_budget

    try:
        budget = get_budget(client, config.team)
    except TeamcostError as exc:
        return BudgetRead(None, str(exc) or type(exc).__name__, last_known(config))
    remember(config, budget)
    return BudgetRead(budget)
