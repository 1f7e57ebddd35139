"""A deterministic, realistic team for the demo: members, machines, agents, models, a month.

``generate_calls`` is pure (a seed and an end time in, call records out); ``write_ledgers``
records them into one SQLite ledger per machine, as real machines would. Every cost is
computed by ``teamcost.pricing.Pricer`` from the tokens, so the demo's numbers are the
numbers a real team with this usage would see.

Shape of the month: people work weekdays (weekends are quiet), in sessions where a
planner agent thinks on a big model, a coder agent does most of the calls on a mid-size
model with heavy prompt caching, and a reviewer checks on a small one; a CI runner
reviews every night. One weekday has a
runaway agent loop: the spike a budget exists for.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.pricing import Pricer

DEMO_TEAM = "demo-team"
DEMO_PROJECT = "demo-teamcost"
DEFAULT_SEED = 20261123
DEFAULT_DAYS = 30

AGENTS: tuple[str, ...] = ("planner", "coder", "reviewer")


@dataclass(frozen=True)
class Member:
    name: str                      # the member id (an email, as git would give it)
    machines: tuple[str, ...]      # ledger names: one file per machine
    provider: str                  # the provider this person mostly uses
    sessions_per_day: float        # mean working sessions on a weekday


@dataclass(frozen=True)
class ModelChoice:
    provider: str
    model: str


# Per provider, the model each agent role uses: big for planning, mid for coding, small
# for reviewing. Every member also borrows another provider's stack now and then.
STACKS: dict[str, dict[str, ModelChoice]] = {
    "anthropic": {"planner": ModelChoice("anthropic", "claude-opus-4-1"),
                  "coder": ModelChoice("anthropic", "claude-sonnet-4-5"),
                  "reviewer": ModelChoice("anthropic", "claude-haiku-4-5")},
    "openai": {"planner": ModelChoice("openai", "gpt-5"),
               "coder": ModelChoice("openai", "gpt-5"),
               "reviewer": ModelChoice("openai", "gpt-5-mini")},
    "google": {"planner": ModelChoice("google", "gemini-2.5-pro"),
               "coder": ModelChoice("google", "gemini-2.5-pro"),
               "reviewer": ModelChoice("google", "gemini-2.5-flash")},
}

MEMBERS: tuple[Member, ...] = (
    Member("alice@demo.teamcost.dev", ("alice-laptop", "alice-workstation"), "anthropic", 3.5),
    Member("bob@demo.teamcost.dev", ("bob-laptop",), "openai", 3.0),
    Member("chen@demo.teamcost.dev", ("chen-laptop", "chen-devbox"), "anthropic", 2.5),
    Member("dana@demo.teamcost.dev", ("dana-laptop",), "google", 3.0),
    Member("eve@demo.teamcost.dev", ("eve-ci-runner",), "openai", 2.0),
)


def all_models() -> list[ModelChoice]:
    """Every (provider, model) the demo uses, in a stable order."""
    seen: dict[tuple[str, str], ModelChoice] = {}
    for stack in STACKS.values():
        for choice in stack.values():
            seen.setdefault((choice.provider, choice.model), choice)
    return list(seen.values())


@dataclass(frozen=True)
class DemoData:
    """The generated month: calls per machine, plus facts the demo and tests rely on."""

    calls_by_machine: dict[str, list[CallRecord]]
    machine_member: dict[str, str]
    spike_day: datetime            # midnight UTC of the spike day
    start: datetime
    end: datetime
    seed: int

    @property
    def calls(self) -> list[CallRecord]:
        out = [c for cs in self.calls_by_machine.values() for c in cs]
        out.sort(key=lambda c: (c.ts, c.call_id))
        return out

    @property
    def total_nanos(self) -> int:
        return sum(c.cost_nanos for cs in self.calls_by_machine.values() for c in cs)


@dataclass
class _Gen:
    rng: random.Random
    pricer: Pricer
    team: str
    now: datetime
    tag: str                                   # makes call ids unique per end time and seed
    ledger_ids: dict[str, str]
    calls: dict[str, list[CallRecord]] = field(default_factory=dict)
    n: int = 0

    def call_id(self) -> str:
        self.n += 1
        return f"demo-{self.tag}-{self.n:06d}"

    def tokens(self, agent: str, provider: str, first_in_session: bool,
               scale: float = 1.0) -> tuple[int, int, int, int]:
        """(input excl. cache, output, cache_read, cache_write) for one call."""
        r = self.rng
        if agent == "planner":
            prompt, out = r.randint(12_000, 60_000), r.randint(1_500, 8_000)
        elif agent == "coder":
            prompt, out = r.randint(25_000, 150_000), r.randint(600, 9_000)
        else:
            prompt, out = r.randint(8_000, 50_000), r.randint(300, 3_000)
        prompt, out = int(prompt * scale), int(out * scale)
        # Prompt caching: the shared context (repo map, instructions) is cached after the
        # first call of a session. Anthropic bills the cache write; others only reads.
        if first_in_session:
            cached = 0
            write = int(prompt * 0.7) if provider == "anthropic" else 0
        else:
            cached = int(prompt * r.uniform(0.55, 0.9))
            write = int(prompt * 0.05) if provider == "anthropic" else 0
        fresh = prompt - cached - write
        return fresh, out, cached, write

    def emit(self, machine: str, member: str, ts: datetime, session: str, agent: str,
             choice: ModelChoice, task: str, first: bool, scale: float = 1.0) -> None:
        if ts > self.now:
            return
        fresh, out, cread, cwrite = self.tokens(agent, choice.provider, first, scale)
        ok = self.rng.random() > 0.012
        price = self.pricer.price(choice.provider, choice.model, fresh, out, cread, cwrite,
                                  ts=ts)
        if not ok:  # a failed call still bills its input, not its output
            out = 0
            price = self.pricer.price(choice.provider, choice.model, fresh, 0, cread, cwrite,
                                      ts=ts)
        rec = CallRecord(
            call_id=self.call_id(), ts=ts, team=self.team, member=member,
            ledger_id=self.ledger_ids.get(machine, machine), provider=choice.provider,
            model=choice.model, input_tokens=fresh, output_tokens=out,
            cache_read_tokens=cread, cache_write_tokens=cwrite, cost_nanos=price.cost_nanos,
            priced=price.priced, price_source=price.source, session_id=session, agent=agent,
            task_id=task, duration_s=round(0.4 + (fresh + cread) / 40_000 + out / 90, 3),
            success=ok, error=None if ok else "overloaded_error: 529",
            tags={"demo": "true", "machine": machine})
        self.calls.setdefault(machine, []).append(rec)


def _day_weight(day: datetime) -> float:
    return 1.0 if day.weekday() < 5 else 0.12


def pick_spike_day(rng: random.Random, days: Sequence[datetime]) -> datetime:
    """A weekday in the middle of the window (never today, never the first days)."""
    candidates = [d for d in days[3:-2] if d.weekday() < 5]
    return rng.choice(candidates)


def generate_calls(now: datetime | None = None, *, seed: int = DEFAULT_SEED,
                   days: int = DEFAULT_DAYS, team: str = DEMO_TEAM,
                   members: Sequence[Member] = MEMBERS, pricer: Pricer | None = None,
                   ledger_ids: dict[str, str] | None = None, scale: float = 1.0) -> DemoData:
    """The demo team's calls over ``days`` days ending at ``now`` (no call after it).

    Same seed and same ``now`` give the same calls, ids included. ``scale`` multiplies
    the number of sessions (tests use a small one). ``ledger_ids`` maps machine names to
    the ids of the ledgers they will be written to (default: the machine name).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    now = now.replace(microsecond=0)
    today = now.replace(hour=0, minute=0, second=0)
    window = [today - timedelta(days=i) for i in range(days - 1, -1, -1)]
    rng = random.Random(seed)
    tag = hashlib.sha256(f"{seed}:{now.isoformat()}".encode()).hexdigest()[:10]
    g = _Gen(rng, pricer or Pricer(), team, now, tag, dict(ledger_ids or {}))
    spike = pick_spike_day(rng, window)
    models = all_models()

    for day in window:
        for m in members:
            mean = m.sessions_per_day * _day_weight(day) * scale
            n_sessions = _poisson(rng, mean)
            for k in range(n_sessions):
                machine = m.machines[rng.randrange(len(m.machines))]
                # mostly the member's own stack; a fifth of sessions try another provider
                provider = m.provider if rng.random() < 0.8 else rng.choice(sorted(STACKS))
                stack = STACKS[provider]
                start = day + timedelta(hours=rng.triangular(7.5, 19.5, 11.0))
                session = f"{m.name.split('@')[0]}-{day:%m%d}-{k + 1}"
                task = f"TASK-{rng.randint(100, 480)}"
                _session(g, machine, m.name, start, session, task, stack)
        # the CI runner's nightly review job: every night, weekends too, small model
        ci = members[-1]
        t = day + timedelta(hours=1, minutes=rng.randint(0, 40))
        for i in range(max(1, int(rng.randint(6, 14) * scale))):
            g.emit(ci.machines[-1], ci.name, t, f"nightly-{day:%m%d}", "reviewer",
                   STACKS[ci.provider]["reviewer"], "NIGHTLY", i == 0)
            t += timedelta(seconds=rng.randint(20, 90))
        if day == spike:
            # the runaway: a reviewer/coder loop left running on a CI runner for hours
            m = members[-1]
            machine = m.machines[0]
            t = day + timedelta(hours=13, minutes=5)
            stack = STACKS["anthropic"]
            for i in range(int(260 * max(scale, 0.05))):
                agent = "coder" if i % 2 == 0 else "reviewer"
                choice = stack["planner"] if agent == "coder" else stack[agent]
                g.emit(machine, m.name, t, f"loop-{day:%m%d}", agent, choice, "TASK-LOOP",
                       i == 0, scale=1.3)
                t += timedelta(seconds=rng.randint(25, 70))
    # make sure every member and every model appears in the last 7 days whatever the
    # seed and scale: the demo's `report --since 7d` is meant to show the whole team
    week_ago = now - timedelta(days=6)
    recent = [c for cs in g.calls.values() for c in cs if c.ts >= week_ago]
    seen_models = {(c.provider, c.model) for c in recent}
    seen_members = {c.member for c in recent}
    ts = min(now, today - timedelta(days=1) + timedelta(hours=10))
    for i, choice in enumerate(models):
        if (choice.provider, choice.model) not in seen_models:
            m = members[i % len(members)]
            agent = next(a for a, c in STACKS[choice.provider].items() if c == choice)
            g.emit(m.machines[0], m.name, ts + timedelta(minutes=i), f"{_short(m)}-extra",
                   agent, choice, "TASK-100", True)
            seen_members.add(m.name)
    for i, m in enumerate(members):
        if m.name not in seen_members:
            g.emit(m.machines[0], m.name, ts + timedelta(minutes=30 + i), f"{_short(m)}-extra",
                   "coder", STACKS[m.provider]["coder"], "TASK-100", True)
    for cs in g.calls.values():
        cs.sort(key=lambda c: (c.ts, c.call_id))
    machine_member = {mc: m.name for m in members for mc in m.machines}
    return DemoData(g.calls, machine_member, spike, window[0], now, seed)


