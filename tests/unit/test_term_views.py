"""Terminal views at every width: no number is ever cut, labels shorten first, then
columns drop in the documented order, then the compact layout.

Each view runs through the real CLI twice, as text at a width (``COLUMNS``) and as JSON;
every money, count and percentage cell read back from the text must be the JSON's
exact value as promised (tests/view_support.py parses and checks without teamcost's
formatting code). Data: the demo team (teamcost.demo.generate.write_ledgers) and a team
whose members, models, agents and sessions have 200-character names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from teamcost.demo.generate import write_ledgers
from teamcost.ledger import Ledger
from teamcost.models import CallRecord

from tests.cli_support import run as _run
from tests.view_support import (
    Box,
    boxes,
    compact_rows,
    count_matches,
    label_matches,
    money_matches,
    panel_text,
    pct_matches,
    widest_line,
)

WIDTHS = (40, 60, 80, 100, 120, 200)
FIXED_NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
# the report's window lies wholly in the past: text and JSON runs see the same numbers
WINDOW = ("--since", "2026-10-25", "--until", "2026-11-22")
BY = ("--by", "member,model,agent,session")
DROP_HEADERS = ("cache write", "cache read", "out tok", "in tok", "share")   # README: the order they drop
# watch and the views of recent calls read the clock: their tests run at this instant
# (live_clock), 5 minutes into a local day, so the latest calls show both today's times
# (HH:MM:SS) and yesterday's (MM-DD HH:MM), in a zone whose day is not UTC's
LIVE_NOW = datetime(2026, 12, 6, 0, 5, tzinfo=ZoneInfo("America/New_York"))


def run(*args: str, width: int | None = None) -> Any:
    from typer.testing import CliRunner

    from teamcost.cli import app
    env = {"COLUMNS": str(width) if width else None}
    return CliRunner().invoke(app, list(args), env=env)


def long_label(kind: str, i: int) -> str:
    """200 characters (a member id: 128, the most a record allows) whose two ends say
    what and which, so a shortened one is recognisable by both."""
    size = 128 if kind == "member" else 200
    head, tail = f"{kind}{i}-start-", f"-end-{kind}{i}"
    return head + "x" * (size - len(head) - len(tail)) + tail


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    written = write_ledgers(d / "machines", FIXED_NOW)
    merged = d / "team.db"
    with Ledger(merged) as led:
        led.record_many(written.data.calls)
    return merged


@pytest.fixture(scope="module")
def live_demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo team up to LIVE_NOW (watch shows the current month)."""
    d = tmp_path_factory.mktemp("live")
    written = write_ledgers(d / "machines", LIVE_NOW - timedelta(minutes=1), scale=0.3)
    merged = d / "team.db"
    with Ledger(merged) as led:
        led.record_many(written.data.calls)
    return merged


@pytest.fixture(scope="module")
def long_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Calls of the 40 minutes before LIVE_NOW with 200-character labels."""
    path = tmp_path_factory.mktemp("long") / "team.db"
    now = LIVE_NOW.astimezone(UTC)
    calls = [CallRecord(
        call_id=f"long-{i:03d}", ts=now - timedelta(minutes=2 + i), team="default",
        member=long_label("member", i % 3), ledger_id="lap", provider="openai",
        model=long_label("model", i % 4), input_tokens=1_000 * i, output_tokens=37 * i,
        cache_read_tokens=11 * i, cache_write_tokens=3 * i,
        cost_nanos=123_456_789 * (i + 1) if i % 5 else 4_321 * (i + 1),
        priced=True, price_source="test", agent=long_label("agent", i % 2),
        session_id=long_label("session", i % 6)) for i in range(40)]
    with Ledger(path) as led:
        led.record_many(calls)
    return path


@pytest.fixture
def live_clock() -> Iterator[None]:
    """The process's clock (and local zone) at LIVE_NOW for the test; it runs on from there."""
    with time_machine.travel(LIVE_NOW):
        yield


