"""The dashboard on a phone, a tablet and a laptop (issue 26): Chromium at 390x844, 768x1024
and 1440x900 (and the 360 and 2560 px ends of the range). Nothing scrolls sideways, no
number in a card is cut, the budget bar is drawn on the budget's scale with the projection
marked, the breakdown's and the latest calls' cost columns are on screen, a member keeps
their colour from the 7-day view to the 30-day one, and with Firestore unreachable the
budget card shows the last known budget. Screenshots go to the test's tmp folder (and to
TEAMCOST_SCREENSHOTS when set, to look at)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from teamcost.config import write_config
from tests.system.test_web_browser import browser, free_port, team_calls  # noqa: F401
from tests.system.web_support import TEAMCOST, serving, team_home

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

VIEWPORTS = [(390, 844), (768, 1024), (1440, 900)]
EDGES = [(360, 740), (2560, 1300)]

# what is wrong with the page's layout, as a list of lines (empty: nothing)
LAYOUT_PROBLEMS = """() => {
  const out = [], W = document.documentElement.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && el.className.baseVal === undefined && el.className ? '.' + el.className : '');
  const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  if (document.documentElement.scrollWidth > W)
    out.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + W);
  document.querySelectorAll('body *').forEach(el => {
    if (!shown(el) || el.closest('.table-wrap') || el.closest('[hidden]')) return;
    const r = el.getBoundingClientRect();
    if (r.right > W + 0.5 || r.left < -0.5) out.push(name(el) + ' runs off screen: ' + r.left + '..' + r.right);
  });
  document.querySelectorAll('.card').forEach(card => {
    const c = card.getBoundingClientRect();
    card.querySelectorAll('*').forEach(el => {
      if (!shown(el)) return;
      const r = el.getBoundingClientRect();
      if (r.right > c.right + 0.5 || r.left < c.left - 0.5 || r.bottom > c.bottom + 0.5)
        out.push(name(el) + ' sticks out of ' + card.id);
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflow !== 'visible')
        out.push(name(el) + ' in ' + card.id + ' is cut: ' + el.textContent);
    });
    if (card.textContent.includes('\\u2026')) out.push(card.id + ' has a cut text: ' + card.textContent);
  });
  document.querySelectorAll('.table-wrap').forEach(wrap => {
    const w = wrap.getBoundingClientRect();
    wrap.querySelectorAll('td, th').forEach(cell => {
      if (!shown(cell)) return;
      const r = cell.getBoundingClientRect();
      if (r.right > w.right + 0.5) out.push('a column of ' + wrap.querySelector('table').id +
        ' is off screen: ' + cell.textContent);
    });
  });
  return out;
}"""


def cli(home: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    r = subprocess.run([TEAMCOST, *args, "--format", "json"], capture_output=True, text=True,
                       env={**os.environ, "TEAMCOST_HOME": str(home), **env}, timeout=120)
    assert r.returncode in (0, 3, 4), r.stderr
    return json.loads(r.stdout)


def shot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    keep = os.environ.get("TEAMCOST_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(keep) / f"{name}.png"), full_page=True)


def open_page(browser: Any, url: str, width: int, height: int) -> Any:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("body[data-ready='1'][data-secondary]", timeout=30_000)
    return page


def legend_colours(page: Any) -> dict[str, str]:
    return dict(page.eval_on_selector_all(
        "#legend .item[data-key]", "els => els.map(e => [e.dataset.key, "
        "e.querySelector('rect').getAttribute('fill')])"))


def test_the_first_paint_is_not_a_page_of_dashes() -> None:
    html = (Path(__file__).resolve().parents[2] / "teamcost/web/static/index.html").read_text()
    assert "–" not in html and "--</" not in html


def test_the_dashboard_fits_phones_tablets_and_laptops(browser, firestore_emulator,  # noqa: F811
                                                       teamcost_home, tmp_path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    calls = team_calls(now)
    month_start = now.replace(day=1, hour=0, minute=0, second=0)
    month = sum(c.cost_nanos for c in calls if c.ts >= month_start)
    # a budget the month's projection overshoots: the bar must still be the budget's scale
    limit_usd = f"{Decimal(max(month, 10**9)) / Decimal(800_000_000):.2f}"
    team_home(teamcost_home, firestore_emulator, calls, budget_usd=limit_usd)
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}

    with serving(teamcost_home, "--pull-every", "0", env=env, port=free_port()) as srv:
        for width, height in VIEWPORTS + EDGES:
            page = open_page(browser, srv.url, width, height)
            b = cli(teamcost_home, env, "budget", "check")
            problems = page.evaluate(LAYOUT_PROBLEMS)
            shot(page, tmp_path, f"dashboard-{width}x{height}")
            assert problems == [], f"{width}x{height}: " + "\n".join(problems)
            # the budget bar: full width is the limit, spend fills its share of it
            meter = page.locator("#budget-meter")
            assert meter.get_attribute("data-scale") == "limit"
            spent_w = float(page.get_attribute("#budget-meter rect.spent", "width"))
            assert abs(spent_w - min(300.0, 300 * b["spent_nanos"] / b["limit_nanos"])) < 0.02
            if b["projected_nanos"] > b["limit_nanos"]:
                assert page.locator("#budget-meter path.projected.past").count() == 1
            else:
                x = float(page.get_attribute("#budget-meter rect.projected", "x"))
                assert abs(x - 300 * b["projected_nanos"] / b["limit_nanos"]) < 0.02
            # the numbers shown whole, as the CLI prints them
            assert page.text_content("#budget-spent") == _usd(b["spent_nanos"])
            page.close()

        # a member keeps their colour from the 7-day view to the 30-day one
        page = open_page(browser, srv.url, 1440, 900)
        week = legend_colours(page)
        renders = int(page.get_attribute("body", "data-renders"))
        page.click("#windows button[data-window='30d']")
        page.wait_for_function("n => document.body.dataset.since === '30d' && "
                               "Number(document.body.dataset.renders) > n", arg=renders,
                               timeout=20_000)
        month_colours = legend_colours(page)
        assert week and all(month_colours[k] == c for k, c in week.items() if k != "other")
        assert len(set(month_colours.values())) == len(month_colours)   # no two alike
        page.close()

    # Firestore unreachable: the last known budget, said to be offline, still whole
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    write_config(teamcost_home, {"emulator_host": closed})
    offline_env = {"FIRESTORE_EMULATOR_HOST": closed}
    with serving(teamcost_home, "--pull-every", "0", env=offline_env, port=free_port()) as srv:
        for width, height in VIEWPORTS:
            page = open_page(browser, srv.url, width, height)
            problems = page.evaluate(LAYOUT_PROBLEMS)
            shot(page, tmp_path, f"dashboard-offline-{width}x{height}")
            assert problems == [], f"offline {width}x{height}: " + "\n".join(problems)
            assert page.text_content("#budget-level") == "OFFLINE"
            assert page.text_content("#budget-of").startswith(
                f"of {_usd(int(Decimal(limit_usd) * 10**9))} · ")
            sub = page.text_content("#budget-sub")
            assert "last known budget" in sub and "UNAVAILABLE" not in sub
            assert page.locator("#budget-line").count() == 1      # the chart keeps its line
            page.close()


def _usd(nanos: int) -> str:
    from teamcost.money import format_usd

    return format_usd(nanos)
