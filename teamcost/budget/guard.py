"""The library guard: "may this call still be made?" in microseconds.

The guard keeps a snapshot of the team's spend (Firestore aggregation + this machine's
unpushed calls) and the budget, refreshed every ``guard_ttl_s`` (default 30 s): when the
snapshot is older than that, the call is answered from it and a background thread
refreshes it (stale-while-revalidate), except that a call the stale snapshot would
refuse waits for a fresh one, so raising the limit takes effect at once after the TTL.
Calls recorded through the same Tracker are added to the snapshot as they happen.

Overshoot bound (README, "Budget guard"): spend the guard cannot see yet is other
machines' calls made since their last push plus everyone's calls since the snapshot,
so a team can end a period over its limit by at most

    overshoot <= R_team x (TTL + P) + E

where R_team is the team's spend rate, P the longest interval between pushes of any
machine, and E the largest amount by which one call's actual cost exceeds its estimate.

Firestore unreachable: a snapshot up to ``MAX_STALE_TTLS`` x TTL old is still used; after
that, or with none at all, the guard fails open (allows, logs a warning once) unless
``[budget] fail_closed = true``, when it raises BudgetUnavailable.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from teamcost.budget.model import Budget, BudgetExceeded, BudgetUnavailable, would_exhaust
from teamcost.errors import TeamcostError
from teamcost.tracker import Tracker, default_tracker, install_guard_factory

if TYPE_CHECKING:
    from teamcost.config import Config
    from teamcost.ledger import Ledger

log = logging.getLogger("teamcost.budget")
MAX_STALE_TTLS = 10


@dataclass(frozen=True)
class Snapshot:
    budget: Budget | None
    spent_nanos: int        # pushed + unpushed in the period, when fetched
    period_end: float       # epoch seconds: a new period means a new snapshot
    period: str
    fetched_at: float       # monotonic seconds


class BudgetGuard:
    """One per process (per Tracker). Thread-safe; ``check`` is the hot path."""

    def __init__(self, config: Config, *, client: Any = None,
                 ttl_s: float | None = None, fail_closed: bool | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 fetch: Callable[[], Snapshot] | None = None,
                 ledger: Ledger | None = None) -> None:
        self.config = config
        self._ledger = ledger        # the Tracker's, so refreshes open no second connection
        self.ttl_s = config.budget.guard_ttl_s if ttl_s is None else ttl_s
        self.fail_closed = config.budget.fail_closed if fail_closed is None else fail_closed
        self._client = client
        self._clock = clock
        self._wall = wall
        self._fetch = fetch or self._fetch_firestore
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._local = 0              # nanos recorded here since the snapshot's query began
        self._refreshing = False
        self._warned = False
        self.refreshes = 0

    # -- the hot path --

    def check(self, estimate_nanos: int = 0) -> None:
        """Raise BudgetExceeded if a hard-stop budget would be exhausted by this call."""
        snap = self._snap
        if (snap is None or self._wall() >= snap.period_end
                or self._clock() - snap.fetched_at > self.ttl_s * MAX_STALE_TTLS):
            snap = self._refresh_now()
        elif self._clock() - snap.fetched_at > self.ttl_s:
            if self._refuses(snap, estimate_nanos):
                snap = self._refresh_now()      # refusing anyway: pay for a fresh answer
            else:
                self._refresh_in_background()
        if snap is not None and self._refuses(snap, estimate_nanos):
            b = snap.budget
            assert b is not None
            raise BudgetExceeded(b.team, snap.spent_nanos + self._local, b.amount_nanos,
                                 b.period, estimate_nanos)

    def _refuses(self, snap: Snapshot, estimate_nanos: int) -> bool:
        b = snap.budget
        return (b is not None and b.hard_stop
                and would_exhaust(snap.spent_nanos + self._local, estimate_nanos,
                                  b.amount_nanos))

    def note(self, cost_nanos: int) -> None:
        """A call was recorded in this process: count it until the next snapshot."""
        with self._lock:
            self._local += cost_nanos

    # -- refreshing --

    def _fetch_firestore(self) -> Snapshot:
        from teamcost.budget.check import _client, status_for
        from teamcost.budget.store import get_budget

        if self._client is None:
            self._client = _client(self.config, None)
        budget = get_budget(self._client, self.config.team)
        if budget is None:  # no budget: nothing to guard; look again after the TTL
            return Snapshot(None, 0, float("inf"), "", self._clock())
        st = status_for(self.config, self._client, budget,
                        now=datetime.fromtimestamp(self._wall(), UTC),
                        ledger=self._ledger)
        return Snapshot(budget, st.spent_nanos, st.end.timestamp(), budget.period,
                        self._clock())

    def _refresh(self, background: bool = False) -> Snapshot | None:
        with self._lock:
            base = self._local
        try:
            snap = self._fetch()
        except TeamcostError as exc:
            if background:  # the caller already has its answer; the next check decides
                log.warning("teamcost: budget refresh failed (will retry): %s", exc)
                return None
            return self._unreachable(exc)
        with self._lock:
            # calls noted while the query ran may be in it too: counted twice, never missed
            self._local -= base
            self._snap = snap
            self._warned = False
            self.refreshes += 1
        return snap

    def _refresh_now(self) -> Snapshot | None:
        return self._refresh()

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def run() -> None:
            try:
                self._refresh(background=True)
            finally:
                self._refreshing = False

        threading.Thread(target=run, name="teamcost-budget-refresh", daemon=True).start()

    def _unreachable(self, exc: TeamcostError) -> Snapshot | None:
        snap = self._snap
        if (snap is not None and self._clock() - snap.fetched_at <= self.ttl_s * MAX_STALE_TTLS
                and self._wall() < snap.period_end):
            log.warning("teamcost: budget refresh failed, using spend from %.0f s ago: %s",
                        self._clock() - snap.fetched_at, exc)
            return snap
        if self.fail_closed:
            raise BudgetUnavailable(self.config.team, str(exc))
        if not self._warned:
            log.warning("teamcost: budget cannot be checked, allowing calls (fail open; set "
                        "[budget] fail_closed = true to refuse instead): %s", exc)
            self._warned = True
        return None


@contextlib.contextmanager
def budget_guard(estimated_usd: Any = None, *, estimated_nanos: int | None = None,
                 tracker: Tracker | None = None) -> Iterator[None]:
    """``with budget_guard(estimated_usd=0.02): client.chat(...)``: refuse before the call."""
    if tracker is None:
        tracker = default_tracker()
    tracker.guard(estimated_usd, estimated_nanos=estimated_nanos)
    yield


def _guard_for(config: Config, ledger: Ledger) -> BudgetGuard:
    return BudgetGuard(config, ledger=ledger)


install_guard_factory(_guard_for)
