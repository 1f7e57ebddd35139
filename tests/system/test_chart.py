"""Charts: the daily series by hand, the PNG's pixels and bars, the HTML in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from teamcost.demo.generate import generate_calls
from teamcost.errors import InvalidValue
from teamcost.models import CallRecord
from teamcost.reports.chart import (OTHER, PNG_DPI, PNG_SIZE_IN, build_figure, chart_data,
                                    chart_kind, render_html, write_chart)
from teamcost.reports.frames import records_frame
from teamcost.reports.live import BudgetLine

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)


def call(i: int, ts: datetime, cost: int, member: str = "a", model: str = "m") -> CallRecord:
    return CallRecord(call_id=f"c{i}", ts=ts, team="t", member=member, ledger_id="L",
                      provider="openai", model=model, cost_nanos=cost)


def test_chart_data_by_hand():
    since, until = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)
    calls = [call(1, datetime(2026, 10, 31, 23, tzinfo=UTC), 7),          # before the window
             call(2, datetime(2026, 11, 1, 1, tzinfo=UTC), 100, "a"),
             call(3, datetime(2026, 11, 1, 22, tzinfo=UTC), 50, "b"),
             call(4, datetime(2026, 11, 3, 23, 59, tzinfo=UTC), 30, "a"),
             call(5, datetime(2026, 11, 4, tzinfo=UTC), 9)]                 # until is exclusive
    d = chart_data(records_frame(calls), since, until, now=NOW)
    assert d.days == [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    assert d.series == {"a": [100, 0, 30], "b": [50, 0, 0]}
    assert d.total_nanos == 180 and d.calls == 3
    assert d.projection_days == [] and d.daily_allowance_nanos is None
    # in New York the 01:00 UTC call belongs to Oct 31 local, and the window shifts
    ny = chart_data(records_frame(calls), since, until, tz="America/New_York", now=NOW)
    assert ny.days[0] == date(2026, 10, 31)
    assert ny.series["a"][0] == 100 and sum(ny.day_totals()) == 180


def test_top_series_and_the_rest_as_other():
    base = datetime(2026, 11, 2, tzinfo=UTC)
    calls = [call(i, base, (i + 1) * 10, member=f"m{i}") for i in range(12)]
    d = chart_data(records_frame(calls), base, base + timedelta(days=1), top=4, now=NOW)
    assert list(d.series) == ["m11", "m10", "m9", "m8", OTHER]
    assert d.series[OTHER] == [sum((i + 1) * 10 for i in range(8))]
    assert sum(sum(v) for v in d.series.values()) == d.total_nanos == 780


def test_budget_line_and_projection_by_hand():
    # Nov 11 12:00: 10.5 days into a 30-day month; $6.30 spent -> $0.60/day
    now = datetime(2026, 11, 11, 12, tzinfo=UTC)
    calls = [call(1, datetime(2026, 11, 2, tzinfo=UTC), 6_300_000_000)]
    d = chart_data(records_frame(calls), datetime(2026, 11, 1, tzinfo=UTC), now, now=now,
                   budget=BudgetLine(30_000_000_000, "month"))
    assert d.daily_allowance_nanos == 1_000_000_000              # $30 / 30 days
    assert d.projection_days[0] == date(2026, 11, 12)
    assert d.projection_days[-1] == date(2026, 11, 30)
    assert d.projected_daily_nanos == 600_000_000
    assert d.projected_period_nanos == 18_000_000_000            # 0.6 * 30


def test_chart_kind_and_bad_by():
    assert chart_kind("x.PNG") == "png" and chart_kind("a/b.html") == "html"
    with pytest.raises(InvalidValue, match=r"invalid chart: 'x\.svg'.*\.png or \.html"):
        chart_kind("x.svg")
    with pytest.raises(InvalidValue, match="invalid by: "):
        chart_data(records_frame([]), NOW, NOW, by="day")


@pytest.fixture(scope="module")
def month():
    """The demo's month (a smaller team): the data a real report would chart."""
    data = generate_calls(NOW, scale=0.4)
    since = NOW.replace(hour=0, minute=0, second=0) - timedelta(days=29)
    return data.calls, since


def report_total(calls, since, until) -> int:
    """A plain sum (the report's own total is compared in the CLI tests below)."""
    return sum(c.cost_nanos for c in calls if since <= c.ts < until)


def test_png_has_the_expected_size_and_bars_sum_to_the_total(month, tmp_path):
    from PIL import Image

    calls, since = month
    d = chart_data(records_frame(calls), since, NOW, by="member", now=NOW,
                   budget=BudgetLine(900_000_000_000, "month"))
    res = write_chart(tmp_path / "spend.png", d)
    assert res.path.exists() and res.kind == "png"
    with Image.open(res.path) as img:
        assert img.format == "PNG"
        assert img.size == (PNG_SIZE_IN[0] * PNG_DPI, PNG_SIZE_IN[1] * PNG_DPI) == (1200, 600)
    # read the plotted bars back from the figure's artists
    fig = build_figure(d)
    ax = fig.axes[0]
    plotted = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers
               if (c.patches[0].get_gid() or "").startswith("series:") or c.get_label() in d.series}
    assert set(plotted) == set(d.series) and len(plotted) >= 5
    total_usd = sum(sum(h) for h in plotted.values())
    assert total_usd == pytest.approx(report_total(calls, since, NOW) / 1e9, rel=1e-12)
    for key, heights in plotted.items():
        assert sum(heights) == pytest.approx(
            sum(c.cost_nanos for c in calls if c.member == key and since <= c.ts < NOW) / 1e9,
            rel=1e-12)
    budget = [ln for ln in ax.get_lines() if ln.get_gid() == "budget"]
    assert budget and budget[0].get_ydata()[0] == pytest.approx(30.0)   # $900 / 30 days
    assert d.projection_days == [date(2026, 11, 24) + timedelta(days=i) for i in range(7)]


