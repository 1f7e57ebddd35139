"""The recording API: ``Tracker`` and the module-level ``teamcost.record``.

Context (session, agent, task, correlation id, tags) lives in contextvars, so
``with tracker.session(...)`` stamps every call recorded inside it, in threads
started inside it (when the thread copies the context) and in asyncio tasks.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from teamcost.attribution import for_log, process_attribution, ticket_in
from teamcost.attribution import merge as merge_attribution
from teamcost.config import Config, load_config
from teamcost.errors import InvalidValue
from teamcost.ids import uuid7
from teamcost.ledger import Ledger
from teamcost.models import (
    MAX_TAGS,
    CallRecord,
    check_cost,
    check_int,
    check_not_future,
    check_str,
    check_ts,
)
from teamcost.money import MAX_BUDGET_NANOS, usd_to_nanos
from teamcost.pricing import PRICE_CACHE_FILE, Price, Pricer, extras_tags


@dataclass(frozen=True)
class CallContext:
    session_id: str | None = None
    agent: str | None = None
    task_id: str | None = None
    correlation_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


_TOKEN_NAMES = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_context: contextvars.ContextVar[CallContext] = contextvars.ContextVar(
    "teamcost_context", default=CallContext())  # noqa: B039 - frozen, never mutated


def current_context() -> CallContext:
    return _context.get()


class Guard(Protocol):
    """What ``Tracker.guard`` needs from a budget guard (teamcost.budget.guard.BudgetGuard).

    The budget layer sits above recording, so the tracker does not import it: the budget
    package installs its guard with ``install_guard_factory`` when it is imported (and
    ``import teamcost`` imports it).
    """

    def check(self, estimate_nanos: int = 0) -> None: ...

    def note(self, cost_nanos: int) -> None: ...


GuardFactory = Callable[[Config, Ledger], Guard]
_guard_factory: GuardFactory | None = None


def install_guard_factory(factory: GuardFactory) -> None:
    global _guard_factory
    _guard_factory = factory


@contextlib.contextmanager
def use_context(ctx: CallContext) -> Iterator[CallContext]:
    """Run a block in a context captured earlier: a stream made inside a session and
    read after the session block ended still records into that session."""
    token = _context.set(ctx)
    try:
        yield ctx
    finally:
        _context.reset(token)


class Pusher(Protocol):
    """What ``Tracker(push_every=...)`` runs (teamcost.sync.background.BackgroundPusher),
    installed by the sync package like the guard is by the budget package."""

    def close(self) -> None: ...


PusherFactory = Callable[[Config, Ledger, float], Pusher]
_pusher_factory: PusherFactory | None = None


def install_pusher_factory(factory: PusherFactory) -> None:
    global _pusher_factory
    _pusher_factory = factory


class Tracker:
    """Records calls into one ledger with one config. Cheap to call from many threads."""

    def __init__(self, config: Config | None = None, ledger: Ledger | None = None, *,
                 push_every: float | None = None) -> None:
        """``push_every`` (seconds): push this ledger to Firestore from a background thread
        that often and at exit, for processes no agent serves (needs a project)."""
        self.config = config or load_config()
        self._ledger = ledger
        self._ledger_lock = threading.Lock()
        self.pricer = Pricer(self.config.price_overrides,
                             cache_file=self.config.home / PRICE_CACHE_FILE)
        self._guard: Guard | None = None   # made on first guard() by the installed factory
        self._pusher: Pusher | None = None
        if push_every is not None:
            if (isinstance(push_every, bool) or not isinstance(push_every, (int, float))
                    or not 0.1 <= push_every <= 86400):
                raise InvalidValue("push_every", push_every, "seconds from 0.1 to 86400")
            if self.config.project:
                if _pusher_factory is None:  # pragma: no cover - importing teamcost installs it
                    raise RuntimeError("no pusher installed (import teamcost.sync.background)")
                self._pusher = _pusher_factory(self.config, self.ledger, float(push_every))

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            with self._ledger_lock:
                if self._ledger is None:
                    self._ledger = Ledger.for_config(self.config)
        return self._ledger

    # -- context managers --

    @contextlib.contextmanager
    def _push(self, **changes: Any) -> Iterator[CallContext]:
        ctx = replace(_context.get(), **{k: v for k, v in changes.items() if v is not None})
        token = _context.set(ctx)
        try:
            yield ctx
        finally:
            _context.reset(token)

    def session(self, session_id: str | None = None, *, task_id: str | None = None,
                correlation_id: str | None = None,
                tags: Mapping[str, str] | None = None) -> contextlib.AbstractContextManager[CallContext]:
        """Stamp calls inside with a session (a new UUIDv7 when none is given)."""
        merged = {**_context.get().tags, **(tags or {})}
        return self._push(session_id=session_id or uuid7(), task_id=task_id,
                          correlation_id=correlation_id, tags=merged)

    def agent(self, name: str, *, task_id: str | None = None
              ) -> contextlib.AbstractContextManager[CallContext]:
        """Stamp calls inside with an agent (role or tier: Planner, Coder, "Tier 3")."""
        check_str("agent", name)
        return self._push(agent=name, task_id=task_id)

    def task(self, task_id: str) -> contextlib.AbstractContextManager[CallContext]:
        check_str("task_id", task_id)
        return self._push(task_id=task_id)

    # -- recording --

    def build(self, model: str, input_tokens: int = 0, output_tokens: int = 0, *,
              provider: str | None = None, cache_read_tokens: int = 0,
              cache_write_tokens: int = 0, cache_write_1h_tokens: int = 0,
              web_search_requests: int = 0, cost_usd: Any = None, duration_s: float | None = None,
              success: bool = True, error: str | None = None, call_id: str | None = None,
              ts: datetime | None = None, session_id: str | None = None,
              agent: str | None = None, task_id: str | None = None,
              correlation_id: str | None = None, tags: Mapping[str, str] | None = None,
              estimated: bool = False, member: str | None = None,
              team: str | None = None, attribute: bool = False,
              origin: Mapping[str, Any] | None = None) -> CallRecord:
        """Validate and price a call without recording it.

        ``cache_write_1h_tokens`` (the one-hour part of ``cache_write_tokens``) and
        ``web_search_requests`` are priced and kept as tags (pricing.extras_tags): the call
        record has no fields for them.

        ``attribute``: add this process's attribution tags (teamcost.attribution: project,
        repo, branch, ticket, pr of the working directory and CI, read once per process)
        under the given ones; for calls this process makes (SDK hooks, ``record``), not
        for calls read from logs, which carry their own. ``origin``: where a call read
        from a log ran, as the log names it (``cwd``, ``branch``, ``repo_url``): the
        attribution tags are worked out from it (attribution.for_log) under the given ones.
        """
        tokens, extras, when, price = self._priced(
            model, provider, (input_tokens, output_tokens, cache_read_tokens,
                              cache_write_tokens), (cache_write_1h_tokens, web_search_requests),
            cost_usd, ts)
        ctx = _context.get()
        # validate before the first call opens (and perhaps creates) the ledger file
        opened = self._ledger
        rec = CallRecord(
            call_id=uuid7() if call_id is None else call_id, ts=when,
            team=self.config.team if team is None else team,
            member=self.config.member if member is None else member,
            ledger_id=opened.ledger_id if opened is not None else "unopened",
            provider=provider or price.provider or "unknown", model=model,
            input_tokens=tokens[0], output_tokens=tokens[1], cache_read_tokens=tokens[2],
            cache_write_tokens=tokens[3], cost_nanos=price.cost_nanos, priced=price.priced,
            price_source=price.source,
            # "is None", not "or": an empty string given is an error, not "use the context"
            session_id=ctx.session_id if session_id is None else session_id,
            agent=ctx.agent if agent is None else agent,
            task_id=ctx.task_id if task_id is None else task_id,
            correlation_id=ctx.correlation_id if correlation_id is None else correlation_id,
            duration_s=duration_s, success=success, error=error,
            tags=_tags(ctx.tags, tags, extras_tags(*extras),
                       for_log(**origin, pattern=self.config.ticket_pattern) if origin
                       else process_attribution(self.config.ticket_pattern) if attribute
                       else None, self.config.ticket_pattern),
            estimated=estimated)
        return rec if opened is not None else rec.replace(ledger_id=self.ledger.ledger_id)

    def _priced(self, model: str, provider: str | None, counts: tuple[int, int, int, int],
                extra: tuple[int, int], cost_usd: Any, ts: datetime | None
                ) -> tuple[list[int], tuple[int, int], datetime, Price]:
        """``build``'s checks of a call's model and numbers, and its price."""
        check_str("model", model)
        if provider is not None:
            check_str("provider", provider)
        tokens = [check_int(n, v) for n, v in zip(_TOKEN_NAMES, counts)]
        extras = (check_int("cache_write_1h_tokens", extra[0]),
                  check_int("web_search_requests", extra[1]))
        when = check_ts("ts", ts if ts is not None else datetime.now(UTC))
        check_not_future("ts", when)
        price = self.pricer.price(provider, model, *tokens, cache_write_1h_tokens=extras[0],
                                  web_search_requests=extras[1], reported_cost_usd=cost_usd,
                                  ts=when)
        return tokens, extras, when, price

    def check_numbers(self, model: str, input_tokens: int = 0, output_tokens: int = 0, *,
                      provider: str | None = None, cache_read_tokens: int = 0,
                      cache_write_tokens: int = 0, cache_write_1h_tokens: int = 0,
                      web_search_requests: int = 0, ts: datetime | None = None) -> Price:
        """The price of these numbers, raising what ``build`` would raise for them (the
        counts, the price, the cost's bounds), without making a record: a log reader
        whose later snapshot of a message differs from the record built for it only in
        its token counts takes the record with those counts and this price
        (``CallRecord.with_counts``) instead of building it again (a build is most of a
        line's cost)."""
        price = self._priced(model, provider, (input_tokens, output_tokens,
                                               cache_read_tokens, cache_write_tokens),
                             (cache_write_1h_tokens, web_search_requests), None, ts)[3]
        check_cost("cost_nanos", price.cost_nanos)
        return price

    def record(self, model: str, input_tokens: int = 0, output_tokens: int = 0,
               **kwargs: Any) -> CallRecord:
        """Price and append one call to the ledger; returns the stored record.

        Re-recording the same call_id with the same content is a no-op; with different
        content it raises DuplicateCallError. Nothing is written when validation fails.
        """
        kwargs.setdefault("attribute", True)
        rec = self.build(model, input_tokens, output_tokens, **kwargs)
        self.record_call(rec)
        return rec

    def record_call(self, rec: CallRecord) -> bool:
        """Append an already-built record (importers); False if it was already there."""
        new = self.ledger.record(rec)
        self.pricer.save_cache()
        if new and self._guard is not None:
            self._guard.note(rec.cost_nanos)
        return new

    # -- budget guard --

    def guard(self, estimated_usd: Any = None, *, estimated_nanos: int | None = None) -> None:
        """Raise BudgetExceeded before a call that would exhaust a hard-stop team budget.

        Answers from a snapshot of the team's spend kept fresh every ``guard_ttl_s``
        (see teamcost.budget.guard for the overshoot bound). No project: always allowed.
        """
        if not self.config.project:
            return
        if _guard_factory is None:  # pragma: no cover - importing teamcost installs it
            raise RuntimeError("no budget guard installed (import teamcost.budget.guard)")
        if self._guard is None:
            ledger = self.ledger     # outside the lock: opening the ledger takes it too
            with self._ledger_lock:
                if self._guard is None:
                    self._guard = _guard_factory(self.config, ledger)
        self._guard.check(estimate_to_nanos(estimated_usd, estimated_nanos))

    def close(self) -> None:
        if self._pusher is not None:
            self._pusher.close()      # its last push before the ledger closes
            self._pusher = None
        if self._ledger is not None:
            self._ledger.close()


def _tags(context: Mapping[str, str], given: Mapping[str, str] | None,
          extras: Mapping[str, str], derived: Mapping[str, str] | None,
          pattern: str) -> dict[str, str]:
    """The given tags over the derived ones; a branch given without a ticket takes the
    ticket of that branch, not of the derived one."""
    tags = {**context, **(given or {}), **extras}
    if not derived:
        return tags
    if "branch" in tags and "ticket" not in tags and "ticket" in derived:
        derived = {k: v for k, v in derived.items() if k != "ticket"}
        found = ticket_in([tags["branch"]], pattern)
        if found:
            derived["ticket"] = found
    return merge_attribution(derived, tags, MAX_TAGS)


def estimate_to_nanos(estimated_usd: Any = None, estimated_nanos: int | None = None) -> int:
    if estimated_nanos is not None:
        if not isinstance(estimated_nanos, int) or estimated_nanos < 0:
            raise TypeError("estimated_nanos must be a non-negative int")
        return estimated_nanos
    if estimated_usd is None:
        return 0
    return usd_to_nanos(estimated_usd, "estimated_usd", maximum=MAX_BUDGET_NANOS)


_default: Tracker | None = None
_default_lock = threading.Lock()


def default_tracker() -> Tracker:
    """The process-wide tracker built from the environment and config file."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Tracker()
    return _default


def set_default_tracker(tracker: Tracker | None) -> None:
    global _default
    with _default_lock:
        _default = tracker


def record(model: str, input_tokens: int = 0, output_tokens: int = 0, **kwargs: Any) -> CallRecord:
    """Record one call with the default tracker: ``teamcost.record("gpt-4o", 1200, 300)``."""
    return default_tracker().record(model, input_tokens, output_tokens, **kwargs)
