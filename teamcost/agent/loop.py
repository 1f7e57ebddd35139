"""The agent's loop: small scheduled jobs over the library, until told to stop.

Each tick (about every second) the agent:

- tails coding-agent logs (new files, appended lines) into the ledger;
- pushes unpushed calls every ``push_every`` seconds, at once when a full batch waits;
- pulls the team's calls every ``pull_every`` seconds into the team cache;
- checks the budget every ``check_every`` seconds, sending alerts through the exactly-once
  alert documents (so a whole team of agents sends each alert once);
- writes the status snapshot.

A job that fails (Firestore unreachable, refused) is retried with exponential backoff while
capture goes on; the Firestore client is rebuilt after a failure, so a restarted server is
reached on a fresh connection. Push and pull are the library's own, so exactly-once holds
whatever happens to the process: a kill between commit and local mark re-pushes into
ALREADY_EXISTS, which resolves as pushed.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from teamcost.budget.check import check
from teamcost.budget.spend import team_spend
from teamcost.budget.store import CHECK_BACKOFF
from teamcost.capture.logs import codex, gemini_cli
from teamcost.capture.logs.base import ImportResult
from teamcost.capture.logs.claude_code import claude_code_files, scan_claude_code
from teamcost.capture.logs.importing import scan_source
from teamcost.capture.otlp_http import OtlpReceiver
from teamcost.config import Config
from teamcost.errors import BudgetError, DuplicateCallError, TeamcostError
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.periods import period_bounds
from teamcost.sync.cache import TeamCache
from teamcost.sync.client import client_for
from teamcost.sync.pull import pull
from teamcost.sync.push import push
from teamcost.sync.retry import Backoff
from teamcost.tracker import Tracker

from .snapshot import VERSION, write_snapshot

# The agent retries on its own schedule: inside one job, give up quickly
AGENT_BACKOFF = Backoff(attempts=2, base_s=0.2, cap_s=1.0)
PUSH_RETRY_CAP_S = 10.0     # a push that failed is tried again at least this often
FULL_BATCH = 500            # this many waiting calls are pushed at once, not at the next tick
TICK_S = 1.0
SNAPSHOT_HEARTBEAT_S = 30.0  # an unchanged snapshot is rewritten this often

Emit = Callable[..., None]


def default_claude_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """Where Claude Code writes transcripts: CLAUDE_CONFIG_DIR (comma-separated dirs allowed)
    or both ~/.claude and ~/.config/claude; each's ``projects`` folder."""
    env = dict(os.environ) if env is None else env
    configured = env.get("CLAUDE_CONFIG_DIR", "").strip()
    if configured:
        bases = [Path(p.strip()).expanduser() for p in configured.split(",") if p.strip()]
    else:
        home = Path(env.get("HOME") or Path.home())
        bases = [home / ".claude", home / ".config" / "claude"]
    return [b / "projects" for b in bases]


@dataclass
class AgentOptions:
    push_every: float = 5.0
    pull_every: float = 60.0
    check_every: float = 60.0
    tail_every: float = TICK_S
    claude_dirs: list[Path] | None = None     # None: default_claude_dirs()
    codex_dirs: list[Path] | None = None      # None: codex.default_roots()
    gemini_dirs: list[Path] | None = None     # None: gemini_cli.default_roots()
    otlp_port: int = 4318                     # 0: no receiver
    otlp_host: str = "127.0.0.1"
    # the vendors' team usage (capture/vendors) on an admin machine: 0 = off
    vendors_every: float = 0.0
    copilot_org: str | None = None
    vendor_env: dict[str, str] | None = None  # None: os.environ (keys are read, never kept)


@dataclass
class Job:
    """One scheduled job's timing and last result."""

    name: str
    every: float
    retry_cap: float
    next_at: float = 0.0
    failures: int = 0
    last: dict[str, Any] = field(default_factory=dict)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def succeeded(self, now: float, result: dict[str, Any]) -> None:
        self.failures = 0
        self.next_at = now + self.every
        self.last = {"at": _iso(), "ok": True, "result": result, "error": None}

    def failed(self, now: float, error: str) -> float:
        self.failures += 1
        delay = min(self.retry_cap, 0.5 * 2 ** self.failures)
        self.next_at = now + delay
        self.last = {"at": _iso(), "ok": False, "result": None, "error": error}
        return delay


