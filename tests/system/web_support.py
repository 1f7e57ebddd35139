"""Helpers for the dashboard's system tests: a team home whose cache was filled through
the real pipeline (ledger -> push to the emulator -> pull), a frozen clock for the CLI,
the real `teamcost serve` as a subprocess, and a Server-Sent Events reader."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from teamcost.config import Config, load_config, write_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord

TEAMCOST = str(Path(sys.executable).with_name("teamcost"))


def team_home(home: Path, emulator: Any, calls: Sequence[CallRecord], *, tz: str = "UTC",
              budget_usd: str | None = None, team: str = "core",
              extra: dict[str, Any] | None = None) -> Config:
    """A TEAMCOST_HOME of ``team`` on the emulator whose cache holds ``calls``: they are
    recorded in a ledger outside the home, pushed, and pulled here (the real path)."""
    from teamcost.budget.check import set_team_budget
    from teamcost.sync.push import push
    from teamcost.sync.service import run_pull

    write_config(home, {"team": team, "project": emulator.project,
                        "emulator_host": emulator.host, "member": "lead@example.com",
                        "timezone": tz, **(extra or {})})
    cfg = load_config(home, env={})
    if calls:
        with Ledger(home.parent / f"pusher-{team}.db") as led:
            led.record_many(calls)
            result = push(cfg, led)
            assert result.pushed == len(calls), result
    run_pull(cfg)
    if budget_usd is not None:
        set_team_budget(cfg, budget_usd, "month", "0.8,0.9")
    return cfg


def push_calls(cfg: Config, calls: Sequence[CallRecord], ledger_path: Path) -> None:
    """Another machine records ``calls`` and pushes them (nothing is pulled here)."""
    from teamcost.sync.push import push

    with Ledger(ledger_path) as led:
        led.record_many(calls)
        assert push(cfg, led).pushed == len(calls)


def frozen_datetime(now: datetime) -> type:
    """A datetime class whose now() is ``now``: the CLI's clock, pinned."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return now.astimezone(tz) if tz else now.replace(tzinfo=None)

    return Frozen


@dataclass
class Served:
    url: str                     # http://127.0.0.1:PORT/
    proc: subprocess.Popen
    stderr: list[str] = field(default_factory=list)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path.lstrip("/"), timeout=30, **kw)


@contextmanager
def serving(home: Path, *args: str, env: dict[str, str] | None = None,
            headers: dict[str, str] | None = None, port: int = 0) -> Iterator[Served]:
    """`teamcost serve --port PORT ARGS` on ``home`` until the block ends; then SIGTERM,
    and the server must stop cleanly (exit 0) within 15 s."""
    full_env = {**os.environ, "TEAMCOST_HOME": str(home), **(env or {})}
    proc = subprocess.Popen([TEAMCOST, "serve", "--port", str(port), *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    served = Served("", proc)

    def drain(stream: Any, sink: Callable[[str], None]) -> None:
        for line in stream:
            sink(line)

    threading.Thread(target=drain, args=(proc.stdout, lines.put), daemon=True).start()
    threading.Thread(target=drain, args=(proc.stderr, served.stderr.append), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"teamcost serve did not start (exit {proc.poll()}): "
                                         f"{''.join(served.stderr)}") from None
                continue
            m = re.search(r" at (http://[^\s;,]+/)", line)
            if m:
                break
        url = m.group(1)
        port_no = int(re.search(r":(\d+)/$", url).group(1))  # type: ignore[union-attr]
        served.url = f"http://127.0.0.1:{port_no}/"  # a host of 0.0.0.0 prints a host name
        while True:  # the socket listens before the line is printed; wait for the app
            try:
                if httpx.get(served.url + "openapi.json", headers=headers or {},
                             timeout=5).status_code in (200, 401):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("teamcost serve never answered")
            time.sleep(0.1)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("teamcost serve did not stop within 15 s of SIGTERM")
    assert proc.returncode == 0, (proc.returncode, "".join(served.stderr))


class EventStream:
    """Reads a Server-Sent Events stream on a thread; ``wait`` for an event with a deadline."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any], float]] = queue.Queue()
        self.headers_seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}),
                                        daemon=True)
        self._thread.start()
        assert self._ready.wait(15), "the event stream did not open"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        event, data = "message", ""
        try:
            with self._client.stream("GET", url, headers=headers) as resp:
                self.status = resp.status_code
                self.headers_seen = dict(resp.headers)
                self._ready.set()
                for line in resp.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif line == "":
                        if data:
                            self.events.put((event, json.loads(data), time.monotonic()))
                        event, data = "message", ""
        except Exception:  # noqa: BLE001 - closed by close(), or the server went away
            self._ready.set()

    def wait(self, name: str, timeout: float,
             check: Callable[[dict[str, Any]], bool] = lambda d: True
             ) -> tuple[dict[str, Any], float]:
        """The next ``name`` event passing ``check`` (others are skipped): (data, when)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {name!r} event within {timeout} s")
            try:
                ev, data, when = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev == name and check(data):
                return data, when

    def close(self) -> None:
        self._stop.set()
        self._client.close()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
