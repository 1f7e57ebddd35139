"""`teamcost demo`: the whole product on a local Firestore emulator, in one command.

Steps: find or start the emulator, write a demo TEAMCOST_HOME, generate the team's
month into per-machine ledgers, push every ledger, pull the team cache, set a pooled
budget, then run the 7-day report, the budget check and last week's export into the
demo folder. With no emulator installed, the same runs on one local ledger (no push,
no budget) and the result says how to get an emulator.

Everything here calls the same library functions the CLI commands call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from teamcost.config import Config, load_config, write_config
from teamcost.demo import folder as demo_folder
from teamcost.demo.generate import (
    DEFAULT_SEED,
    DEMO_PROJECT,
    DEMO_TEAM,
    MEMBERS,
    DemoData,
    write_ledgers,
)
from teamcost.emulator import INSTALL_HINT, Emulator, EmulatorError, free_port, is_up
from teamcost.errors import TeamcostError
from teamcost.ledger import Ledger
from teamcost.money import format_usd, nanos_to_usd

# what the demo writes at the top of its folder (teamcost.demo.folder keeps the rest safe)
DEMO_ENTRIES = ("home", "ledgers", "exports", "report-7d.json", "report-7d.txt",
                "budget-check.json", "spend-30d.png", "spend-30d.html")
DEMO_PORT = 8765          # preferred, so a `--serve` emulator has a predictable address
HOME_MEMBER = MEMBERS[0]  # the demo home is this member's first machine

Say = Callable[[str], None]


@dataclass
class Step:
    name: str
    seconds: float
    detail: str = ""


@dataclass
class DemoResult:
    directory: Path
    home: Path
    mode: str                                   # "firestore" or "local"
    emulator_host: str | None
    emulator_started: bool
    ledgers: dict[str, Path]
    calls: int
    total_nanos: int
    members: list[str]
    models: list[str]
    spike_day: str
    steps: list[Step] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)   # what -> where
    budget_status: str | None = None
    budget_exit_code: int | None = None
    notes: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # step -> rendered text
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory), "home": str(self.home), "mode": self.mode,
            "emulator_host": self.emulator_host, "emulator_started": self.emulator_started,
            "ledgers": {k: str(v) for k, v in self.ledgers.items()}, "calls": self.calls,
            "total_nanos": self.total_nanos, "total_usd": nanos_to_usd(self.total_nanos),
            "members": self.members, "models": self.models, "spike_day": self.spike_day,
            "steps": [{"name": s.name, "seconds": round(s.seconds, 3), "detail": s.detail}
                      for s in self.steps],
            "files": {k: str(v) for k, v in self.files.items()},
            "budget_status": self.budget_status, "budget_exit_code": self.budget_exit_code,
            "notes": self.notes, "seconds": round(self.seconds, 3),
        }


class _Timer:
    def __init__(self, result: DemoResult, name: str, say: Say) -> None:
        self.result, self.name, self.say = result, name, say
        self.detail = ""

    def __enter__(self) -> _Timer:
        self.started = time.monotonic()
        self.say(f"{self.name} ...")
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.result.steps.append(Step(self.name, time.monotonic() - self.started,
                                          self.detail))


def _quiet(_: str) -> None:
    pass


def find_or_start_emulator(say: Say = _quiet, env_host: str | None = None
                           ) -> tuple[Emulator | None, str | None, str]:
    """(emulator we started or None, host, "") — or (None, None, why) when none is to be had.

    An emulator named by FIRESTORE_EMULATOR_HOST is used as is (and must answer).
    """
    from teamcost.emulator import start_emulator

    if env_host:
        if not is_up(env_host):
            raise EmulatorError(f"FIRESTORE_EMULATOR_HOST={env_host} is set but no emulator "
                                "answers there; unset it to let the demo start its own")
        return None, env_host, ""
    try:
        port = DEMO_PORT if _port_free(DEMO_PORT) else free_port()
        say(f"starting the Firestore emulator on 127.0.0.1:{port} (Java; ~10 s)")
        emu = start_emulator(port=port)
    except EmulatorError as exc:
        if INSTALL_HINT in str(exc):  # none installed (not: installed but failing)
            return None, None, str(exc)
        raise
    return emu, emu.host, ""


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def demo_config(home: Path, ledger: Path, emulator_host: str | None,
                project: str = DEMO_PROJECT) -> Config:
    """Write the demo's config.toml and load it ignoring the caller's TEAMCOST_* variables."""
    values: dict[str, Any] = {"team": DEMO_TEAM, "member": HOME_MEMBER.name,
                              "ledger_path": str(ledger), "timezone": "UTC"}
    if emulator_host:
        values |= {"project": project, "emulator_host": emulator_host}
    write_config(home, values)  # a new home: run_demo cleared the previous demo's
    return load_config(home, env={})


def run_demo(directory: Path | str, *, seed: int = DEFAULT_SEED, now: datetime | None = None,
             emulator_host: str | None = None, local_only: bool = False, say: Say = _quiet,
             project: str = DEMO_PROJECT,
             keep_emulator: Callable[[DemoResult], None] | None = None,
             render: Callable[[str, Any], str] | None = None) -> DemoResult:
    """Run the whole demo into ``directory`` (replacing a previous demo there).

    ``emulator_host`` is FIRESTORE_EMULATOR_HOST if the caller has one; otherwise an
    emulator is started and stopped at the end (``keep_emulator`` is called while it
    still runs, e.g. to serve it until Ctrl-C). ``render(step, result)`` turns a library
    result into the text the CLI would print; the text is saved in the demo folder.
    """
    started = time.monotonic()
    folder = demo_folder.prepare(directory, DEMO_ENTRIES, homes=("home",))   # refuses before any write
    demo_folder.check_writable(folder)
    directory = folder.path
    now = now or datetime.now(UTC)
    emu: Emulator | None = None
    finished = False
    try:
        home = directory / "home"
        try:
            home.mkdir()
        except OSError as exc:
            raise demo_folder.DemoFolderError(f"cannot write the demo into {directory}: "
                                              f"{exc.strerror or exc}") from None
        host: str | None = None
        why = "--local: ran on the local ledger alone"
        if not local_only:
            emu, host, why = find_or_start_emulator(say, emulator_host)
        mode = "firestore" if host else "local"
        result = DemoResult(directory, home, mode, host, emu is not None, {}, 0, 0, [], [], "")
        if not host:
            if not local_only:
                why = f"ran on the local ledger alone (no push, pull or budget): {why}"
            result.notes.append(why)
        _run_steps(result, folder, now, seed, project, say, render)
        demo_folder.record(folder)
        finished = True   # from here on the folder is a whole demo, kept whatever happens
        if emu is not None and keep_emulator is not None:
            result.seconds = time.monotonic() - started
            keep_emulator(result)
    except BaseException:
        try:
            if emu is not None:
                emu.stop()
        finally:
            if finished:
                demo_folder.record(folder)
            else:
                demo_folder.discard(folder)  # a failed demo leaves nothing of its own behind
        raise
    else:
        try:
            if emu is not None:
                emu.stop()
        finally:
            demo_folder.record(folder)   # the marker lists what we made
    result.seconds = time.monotonic() - started
    return result


def _run_steps(result: DemoResult, folder: demo_folder.DemoFolder, now: datetime, seed: int,
               project: str, say: Say, render: Callable[[str, Any], str] | None) -> None:
    home = result.home
    with _Timer(result, "generate the team's month into per-machine ledgers", say) as t:
        written = write_ledgers(folder.path / "ledgers", now, seed=seed)
        data = written.data
        result.ledgers = dict(written.paths)
        t.detail = f"{len(data.calls)} calls on {len(written.paths)} machines"
    _fill_facts(result, data)
    home_ledger = written.paths[HOME_MEMBER.machines[0]]
    if result.mode == "local":
        # one ledger holds the whole team so local reports show it all
        home_ledger = home / "ledger.db"
        with Ledger(home_ledger) as led:
            led.record_many(data.calls)
    config = demo_config(home, home_ledger, result.emulator_host, project)
    if result.mode == "firestore":
        _sync_steps(result, config, written.paths, say)
    _report_steps(result, config, now, say, render)


def _fill_facts(result: DemoResult, data: DemoData) -> None:
    calls = data.calls
    result.calls = len(calls)
    result.total_nanos = data.total_nanos
    result.members = sorted({c.member for c in calls})
    result.models = sorted({c.model for c in calls})
    result.spike_day = data.spike_day.date().isoformat()


def _sync_steps(result: DemoResult, config: Config, ledgers: dict[str, Path], say: Say) -> None:
    from teamcost.emulator import Emulator as _E
    from teamcost.sync.cache import TeamCache
    from teamcost.sync.client import admin_client
    from teamcost.sync.pull import pull
    from teamcost.sync.push import push

    assert config.emulator_host and config.project
    # the demo owns its project: a previous run's documents would double the month
    _E(config.emulator_host, None).wipe(config.project)
    client = admin_client(config)
    try:
        with _Timer(result, f"push {len(ledgers)} machine ledgers to Firestore", say) as t:
            pushed = already = 0
            for path in ledgers.values():
                with Ledger(path) as led:
                    r = push(config, led, client)
                pushed += r.pushed
                already += r.already
                if r.conflicts:
                    raise TeamcostError(f"demo push met {len(r.conflicts)} conflicts in {path}")
            t.detail = f"{pushed} calls pushed ({already} already there)"
        with _Timer(result, "pull the team cache", say) as t:
            with TeamCache.for_config(config) as cache:
                pr = pull(config, client, cache)
            t.detail = f"{pr.read} read, {pr.new} new in {config.cache_file}"
        result.files["team cache"] = config.cache_file
    finally:
        client.close()


def _report_steps(result: DemoResult, config: Config, now: datetime, say: Say,
                  render: Callable[[str, Any], str] | None) -> None:
    """report --since 7d, budget check, last week's export and the 30-day charts."""
    import json

    from teamcost.periods import parse_week, parse_window
    from teamcost.reports.chart import report_chart
    from teamcost.reports.export import export_period
    from teamcost.reports.report import build_report

    d = result.directory
    tz = config.timezone
    _budget_steps(result, config, now, say, render)   # first, so the report shows it
    with _Timer(result, "report --since 7d", say) as t:
        doc = build_report(config, parse_window("7d", None, now, tz), now=now, refresh=False)
        path = d / "report-7d.json"
        path.write_text(json.dumps(doc, indent=2) + "\n")
        result.files["report (json)"] = path
        if render is not None:
            text = render("report", doc)
            (d / "report-7d.txt").write_text(text)
            result.files["report (text)"] = d / "report-7d.txt"
            result.outputs["teamcost report --since 7d"] = text
        s = doc["summary"]
        t.detail = (f"{s['calls']} calls, {s['members']} members, {s['models']} models, "
                    f"{format_usd(s['cost_nanos'], 2)}")
    with _Timer(result, "export --week last", say) as t:
        ex = export_period(config, parse_week("last", now, tz), d / "exports", fmt="both",
                           now=now, refresh=False)
        for f in ex.files:
            what = "summary" if f.endswith("-summary.json") else Path(f).suffix.lstrip(".")
            result.files[f"export ({what})"] = Path(f)
        t.detail = f"{ex.label}: {ex.calls} calls, {format_usd(ex.cost_nanos, 2)}"
    with _Timer(result, "report --since 30d --chart", say) as t:
        doc30 = build_report(config, parse_window("30d", None, now, tz), now=now,
                             refresh=False)
        for name in ("spend-30d.png", "spend-30d.html"):
            try:
                drawn = report_chart(config, doc30, d / name, ("member",), now=now)
            except TeamcostError as exc:  # e.g. no matplotlib: the HTML still comes
                result.notes.append(f"chart {name} not drawn: {exc}")
                continue
            result.files[f"chart ({drawn.kind})"] = drawn.path
        t.detail = "daily spend by member, budget line and projection"


