"""Which of the three numbers a call belongs to: metered spend or plan usage.

A pure function of the call's member, time, provider, model, source (its ``source`` tag,
else its agent), tags and the team's plans, so it runs the same over raw calls and over
rollups keyed by those dimensions and a 15-minute slot (plans change only on slot
boundaries: ``model.SLOT``). The rules, in order, each counted in the report:

1. ``source``: the source said so at capture (tag ``billing`` = ``metered`` or ``plan``:
   Cursor's event kind, Copilot's included vs billed requests);
2. ``plan``: a plan the member holds at that time covers the call's source, provider and model:
   plan usage;
3. ``no-plan``: otherwise metered (an API key billed per token) — a member without a
   covering plan pays per call;
4. ``plans-unknown``: the plans could not be read: counted as metered, and the report says
   how many calls this was.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from teamcost.plans.model import Plan, Plans

METERED = "metered"
PLAN = "plan"
BILLING_TAG = "billing"
RULES = ("source", "plan", "no-plan", "plans-unknown")


def call_source(agent: str | None, tags: Mapping[str, str]) -> str:
    return tags.get("source") or agent or ""


def classify(member: str, ts: datetime, provider: str, model: str, source: str,
             tags: Mapping[str, str], plans: Plans | None) -> tuple[str, str]:
    """(``metered`` or ``plan``, the rule that decided)."""
    said = tags.get(BILLING_TAG)
    if said in (METERED, PLAN):
        return said, "source"
    if plans is None:
        return METERED, "plans-unknown"
    if any(p.covers_call(source, provider, model) for p in plans.plans_at(member, ts)):
        return PLAN, "plan"
    return METERED, "no-plan"


def covering_plan(member: str, ts: datetime, provider: str, model: str, source: str,
                  plans: Plans | None) -> Plan | None:
    """The first plan (by name) the member holds at ``ts`` that covers the call, if any:
    the seat a plan-usage call is charged against (FOCUS export). A call its source tagged
    ``billing=plan`` may have none (a vendor's seat the team set no plan for)."""
    if plans is None:
        return None
    for plan in plans.plans_at(member, ts):
        if plan.covers_call(source, provider, model):
            return plan
    return None
