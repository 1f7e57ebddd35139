"""`teamcost watch`: a live terminal view of the team's spend against its budget."""

from __future__ import annotations

import io
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from teamcost.commands.output import OutputFormat, console, emit, format_option
from teamcost.commands.tables import (
    UNLIMITED,
    Column,
    as_of,
    clock,
    drawing_console,
    pair_lines,
    show,
    side_by_side,
    table,
    view_width,
    wrap,
)
from teamcost.config import load_config
from teamcost.labels import one_line
from teamcost.money import format_usd as usd
from teamcost.periods import parse_duration

if TYPE_CHECKING:  # pandas and the sync stack load when watch runs, not for --help
    from teamcost.reports.live import LiveSnapshot, LiveSource


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("watch")(watch)


def parse_interval(value: str) -> float:
    return parse_duration(value, "interval", minimum=0.2, maximum=3600)


def watch(
    interval: str = typer.Option("5s", "--interval", "-i", metavar="DURATION",
                                 help="Time between refreshes: a number with ms, s or m "
                                      "(500ms, 5s, 2m), from 200ms to 60m. Default: 5s."),
    once: bool = typer.Option(False, "--once", help="Refresh once, print the view and exit. "
                                                    "Default: off (refresh until Ctrl-C)."),
    fmt: OutputFormat = format_option("; json implies --once"),
) -> None:
    """Live view: today's and the period's spend vs the budget, rate, projection, who and what.

    Each refresh pulls only the calls pushed since the last one. Ctrl-C quits (exit 0),
    between two frames.
    """
    from teamcost.agent.lock import holder
    from teamcost.presence import require_something
    from teamcost.reports.live import LiveSource

    seconds = parse_interval(interval)
    config = load_config()
    # a missing or empty home is said, not shown as a zero spend
    require_something(config, team_cache=config.has_firestore)
    # an agent running for this home pulls every minute: watch then reads what it pulled
    with LiveSource(config, others_pull=lambda: holder(config.home) is not None) as source:
        if once or fmt == OutputFormat.json:
            emit(source.refresh(), fmt, lambda s: show(render(s, width=view_width()),
                                                       view_width()))
            return
        _live(source, seconds)
    console.print("watch stopped")


def _live(source: LiveSource, seconds: float) -> None:
    """Redraw every ``seconds`` until Ctrl-C (or SIGTERM).

    A signal only sets a flag that the loop reads between frames, so the process never
    stops in the middle of writing a frame; and while it runs the terminal neither echoes
    ``^C`` into the output nor discards what is queued (ECHO off, NOFLSH on), which would
    otherwise cut a multi-byte character in half. The terminal is restored on the way out.
    """
    from rich.live import Live

    stop: list[int] = []
    resized: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        if stop:  # a second Ctrl-C while a refresh hangs: leave now
            raise KeyboardInterrupt
        stop.append(signum)

    def on_resize(_signum: int, _frame: Any) -> None:
        resized.append(1)

    signals: dict[int, Callable[[int, Any], None]] = {signal.SIGINT: on_signal,
                                                      signal.SIGTERM: on_signal}
    if hasattr(signal, "SIGWINCH"):   # the terminal was resized: draw again at its width
        signals[signal.SIGWINCH] = on_resize
    previous = {sig: signal.signal(sig, handler) for sig, handler in signals.items()}
    # every byte of a frame written; the width is the terminal's, read again at every frame
    out = WholeWrites.over(sys.stdout)
    view = drawing_console(None, file=out)
    try:
        with _quiet_terminal():
            snap = source.refresh()
            while not stop:
                resized.clear()
                width = live_width(out)
                view.width = width or UNLIMITED
                with Live(render(snap, seconds, width), console=view, auto_refresh=False,
                          screen=False, transient=False) as live:
                    while not stop and not resized:
                        deadline = time.monotonic() + seconds
                        while not (stop or resized) and time.monotonic() < deadline:
                            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
                        if stop or resized:
                            break
                        snap = source.refresh()
                        if stop:
                            break
                        width = live_width(out)
                        view.width = width or UNLIMITED
                        live.update(render(snap, seconds, width), refresh=True)
                if resized and not stop:
                    # the terminal rewrapped the last frame at the new width: start clean
                    # rather than move the cursor up over lines that are no longer there
                    view.clear()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def live_width(out: Any) -> int | None:
    """The width of a live frame: COLUMNS when set, else the terminal's own (read again
    each frame, so a resize is followed), else None (natural width)."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return os.get_terminal_size(out.fileno()).columns or None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


class WholeWrites(io.TextIOBase):
    """A text stream that writes every byte it is given, to a file descriptor.

    A signal that arrives while a large write() is blocked on the terminal makes the
    kernel return a short count; Python's buffered text layer does not write the rest, so
    the frame would end early, possibly inside a multi-byte character. This one loops
    until everything is out (the signal handler only sets a flag).
    """

    def __init__(self, fd: int, encoding: str = "utf-8", tty: bool = False) -> None:
        self._fd = fd
        self._encoding = encoding
        self._tty = tty

    @classmethod
    def over(cls, stream: Any) -> Any:
        """A WholeWrites on ``stream``'s descriptor, or ``stream`` itself when it has none
        (a test's in-memory stream)."""
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return stream
        stream.flush()
        return cls(fd, getattr(stream, "encoding", None) or "utf-8", stream.isatty())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return self._tty

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = memoryview(text.encode(self._encoding, "replace"))
        while data:
            try:
                n = os.write(self._fd, data)
            except BlockingIOError:  # a non-blocking descriptor: wait until it drains
                select.select([], [self._fd], [])
                continue
            data = data[n:]
        return len(text)

    def flush(self) -> None:
        pass


@contextmanager
def _quiet_terminal() -> Iterator[None]:
    """While watch draws: no echo of typed keys (^C) and no flush of pending output when
    a signal key is pressed. Nothing changes when stdin is not a terminal."""
    try:
        import termios
    except ImportError:  # not POSIX
        yield
        return
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    try:
        saved = termios.tcgetattr(fd) if fd >= 0 and os.isatty(fd) else None
    except (termios.error, OSError, ValueError):
        saved = None
    if saved is None:
        yield
        return
    quiet = list(saved)
    quiet[3] = (quiet[3] & ~termios.ECHO) | termios.NOFLSH
    try:
        termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _pct(f: float | None) -> str:
    return "" if f is None else f"{f * 100:.1f}%"


def _budget_row(s: LiveSnapshot, room: int | None) -> Text:
    """The budget's bar, or what is known about the budget when there is no bar."""
    if s.budget_state == "unknown":
        since = (f"offline since {clock(s.offline_since, s.now)}" if s.offline_since
                 else "offline")
        known = (f"; last known {usd(s.limit_nanos)} per {s.period}" if s.limit_nanos
                 else "; no budget known")
        return Text(f"unknown ({since}){known}", style="yellow")
    if s.budget_state == "local":
        return Text("none: budgets live in Firestore (teamcost init --project ID)",
                    style="dim")
    fraction = s.used_fraction
    if fraction is None:
        return Text("no budget set (teamcost budget set --amount 500)", style="dim")
    width = 40 if room is None else max(10, min(40, room))
    filled = round(width * min(fraction, 1.0))
    style = "green" if fraction < 0.8 else "yellow" if fraction < 1 else "red"
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "dim"))


