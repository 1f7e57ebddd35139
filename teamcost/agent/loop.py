"""The agent's loop: small scheduled jobs over the library, until told to stop.

Each tick (about every second) the agent:

- tails coding-agent logs (new files, appended lines) into the ledger;
- pushes unpushed calls every ``push_every`` seconds, waiting up to ``push_settle`` (half
  of ``push_every`` unless set) more while a burst of calls is still arriving
  (agent/cadence.py), at once when a full batch waits;
- on an admin's machine, packs the team's rollups every ``pack_every`` seconds
  (teamcost/sync/rollup_packs.py), so members' reports read a few documents;
- pulls the team's calls every ``pull_every`` seconds into the team cache;
- checks the budget every ``check_every`` seconds, sending alerts through the exactly-once
  alert documents (so a whole team of agents sends each alert once);
- writes the status snapshot.

A job that fails (Firestore unreachable, refused, the ledger unwritable) is retried with
exponential backoff while capture goes on; any other error in a cycle (a sqlite error, a full
disk, a bug) is caught too: it is logged (``cycle-failed``), kept in the status snapshot's
``loop`` entry, and the next cycle waits a growing delay (up to CYCLE_RETRY_CAP_S). Only
KeyboardInterrupt / SystemExit end the loop; the Firestore client is rebuilt after a failure, so a restarted server is
reached on a fresh connection. Push and pull are the library's own, so exactly-once holds
whatever happens to the process: a kill between commit and local mark re-pushes into
ALREADY_EXISTS, which resolves as pushed.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from teamcost.budget.check import check_with_today
from teamcost.capture.logs import codex, gemini_cli
from teamcost.capture.logs.base import ImportResult
from teamcost.capture.logs.claude_code import claude_code_files, scan_claude_code
from teamcost.capture.logs.importing import scan_source
from teamcost.capture.otlp_http import OtlpReceiver
from teamcost.capture.witness import SOURCE_TELEMETRY, settle
from teamcost.config import Config
from teamcost.errors import DuplicateCallError, TeamcostError
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.sync.cache import TeamCache
from teamcost.sync.client import client_for, close_client
from teamcost.sync.pull import pull
from teamcost.sync.push import push
from teamcost.sync.retry import Backoff, release_frames
from teamcost.tracker import Tracker

from . import memory
from .cadence import DEFAULT_EVERY_S, push_now
from .claude_settings import telemetry_configured
from .snapshot import VERSION, write_snapshot

log = logging.getLogger("teamcost.agent")

# The agent retries on its own schedule: inside one job, give up quickly
AGENT_BACKOFF = Backoff(attempts=2, base_s=0.2, cap_s=1.0)
PUSH_RETRY_CAP_S = 10.0     # a push that failed is tried again at least this often
FULL_BATCH = 500            # this many waiting calls are pushed at once, not at the next tick
TICK_S = 1.0
SNAPSHOT_HEARTBEAT_S = 30.0  # an unchanged snapshot is rewritten this often
CYCLE_RETRY_CAP_S = 30.0     # a cycle that keeps failing is tried again at least this often
TRIM_EVERY_S = 60.0          # free heap memory goes back to the kernel this often (memory.py)

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
    push_every: float = DEFAULT_EVERY_S
    push_settle: float | None = None          # None: half of push_every
    pack_every: float = 300.0                 # admins only; 0: never
    pull_every: float = 60.0
    check_every: float = 60.0
    tail_every: float = TICK_S
    claude_dirs: list[Path] | None = None     # None: default_claude_dirs()
    codex_dirs: list[Path] | None = None      # None: codex.default_roots()
    gemini_dirs: list[Path] | None = None     # None: gemini_cli.default_roots()
    otlp_port: int = 4318                     # 0: no receiver
    otlp_host: str = "127.0.0.1"
    metrics_port: int = 0                     # 0: no /metrics (agent/metrics_http.py)
    metrics_host: str = "127.0.0.1"
    metrics_token: str | None = None          # required beyond loopback
    metrics_members: bool = False             # label series by member too
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
        at = _iso()
        self.last = {"at": at, "ok": True, "ok_at": at, "result": result, "error": None}

    def failed(self, now: float, error: str) -> float:
        self.failures += 1
        delay = min(self.retry_cap, 0.5 * 2 ** self.failures)
        self.next_at = now + delay
        self.last = {"at": _iso(), "ok": False, "ok_at": self.last.get("ok_at"),
                     "result": None, "error": error}
        return delay


@dataclass
class SourceStats:
    files: int = 0
    calls: int = 0
    lines: int = 0
    bad: int = 0
    last_at: str | None = None
    last_error: str | None = None
    held: int = 0                    # messages not final yet, after the last scan
    held_until: str | None = None    # when the last of them is recorded at the latest
    held_why: str | None = None
    estimated: int = 0               # interrupted streams recorded as estimated
    disagreed: int = 0               # transcript and telemetry gave other numbers
    last_disagreement: str | None = None


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
        # not in self.jobs (the snapshot's jobs are push, pull, check, vendors: scraped by
        # /metrics and listed by `agent status`); its events say how it went. Not at start:
        # a restarted admin agent does not pack twice in a row.
        self.pack_job = (Job("pack", o.pack_every, o.pack_every,
                             next_at=self.clock() + o.pack_every) if o.pack_every > 0 else None)
        if o.vendors_every > 0:
            self.jobs["vendors"] = Job("vendors", o.vendors_every, o.vendors_every)
        self.sources: dict[str, SourceStats] = {name: SourceStats() for name in
                                                 ("claude-code", "codex", "gemini-cli", "otlp")}
        self.receiver: OtlpReceiver | None = None
        self.metrics: Any = None
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
        # (source, root) -> {path: the unreadable file's stat and error}: reported once
        self._unreadable: dict[tuple[str, str], dict[str, Any]] = {}
        self._loop: dict[str, Any] = {"failures": 0, "last_error": None, "last_error_at": None}
        self._trim_due = 0.0
        self._backlog_seen = 0
        self._last_call_at: float | None = None    # when the backlog last grew
        self.lock = threading.Lock()       # the ledger is shared with the OTLP receiver
        self._held: dict[str, dict[str, tuple[int, float | None, str | None]]] = {}
        self.claude_events = 0             # Claude Code api_request events received
        self.claude_event_at: str | None = None

    # -- the loop --

    def run(self, stop: threading.Event) -> None:
        memory.limit_arenas()      # before the receiver's threads: see memory.py
        self.start_receiver()
        self.start_metrics()
        self.emit("started", home=str(self.config.home), team=self.config.team,
                  otlp=self.receiver.url if self.receiver else None,
                  project=self.config.project or None,
                  **{f"{name}_dirs": [str(d) for d in dirs]
                     for name, dirs in self._source_dirs().items()})
        try:
            while not stop.is_set():
                stop.wait(self.safe_cycle())
        finally:
            self.close()

    def safe_cycle(self) -> float:
        """One cycle that no error ends (only KeyboardInterrupt / SystemExit pass); the
        seconds to wait before the next one (longer after each failure in a row)."""
        try:
            self.cycle()
        except Exception as exc:  # noqa: BLE001 - one bad cycle must not end the agent
            loop = self._loop
            loop["failures"] += 1
            loop["last_error"] = f"{type(exc).__name__}: {exc}"[:2000]
            loop["last_error_at"] = _iso()
            delay = min(CYCLE_RETRY_CAP_S, 0.5 * 2 ** loop["failures"])
            log.warning("agent cycle failed", exc_info=True)
            self.emit("cycle-failed", error=loop["last_error"], retry_in_s=round(delay, 1))
            release_frames(exc)
            try:
                self.write_snapshot()
            except Exception:  # noqa: BLE001 - the snapshot reads the ledger, which may fail too
                pass
            return delay
        if self._loop["failures"]:
            self._loop["failures"] = 0
            self.emit("cycle-recovered")
        if self.clock() >= self._trim_due:
            memory.trim()
            self._trim_due = self.clock() + TRIM_EVERY_S
        return self._sleep_s()

    def cycle(self) -> None:
        now = self.clock()
        if now >= self._next_tail:
            self.tail()
            self._next_tail = now + self.options.tail_every
        if self.config.project:
            backlog = self.ledger.unpushed_totals(team=None)[0]
            if backlog > self._backlog_seen:
                self._last_call_at = now
            self._backlog_seen = backlog
            job = self.jobs["push"]
            settle = (0.0 if job.failures else self.options.push_settle
                      if self.options.push_settle is not None else self.options.push_every / 2)
            if push_now(now, job.next_at, self._last_call_at, settle) or (
                    backlog >= FULL_BATCH and job.failures == 0):
                self.push()
                self._backlog_seen = self.ledger.unpushed_totals(team=None)[0]
            if self.jobs["pull"].due(self.clock()):
                self.pull()
            if self.jobs["check"].due(self.clock()):
                self.check()
        packing = self.pack_job
        if packing is not None and self.config.project and packing.due(self.clock()):
            self.pack()
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
        if self.metrics is not None:
            self.metrics.stop()
        self._drop_client()
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

    # -- /metrics --

    def start_metrics(self) -> None:
        """Serve /metrics when asked: counters computed from stored data at each scrape,
        the budget and health from this agent's last check and snapshot (read, never
        recomputed, from the scrape's thread)."""
        o = self.options
        if not o.metrics_port:
            return
        from teamcost.reports import metrics

        from .metrics_http import MetricsServer
        registry = metrics.registry_for(metrics.TeamcostCollector(
            self.config, member_label=o.metrics_members, budget=lambda: self._budget,
            agent=lambda: self._last_snapshot))
        try:
            self.metrics = MetricsServer(o.metrics_host, o.metrics_port,
                                         lambda accept: metrics.exposition(registry, accept),
                                         o.metrics_token).start()
        except OSError as exc:
            self.emit("metrics-failed", error=f"not listening on {o.metrics_host}:"
                                              f"{o.metrics_port}: {exc}")
            return
        self.emit("metrics", url=f"http://{o.metrics_host}:{self.metrics.port}/metrics")

    # -- OTLP --

    def start_receiver(self) -> None:
        o = self.options
        if not o.otlp_port:
            return
        try:
            self.receiver = OtlpReceiver(o.otlp_host, o.otlp_port, on_records=self.on_records,
                                         build=self.tracker.build).start()
        except (OSError, TeamcostError) as exc:
            # e.g. the port is taken (another agent on this machine): capture goes on
            self.sources["otlp"].last_error = f"not listening on {o.otlp_host}:{o.otlp_port}: {exc}"
            self.emit("otlp-failed", error=self.sources["otlp"].last_error)
            self.receiver = None

    def _following_claude(self) -> bool:
        return any(d.is_dir() for d in self._source_dirs()["claude"])

    def on_records(self, records: list[CallRecord]) -> None:
        """The receiver's callback: record leniently (a call that also came by another path,
        an instrumented SDK client or a resent export, is already there: counted once).

        Claude Code's telemetry events are the second witness of its transcripts
        (capture/witness.py): a request already recorded (from its transcript line, or
        under a pre-join id) is not recorded again; other numbers than the recorded ones
        are reported (status, an ``disagree`` event), never summed."""
        stats = self.sources["otlp"]
        new = 0
        with self.lock:
            for rec in records:
                if rec.tags.get("source") == SOURCE_TELEMETRY:
                    self.claude_events += 1
                    self.claude_event_at = _iso()
                    already, differs, more = settle(self.ledger, rec)
                    if differs:
                        stats.disagreed += 1
                        stats.last_disagreement = differs
                        self.emit("disagree", source="claude-code", detail=differs)
                    if already:
                        if more is None:
                            continue
                        rec = more       # an interrupted estimate's missing part

                try:
                    new += self.ledger.record(rec)
                except DuplicateCallError:
                    pass                   # the same call, recorded by its other path
        stats.calls += new
        if new:
            stats.last_at = _iso()
            self.emit("received", source="otlp", recorded=new, already=len(records) - new)

    def claude_telemetry(self) -> dict[str, Any]:
        """Whether Claude Code's telemetry reaches this agent, and what is not counted when
        it does not: its transcripts leave out the session-title requests (and anything
        else the CLI asks outside the conversation)."""
        configured = telemetry_configured()
        on = self.claude_events > 0 or configured
        out: dict[str, Any] = {"events": self.claude_events, "last_event_at": self.claude_event_at,
                               "configured": configured, "on": on, "note": None}
        if not on and self._following_claude():
            out["note"] = ("Claude Code telemetry is off on this machine: requests its "
                           "transcripts leave out (session titles, other background "
                           "requests) are not counted; `teamcost agent claude-code-setup` "
                           "turns it on")
        elif configured and not self.claude_events and self.receiver is None:
            out["note"] = ("Claude Code telemetry is configured but this agent's OTLP "
                           "receiver is not listening: requests outside the transcripts "
                           "are not counted")
        return out

    def tail(self) -> None:
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
        # an unreadable file is counted once, then again only when it changes
        known = self._unreadable.setdefault((name, str(root)), {})
        result.known_errors = known
        try:
            files = list_files(root)
            with self.lock:
                scan(root, files, result)
        except Exception as exc:  # noqa: BLE001 - the ledger, the disk, a bug: next tick again
            stats.last_error = f"{root}: {exc}"
            self.emit("tail-error", source=name, root=str(root), error=str(exc))
            return
        listed = {str(f) for f in files}
        for path in [p for p in known if p not in listed]:
            del known[path]                  # gone: forget it (and its error)
        self._files[(name, str(root))] = len(files)
        held = self._held.setdefault(name, {})
        held[str(root)] = (result.pending, result.held_until, result.held_why)
        stats.held = sum(n for n, _, _ in held.values())
        untils = [u for n, u, _ in held.values() if n and u]
        stats.held_until = _iso(max(untils)) if untils else None
        stats.held_why = next((w for n, _, w in held.values() if n and w), None)
        stats.estimated += result.estimated
        if result.disagreed:
            stats.disagreed += result.disagreed
            stats.last_disagreement = next((b for b in reversed(result.bad)
                                            if b.startswith("disagreement: ")), None)
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

    def _drop_client(self) -> None:
        """Close the Firestore client (its gRPC channel and threads); the next job builds a
        fresh one. Dropped without closing, each failure left a channel behind: the agent
        grew ~1 MB per failed try while Firestore was down."""
        client, self._client = self._client, None
        if client is not None:
            try:
                close_client(client)
            except Exception:  # noqa: BLE001 - closing a broken channel may fail; it is gone
                pass

    def _failed(self, job: Job, exc: Exception) -> None:
        self._drop_client()      # the next try builds a fresh channel
        if not isinstance(exc, TeamcostError):
            log.warning("agent %s failed", job.name, exc_info=exc)
        delay = job.failed(self.clock(), str(exc) if isinstance(exc, TeamcostError)
                           else f"{type(exc).__name__}: {exc}")
        self.emit(f"{job.name}-failed", error=str(exc), retry_in_s=round(delay, 1))
        release_frames(exc)

    def push(self) -> None:
        job = self.jobs["push"]
        try:
            # not under self.lock: a push waits on the network (seconds while Firestore is
            # down), and the OTLP receiver's requests would all wait with it; the ledger's
            # own lock orders the statements, and a call recorded meanwhile is pushed next time
            result = push(self.config, self.ledger, self._client_or_new(),
                          backoff=AGENT_BACKOFF)
        except Exception as exc:  # noqa: BLE001 - Firestore, the ledger (read-only, full): retry
            self._failed(job, exc)
            return
        job.succeeded(self.clock(), result.to_dict())
        if result.pushed or result.already or result.conflicts:
            self.emit("pushed", pushed=result.pushed, already=result.already,
                      conflicts=len(result.conflicts), remaining=result.remaining)

    def pull(self) -> None:
        """The team's calls into the team cache, until the team's rollups count every call:
        then nothing in the background (views fetch the rollup cells they show when they
        show them), so a machine's reads a minute do not grow with the team. An agent that
        serves /metrics stops pulling too: its counters are then summed from the rollup
        copy, which each scrape refreshes (reports/metrics.py)."""
        job = self.jobs["pull"]
        try:
            from teamcost.sync.rollups import rollups_in_use
            if rollups_in_use(self._client_or_new(), self.config.team, AGENT_BACKOFF):
                job.succeeded(self.clock(), {"skipped": "rollups"})
                return
            if self._cache is None:
                self._cache = TeamCache.for_config(self.config)
            result = pull(self.config, self._client_or_new(), self._cache,
                          backoff=AGENT_BACKOFF)
        except Exception as exc:  # noqa: BLE001 - Firestore, the cache's disk: retry later
            self._failed(job, exc)
            return
        job.succeeded(self.clock(), result.to_dict())
        if result.new:
            self.emit("pulled", new=result.new, read=result.read, cached=result.cached)

    def pack(self) -> None:
        """An admin's machine records the team's rollup changes as packs (members read a
        few documents instead of every cell the team changed); a member's does nothing."""
        job = self.pack_job
        assert job is not None
        try:
            from teamcost.sync.rollup_admin import is_admin
            from teamcost.sync.rollups import rollups_in_use
            if not is_admin(self.config):
                job.succeeded(self.clock(), {"skipped": "not an admin"})
                return
            client = self._client_or_new()
            if not rollups_in_use(client, self.config.team, AGENT_BACKOFF):
                job.succeeded(self.clock(), {"skipped": "rollups not built"})
                return
            from teamcost.sync.rollup_admin import pack_team
            from teamcost.sync.rollup_cache import RollupCache
            with RollupCache.for_config(self.config) as cache:
                result = pack_team(client, cache, self.config.team, AGENT_BACKOFF)
        except Exception as exc:  # noqa: BLE001 - Firestore, the copy's disk: retry later
            self._failed(job, exc)
            return
        job.succeeded(self.clock(), result.to_dict())
        if result.written:
            self.emit("packed", packs=len(result.written),
                      cells=sum(w["cells"] for w in result.written))

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
        """The budget (and today's spend for the status line): the budget document plus one
        aggregation over the rollups, O(1) reads a minute whatever the team's size."""
        job = self.jobs["check"]
        now = datetime.now(UTC)
        try:
            client = self._client_or_new()
            status, period, today = check_with_today(self.config, client, self.ledger, now)
            if status is None:
                self._budget = None
                result: dict[str, Any] = {"level": None, "budget": None}
            else:
                self._budget = {"level": status.level, "limit_nanos": status.budget.amount_nanos,
                                "spent_nanos": status.spent_nanos,
                                "fraction": round(status.fraction, 6),
                                "period": status.budget.period, "period_key": status.period_key,
                                "projected_nanos": status.projected_nanos,
                                "checked_at": _iso()}
                result = {"level": status.level, "alerts": list(status.alerts)}
                for alert in status.alerts:
                    self.emit("alert", alert=alert)
            self._period = period.nanos if status is None else status.spent_nanos
            self._today = today.nanos
        except Exception as exc:  # noqa: BLE001 - retried on the job's schedule
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
                "jobs": jobs, "loop": dict(self._loop),
                "sources": {k: dict(v.__dict__) for k, v in self.sources.items()},
                "claude_code_telemetry": self.claude_telemetry()}

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