def test_html_bars_carry_the_exact_total(month, tmp_path):
    calls, since = month
    d = chart_data(records_frame(calls), since, NOW, by="model", now=NOW)
    res = write_chart(tmp_path / "spend.html", d)
    page = res.path.read_text()
    nanos = [int(n) for n in re.findall(r'<rect class="bar"[^>]*data-nanos="(\d+)"', page)]
    assert sum(nanos) == report_total(calls, since, NOW)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link" not in page and " src=" not in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _open_in_chromium(path: Path) -> tuple[str, list[str]]:
    """(the DOM after scripts ran, console messages) from headless Chromium."""
    exe = _chromium()
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr",
             "--v=0", "--virtual-time-budget=2000", "--dump-dom", path.resolve().as_uri()],
            capture_output=True, text=True, timeout=60)
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return proc.stdout, console


needs_chromium = pytest.mark.skipif(
    _chromium() is None, reason="headless Chromium is not installed (apt-get install chromium; "
                                "looked for chromium, chromium-browser, google-chrome on PATH)")


@needs_chromium
def test_html_chart_opens_in_headless_chromium_without_console_errors(month, tmp_path):
    calls, since = month
    d = chart_data(records_frame(calls), since, NOW, now=NOW, budget=BudgetLine(900_000_000_000, "month"))
    res = write_chart(tmp_path / "spend.html", d)
    dom, console = _open_in_chromium(res.path)
    assert console == []
    # the inline script ran (it stamps the day count on the svg) and the bars are there
    assert f'data-days="{len(d.days)}"' in dom
    assert dom.count('class="bar"') == sum(1 for v in d.series.values() for x in v if x > 0)
    assert 'id="budget-line"' in dom


@needs_chromium
def test_the_console_check_does_see_errors(tmp_path):
    """Negative control: a page that throws is caught by the same harness."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>nope();</script></body></html>")
    _, console = _open_in_chromium(page)
    assert any("ReferenceError" in ln for ln in console)


# -- through `teamcost report --chart`: the stacks add up to the report's own total -----

@pytest.fixture
def demo_home(teamcost_home):
    """The demo month in this home's ledger (no project: the report's local source)."""
    from teamcost.ledger import Ledger

    now = datetime.now(UTC)
    data = generate_calls(now, scale=0.3)
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(data.calls)
    return teamcost_home


def _report(args):
    import json

    from typer.testing import CliRunner

    from teamcost.cli import app
    r = CliRunner().invoke(app, ["report", "--format", "json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), r


def test_report_png_chart_sums_to_the_report_total(demo_home, tmp_path):
    from PIL import Image

    from teamcost.config import load_config
    from teamcost.reports.frames import load_calls
    from teamcost.reports.chart import chart_by

    doc, r = _report(["--since", "30d", "--chart", str(tmp_path / "r.png")])
    assert "chart: " in r.stderr and "1200x600" in r.stderr
    with Image.open(tmp_path / "r.png") as img:
        assert img.size == (1200, 600)
    # the figure the command drew, rebuilt from the same calls: its bars sum to the report
    since = datetime.fromisoformat(doc["window"]["since"])
    until = datetime.fromisoformat(doc["window"]["until"])
    df, _ = load_calls(load_config(), since - timedelta(days=31), until + timedelta(seconds=1))
    d = chart_data(df, since, until, by=chart_by(doc["by"]), now=until)
    ax = build_figure(d).axes[0]
    bars = [p.get_height() for c in ax.containers for p in c.patches
            if (p.get_gid() or "").startswith("series:")]
    assert d.total_nanos == doc["summary"]["cost_nanos"] > 0
    assert sum(bars) == pytest.approx(doc["summary"]["cost_nanos"] / 1e9, rel=1e-12)
    assert len(ax.containers) >= len(doc["breakdowns"]["member"])


def test_report_html_chart_carries_the_report_total_exactly(demo_home, tmp_path):
    doc, _ = _report(["--since", "30d", "--by", "model", "--chart", str(tmp_path / "r.html")])
    page = (tmp_path / "r.html").read_text()
    nanos = [int(n) for n in re.findall(r'<rect class="bar"[^>]*data-nanos="(\d+)"', page)]
    assert sum(nanos) == doc["summary"]["cost_nanos"]
    keys = set(re.findall(r'<rect class="bar"[^>]*data-key="([^"]+)"', page))
    assert keys == {row["model"] for row in doc["breakdowns"]["model"]}


def test_report_chart_refuses_other_file_types_before_any_work(demo_home, tmp_path):
    from typer.testing import CliRunner

    from teamcost.cli import app
    r = CliRunner().invoke(app, ["report", "--since", "30d", "--chart", str(tmp_path / "c.svg")])
    assert r.exit_code == 2
    assert "--chart" in r.output and "c.svg" in r.output and ".png or .html" in r.output
    assert not (tmp_path / "c.svg").exists()