def render(s: LiveSnapshot, interval: float | None = None,
           width: int | None = None) -> RenderableType:
    """The whole view as one rich renderable (also what --once prints), fitted to
    ``width`` (None: natural width)."""
    inner = None if width is None else width - 4  # the panel's borders and padding
    head = Text("\n".join(wrap(
        f"teamcost watch  team {s.team}  {s.now.astimezone():%Y-%m-%d %H:%M:%S}  "
        f"{s.period} {s.period_start:%Y-%m-%d}..{s.period_end:%Y-%m-%d} ({s.tz})",
        inner, indent=2)))
    head.stylize("bold", 0, len("teamcost watch"))

    limit = ""
    if s.limit_nanos:
        limit = f" of {usd(s.limit_nanos)}" + (" (last known)" if s.budget_state == "unknown"
                                               else "")
    firsts = [usd(s.today_nanos), usd(s.period_nanos), f"{usd(s.rate_nanos_per_hour)}/h",
              usd(s.projected_nanos)]
    col = max(len(x) for x in firsts)
    key_w = len("projection")
    top = [("today", f"{firsts[0]:>{col}}  {s.today_calls:,} calls"),
           (f"this {s.period}", f"{firsts[1]:>{col}}{limit}  {s.period_calls:,} calls  "
                                f"{_pct(s.used_fraction)}")]
    rest = [("rate", f"{firsts[2]:>{col}}  last hour {usd(s.last_hour_nanos)}"),
            ("projection", f"{firsts[3]:>{col}}  by {s.period_end:%Y-%m-%d}  "
                           f"{_pct(s.projected_fraction)}")]
    if s.unpriced_calls:
        rest.append(("unpriced", f"{s.unpriced_calls:,} calls with no known price"))
    money = Text("\n".join(pair_lines(top, inner, key_width=key_w)) + "\n")
    budget = _budget_row(s, None if inner is None else inner - key_w - 2)
    if inner is not None and key_w + 2 + budget.cell_len > inner:
        money.append("budget\n")
        money.append_text(Text("\n".join("  " + x for x in wrap(budget.plain, inner - 2)),
                               style=budget.style))
    else:
        money.append("budget".ljust(key_w + 2))
        money.append_text(budget)
    money.append("\n" + "\n".join(pair_lines(rest, inner, key_width=key_w)))

    def shares(title: str, rows: Any) -> RenderableType:
        return table(title, [Column(title.split()[1], "label"), Column("cost", "money"),
                             Column("calls")],
                     [[r.key, usd(r.cost_nanos), f"{r.calls:,}"] for r in rows], inner)

    side = side_by_side([shares(f"by member ({s.period})", s.by_member),
                         shares(f"by model ({s.period})", s.by_model)], inner)

    today = s.now.astimezone().date()
    latest_rows = []
    for c in s.latest:
        local = c.ts.astimezone()
        when = local.strftime("%H:%M:%S" if local.date() == today else "%m-%d %H:%M")
        latest_rows.append([when, c.member, c.agent or "", c.model, f"{c.total_tokens:,}",
                            usd(c.cost_nanos)])
    latest = table("latest calls", [
        Column("time", "fixed"), Column("member", "label"), Column("agent", "label"),
        Column("model", "label"), Column("tokens", drop="in"), Column("cost", "money")],
        latest_rows, inner)

    r = s.refreshed
    foot = (f"source: {one_line(s.source)}  "
            + (f"last pull: {r.get('pulled', 0):,} read, {r.get('new', 0):,} new  "
               if "pulled" in r else "")
            + (f"refresh every {interval:g}s  Ctrl-C quits" if interval else ""))
    parts: list[RenderableType] = [head, Text(""), money, Text(""), side, Text(""), latest,
                                   Text("\n".join(wrap(foot, inner, indent=2)), style="dim")]
    if r.get("error"):
        pulled = r.get("cache_pulled_at")
        cache = as_of(pulled, s.now) if pulled else "never pulled"
        parts.append(Text("\n".join(wrap(f"pull failed, showing the cache {cache}: "
                                          f"{one_line(r['error'])}", inner, indent=2)),
                          style="red"))
    return Panel(Group(*parts), expand=False)
