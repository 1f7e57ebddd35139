"""What keeps the dashboard live: change detection, budget level, background pull, SSE.

One ``Watcher`` task per server takes the data fingerprint every second (the newest row
of the team cache and of the ledger: ``teamcost.reports.changes``) and announces
``calls`` when it moves. After new calls, and at least every ``budget_every`` seconds,
it reads the budget status and announces ``budget`` when its level, the budget itself,
or the newest alert changed. A ``Puller`` runs the library's pull every ``pull_every`` seconds
when asked to (no agent running). Subscribers are the open ``/api/events`` streams.

Once the team's rollups are complete the puller pulls no call: it refreshes the rollup
copy (the cells changed since its last look) and announces ``calls`` when any changed.
The agent does not refresh that copy, so the server does it even when an agent runs
(``rollup_every``); the views read the window's single calls from Firestore on demand.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from teamcost.errors import TeamcostError
from teamcost.reports.changes import ChangeProbe, Fingerprint

if TYPE_CHECKING:
    from teamcost.config import Config

log = logging.getLogger("teamcost.serve")
QUEUE_SIZE = 32
ROLLUP_EVERY_S = 30.0    # the rollup copy's refresh when --pull-every is 0 (an agent runs)


class Hub:
    """Fan-out of events to the open streams. A slow stream loses old events, never
    blocks the others: every event only says "fetch again"."""

    def __init__(self) -> None:
        self._subs: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()

    def subscribe(self) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        q: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        self._subs.discard(q)

    @property
    def listeners(self) -> int:
        return len(self._subs)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        for q in list(self._subs):
            if q.full():
                q.get_nowait()
            q.put_nowait((event, data))


@dataclass
class Dashboard:
    """The server's shared state: config, clock, one Firestore client, the event hub."""

    config: Config
    clock: Callable[[], datetime]
    token: str | None = None
    pull_every: float = 0.0
    poll_every: float = 1.0
    budget_every: float = 30.0
    hub: Hub = field(default_factory=Hub)
    stopping: asyncio.Event | None = None
    closing: bool = False            # set by a signal handler: end the event streams
    fingerprint: Fingerprint | None = None
    budget_state: dict[str, Any] | None = None
    pull_state: dict[str, Any] = field(default_factory=dict)
    _client: Any = None
    _client_lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> Any:
        """The Firestore client (made on first use; None without a project)."""
        if not self.config.project:
            return None
        with self._client_lock:
            if self._client is None:
                from teamcost.sync.client import client_for
                self._client = client_for(self.config)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None and hasattr(self._client, "close"):
                self._client.close()
            self._client = None


def budget_state(dash: Dashboard) -> dict[str, Any]:
    """The facts the ``budget`` event compares and carries: level, limit, period, and
    the newest alert (an agent or `budget check` elsewhere may have sent one)."""
    from teamcost.budget.check import budget_status
    from teamcost.budget.recent import recent_alerts

    try:
        status = budget_status(dash.config, dash.client(), now=dash.clock())
        newest = recent_alerts(dash.config, dash.client(), 1) if status is not None else []
    except TeamcostError as exc:
        return {"level": None, "error": str(exc)}
    if status is None:
        return {"level": None, "error": None}
    d = status.to_dict()
    state = {k: d[k] for k in ("level", "limit_nanos", "period", "period_key", "spent_nanos",
                               "fraction", "line")}
    state["newest_alert"] = newest[0]["alert_id"] if newest else None
    return state