def _short(m: Member) -> str:
    return m.name.split("@")[0]


def _session(g: _Gen, machine: str, member: str, start: datetime, session: str, task: str,
             stack: dict[str, ModelChoice]) -> None:
    r = g.rng
    t = start
    first = True
    plan = [("planner", r.randint(1, 3)), ("coder", r.randint(4, 16)),
            ("reviewer", r.randint(1, 3))]
    if r.random() < 0.35:  # review found something: another coding round and a re-review
        plan += [("coder", r.randint(2, 6)), ("reviewer", 1)]
    for agent, n in plan:
        for _ in range(n):
            g.emit(machine, member, t, session, agent, stack[agent], task, first)
            first = False
            t += timedelta(seconds=r.randint(8, 240))


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means here
    if mean <= 0:
        return 0
    import math
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def daily_totals(calls: Iterable[CallRecord]) -> dict[datetime, int]:
    """Cost per UTC day (midnight UTC -> nanos): a second, simple sum for tests."""
    out: dict[datetime, int] = {}
    for c in calls:
        day = c.ts.replace(hour=0, minute=0, second=0, microsecond=0)
        out[day] = out.get(day, 0) + c.cost_nanos
    return out


@dataclass(frozen=True)
class WrittenLedgers:
    paths: dict[str, Path]          # machine -> ledger file
    data: DemoData
    inserted: int


def write_ledgers(directory: Path, now: datetime | None = None, *, seed: int = DEFAULT_SEED,
                  days: int = DEFAULT_DAYS, team: str = DEMO_TEAM,
                  members: Sequence[Member] = MEMBERS, scale: float = 1.0,
                  pricer: Pricer | None = None) -> WrittenLedgers:
    """One ledger per machine under ``directory`` (``<machine>.db``), filled with the month.

    Each ledger mints its own ledger_id, as on a real machine; the calls carry it.
    Re-running with the same seed and ``now`` adds nothing (the ledger is idempotent).
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = {mc: directory / f"{mc}.db" for m in members for mc in m.machines}
    ids: dict[str, str] = {}
    for mc, p in paths.items():
        with Ledger(p) as led:
            ids[mc] = led.ledger_id
    data = generate_calls(now, seed=seed, days=days, team=team, members=members,
                          pricer=pricer, ledger_ids=ids, scale=scale)
    inserted = 0
    for mc, p in paths.items():
        with Ledger(p) as led:
            inserted += led.record_many(data.calls_by_machine.get(mc, []))[0]
    return WrittenLedgers(paths, data, inserted)