def use(ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMCOST_LEDGER", str(ledger))
    monkeypatch.delenv("COLUMNS", raising=False)


# -- checking one table ------------------------------------------------------------------

NUMERIC = {"cost": "money", "calls": "count", "share": "pct", "in tok": "count",
           "out tok": "count", "cache read": "count", "cache write": "count", "unpriced": "count", "tokens": "count"}


def check_cells(headers: list[str], cells: list[str], expected: dict[str, Any]) -> None:
    """Each numeric cell shows exactly its expected value; labels whole or middle-cut."""
    for h, cell in zip(headers, cells):
        assert "…" not in cell or NUMERIC.get(h) is None, (h, cell)
        want = expected.get(h)
        if want is None:
            continue
        kind = NUMERIC.get(h, "label")
        if kind == "money":
            assert money_matches(cell, want), (h, cell, want)
        elif kind == "count":
            assert (cell == "" and want == 0 and h == "unpriced") or count_matches(cell, want), \
                (h, cell, want)
        elif kind == "pct":
            assert pct_matches(cell, want), (h, cell, want)
        else:
            assert label_matches(cell, want), (h, cell, want)


def compact_items(row: str) -> dict[str, str]:
    """``cost $1.23  calls 4`` items of a compact row, by name."""
    out = {}
    for name in NUMERIC:
        key = f" {name} "
        if key in f" {row} ":
            out[name] = f" {row} ".split(key, 1)[1].split()[0]
    return out


def check_table(text: str, title: str, label: str, rows: list[dict[str, Any]],
                optional: tuple[str, ...]) -> list[str]:
    """The table ``title`` shows ``rows`` (dicts by header); returns the headers shown
    (compact: ``["compact"]``)."""
    found = [b for b in boxes(text) if b.title == title]
    if found:
        box: Box = found[0]
        assert len(box.rows) == len(rows), (title, box.rows)
        for cells, want in zip(box.rows, rows):
            check_cells(box.headers, cells, want)
        return box.headers
    compact = compact_rows(text, title)
    assert len(compact) == len(rows), (title, compact)
    for row, want in zip(compact, rows):
        items = compact_items(row)
        check_cells(list(items), list(items.values()), want)
        assert all(h not in items for h in optional), row  # compact: everything dropped
        if str(want[label]).startswith("... "):
            assert row.startswith(want[label]), row
            continue
        tokens = row.split()
        for h, value in want.items():  # every label shown, whole or cut in its middle
            if h not in NUMERIC and value:
                # a label of n words (watch's ``12-05 01:26``) is n tokens of the row
                n = len(str(value).split())
                shown = [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
                assert any(label_matches(t, value) for t in shown), (h, value, row)
    return ["compact"]


def check_drop_order(shown_by_width: dict[int | None, list[str]], optional: tuple[str, ...]
                     ) -> None:
    """What a narrower view lacks is a prefix of the documented order, and a narrower
    view never shows a column a wider one dropped."""
    order = [h for h in DROP_HEADERS if h in optional]
    previous: set[str] | None = None
    for width in sorted((w for w in shown_by_width if w), reverse=True):
        shown = shown_by_width[width]
        dropped = order if shown == ["compact"] else [h for h in order if h not in shown]
        assert dropped == order[:len(dropped)], (width, shown)
        if previous is not None:
            assert set(dropped) >= previous, (width, dropped, previous)
        previous = set(dropped)
    assert set(optional) <= set(shown_by_width[None])  # natural width: every column


# -- report ------------------------------------------------------------------------------

def report_rows(doc: dict[str, Any], dim: str) -> list[dict[str, Any]]:
    rows = []
    items = doc["breakdowns"][dim]
    for x in items[:15]:
        rows.append({dim: x[dim], "cost": x["cost_nanos"], "share": x["share"],
                     "calls": x["calls"], "in tok": x["input_tokens"],
                     "out tok": x["output_tokens"],
                     "cache read": x["cache_read_tokens"],
                     "cache write": x["cache_write_tokens"],
                     "unpriced": x["unpriced_calls"]})
    if len(items) > 15:
        rows.append({dim: f"... {len(items) - 15} more"})
    return rows


def check_report(args: tuple[str, ...], dims: tuple[str, ...], summary: bool) -> None:
    doc = json.loads(run("report", *args, "--format", "json").stdout)
    assert doc["summary"]["calls"] > 0
    optional = ("share", "in tok", "out tok", "cache read", "cache write")
    shown: dict[str, dict[int | None, list[str]]] = {d: {} for d in dims}
    for width in (*WIDTHS, None):
        result = run("report", *args, width=width)
        assert result.exit_code == 0, result.output
        text = result.stdout
        if width:
            assert widest_line(text) <= width, (width, text)
        for dim in dims:
            shown[dim][width] = check_table(text, f"by {dim}", dim, report_rows(doc, dim),
                                            optional)
        days = [{"day": d["day"], "cost": d["cost_nanos"], "calls": d["calls"]}
                for d in doc["trend"]["day"]]
        check_table(text, "trend by day", "day", days, ())
        if summary:  # the panel: total, calls, tokens, rate, all whole and exact
            s, r = doc["summary"], doc["rate"]
            flat = panel_text(text)
            total, calls = flat.split("total ", 1)[1].split(" calls")[0].split(" over ")
            assert money_matches(total.strip(), s["cost_nanos"]), flat
            assert count_matches(calls, s["calls"]), flat
            for field, name in (("input_tokens", " in"), ("output_tokens", " out"),
                                ("cache_read_tokens", " cache read"),
                                ("cache_write_tokens", " cache write")):
                cell = flat.split(name + " ")[0].split()[-1] if name != " cache write" \
                    else flat.split(" cache write")[0].split()[-1]
                assert count_matches(cell, s[field]), (field, flat)
            hour = flat.split("rate ", 1)[1].split("/hour")[0]
            assert money_matches(hour, r["per_hour_nanos"]), flat
    for dim in dims:
        check_drop_order(shown[dim], optional)


def test_report_demo_at_every_width(demo_ledger, monkeypatch) -> None:
    use(demo_ledger, monkeypatch)
    check_report((*WINDOW, *BY), ("member", "model", "agent", "session"), summary=True)


def test_report_long_labels_at_every_width(long_ledger, live_clock, monkeypatch) -> None:
    use(long_ledger, monkeypatch)
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    check_report(("--since", since, *BY), ("member", "model", "agent", "session"),
                 summary=False)
    # in a pipe (no COLUMNS, not a terminal) nothing is shortened
    text = run("report", "--since", since, *BY).stdout
    for i in range(3):
        assert long_label("member", i) in text


def test_report_columns_drop_before_compact_at_60(demo_ledger, monkeypatch) -> None:
    """Hand-checked layout of the demo's by-model table: at 80 columns the cache writes
    go; at 60 out and cache tokens too; at 40 every optional column."""
    use(demo_ledger, monkeypatch)
    heads = {}
    for width in (40, 60, 80, 200):
        text = run("report", *WINDOW, width=width).stdout
        heads[width] = next(b.headers for b in boxes(text) if b.title == "by model")
    assert heads[200] == ["model", "cost", "share", "calls", "in tok", "out tok", "cache read",
                          "cache write"]
    assert heads[80] == ["model", "cost", "share", "calls", "in tok", "out tok", "cache read"]
    assert heads[60] == ["model", "cost", "share", "calls", "in tok"]
    assert heads[40] == ["model", "cost", "calls"]


# -- watch ---------------------------------------------------------------------------------

def watch_checks(width: int | None, doc: dict[str, Any], text: str) -> dict[str, list[str]]:
    if width:
        assert widest_line(text) <= width, (width, text)
    shown = {}
    for key, dim in (("by_member", "member"), ("by_model", "model")):
        rows = [{dim: x["key"], "cost": x["cost_nanos"], "calls": x["calls"]} for x in doc[key]]
        shown[dim] = check_table(text, f"by {dim} ({doc['period']})", dim, rows, ())
    latest = []
    for c in doc["latest"]:
        local = datetime.fromisoformat(c["ts"]).astimezone()
        today = datetime.fromisoformat(doc["now"]).astimezone().date()
        latest.append({"time": local.strftime("%H:%M:%S" if local.date() == today
                                              else "%m-%d %H:%M"),
                       "member": c["member"], "agent": c["agent"] or "", "model": c["model"],
                       "tokens": c["total_tokens"], "cost": c["cost_nanos"]})
    shown["latest"] = check_table(text, "latest calls", "time", latest, ("tokens",))
    flat = panel_text(text)
    today = flat.split("today ", 1)[1].split()
    assert money_matches(today[0], doc["today_nanos"]) and count_matches(today[1],
                                                                         doc["today_calls"])
    month = flat.split(f"this {doc['period']} ", 1)[1].split(" calls")[0].split()
    assert money_matches(month[0], doc["period_nanos"])
    assert count_matches(month[-1], doc["period_calls"])
    return shown


def test_watch_once_at_every_width(live_demo_ledger, long_ledger, live_clock, monkeypatch
                                   ) -> None:
    for ledger in (live_demo_ledger, long_ledger):
        use(ledger, monkeypatch)
        doc = json.loads(run("watch", "--format", "json").stdout)
        assert doc["latest"], doc
        if ledger == long_ledger:   # both time formats are shown: today's and yesterday's
            days = {datetime.fromisoformat(c["ts"]).astimezone().date() for c in doc["latest"]}
            assert len(days) == 2, days
        latest_shown: dict[int | None, list[str]] = {}
        for width in (*WIDTHS, None):
            result = run("watch", "--once", width=width)
            assert result.exit_code == 0, result.output
            latest_shown[width] = watch_checks(width, doc, result.stdout)["latest"]
        # the latest calls' only optional column is the token count: it goes first
        for width, shown in latest_shown.items():
            assert shown == ["compact"] or "tokens" in shown or width and width <= 100
        assert "tokens" in latest_shown[None]


# -- status views ----------------------------------------------------------------------------

def test_ledger_status_at_every_width(long_ledger, live_clock, monkeypatch) -> None:
    use(long_ledger, monkeypatch)
    doc = json.loads(run("ledger", "status", "--format", "json").stdout)
    for width in (*WIDTHS, None):
        text = run("ledger", "status", width=width).stdout
        if width:
            assert widest_line(text) <= width, text
        flat = " ".join(text.split())
        calls = flat.split("calls ", 1)[1].split()[0]
        assert count_matches(calls, doc["calls"])
        cost = flat.split("cost ", 1)[1].split()[0]
        assert money_matches(cost, doc["cost_nanos"])
        unpushed = flat.split("unpushed ", 1)[1].split()
        assert count_matches(unpushed[0], doc["unpushed"])
        assert money_matches(unpushed[1].strip("()"), doc["unpushed_cost_nanos"])
        # the ledger's path is whole: folded across lines at worst, never cut
        assert str(long_ledger) in text.replace("\n", "").replace(" ", "") or \
            str(long_ledger).replace(" ", "") in "".join(text.split())


def test_sync_status_at_every_width(long_ledger, live_clock, monkeypatch) -> None:
    use(long_ledger, monkeypatch)
    doc = json.loads(run("sync", "status", "--format", "json").stdout)
    for width in (*WIDTHS, None):
        text = run("sync", "status", width=width).stdout
        if width:
            assert widest_line(text) <= width, text
        flat = " ".join(text.split())
        unpushed = flat.split("unpushed ", 1)[1].split()
        assert count_matches(unpushed[0], doc["unpushed"])
        assert money_matches(unpushed[2].rstrip(","), doc["unpushed_cost_nanos"])
        cache = flat.split("cache ", 1)[1].split()
        assert count_matches(cache[0], doc["cached_calls"])
        assert money_matches(cache[2].rstrip(","), doc["cached_cost_nanos"])


def test_agent_status_at_every_width(teamcost_home, monkeypatch) -> None:
    """The snapshot an agent wrote, shown at each width with its numbers whole."""
    from teamcost.agent.snapshot import VERSION, write_snapshot

    snap = {"version": VERSION, "written_at": "2026-11-25T10:00:00Z", "started_at": "2026-11-25T09:00:00Z",
            "backlog": {"calls": 12345, "cost_nanos": 705_900_000},
            "jobs": {"push": {"at": "2026-11-25T09:59:58Z", "ok": True},
                     "pull": {"at": "2026-11-25T09:59:00Z", "ok": False,
                              "error": "Firestore unreachable " + "y" * 150}},
            "sources": {long_label("source", 1): {"files": 1234, "calls": 98765, "bad": 7}},
            "budget": {"level": "WARN", "spent_nanos": 412_500_000_000,
                       "limit_nanos": 500_000_000_000, "period": "month"}}
    write_snapshot(teamcost_home, snap)
    for width in (*WIDTHS, None):
        result = run("agent", "status", width=width)
        assert result.exit_code == 1  # no agent runs: status says so and exits 1
        text = result.stdout
        if width:
            assert widest_line(text) <= width, text
        flat = " ".join(text.split())
        assert "backlog 12,345 calls not yet pushed ($0.706)" in flat
        assert "1,234 files, 98,765 calls, 7 bad lines" in flat
        assert "WARN - $412.50 of $500.00 this month" in flat
