"""`teamcost init`, `teamcost record`, `teamcost ledger status`."""

from __future__ import annotations

import io
import os
import re
import sys
from datetime import datetime

import typer

from teamcost.commands.output import OutputFormat, console, emit, to_json
from teamcost.config import default_home, load_config
from teamcost.errors import InvalidValue
from teamcost.home import init_config
from teamcost.ledger import Ledger, LedgerStatus
from teamcost.models import CallRecord, record_to_json
from teamcost.money import format_usd
from teamcost.tracker import Tracker

ledger_app = typer.Typer(help="The local ledger on this machine.", no_args_is_help=True)


def parse_tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidValue("--tag", item, "KEY=VALUE")
        tags[key] = value
    return tags


def parse_count(option: str, value: str) -> int:
    """An integer option parsed here so the error shows the bad value (click's does not)."""
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise InvalidValue(option, value, "a non-negative integer such as 1200")
    return int(text)  # the range (>= 0) is checked by the record's validation


def parse_seconds(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # range (>= 0, finite) is checked by the record's validation
    except ValueError:
        raise InvalidValue(option, value, "a number of seconds such as 1.25") from None


def init(
    team: str | None = typer.Option(None, help="Team name (letters, digits, _ . @ + -)."),
    member: str | None = typer.Option(None, help="Who you are; default: git user.email."),
    project: str | None = typer.Option(None, help="Firestore project id (omit: local only)."),
    timezone: str | None = typer.Option(None, "--timezone", "--tz",
                                           help="Team timezone, e.g. Europe/Berlin."),
    emulator_host: str | None = typer.Option(None, help="host:port of a Firestore emulator."),
) -> None:
    """Write the config file in TEAMCOST_HOME (merging with what is there)."""
    path, cfg, ledger_id = init_config(default_home(), {
        "team": team, "member": member, "project": project, "timezone": timezone,
        "emulator_host": emulator_host})
    console.print(f"wrote {path}: team {cfg.team}, member {cfg.member}, "
                  f"{'project ' + cfg.project if cfg.project else 'local ledger only'}, "
                  f"timezone {cfg.timezone}; ledger {cfg.ledger_file} ({ledger_id})")


def record(
    model: str = typer.Option(..., "--model", "-m", help="Model name as the API reports it."),
    input_tokens: str = typer.Option("0", "--input-tokens", "-i", metavar="N",
                                     help="Input tokens, cache excluded."),
    output_tokens: str = typer.Option("0", "--output-tokens", "-o", metavar="N"),
    provider: str | None = typer.Option(None, help="openai, anthropic, google, ... (guessed)."),
    cache_read_tokens: str = typer.Option("0", "--cache-read-tokens", metavar="N"),
    cache_write_tokens: str = typer.Option("0", "--cache-write-tokens", metavar="N"),
    cost_usd: str | None = typer.Option(None, "--cost-usd",
                                           help="Cost the provider reported (skips pricing)."),
    duration_s: str | None = typer.Option(None, "--duration", metavar="SECONDS",
                                             help="Seconds the call took."),
    session: str | None = typer.Option(None, help="Session id."),
    agent: str | None = typer.Option(None, help="Agent role or tier."),
    task: str | None = typer.Option(None, help="Task id."),
    correlation_id: str | None = typer.Option(None, "--correlation-id"),
    tag: list[str] | None = typer.Option(None, "--tag", help="KEY=VALUE, repeatable."),
    failed: bool = typer.Option(False, "--failed", help="The call failed."),
    error: str | None = typer.Option(None, help="Error message of a failed call."),
    call_id: str | None = typer.Option(None, "--call-id",
                                          help="Provider request id (idempotent re-record)."),
    ts: datetime | None = typer.Option(None, "--ts", formats=["%Y-%m-%dT%H:%M:%S%z",
                                                                  "%Y-%m-%dT%H:%M:%S.%f%z"],
                                          help="When it completed, with offset (default now)."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format"),
) -> None:
    """Record one call in this machine's ledger (for shell scripts)."""
    tags = parse_tags(tag)
    tokens = [parse_count(name, value) for name, value in (
        ("--input-tokens", input_tokens), ("--output-tokens", output_tokens),
        ("--cache-read-tokens", cache_read_tokens), ("--cache-write-tokens", cache_write_tokens))]
    tracker = Tracker(load_config())
    try:
        rec = tracker.build(model, tokens[0], tokens[1], provider=provider,
                            cache_read_tokens=tokens[2],
                            cache_write_tokens=tokens[3], cost_usd=cost_usd,
                            duration_s=parse_seconds("--duration", duration_s), session_id=session, agent=agent, task_id=task,
                            correlation_id=correlation_id, tags=tags, success=not failed,
                            error=error, call_id=call_id, ts=ts)
        # everything that could fail is done before the write: a script that retries a
        # failed `record` must never record the call twice
        out = _printable(to_json(record_to_json(rec)) + "\n" if fmt == OutputFormat.json
                         else _record_line(rec))
        tracker.record_call(rec)
    finally:
        tracker.close()
    _print_recorded(out)


def _record_line(rec: CallRecord) -> str:
    price = format_usd(rec.cost_nanos) if rec.priced else "unpriced"
    return (f"recorded {rec.call_id}: {rec.provider}/{rec.model} "
            f"{rec.input_tokens} in / {rec.output_tokens} out, {price}\n")


def _printable(text: str) -> str:
    """``text`` as stdout's encoding can show it (others become escapes), decided before the
    call is written."""
    enc = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        return text.encode(enc, "backslashreplace").decode(enc)
    except LookupError:
        return text


def _print_recorded(text: str) -> None:
    """The call is recorded: a closed or broken stdout no longer makes it a failure."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:  # EPIPE: nobody reads; exit 0, as the call was recorded
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no "Exception ignored" at exit
        except (OSError, ValueError, io.UnsupportedOperation):
            pass


@ledger_app.command("status")
def status(fmt: OutputFormat = typer.Option(OutputFormat.text, "--format")) -> None:
    """Calls, cost and unpushed count of this machine's ledger."""
    with Ledger.for_reading(load_config()) as ledger:
        st = ledger.status()
    emit(st, fmt, _render_status)


def _render_status(st: LedgerStatus) -> None:
    console.print(f"ledger    {st.path}")
    console.print(f"ledger_id {st.ledger_id}")
    console.print(f"calls     {st.calls:,} ({st.unpriced:,} unpriced)")
    console.print(f"cost      {format_usd(st.cost_nanos)}")
    console.print(f"unpushed  {st.unpushed:,} ({format_usd(st.unpushed_cost_nanos)})")
    if st.first_ts and st.last_ts:
        console.print(f"span      {st.first_ts:%Y-%m-%d %H:%M} .. {st.last_ts:%Y-%m-%d %H:%M} UTC")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("record")(record)
    app.add_typer(ledger_app, name="ledger")
