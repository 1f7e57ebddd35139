"""The budget document and the pure maths of a budget check (no I/O).

A budget is ``amount_nanos`` per calendar ``period`` (day, ISO week starting Monday, or
month) in ``timezone``. Spent = pushed spend (Firestore aggregation) + this machine's
unpushed spend, both in integer nano-dollars; the check adds the caller's estimate.

One rule decides "exhausted" everywhere (check, guard, alerts): spent + estimate >= amount.
A call that would land exactly on the limit is refused, because after it nothing is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from teamcost.errors import (
    EXIT_EXHAUSTED,
    EXIT_OK,
    EXIT_WARN,
    BudgetError,
    InvalidValue,
    TeamcostError,
)
from teamcost.money import MAX_BUDGET_NANOS, format_usd, nanos_to_usd
from teamcost.periods import PERIODS, period_bounds, period_key, project_to_end, zone

DEFAULT_THRESHOLDS = (0.8, 0.9)
MAX_THRESHOLDS = 8                    # firestore.rules checks each one, so the list is bounded
MAX_AMOUNT_NANOS = MAX_BUDGET_NANOS   # a billion dollars: beyond this it is a typo

LEVELS = {EXIT_OK: "OK", EXIT_WARN: "WARN", EXIT_EXHAUSTED: "EXHAUSTED"}


class BudgetExceeded(TeamcostError):
    """Raised by the guard before a call that would exhaust a hard-stop budget."""

    exit_code = EXIT_EXHAUSTED

    def __init__(self, team: str, spent_nanos: int, limit_nanos: int, period: str,
                 estimate_nanos: int = 0) -> None:
        self.team = team
        self.spent_nanos = spent_nanos
        self.limit_nanos = limit_nanos
        self.period = period
        self.estimate_nanos = estimate_nanos
        super().__init__(
            f"team {team} budget exhausted: {format_usd(spent_nanos, 2)} spent (metered + "
            f"seats) "
            f"+ {format_usd(estimate_nanos, 2)} estimated of {format_usd(limit_nanos, 2)} "
            f"this {period}"
        )


class BudgetUnavailable(BudgetExceeded):
    """The guard could not learn the team's spend and is configured to fail closed.

    A subclass of BudgetExceeded so ``except BudgetExceeded`` covers every "do not make
    this call" answer.
    """

    exit_code = EXIT_EXHAUSTED

    def __init__(self, team: str, reason: str) -> None:
        self.team = team
        self.reason = reason
        self.spent_nanos = self.limit_nanos = self.estimate_nanos = 0
        self.period = ""
        TeamcostError.__init__(
            self, f"team {team} budget cannot be checked ({reason}) and the guard fails "
            "closed ([budget] fail_closed = true): the call was not made")


def parse_thresholds(value: str | None) -> tuple[float, ...]:
    """"0.8,0.9" -> (0.8, 0.9); each strictly between 0 and 1, listed once."""
    if value is None:
        return DEFAULT_THRESHOLDS
    accepted = "comma-separated fractions between 0 and 1, such as 0.8,0.9 (or 80%,90%)"
    out: list[float] = []
    for part in str(value).split(","):
        p = part.strip()
        try:
            t = float(p[:-1]) / 100 if p.endswith("%") else float(p)
        except ValueError:
            raise InvalidValue("thresholds", value, accepted) from None
        if not 0 < t < 1:
            raise InvalidValue("thresholds", value, accepted)
        out.append(round(t, 6))
    if not out or len(set(out)) != len(out) or len(out) > MAX_THRESHOLDS:
        raise InvalidValue("thresholds", value, f"at most {MAX_THRESHOLDS} {accepted}")
    return tuple(sorted(out))


def threshold_name(t: float) -> str:
    """0.8 -> "80", 0.925 -> "92.5": the alert id's threshold part."""
    return f"{t * 100:.4f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Budget:
    """``teamcost_budgets/{team}``."""

    team: str
    amount_nanos: int
    period: str = "month"
    timezone: str = "UTC"
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    hard_stop: bool = False
    updated_by: str | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if (not isinstance(self.amount_nanos, int) or isinstance(self.amount_nanos, bool)
                or not 0 < self.amount_nanos <= MAX_AMOUNT_NANOS):
            raise InvalidValue("amount", self.amount_nanos,
                               f"a positive integer of nano-dollars, at most {MAX_AMOUNT_NANOS}")
        if not isinstance(self.period, str) or self.period not in PERIODS:
            raise InvalidValue("period", self.period, "day, week or month")
        if not isinstance(self.timezone, str):
            raise InvalidValue("timezone", self.timezone, "an IANA zone name such as UTC")
        zone(self.timezone)
        ts = self.thresholds
        if (not isinstance(ts, tuple) or len(ts) > MAX_THRESHOLDS
                or any(isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1
                       for t in ts)
                or list(ts) != sorted(set(ts))):
            raise InvalidValue("thresholds", ts, f"at most {MAX_THRESHOLDS} increasing "
                               "fractions between 0 and 1")
        if not isinstance(self.hard_stop, bool):
            raise InvalidValue("hard_stop", self.hard_stop, "true or false")
        if self.updated_by is not None and not isinstance(self.updated_by, str):
            raise InvalidValue("updated_by", self.updated_by, "a member id or nothing")

    def to_doc(self) -> dict[str, Any]:
        return {"team": self.team, "amount_nanos": self.amount_nanos, "period": self.period,
                "timezone": self.timezone, "thresholds": list(self.thresholds),
                "hard_stop": self.hard_stop, "updated_by": self.updated_by}

    @classmethod
    def from_doc(cls, team: str, doc: Mapping[str, Any]) -> Budget:
        """The stored budget, every field type-checked as stored (no coercion: the string
        "false" is not a hard_stop of False); a malformed one is one BudgetError line."""
        try:
            if "amount_nanos" not in doc:
                raise InvalidValue("amount_nanos", None, "an integer number of nano-dollars "
                                   "(the field is missing)")
            thresholds = doc.get("thresholds", DEFAULT_THRESHOLDS)
            if not isinstance(thresholds, (list, tuple)):
                raise InvalidValue("thresholds", thresholds,
                                   "a list of increasing fractions between 0 and 1")
            return cls(team=team, amount_nanos=doc["amount_nanos"],
                       period=doc.get("period", "month"),
                       timezone=doc.get("timezone", "UTC"),
                       thresholds=tuple(thresholds),
                       hard_stop=doc.get("hard_stop", False),
                       updated_by=doc.get("updated_by"), updated_at=doc.get("updated_at"))
        except (TypeError, ValueError) as exc:
            raise BudgetError(f"the budget document teamcost_budgets/{team} is malformed "
                              f"({exc}); set it again with `teamcost budget set`") from None

    def to_dict(self) -> dict[str, Any]:
        d = self.to_doc()
        d["amount_usd"] = nanos_to_usd(self.amount_nanos)
        d["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        return d


def would_exhaust(spent_nanos: int, estimate_nanos: int, amount_nanos: int) -> bool:
    return spent_nanos + estimate_nanos >= amount_nanos


def projection(spent_nanos: int, start: datetime, end: datetime, now: datetime) -> int:
    """Spent so far extrapolated at the same average rate to the period's end, exactly:
    ``periods.project_to_end``, the one definition every view shares."""
    return project_to_end(spent_nanos, start, end, now)


@dataclass(frozen=True)
class BudgetStatus:
    """Everything `budget check` says, computed by ``evaluate``."""

    budget: Budget
    now: datetime
    start: datetime
    end: datetime
    period_key: str
    pushed_nanos: int
    pushed_calls: int
    unpushed_nanos: int
    unpushed_calls: int
    estimate_nanos: int = 0
    crossed: tuple[float, ...] = ()
    alerts: list[str] = field(default_factory=list)
    # what the budget counts (budget/billing.py): metered + seats; plan usage (calls a
    # seat covers, at list price) is in pushed/unpushed_nanos and taken out of spent_nanos
    plan_usage_nanos: int = 0
    seats_nanos: int = 0
    plans: str = "none"

    @property
    def metered_nanos(self) -> int:
        return self.pushed_nanos + self.unpushed_nanos - self.plan_usage_nanos

    @property
    def spent_nanos(self) -> int:
        return self.metered_nanos + self.seats_nanos

    @property
    def with_estimate_nanos(self) -> int:
        return self.spent_nanos + self.estimate_nanos

    @property
    def remaining_nanos(self) -> int:
        return self.budget.amount_nanos - self.spent_nanos

    @property
    def fraction(self) -> float:
        return self.with_estimate_nanos / self.budget.amount_nanos

    @property
    def projected_nanos(self) -> int:
        return projection(self.spent_nanos, self.start, self.end, self.now)

    @property
    def exit_code(self) -> int:
        b = self.budget
        if would_exhaust(self.spent_nanos, self.estimate_nanos, b.amount_nanos):
            return EXIT_EXHAUSTED
        if any(self.with_estimate_nanos >= t * b.amount_nanos for t in b.thresholds):
            return EXIT_WARN
        return EXIT_OK

    @property
    def level(self) -> str:
        return LEVELS[self.exit_code]

    @property
    def line(self) -> str:
        b = self.budget
        est = (f" + {format_usd(self.estimate_nanos)} estimated" if self.estimate_nanos else "")
        which = ""
        if self.seats_nanos or self.plan_usage_nanos or self.plans == "unknown":
            which = (f" [metered {format_usd(self.metered_nanos)} + seats "
                     f"{format_usd(self.seats_nanos)}; plan usage "
                     f"{format_usd(self.plan_usage_nanos)} at list price not counted"
                     + ("; plans unknown: every call counted as metered"
                        if self.plans == "unknown" else "") + "]")
        return (f"team {b.team}: {format_usd(self.spent_nanos)}{est} of {format_usd(b.amount_nanos)} "
                f"({self.fraction * 100:.1f}%) this {b.period}, {self.level}, "
                f"projected {format_usd(self.projected_nanos)} by {b.period} end{which}")

    def to_dict(self) -> dict[str, Any]:
        b = self.budget
        return {
            "team": b.team, "period": b.period, "period_key": self.period_key,
            "timezone": b.timezone, "start": self.start.isoformat(),
            "end": self.end.isoformat(), "now": self.now.isoformat(),
            "limit_nanos": b.amount_nanos, "limit_usd": nanos_to_usd(b.amount_nanos),
            "spent_nanos": self.spent_nanos, "spent_usd": nanos_to_usd(self.spent_nanos),
            "pushed_nanos": self.pushed_nanos, "pushed_calls": self.pushed_calls,
            "unpushed_nanos": self.unpushed_nanos, "unpushed_calls": self.unpushed_calls,
            "estimate_nanos": self.estimate_nanos,
            "metered_nanos": self.metered_nanos, "seats_nanos": self.seats_nanos,
            "plan_usage_nanos": self.plan_usage_nanos, "counts": "metered + seats",
            "plans": self.plans,
            "remaining_nanos": self.remaining_nanos, "fraction": round(self.fraction, 6),
            "projected_nanos": self.projected_nanos,
            "projected_usd": nanos_to_usd(self.projected_nanos),
            "thresholds": list(b.thresholds), "hard_stop": b.hard_stop,
            "level": self.level, "exit_code": self.exit_code, "line": self.line,
            "alerts": list(self.alerts),
        }


def period_of(budget: Budget, now: datetime) -> tuple[datetime, datetime, str]:
    start, end = period_bounds(now, budget.period, budget.timezone)
    return start, end, period_key(start, budget.period, budget.timezone)

