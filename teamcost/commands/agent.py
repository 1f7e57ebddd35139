"""`teamcost agent` (run the always-on agent in the foreground) and `teamcost agent status`."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from teamcost.commands import agent_setup
from teamcost.commands.output import FORMAT, OutputFormat, emit
from teamcost.commands.tables import say_pairs
from teamcost.config import load_config
from teamcost.errors import EXIT_ERROR, InvalidValue
from teamcost.money import format_usd
from teamcost.periods import parse_duration

agent_app = typer.Typer(help="The always-on agent: capture, push, pull and budget checks.",
                        invoke_without_command=True)

STOP_GRACE_S = 4.0   # SIGTERM: the loop gets this long to finish its step, then we exit anyway


def register(app: typer.Typer) -> None:
    """Add the `agent` group (run, status, install, uninstall, claude-code-setup)."""
    agent_setup.register(agent_app)
    app.add_typer(agent_app, name="agent")


def _log_line(fmt: str) -> Any:
    lock = threading.Lock()

    def log(event: str, **fields: Any) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if fmt == "json":
            line = json.dumps({"at": at, "event": event, **fields}, default=str)
        else:
            parts = " ".join(f"{k}={_plain(v)}" for k, v in fields.items() if v is not None)
            line = f"{at} teamcost agent: {event}{' ' if parts else ''}{parts}"
        with lock:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    return log


def _plain(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, (int, float)) else str(v)
    return "".join(c if c.isprintable() else "?" for c in text)


@agent_app.callback()
def agent(
    ctx: typer.Context,
    push_every: str = typer.Option("20s", "--push-every", metavar="DURATION",
                                   show_default=False,
                                   help="How often to push new calls: a number with ms, s or "
                                        "m (e.g. 20s, 5s, 2m); a push that falls due while "
                                        "calls keep coming waits up to half as long again for "
                                        "a pause, so a burst goes in one commit. A full batch "
                                        "waiting is pushed at once. Default: 20s."),
    pull_every: str = typer.Option("60s", "--pull-every", metavar="DURATION",
                                   show_default=False,
                                   help="How often to pull the team's calls. Default: 60s."),
    pack_every: str = typer.Option("5m", "--pack-every", metavar="DURATION",
                                   show_default=False,
                                   help="On an admin machine: record the team's rollup changes "
                                        "as packs this often, so members' reports read a few "
                                        "documents (0 = never). Default: 5m."),
    check_every: str = typer.Option("60s", "--check-every", metavar="DURATION",
                                    show_default=False,
                                    help="How often to check the budget and send alerts. "
                                         "Default: 60s."),
    claude_dir: list[Path] = typer.Option([], "--claude-dir", metavar="DIR",
                                          help="A Claude Code projects folder to follow "
                                               "(repeatable). Default: ~/.claude/projects and "
                                               "~/.config/claude/projects, or "
                                               "$CLAUDE_CONFIG_DIR/projects."),
    codex_dir: list[Path] = typer.Option([], "--codex-dir", metavar="DIR",
                                         help="A Codex home (with sessions/) to follow "
                                              "(repeatable). Default: $CODEX_HOME or ~/.codex."),
    gemini_dir: list[Path] = typer.Option([], "--gemini-dir", metavar="DIR",
                                          help="A Gemini CLI directory to follow (repeatable). "
                                               "Default: ~/.gemini."),
    otlp_port: int = typer.Option(4318, "--otlp-port", metavar="PORT", show_default=False,
                                  help="Loopback port for OTLP/HTTP telemetry, 1 to 65535; "
                                       "0 disables it. Default: 4318."),
    metrics_port: int = typer.Option(0, "--metrics-port", metavar="PORT", show_default=False,
                                     help="Serve Prometheus metrics at /metrics on this port "
                                          "(e.g. 9469). Default: 0, none."),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", metavar="HOST",
                                     show_default=False,
                                     help="Address for /metrics; anything but loopback needs "
                                          "--metrics-token. Default: 127.0.0.1."),
    metrics_token: str | None = typer.Option(
        None, "--metrics-token", envvar="TEAMCOST_SERVE_TOKEN", show_envvar=True,
        metavar="TOKEN", help="Require 'Authorization: Bearer TOKEN' on /metrics. "
                              "Default: none (loopback only)."),
    metrics_members: bool = typer.Option(False, "--metrics-members",
                                         help="Label /metrics series by member too. "
                                              "Default: team, provider and model only."),
    vendors_every: str | None = typer.Option(None, "--vendors-every", metavar="DURATION",
                                             help="On an admin machine: import Cursor's "
                                                  "(CURSOR_ADMIN_API_KEY) and Copilot's "
                                                  "(GITHUB_TOKEN, --copilot-org) team usage "
                                                  "this often, e.g. 6h. Default: off."),
    copilot_org: str | None = typer.Option(None, "--copilot-org", metavar="ORG",
                                           help="The GitHub organisation whose Copilot usage "
                                                "--vendors-every imports. Default: none "
                                                "(Cursor only)."),
    log_format: str = typer.Option("text", "--log-format", metavar="FORMAT",
                                   show_default=False,
                                   help="text (one line per event) or json. Default: text."),
) -> None:
    """Run the agent in the foreground until SIGTERM or Ctrl-C (what a service manager runs)."""
    if ctx.invoked_subcommand is not None:
        return
    from teamcost.agent.lock import AgentLock
    from teamcost.agent.loop import Agent, AgentOptions

    if log_format not in ("text", "json"):
        raise InvalidValue("--log-format", log_format, "text or json")
    if not 0 <= otlp_port <= 65535:
        raise InvalidValue("--otlp-port", otlp_port, "a port from 1 to 65535, or 0 for none")
    if not 0 <= metrics_port <= 65535:
        raise InvalidValue("--metrics-port", metrics_port, "a port from 1 to 65535, or 0 for none")
    if metrics_port:
        from teamcost.agent.metrics_http import check_exposure
        check_exposure(metrics_host, metrics_token or None)
    for flag, dirs in (("--claude-dir", claude_dir), ("--codex-dir", codex_dir),
                       ("--gemini-dir", gemini_dir)):
        for d in dirs:
            if d.exists() and not d.is_dir():
                raise InvalidValue(flag, str(d), "a directory")
    options = AgentOptions(
        push_every=parse_duration(push_every, "push_every", minimum=0.2, maximum=3600),
        pull_every=parse_duration(pull_every, "pull_every", minimum=0.2, maximum=86400),
        check_every=parse_duration(check_every, "check_every", minimum=0.2, maximum=86400),
        pack_every=(0.0 if pack_every.strip() == "0" else
                    parse_duration(pack_every, "pack_every", minimum=10, maximum=86400)),
        claude_dirs=[d.expanduser() for d in claude_dir] or None,
        codex_dirs=[d.expanduser() for d in codex_dir] or None,
        gemini_dirs=[d.expanduser() for d in gemini_dir] or None, otlp_port=otlp_port,
        metrics_port=metrics_port, metrics_host=metrics_host,
        metrics_token=metrics_token or None, metrics_members=metrics_members,
        vendors_every=(parse_duration(vendors_every, "vendors_every", minimum=60,
                                      maximum=7 * 86400) if vendors_every else 0.0),
        copilot_org=copilot_org)
    config = load_config()
    log = _log_line(log_format)
    lock = AgentLock(config.home)
    stop = threading.Event()
    failure: list[BaseException] = []

    def on_signal(signum: int, _frame: Any) -> None:
        log("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        agent_ = Agent(config, options, log)

        def work() -> None:
            try:
                agent_.run(stop)
            except BaseException as exc:  # reported by the main thread, which exits 1
                failure.append(exc)
                stop.set()

        worker = threading.Thread(target=work, name="teamcost-agent", daemon=True)
        worker.start()
        while not stop.wait(0.5):
            pass
        worker.join(STOP_GRACE_S)
        if failure:
            raise failure[0]
        log("stopped", clean=not worker.is_alive())
    finally:
        lock.release()


@agent_app.command("status")
def status_cmd(fmt: OutputFormat = FORMAT) -> None:
    """Is the agent running, when did it last push, pull and check, what waits, each source.

    Exits 0 while the agent runs, 1 when it does not."""
    from teamcost.agent.status import agent_status

    st = agent_status(load_config())
    emit(st, fmt, _render_status)
    if not st["running"]:
        raise typer.Exit(EXIT_ERROR)


def _render_status(st: dict[str, Any]) -> None:
    snap = st["snapshot"]
    rows: list[tuple[str, str]] = []
    if st["running"]:
        rows.append(("agent", f"running (pid {st['pid']}, up {_age(st['uptime_s'])})"))
    else:
        rows.append(("agent", "not running (start it with `teamcost agent`, or install it: "
                              "`teamcost agent install`)"))
    if snap is None:
        rows.append(("snapshot", st.get("snapshot_error") or "none yet"))
        say_pairs(rows)
        return
    rows.append(("snapshot", f"written {snap['written_at']} "
                             f"({_age(st['snapshot_age_s'])} ago)"))
    b = snap.get("backlog") or {}
    rows.append(("backlog", f"{b.get('calls', 0):,} calls not yet pushed "
                            f"({format_usd(b.get('cost_nanos', 0))})"))
    for name, job in (snap.get("jobs") or {}).items():
        if job.get("at") is None:
            state = job.get("error") or "not run yet"
        elif job.get("ok"):
            state = f"ok at {job['at']}"
        else:
            state = f"FAILED at {job['at']}: {job.get('error')}"
        rows.append((name, state))
    for name, src in (snap.get("sources") or {}).items():
        err = f", last error: {src['last_error']}" if src.get("last_error") else ""
        held = ""
        if src.get("held"):
            held = (f", {src['held']:,} held until {src.get('held_until')} at the latest "
                    f"({src.get('held_why')})")
        if src.get("estimated"):
            held += f", {src['estimated']:,} interrupted recorded as estimated"
        if src.get("disagreed"):
            held += (f", {src['disagreed']:,} telemetry disagreements (first kept), last: "
                     f"{src.get('last_disagreement')}")
        rows.append((f"source {name}", f"{src.get('files', 0):,} files, "
                                       f"{src.get('calls', 0):,} calls, "
                                       f"{src.get('bad', 0):,} bad lines{held}{err}"))
    tele = snap.get("claude_code_telemetry") or {}
    if tele.get("note"):
        rows.append(("claude code telemetry", tele["note"]))
    elif tele.get("on"):
        rows.append(("claude code telemetry", f"on ({tele.get('events', 0):,} request "
                                               "events received)"))
    budget = snap.get("budget")
    if budget:
        rows.append(("budget", f"{budget['level']} - {format_usd(budget['spent_nanos'])} of "
                               f"{format_usd(budget['limit_nanos'])} this {budget['period']}"))
    say_pairs(rows)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (
        f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")



