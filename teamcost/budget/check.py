"""What the `teamcost budget` commands and reports call: set, show, check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from teamcost.budget import alerts as alerts_mod
from teamcost.budget.billing import UsageMemo, split
from teamcost.budget.known import remember
from teamcost.budget.model import Budget, BudgetStatus, parse_thresholds, period_of
from teamcost.budget.spend import Spend, team_spend, team_spends
from teamcost.budget.store import CHECK_BACKOFF, get_budget, set_budget
from teamcost.errors import BudgetError, ConfigError
from teamcost.ledger import Ledger
from teamcost.money import MAX_BUDGET_NANOS, usd_to_nanos
from teamcost.periods import period_bounds
from teamcost.plans.model import Plans
from teamcost.sync.client import client_for
from teamcost.sync.retry import Backoff

if TYPE_CHECKING:
    from teamcost.config import Config


def _client(config: Config, client: Any) -> Any:
    if not config.project:
        raise ConfigError("budgets live in Firestore and no project is configured: run "
                          "`teamcost init --project ID` (or set TEAMCOST_PROJECT)")
    if client is not None:
        return client
    return client_for(config)


def _no_budget(team: str) -> BudgetError:
    return BudgetError(f"team {team} has no budget: set one with "
                       "`teamcost budget set --amount 500 --period month`")


def set_team_budget(config: Config, amount: Any, period: str = "month",
                    warn: str | None = None, hard_stop: bool = False,
                    tz: str | None = None, client: Any = None) -> Budget:
    """Validate everything first, then write ``teamcost_budgets/{team}`` (admins only)."""
    budget = Budget(team=config.team, amount_nanos=usd_to_nanos(amount, "amount", allow_zero=False,
                                                                 maximum=MAX_BUDGET_NANOS),
                    period=period, timezone=tz if tz is not None else config.timezone,
                    thresholds=parse_thresholds(warn), hard_stop=hard_stop,
                    updated_by=config.member)
    stored = set_budget(_client(config, client), budget)
    remember(config, stored)
    return stored


def show_budget(config: Config, client: Any = None) -> Budget:
    budget = get_budget(_client(config, client), config.team)
    remember(config, budget)
    if budget is None:
        raise _no_budget(config.team)
    return budget


def status_for(config: Config, client: Any, budget: Budget, *, estimate_nanos: int = 0,
               now: datetime | None = None, ledger: Ledger | None = None,
               backoff: Backoff = CHECK_BACKOFF, spend: Spend | None = None,
               plans_of: Callable[[], Plans] | None = None,
               memo: UsageMemo | None = None) -> BudgetStatus:
    """The budget's status now: server aggregation + unpushed local calls (+ estimate).
    ``spend``: the period's spend when the caller already summed it; ``plans_of`` and
    ``memo``: the agent's cached plans and plan usage (billing.split)."""
    now = now or datetime.now(UTC)
    start, end, key = period_of(budget, now)
    own = ledger is None and spend is None
    if own:
        ledger = Ledger.for_reading(config) if config.ledger_file.exists() else None
    try:
        if spend is None:
            spend = team_spend(client, ledger, budget.team, start, end, backoff)
        # the plan usage is keyed by this spend's pushed-call count: same check, same period
        plans = split(client, ledger, budget.team, start, end, backoff, plans_of=plans_of,
                      memo=memo, pushed_calls=spend.pushed_calls)
    finally:
        if own and ledger is not None:
            ledger.close()
    return BudgetStatus(budget, now, start, end, key, spend.pushed_nanos, spend.pushed_calls,
                        spend.unpushed_nanos, spend.unpushed_calls, estimate_nanos,
                        plan_usage_nanos=plans.plan_usage_nanos,
                        seats_nanos=plans.seats_nanos, plans=plans.plans)


def send_alerts(config: Config, client: Any, status: BudgetStatus,
                post: alerts_mod.Post = alerts_mod.post_json) -> BudgetStatus:
    """Claim and deliver crossed thresholds; the status with the alerts this call sent."""
    from teamcost.sync.cache import TeamCache
    try:
        cache = TeamCache.for_config(config)
    except Exception:  # a broken cache must not stop the check; alerts just are not retried
        cache = None
    try:
        sent = alerts_mod.notify(config, client, status, cache, CHECK_BACKOFF, post)
    finally:
        if cache is not None:
            cache.close()
    status.alerts.extend(sent)
    return status


