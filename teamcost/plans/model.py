"""Plans and seat assignments, as ``teamcost_plans/{team}`` holds them.

A plan has a name, a price per seat per month (nano-dollars) and what it covers: patterns
over the call's source (its ``source`` tag, else its agent), provider and model (shell-style
``*`` patterns, matched without regard to case; an empty pattern list covers nothing). A seat
event says member M holds plan P from instant T on (or, ``holds=False``, no longer holds
it): a member may hold several plans at once (Claude Max and Copilot), and the plans a
member holds at a call's time are those whose latest event at or before it holds. Assignments take effect on a 15-minute
UTC boundary (``SLOT``, rounded up when set): the team's rollups count calls in 15-minute
UTC slots, so a call's plan is the same whether read from raw calls or from rollups.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from teamcost.errors import InvalidValue
from teamcost.models import check_ts
from teamcost.money import MAX_BUDGET_NANOS

SLOT = timedelta(minutes=15)
MAX_PLANS = 32
MAX_COVERS = 16
MAX_SEATS = 2000       # assignments kept in one document (well under Firestore's 1 MiB)
MAX_PATTERN = 128
_PLAN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+\-]{0,63}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slot_ceil(ts: datetime) -> datetime:
    """``ts`` rounded up to the next 15-minute UTC boundary (itself when on one)."""
    ts = ts.astimezone(UTC)
    n, rest = divmod(ts - _EPOCH, SLOT)
    return _EPOCH + (n + (1 if rest else 0)) * SLOT


def check_plan_name(name: Any) -> str:
    if not isinstance(name, str) or not _PLAN_NAME.match(name):
        raise InvalidValue("plan", name, "a plan name of 1 to 64 letters, digits, spaces and "
                                         "_ . + - (starting with a letter or digit)")
    return name


@dataclass(frozen=True)
class Cover:
    """One coverage rule: every given pattern must match (``*`` = anything)."""

    source: str = "*"
    provider: str = "*"
    model: str = "*"

    def __post_init__(self) -> None:
        for name in ("source", "provider", "model"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v or len(v) > MAX_PATTERN \
                    or not v.isprintable():
                raise InvalidValue(f"covers.{name}", v, f"a pattern of 1 to {MAX_PATTERN} "
                                                        "printable characters (* = any)")

    def matches(self, source: str, provider: str, model: str) -> bool:
        return all(fnmatch.fnmatchcase(v.casefold(), p.casefold())
                   for v, p in ((source, self.source), (provider, self.provider),
                                (model, self.model)))

    @classmethod
    def parse(cls, text: str) -> Cover:
        """``source=claude-code,provider=anthropic,model=claude-*`` (keys optional)."""
        parts: dict[str, str] = {}
        for item in text.split(","):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in ("source", "provider", "model") or key in parts:
                raise InvalidValue("covers", text, "comma-separated source=, provider=, "
                                                   "model= patterns, e.g. source=claude-code,"
                                                   "model=claude-*")
            parts[key] = value.strip()
        return cls(**parts)

    def to_doc(self) -> dict[str, str]:
        return {"source": self.source, "provider": self.provider, "model": self.model}


@dataclass(frozen=True)
class Plan:
    name: str
    seat_nanos: int                       # price per seat per calendar month (UTC)
    covers: tuple[Cover, ...] = ()

    def __post_init__(self) -> None:
        check_plan_name(self.name)
        if type(self.seat_nanos) is not int or not 0 <= self.seat_nanos <= MAX_BUDGET_NANOS:
            raise InvalidValue("price", self.seat_nanos, "a price per seat per month from $0")
        if len(self.covers) > MAX_COVERS:
            raise InvalidValue("covers", len(self.covers), f"at most {MAX_COVERS} rules")

    def covers_call(self, source: str, provider: str, model: str) -> bool:
        return any(c.matches(source, provider, model) for c in self.covers)

    def to_doc(self) -> dict[str, Any]:
        return {"name": self.name, "seat_nanos": self.seat_nanos,
                "covers": [c.to_doc() for c in self.covers]}


@dataclass(frozen=True)
class Seat:
    """``member`` holds (``holds=False``: gives up) a seat of ``plan`` from ``since`` (a
    15-minute boundary)."""

    member: str
    plan: str
    since: datetime
    holds: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.member, str) or not self.member or len(self.member) > 128:
            raise InvalidValue("member", self.member, "a member name")
        check_plan_name(self.plan)
        if not isinstance(self.holds, bool):
            raise InvalidValue("holds", self.holds, "true or false")
        since = check_ts("from", self.since)
        if slot_ceil(since) != since:
            raise InvalidValue("from", since.isoformat(), "a 15-minute UTC boundary")
        object.__setattr__(self, "since", since)

    def to_doc(self) -> dict[str, Any]:
        return {"member": self.member, "plan": self.plan, "since": self.since,
                "holds": self.holds}


@dataclass(frozen=True)
class Plans:
    """A team's plans and seat history (assignments sorted by time)."""

    team: str
    plans: Mapping[str, Plan] = field(default_factory=dict)
    seats: tuple[Seat, ...] = ()

    def __post_init__(self) -> None:
        if len(self.plans) > MAX_PLANS:
            raise InvalidValue("plans", len(self.plans), f"at most {MAX_PLANS} plans")
        if len(self.seats) > MAX_SEATS:
            raise InvalidValue("seats", len(self.seats), f"at most {MAX_SEATS} assignments")
        for s in self.seats:
            if s.plan not in self.plans:
                raise InvalidValue("plan", s.plan, "a plan set with `teamcost plan set`")
        object.__setattr__(self, "seats",
                           tuple(sorted(self.seats, key=lambda s: (s.since, s.member))))

    def plans_at(self, member: str, ts: datetime) -> list[Plan]:
        """The plans the member holds at ``ts``: those whose latest event at or before it
        holds."""
        held: dict[str, bool] = {}
        for s in self.seats:
            if s.since > ts:
                break
            if s.member == member:
                held[s.plan] = s.holds
        return [self.plans[p] for p, h in sorted(held.items()) if h]

    def intervals(self, member: str) -> list[tuple[datetime, datetime | None, Plan]]:
        """[from, until) spans in which ``member`` holds each plan (until None: still)."""
        out: list[tuple[datetime, datetime | None, Plan]] = []
        start: dict[str, datetime] = {}
        for s in self.seats:
            if s.member != member:
                continue
            if s.holds:
                start.setdefault(s.plan, s.since)
            elif s.plan in start:
                since = start.pop(s.plan)
                if s.since > since:
                    out.append((since, s.since, self.plans[s.plan]))
        out += [(since, None, self.plans[p]) for p, since in sorted(start.items())]
        return sorted(out, key=lambda x: (x[0], x[2].name))

    def members(self) -> list[str]:
        return sorted({s.member for s in self.seats})

    def with_plan(self, plan: Plan) -> Plans:
        return Plans(self.team, {**self.plans, plan.name: plan}, self.seats)

    def with_seat(self, seat: Seat) -> Plans:
        # a second event of the same member and plan at the same instant replaces the first
        kept = tuple(s for s in self.seats
                     if not (s.member == seat.member and s.plan == seat.plan
                             and s.since == seat.since))
        return Plans(self.team, self.plans, (*kept, seat))

    def to_doc(self) -> dict[str, Any]:
        return {"team": self.team,
                "plans": [p.to_doc() for p in sorted(self.plans.values(),
                                                     key=lambda p: p.name)],
                "seats": [s.to_doc() for s in self.seats]}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--format json``): the document."""
        return self.to_doc()

    @classmethod
    def from_doc(cls, team: str, doc: Mapping[str, Any]) -> Plans:
        try:
            plans = {p["name"]: Plan(p["name"], p["seat_nanos"],
                                     tuple(Cover(**c) for c in p.get("covers", ())))
                     for p in doc.get("plans", ())}
            seats = tuple(Seat(s["member"], s["plan"], _aware(s["since"]),
                               s.get("holds", True))
                          for s in doc.get("seats", ()))
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidValue("teamcost_plans", team, f"a plans document as teamcost writes "
                                                       f"it ({type(exc).__name__}: {exc})") from None
        return cls(team, plans, seats)


def _aware(ts: Any) -> datetime:
    if isinstance(ts, datetime) and ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    if isinstance(ts, datetime):
        # Firestore's DatetimeWithNanoseconds is a datetime subclass
        return datetime(ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second,
                        ts.microsecond, tzinfo=UTC) if ts.utcoffset() == timedelta(0) \
            else ts.astimezone(UTC)
    return check_ts("since", ts)


def parse_covers(values: Sequence[str]) -> tuple[Cover, ...]:
    return tuple(Cover.parse(v) for v in values)