def _budget_steps(result: DemoResult, config: Config, now: datetime, say: Say,
                  render: Callable[[str, Any], str] | None) -> None:
    """Set a pooled monthly budget the team is close to, then run `budget check`."""
    import json
    import math

    from teamcost.budget.check import check, set_team_budget
    from teamcost.budget.spend import team_spend
    from teamcost.budget.store import CHECK_BACKOFF
    from teamcost.periods import period_bounds
    from teamcost.sync.client import admin_client

    if result.mode != "firestore":
        return
    client = admin_client(config)
    with _Timer(result, "budget set + budget check", say) as t:
        start, end = period_bounds(now, "month", config.timezone)
        spent = team_spend(client, None, config.team, start, end, CHECK_BACKOFF).nanos
        # a round amount ~15% above this month's spend: the demo shows a warning
        amount = max(50, math.ceil(nanos_to_usd(spent) * 1.15 / 50) * 50)
        set_team_budget(config, amount, "month", "0.8,0.9", hard_stop=False, client=client)
        status = check(config, client=client, now=now)
        path = result.directory / "budget-check.json"
        path.write_text(json.dumps(status.to_dict(), indent=2) + "\n")
        result.files["budget check (json)"] = path
        result.budget_status = status.line
        result.budget_exit_code = status.exit_code
        t.detail = status.line