@dataclass
class SourceStats:
    files: int = 0
    calls: int = 0
    lines: int = 0
    bad: int = 0
    last_at: str | None = None
    last_error: str | None = None


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).isoformat(
        timespec="seconds").replace("+00:00", "Z")


class Agent:
    """Run with ``run(stop)`` in a thread of its own; ``stop.set()`` ends it between steps."""

    def __init__(self, config: Config, options: AgentOptions | None = None,
                 emit: Emit = lambda event, **fields: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.options = options or AgentOptions()
        self.emit = emit
        self.clock = clock
        self.started = time.time()
        o = self.options
        self.jobs = {"push": Job("push", o.push_every, min(PUSH_RETRY_CAP_S, max(o.push_every, 1))),
                     "pull": Job("pull", o.pull_every, o.pull_every),
                     "check": Job("check", o.check_every, o.check_every)}
        if o.vendors_every > 0:
            self.jobs["vendors"] = Job("vendors", o.vendors_every, o.vendors_every)
        self.sources: dict[str, SourceStats] = {name: SourceStats() for name in
                                                 ("claude-code", "codex", "gemini-cli", "otlp")}
        self.receiver: OtlpReceiver | None = None
        self.ledger = Ledger.for_config(config)
        self.tracker = Tracker(config, self.ledger)
        self._client: Any = None
        self._cache: TeamCache | None = None
        self._budget: dict[str, Any] | None = None
        self._today: int | None = None
        self._period: int | None = None
        self._next_tail = 0.0
        self._last_snapshot: dict[str, Any] | None = None
        self._snapshot_due = 0.0
        self._files: dict[tuple[str, str], int] = {}     # (source, root) -> files followed
        self.lock = threading.Lock()       # the ledger is shared with the OTLP receiver

    # -- the loop --

    def run(self, stop: threading.Event) -> None:
        self.start_receiver()
        self.emit("started", home=str(self.config.home), team=self.config.team,
                  otlp=self.receiver.url if self.receiver else None,
                  project=self.config.project or None,
                  **{f"{name}_dirs": [str(d) for d in dirs]
                     for name, dirs in self._source_dirs().items()})
        try:
            while not stop.is_set():
                self.cycle()
                stop.wait(self._sleep_s())
        finally:
            self.close()

    def cycle(self) -> None:
        now = self.clock()
        if now >= self._next_tail:
            self.tail()
            self._next_tail = now + self.options.tail_every
        if self.config.project:
            backlog = self.ledger.unpushed_totals(team=None)[0]
            if self.jobs["push"].due(now) or (backlog >= FULL_BATCH
                                              and self.jobs["push"].failures == 0):
                self.push()
            if self.jobs["pull"].due(self.clock()):
                self.pull()
            if self.jobs["check"].due(self.clock()):
                self.check()
        vendors = self.jobs.get("vendors")
        if vendors is not None and vendors.due(self.clock()):
            self.import_vendors()
        self.write_snapshot()

    def _sleep_s(self) -> float:
        now = self.clock()
        nxt = [self._next_tail] + ([j.next_at for j in self.jobs.values()]
                                   if self.config.project else [])
        return max(0.05, min(TICK_S, min(nxt) - now))

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()
        if self._cache is not None:
            self._cache.close()
        self.ledger.close()

    # -- jobs --

    def _source_dirs(self) -> dict[str, list[Path]]:
        o = self.options
        return {"claude": o.claude_dirs if o.claude_dirs is not None else default_claude_dirs(),
                "codex": o.codex_dirs if o.codex_dirs is not None else codex.default_roots(),
                "gemini": o.gemini_dirs if o.gemini_dirs is not None
                else gemini_cli.default_roots()}

    # -- OTLP --

    def start_receiver(self) -> None:
        o = self.options
        if not o.otlp_port:
            return
        try:
            self.receiver = OtlpReceiver(o.otlp_host, o.otlp_port, on_records=self.on_records,
                                         build=self.tracker.build,
                                         claude_code=not self._following_claude()).start()
        except (OSError, TeamcostError) as exc:
            # e.g. the port is taken (another agent on this machine): capture goes on
            self.sources["otlp"].last_error = f"not listening on {o.otlp_host}:{o.otlp_port}: {exc}"
            self.emit("otlp-failed", error=self.sources["otlp"].last_error)
            self.receiver = None

    def _following_claude(self) -> bool:
        """Claude Code's transcripts are followed here: its telemetry events are then ignored
        (the transcript is the one source of its calls; telemetry cannot carry the message
        id the transcript's call ids are made of)."""
        return any(d.is_dir() for d in self._source_dirs()["claude"])

    def on_records(self, records: list[CallRecord]) -> None:
        """The receiver's callback: record leniently (a call that also came by another path,
        an instrumented SDK client or a resent export, is already there: counted once)."""
        stats = self.sources["otlp"]
        new = 0
        with self.lock:
            for rec in records:
                try:
                    new += self.ledger.record(rec)
                except DuplicateCallError:
                    pass                   # the same call, recorded by its other path
        stats.calls += new
        if new:
            stats.last_at = _iso()
            self.emit("received", source="otlp", recorded=new, already=len(records) - new)

    def tail(self) -> None:
        if self.receiver is not None:
            self.receiver.claude_code = not self._following_claude()
        dirs = self._source_dirs()
        for root in dirs["claude"]:
            self._tail_root("claude-code", root, claude_code_files, lambda r, f, res: (
                scan_claude_code(self.ledger, self.tracker, r, f, res)))
        for name, module, key in (("codex", codex, "codex"), ("gemini-cli", gemini_cli, "gemini")):
            scan = functools.partial(scan_source, self.ledger, self.tracker, module)
            for root in dirs[key]:
                self._tail_root(name, root, module.list_files, scan)

    def _tail_root(self, name: str, root: Path, list_files: Callable[[Path], list[Path]],
                   scan: Callable[[Path, list[Path], ImportResult], Any]) -> None:
        stats = self.sources[name]
        if not root.is_dir():
            return
        result = ImportResult(name, str(root))
        try:
            files = list_files(root)
            with self.lock:
                scan(root, files, result)
        except (OSError, TeamcostError) as exc:
            stats.last_error = f"{root}: {exc}"
            self.emit("tail-error", source=name, root=str(root), error=str(exc))
            return
        self._files[(name, str(root))] = len(files)
        stats.files = sum(n for (src, _), n in self._files.items() if src == name)
        stats.lines += result.lines
        stats.bad += result.skipped
        if result.bad:
            stats.last_error = result.bad[-1]
        if result.imported:
            stats.calls += result.imported
            stats.last_at = _iso()
            self.emit("tailed", source=name, root=str(root), imported=result.imported,
                      lines=result.lines, pending=result.pending, bad=result.skipped)

    def _client_or_new(self) -> Any:
        if self._client is None:
            self._client = client_for(self.config)
        return self._client

    def _failed(self, job: Job, exc: Exception) -> None:
        self._client = None      # the next try builds a fresh channel
        delay = job.failed(self.clock(), str(exc))
        self.emit(f"{job.name}-failed", error=str(exc), retry_in_s=round(delay, 1))

    def push(self) -> None:
        job = self.jobs["push"]
        try:
            with self.lock:
                result = push(self.config, self.ledger, self._client_or_new(),
                              backoff=AGENT_BACKOFF)
        except TeamcostError as exc:
            self._failed(job, exc)
            return
        job.succeeded(self.clock(), result.to_dict())
        if result.pushed or result.already or result.conflicts:
            self.emit("pushed", pushed=result.pushed, already=result.already,
                      conflicts=len(result.conflicts), remaining=result.remaining)

    def pull(self) -> None:
        job = self.jobs["pull"]
        try:
            if self._cache is None:
                self._cache = TeamCache.for_config(self.config)
            result = pull(self.config, self._client_or_new(), self._cache,
                          backoff=AGENT_BACKOFF)
        except TeamcostError as exc:
            self._failed(job, exc)
            return
        job.succeeded(self.clock(), result.to_dict())
        if result.new:
            self.emit("pulled", new=result.new, read=result.read, cached=result.cached)

    def import_vendors(self, now: datetime | None = None) -> None:
        """Cursor's last two days (its key set) and Copilot's month so far (an org and a
        token set; the month before too in a month's first two days): idempotent, so runs
        that overlap count each call once."""
        from datetime import timedelta

        from teamcost.capture.vendors.copilot import import_copilot
        from teamcost.capture.vendors.cursor import import_cursor
        from teamcost.periods import Window

        job = self.jobs["vendors"]
        env = self.options.vendor_env if self.options.vendor_env is not None else os.environ
        now = now or datetime.now(UTC)
        result: dict[str, Any] = {}
        try:
            if env.get("CURSOR_ADMIN_API_KEY"):
                with self.lock:
                    got = import_cursor(self.config, Window(now - timedelta(days=2), now, "2d"),
                                        env, now=now, ledger=self.ledger)
                result["cursor"] = {"imported": got.imported, "unmapped": got.unmapped}
            if self.options.copilot_org and env.get("GITHUB_TOKEN"):
                months = [f"{now:%Y-%m}"]
                if now.day <= 2:
                    months.insert(0, f"{(now.replace(day=1) - timedelta(days=1)):%Y-%m}")
                for month in months:
                    with self.lock:
                        got = import_copilot(self.config, self.options.copilot_org, month,
                                             env, now=now, ledger=self.ledger)
                    result.setdefault("copilot", {})[month] = {"imported": got.imported,
                                                               "unmapped": got.unmapped}
        except TeamcostError as exc:
            self._failed(job, exc)
            return
        job.succeeded(self.clock(), result)
        self.emit("vendors-imported", **result)

    def check(self) -> None:
        job = self.jobs["check"]
        now = datetime.now(UTC)
        try:
            client = self._client_or_new()
            try:
                status = check(self.config, client=client, now=now)
            except BudgetError as exc:
                if "has no budget" not in str(exc):
                    raise
                self._budget = None
                start, end = period_bounds(now, "month", self.config.timezone)
                self._period = team_spend(client, self.ledger, self.config.team, start, end,
                                          CHECK_BACKOFF).nanos
                result: dict[str, Any] = {"level": None, "budget": None}
            else:
                self._budget = {"level": status.level, "limit_nanos": status.budget.amount_nanos,
                                "spent_nanos": status.spent_nanos,
                                "fraction": round(status.fraction, 6),
                                "period": status.budget.period, "period_key": status.period_key,
                                "projected_nanos": status.projected_nanos,
                                "checked_at": _iso()}
                self._period = status.spent_nanos
                result = {"level": status.level, "alerts": list(status.alerts)}
                for alert in status.alerts:
                    self.emit("alert", alert=alert)
            start, _ = period_bounds(now, "day", self.config.timezone)
            self._today = team_spend(client, self.ledger, self.config.team, start, now,
                                     CHECK_BACKOFF).nanos
        except TeamcostError as exc:
            self._failed(job, exc)
            return
        job.succeeded(self.clock(), result)

    # -- the snapshot --

    def snapshot(self) -> dict[str, Any]:
        backlog, backlog_nanos = self.ledger.unpushed_totals()
        jobs: dict[str, dict[str, Any]] = {}
        for name, job in self.jobs.items():
            entry: dict[str, Any] = dict(job.last) if job.last else {
                "at": None, "ok": None, "result": None, "error": None}
            if not self.config.project:
                entry["error"] = "no Firestore project configured: capture only"
            jobs[name] = entry
        return {"version": VERSION, "written_at": _iso(), "pid": os.getpid(),
                "started_at": _iso(self.started), "home": str(self.config.home),
                "team": self.config.team, "project": self.config.project or None,
                "budget": self._budget, "today_nanos": self._today,
                "period_nanos": self._period,
                "backlog": {"calls": backlog, "cost_nanos": backlog_nanos},
                "jobs": jobs,
                "sources": {k: dict(v.__dict__) for k, v in self.sources.items()}}

    def write_snapshot(self) -> None:
        """After a cycle that changed something, and at least every SNAPSHOT_HEARTBEAT_S (its
        age tells readers the agent is alive): not a file write every idle second."""
        snap = self.snapshot()
        same = {k: v for k, v in snap.items() if k != "written_at"}
        if same == self._last_snapshot and self.clock() < self._snapshot_due:
            return
        try:
            write_snapshot(self.config.home, snap)
        except OSError as exc:
            self.emit("snapshot-failed", error=str(exc))
            return
        self._last_snapshot = same
        self._snapshot_due = self.clock() + SNAPSHOT_HEARTBEAT_S