def check(config: Config, estimate: Any = None, client: Any = None,
          now: datetime | None = None, alerts: bool = True) -> BudgetStatus:
    """`teamcost budget check`: the status (exit code in ``.exit_code``) and alerts sent."""
    # an empty --estimate is a bad amount, not "no estimate"
    estimate_nanos = (usd_to_nanos(estimate, "estimate", maximum=MAX_BUDGET_NANOS)
                      if estimate is not None else 0)
    client = _client(config, client)
    budget = get_budget(client, config.team)
    remember(config, budget)
    if budget is None:
        raise _no_budget(config.team)
    status = status_for(config, client, budget, estimate_nanos=estimate_nanos, now=now)
    return send_alerts(config, client, status) if alerts else status


# The agent rereads the budget document and the plans document every 10 minutes, not every
# minute: both are set rarely, and each read is a billed read on every member's machine
# (docs/org-scale.md). A changed budget or plan shows in the agent's checks within ten
# minutes. `teamcost budget check`, the guard and the dashboard read them as before.
BUDGET_TTL_S = 600.0
_AGENT_BUDGET: dict[tuple[str, str, str], tuple[float, Budget | None]] = {}
_AGENT_PLANS: dict[tuple[str, str, str], tuple[float, Plans]] = {}
# the pushed plan usage of the agent's period, reused while nothing it counts changed
_AGENT_USAGE: dict[tuple[str, str, str], UsageMemo] = {}


def _agent_plans(key: tuple[str, str, str], client: Any, team: str,
                 now: datetime) -> Callable[[], Plans]:
    """The plans, from the agent's copy when younger than BUDGET_TTL_S; a failed read is
    not remembered (the next check tries again, and this one says the plans are unknown)."""
    def get() -> Plans:
        from teamcost.plans.store import get_plans
        cached = _AGENT_PLANS.get(key)
        if cached is not None and 0 <= now.timestamp() - cached[0] < BUDGET_TTL_S:
            return cached[1]
        plans = get_plans(client, team, CHECK_BACKOFF)
        _AGENT_PLANS[key] = (now.timestamp(), plans)
        return plans
    return get


def check_with_today(config: Config, client: Any, ledger: Ledger | None, now: datetime
                     ) -> tuple[BudgetStatus | None, Spend, Spend]:
    """The agent's minute: (budget status with alerts sent, or None without a budget; the
    period's spend (the month's without a budget); today's spend). Reads: the budget
    document and one aggregation for both sums when the rollups answer (see spend.py).

    The budget and plans documents are reread every BUDGET_TTL_S (a changed budget or plan
    shows within ten minutes); the pushed plan usage is read again only when the period's
    pushed calls or the plans changed (billing.py). "Today" is the whole local day: a call stamped a few minutes ahead (clock skew, at
    most models.MAX_TS_AHEAD) counts today as soon as it is pushed.
    """
    client = _client(config, client)
    key = (config.project or "", config.team, str(config.home))
    cached = _AGENT_BUDGET.get(key)
    if cached is not None and 0 <= now.timestamp() - cached[0] < BUDGET_TTL_S:
        budget = cached[1]
    else:
        budget = get_budget(client, config.team)
        remember(config, budget)
        _AGENT_BUDGET[key] = (now.timestamp(), budget)
    if budget is None:
        start, end = period_bounds(now, "month", config.timezone)
    else:
        start, end, _ = period_of(budget, now)
    day_start, day_end = period_bounds(now, "day", config.timezone)
    period, today = team_spends(client, ledger, config.team,
                                [(start, end), (day_start, day_end)], CHECK_BACKOFF)
    if budget is None:
        return None, period, today
    status = status_for(config, client, budget, now=now, ledger=ledger, spend=period,
                        plans_of=_agent_plans(key, client, config.team, now),
                        memo=_AGENT_USAGE.setdefault(key, UsageMemo()))
    return send_alerts(config, client, status), period, today


def budget_status(config: Config, client: Any = None,
                  now: datetime | None = None) -> BudgetStatus | None:
    """For reports and watch: the status, or None when there is no project or no budget.

    Raises when the budget cannot be read; ``known.last_known`` then says what was known.
    """
    if not config.project:
        return None
    client = _client(config, client)
    budget = get_budget(client, config.team)
    remember(config, budget)
    return None if budget is None else status_for(config, client, budget, now=now)

