"""Reading and writing ``teamcost_plans/{team}`` (admins write; members read), like the
budget in ``teamcost_budgets``; and the library calls behind ``teamcost plan``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from teamcost.config import Config
from teamcost.errors import InvalidValue
from teamcost.plans.model import Cover, Plan, Plans, Seat, check_plan_name, slot_ceil
from teamcost.sync.retry import Backoff, call_with_retry

PLANS = "teamcost_plans"
BACKOFF = Backoff(attempts=3, base_s=0.1, cap_s=1.0)
TIMEOUT_S = 10.0


def get_plans(client: Any, team: str, backoff: Backoff = BACKOFF) -> Plans:
    """The team's plans (empty when none were ever set)."""
    ref = client.collection(PLANS).document(team)
    snap = call_with_retry(lambda: ref.get(retry=None, timeout=TIMEOUT_S),
                           f"reading the plans of team {team}", backoff)
    if not snap.exists:
        return Plans(team)
    return Plans.from_doc(team, snap.to_dict() or {})


def put_plans(client: Any, plans: Plans, by: str | None = None,
              backoff: Backoff = BACKOFF) -> Plans:
    from google.cloud.firestore import SERVER_TIMESTAMP

    ref = client.collection(PLANS).document(plans.team)
    doc = {**plans.to_doc(), "updated_by": by, "updated_at": SERVER_TIMESTAMP}
    call_with_retry(lambda: ref.set(doc, retry=None, timeout=TIMEOUT_S),
                    f"writing the plans of team {plans.team}", backoff)
    return get_plans(client, plans.team, backoff)


def _client(config: Config, client: Any) -> Any:
    if client is not None:
        return client
    from teamcost.sync.client import client_for, require_project
    require_project(config, "there are no team plans")
    return client_for(config)


def set_plan(config: Config, name: str, seat_nanos: int, covers: tuple[Cover, ...],
             client: Any = None) -> Plans:
    """Create or replace plan ``name`` (its seat holders keep it)."""
    plan = Plan(check_plan_name(name), seat_nanos, covers)   # validated before any I/O
    c = _client(config, client)
    return put_plans(c, get_plans(c, config.team).with_plan(plan), config.member)


def assign(config: Config, member: str, plan: str, since: datetime, *, holds: bool = True,
           client: Any = None) -> tuple[Plans, Seat]:
    """``member`` holds (``holds=False``: gives up) a seat of ``plan`` from ``since``
    rounded up to the next 15-minute UTC boundary; calls before it keep their plans."""
    check_plan_name(plan)
    c = _client(config, client)
    plans = get_plans(c, config.team)
    if plan not in plans.plans:
        raise InvalidValue("plan", plan, "a plan set with `teamcost plan set` ("
                           + (", ".join(sorted(plans.plans)) or "none yet") + ")")
    seat = Seat(member, plan, slot_ceil(since.astimezone(UTC)), holds)
    return put_plans(c, plans.with_seat(seat), config.member), seat


def show(config: Config, client: Any = None) -> Plans:
    return get_plans(_client(config, client), config.team)
