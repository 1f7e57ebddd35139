"""Pushing from inside a process that cannot run an agent (a serverless job, a CI step):
``Tracker(push_every=5)`` pushes its ledger from a background thread every few seconds and
once more at interpreter exit.

Installed into the tracker by ``import teamcost`` (the tracker sits below sync and does not
import it). The push is the library's own, so exactly-once holds: a process killed mid-push
leaves calls unpushed or pushed-and-marked, never doubled; the next push (an agent, ``teamcost
sync``, the next job) finishes the job.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

from teamcost.config import Config
from teamcost.errors import TeamcostError
from teamcost.ledger import Ledger
from teamcost.tracker import install_pusher_factory

log = logging.getLogger("teamcost.sync")


class BackgroundPusher:
    def __init__(self, config: Config, ledger: Ledger, every: float) -> None:
        # loaded now, not at the first push: at interpreter exit, importing the push stack
        # (concurrent.futures among it) fails
        from teamcost.sync import client, push, retry

        self._modules = (client, push, retry)
        self.config, self.ledger, self.every = config, ledger, every
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client: Any = None
        self.pushed = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="teamcost-push", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.push_now()

    def push_now(self, at_exit: bool = False) -> int:
        """Push what waits now; returns how many calls this push sent. Never raises."""
        client_mod, push_mod, retry = self._modules
        # at exit, try briefly, then let the process go
        backoff = (retry.Backoff(attempts=3, base_s=0.2, cap_s=1.0) if at_exit
                   else retry.DEFAULT_BACKOFF)

        with self._lock:
            try:
                if self._client is None:
                    self._client = client_mod.client_for(self.config)
                result = push_mod.push(self.config, self.ledger, self._client, backoff=backoff,
                                       in_flight=1 if at_exit else push_mod.DEFAULT_IN_FLIGHT)
            except TeamcostError as exc:
                self._client = None
                if str(exc) != self.last_error:
                    log.warning("teamcost: background push failed (the calls stay in the "
                                "ledger for the next push): %s", exc)
                self.last_error = str(exc)
                return 0
            self.last_error = None
            self.pushed += result.pushed
            return result.pushed

    def close(self) -> None:
        """Stop the thread and push once more (at exit: what was recorded since the last tick)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self.push_now(at_exit=True)
        atexit.unregister(self.close)


install_pusher_factory(BackgroundPusher)
