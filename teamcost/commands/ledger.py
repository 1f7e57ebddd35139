"""`teamcost init`, `teamcost record`, `teamcost ledger status`."""

from __future__ import annotations

import io
import os
import re
import sys
from datetime import datetime

import typer

from teamcost.commands.output import FORMAT, OutputFormat, console, emit, to_json
from teamcost.commands.tables import say_pairs, view_width, wrap
from teamcost.config import default_home, load_config
from teamcost.errors import InvalidValue
from teamcost.home import init_config
from teamcost.labels import one_line
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
    team: str | None = typer.Option(None, metavar="NAME",
                                    help="Team name: letters, digits and _ . @ + -. "
                                         "Default: the config's, else 'default'."),
    member: str | None = typer.Option(None, metavar="MEMBER",
                                      help="Who you are (an email or a name). "
                                           "Default: git user.email."),
    project: str | None = typer.Option(None, metavar="ID",
                                       help="Firestore project id. Default: none "
                                            "(this machine's ledger only)."),
    timezone: str | None = typer.Option(None, "--timezone", "--tz", metavar="ZONE",
                                        help="Team timezone for days and budget periods, "
                                             "an IANA name such as Europe/Berlin. "
                                             "Default: UTC."),
    emulator_host: str | None = typer.Option(None, metavar="HOST:PORT",
                                             help="A Firestore emulator to use instead of "
                                                  "the project, e.g. 127.0.0.1:8080. "
                                                  "Default: none."),
) -> None:
    """Write the config file in TEAMCOST_HOME (merging with what is there)."""
    path, cfg, ledger_id = init_config(default_home(), {
        "team": team, "member": member, "project": project, "timezone": timezone,
        "emulator_host": emulator_host})
    console.print(f"wrote {one_line(path)}: team {cfg.team}, member {one_line(cfg.member)}, "
                  f"{'project ' + cfg.project if cfg.project else 'local ledger only'}, "
                  f"timezone {cfg.timezone}; ledger {one_line(cfg.ledger_file)} ({ledger_id})")


def record(
    model: str = typer.Option(..., "--model", "-m", metavar="MODEL",
                              help="Model name as the API reports it, e.g. gpt-4o."),
    input_tokens: str = typer.Option("0", "--input-tokens", "-i", metavar="N",
                                     show_default=False,
                                     help="Input tokens, cache excluded. Default: 0."),
    output_tokens: str = typer.Option("0", "--output-tokens", "-o", metavar="N",
                                      show_default=False, help="Output tokens. Default: 0."),
    provider: str | None = typer.Option(None, metavar="PROVIDER",
                                        help="openai, anthropic, google, ... "
                                             "Default: guessed from the model."),
    cache_read_tokens: str = typer.Option("0", "--cache-read-tokens", metavar="N",
                                          show_default=False,
                                          help="Input tokens read from the prompt cache. "
                                               "Default: 0."),
    cache_write_tokens: str = typer.Option("0", "--cache-write-tokens", metavar="N",
                                           show_default=False,
                                           help="Input tokens written to the prompt cache. "
                                                "Default: 0."),
    cost_usd: str | None = typer.Option(None, "--cost-usd", metavar="DOLLARS",
                                        help="Cost the provider reported, e.g. 0.0125 "
                                             "(skips pricing). Default: priced from the "
                                             "tokens."),
    duration_s: str | None = typer.Option(None, "--duration", metavar="SECONDS",
                                          help="Seconds the call took, e.g. 1.25. "
                                               "Default: not recorded."),
    session: str | None = typer.Option(None, metavar="ID",
                                       help="Session id. Default: none."),
    agent: str | None = typer.Option(None, metavar="NAME",
                                     help="Agent role or tier, e.g. planner. Default: none."),
    task: str | None = typer.Option(None, metavar="ID", help="Task id. Default: none."),
    correlation_id: str | None = typer.Option(None, "--correlation-id", metavar="ID",
                                              help="Id tying related calls together. "
                                                   "Default: none."),
    tag: list[str] | None = typer.Option(None, "--tag", metavar="KEY=VALUE",
                                         help="A tag, repeatable. Default: no tags."),
    failed: bool = typer.Option(False, "--failed",
                                help="The call failed. Default: it succeeded."),
    error: str | None = typer.Option(None, metavar="TEXT",
                                     help="Error message of a failed call. Default: none."),
    call_id: str | None = typer.Option(None, "--call-id", metavar="ID",
                                       help="Provider request id: recording it again is a "
                                            "no-op. Default: a new UUIDv7."),
    ts: datetime | None = typer.Option(None, "--ts", metavar="TIME",
                                       formats=["%Y-%m-%dT%H:%M:%S%z",
                                                "%Y-%m-%dT%H:%M:%S.%f%z"],
                                       help="When it completed: ISO 8601 with an offset, "
                                            "e.g. 2026-11-25T14:00:00Z. Default: now."),
    fmt: OutputFormat = FORMAT,
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
                            error=error, call_id=call_id, ts=ts, attribute=True)
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
    # the line `say` would print (labels literal, control bytes out, numbers never split),
    # made before the write so printing it cannot fail the command
    text = (f"recorded {one_line(rec.call_id)}: {one_line(rec.provider)}/{one_line(rec.model)} "
            f"{rec.input_tokens:,} in / {rec.output_tokens:,} out, {price}")
    return "\n".join(wrap(text, view_width(), indent=2)) + "\n"


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
def status(fmt: OutputFormat = FORMAT) -> None:
    """Calls, cost and unpushed count of this machine's ledger."""
    with Ledger.for_reading(load_config()) as ledger:
        st = ledger.status()
    emit(st, fmt, _render_status)


def _render_status(st: LedgerStatus) -> None:
    rows = [("ledger", str(st.path)), ("ledger_id", st.ledger_id),
            ("calls", f"{st.calls:,} ({st.unpriced:,} unpriced)"),
            ("cost", format_usd(st.cost_nanos)),
            ("unpushed", f"{st.unpushed:,} ({format_usd(st.unpushed_cost_nanos)})")]
    if st.first_ts and st.last_ts:
        rows.append(("span", f"{st.first_ts:%Y-%m-%d %H:%M} .. {st.last_ts:%Y-%m-%d %H:%M} UTC"))
    say_pairs(rows, gap=1)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("record")(record)
    app.add_typer(ledger_app, name="ledger")