def _same_budget(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    keys = ("level", "limit_nanos", "period", "period_key", "newest_alert")
    return a is not None and all(a.get(k) == b.get(k) for k in keys)


async def watch(dash: Dashboard) -> None:
    """Announce ``calls`` and ``budget`` until the server stops."""
    probe = ChangeProbe(dash.config)
    budget_task: asyncio.Task[None] | None = None
    last_budget = 0.0
    budget_due = True

    async def check_budget() -> None:
        state = await asyncio.to_thread(budget_state, dash)
        if dash.budget_state is not None and not _same_budget(dash.budget_state, state):
            dash.hub.publish("budget", state)
        dash.budget_state = state

    try:
        dash.fingerprint = await asyncio.to_thread(probe.fingerprint)
        while dash.stopping is None or not dash.stopping.is_set():
            fp = await asyncio.to_thread(probe.fingerprint)
            if fp != dash.fingerprint:
                dash.fingerprint = fp
                dash.hub.publish("calls", fp.to_dict())
                budget_due = True
            now = time.monotonic()
            if dash.config.project and (budget_due or now - last_budget >= dash.budget_every) \
                    and (budget_task is None or budget_task.done()):
                # in its own task: a slow Firestore never delays the next look at the cache
                budget_task = asyncio.create_task(check_budget())
                budget_due = False
                last_budget = now
            await _sleep(dash, dash.poll_every)
    finally:
        if budget_task is not None:
            budget_task.cancel()
        await asyncio.to_thread(probe.close)


def rollups_ready(dash: Dashboard) -> bool:
    from teamcost.reports.live import rollups_ready as ready
    return dash.config.project is not None and ready(dash.config, dash.client())


def refresh_cells(dash: Dashboard) -> int:
    """The rollup cells changed since the copy's watermark into the copy; cells read."""
    from teamcost.reports.live import WATCH_BACKOFF
    from teamcost.sync.rollup_cache import RollupCache, refresh

    with RollupCache.for_config(dash.config) as cache:
        return refresh(dash.client(), cache, dash.config.team, WATCH_BACKOFF)


def _one_pull(dash: Dashboard) -> tuple[int, bool] | None:
    """One background refresh: (new calls or changed cells, from rollups?); None when
    there is nothing to do (no --pull-every: an agent pulls the calls)."""
    if rollups_ready(dash):
        return refresh_cells(dash), True
    if dash.pull_every <= 0:
        return None
    from teamcost.sync.service import run_pull
    return run_pull(dash.config, None, dash.client()).new, False


def pull_period(dash: Dashboard) -> float:
    """Seconds between background refreshes: ``pull_every``, or, when an agent pulls the
    calls (0), ROLLUP_EVERY_S for the rollup copy, which no agent refreshes."""
    return dash.pull_every if dash.pull_every > 0 else ROLLUP_EVERY_S


async def pull_loop(dash: Dashboard) -> None:
    """``teamcost sync pull`` every ``pull_every`` seconds (first at once); with complete
    rollups, a refresh of the rollup copy instead (announced as ``calls`` when a cell
    changed: the change probe watches the team cache, which nothing fills any more)."""
    last_error = None
    while dash.stopping is None or not dash.stopping.is_set():
        started = time.monotonic()
        try:
            got = await asyncio.to_thread(_one_pull, dash)
            if got is None:
                await _sleep(dash, pull_period(dash))
                continue
            new, cells = got
            dash.pull_state = {"at": dash.clock().isoformat(timespec="seconds"),
                               "new": new, "error": None,
                               **({"source": "rollups"} if cells else {})}
            if cells and new:
                dash.hub.publish("calls", {"cells": new})
            if last_error is not None:
                log.warning("teamcost serve: pulling works again (%d new)", new)
            last_error = None
        except TeamcostError as exc:
            dash.pull_state = {"at": dash.clock().isoformat(timespec="seconds"), "new": 0,
                               "error": str(exc)}
            if str(exc) != last_error:  # once per kind of failure, not every minute
                log.warning("teamcost serve: pull failed, showing the cached data: %s", exc)
            last_error = str(exc)
        await _sleep(dash, max(0.0, pull_period(dash) - (time.monotonic() - started)))


async def _sleep(dash: Dashboard, seconds: float) -> None:
    if dash.stopping is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(dash.stopping.wait(), timeout=seconds)
    except TimeoutError:
        pass
