"""Reading and writing ``teamcost_budgets/{team}`` (admins write; members read)."""

from __future__ import annotations

from typing import Any

from teamcost.budget.model import Budget
from teamcost.sync.retry import Backoff, call_with_retry

BUDGETS = "teamcost_budgets"
# a budget check is interactive or guards a call: retry briefly, then say so
CHECK_BACKOFF = Backoff(attempts=3, base_s=0.1, cap_s=1.0)
TIMEOUT_S = 10.0


def get_budget(client: Any, team: str, backoff: Backoff = CHECK_BACKOFF) -> Budget | None:
    """The team's budget, or None when none was ever set."""
    ref = client.collection(BUDGETS).document(team)
    snap = call_with_retry(lambda: ref.get(retry=None, timeout=TIMEOUT_S),
                           f"reading the budget of team {team}", backoff)
    if not snap.exists:
        return None
    return Budget.from_doc(team, snap.to_dict() or {})


def set_budget(client: Any, budget: Budget, backoff: Backoff = CHECK_BACKOFF) -> Budget:
    """Replace the team's budget; returns it as stored (with the server's updated_at)."""
    from google.cloud.firestore import SERVER_TIMESTAMP

    ref = client.collection(BUDGETS).document(budget.team)
    doc = {**budget.to_doc(), "updated_at": SERVER_TIMESTAMP}
    # set() is idempotent, so retrying after a lost response is safe
    call_with_retry(lambda: ref.set(doc, retry=None, timeout=TIMEOUT_S),
                    f"writing the budget of team {budget.team}", backoff)
    stored = get_budget(client, budget.team, backoff)
    assert stored is not None
    return stored
