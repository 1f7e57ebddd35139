"""Charts of daily spend: `teamcost report --since 30d --chart FILE.png|FILE.html`.

Daily spend stacked by member (or model), with the budget's daily allowance as a line
and, when the window reaches today, the projection of the budget period at its current
rate. ``chart_data`` is pure (a calls frame in, integer nano-dollars per day out) and
uses the report's own aggregations; the PNG is
drawn by matplotlib's Agg backend, the HTML is one self-contained file (inline SVG and a
few lines of inline JavaScript for hover highlighting; nothing fetched from anywhere).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from teamcost.errors import InvalidValue, TeamcostError
from teamcost.money import NANOS_PER_USD, format_usd, nanos_to_usd
from teamcost.periods import period_bounds
from teamcost.periods import zone as periods_zone
from teamcost.reports import aggregate as agg
from teamcost.reports.live import BudgetLine

if TYPE_CHECKING:
    from teamcost.config import Config

CHART_BY = ("member", "model", "agent", "provider")
PNG_SIZE_IN = (12.0, 6.0)
PNG_DPI = 100          # so a PNG is 1200 x 600 pixels
SVG_W, SVG_H = 1100, 520
OTHER = "other"
# matplotlib's tab10, so PNG and HTML use the same colours for the same series
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


@dataclass
class ChartData:
    by: str
    days: list[date]                       # every day of the window, local to ``tz``
    series: dict[str, list[int]]           # key -> nanos per day, aligned with ``days``
    total_nanos: int
    calls: int
    tz: str
    title: str
    budget: BudgetLine | None = None
    daily_allowance_nanos: int | None = None
    projection_days: list[date] = field(default_factory=list)
    projected_daily_nanos: int = 0
    projected_period_nanos: int | None = None
    period_end: date | None = None

    def day_totals(self) -> list[int]:
        return [sum(v[i] for v in self.series.values()) for i in range(len(self.days))]

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "days": [d.isoformat() for d in self.days],
                "series": self.series, "total_nanos": self.total_nanos, "calls": self.calls,
                "tz": self.tz, "title": self.title,
                "budget": None if self.budget is None else {
                    "limit_nanos": self.budget.limit_nanos, "period": self.budget.period},
                "daily_allowance_nanos": self.daily_allowance_nanos,
                "projection_days": [d.isoformat() for d in self.projection_days],
                "projected_daily_nanos": self.projected_daily_nanos,
                "projected_period_nanos": self.projected_period_nanos,
                "period_end": self.period_end.isoformat() if self.period_end else None}


@dataclass(frozen=True)
class ChartResult:
    path: Path
    kind: str               # "png" or "html"
    total_nanos: int
    series: int
    days: int
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "total_nanos": self.total_nanos,
                "series": self.series, "days": self.days, "width": self.width,
                "height": self.height}


def chart_kind(path: Path | str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return "png"
    if suffix in (".html", ".htm"):
        return "html"
    raise InvalidValue("chart", str(path), "a file name ending in .png or .html")


def check_chart_path(path: Path | str) -> str:
    """The chart's kind, once ``path`` names a file in a directory that exists: a chart
    never creates directories (a typo in ``--chart /nonexistent/dir/x.png`` must not
    leave a directory tree behind), and a directory is not a file name."""
    kind = chart_kind(path)
    p = Path(path)
    if not p.parent.is_dir() or p.is_dir():
        raise InvalidValue("chart", str(path), "a .png or .html file in an existing directory")
    return kind


def chart_data(df: pd.DataFrame, since: datetime, until: datetime, *, by: str = "member",
               tz: str = "UTC", budget: BudgetLine | None = None,
               now: datetime | None = None, top: int = 8,
               title: str | None = None) -> ChartData:
    """Daily spend per ``by`` key for the calls frame's rows with since <= ts < until.

    ``df`` has the columns of ``teamcost.reports.frames``; the days and sums are the
    report's own (``aggregate.trend``, ``aggregate.breakdown``), so the stacks add up to
    the report's total. Keys beyond the ``top`` most expensive are summed into "other".
    When the window reaches ``now``, the projection is the report's and the budget's: the
    budget period's spend so far continued at that period's average daily rate to its end
    (``periods.project_to_end``; ``df`` must then reach back to
    ``aggregate.earliest_needed``).
    """
    if by not in CHART_BY:
        raise InvalidValue("by", by, f"one of {', '.join(CHART_BY)} for a chart")
    now = now or datetime.now(UTC)
    win = df[(df["ts"] >= pd.Timestamp(since)) & (df["ts"] < pd.Timestamp(until))]
    col = agg.BREAKDOWNS[by]
    keys = win[col].astype(object).where(win[col].notna(), "(none)").astype(str)
    order = [r[by] for r in agg.breakdown(win, by)]
    keep = order[:top] if len(order) > top + 1 else order

    def per_day(part: pd.DataFrame) -> list[int]:
        return [d["cost_nanos"] for d in agg.trend(part, since, until, tz, "day")]

    days = [date.fromisoformat(d["day"]) for d in agg.trend(win, since, until, tz, "day")]
    series = {k: per_day(win[keys == k]) for k in keep}
    rest = win[~keys.isin(keep)]
    if len(rest):
        series[OTHER] = per_day(rest)
    total = int(win["cost_nanos"].sum())
    first, last = (days[0], days[-1]) if days else (since.date(), until.date())
    # rollup rows stand for ``calls`` calls each (rollup_frame); a call frame's rows are calls
    calls = int(win["calls"].sum()) if "calls" in win.columns else len(win)
    data = ChartData(by=by, days=days, series=series, total_nanos=total, calls=calls,
                     tz=tz, title=title or f"Daily spend by {by}, {first} to {last} ({tz})",
                     budget=budget)
    period = budget.period if budget else "month"
    if budget is not None:
        p_start, p_end = period_bounds(now, period, tz)
        period_days = max(1, round((p_end - p_start) / timedelta(days=1)))
        data.daily_allowance_nanos = agg.exact_div(budget.limit_nanos, period_days)
    if until >= now:
        proj = agg.projections(df, now, tz)[period]
        zone = periods_zone(tz)
        today = now.astimezone(zone).date()
        end = (datetime.fromisoformat(proj["end"]) - timedelta(microseconds=1)
               ).astimezone(zone).date()
        data.projection_days = [today + timedelta(days=i)
                                for i in range(1, (end - today).days + 1)]
        data.projected_daily_nanos = proj["per_day_nanos"]
        data.projected_period_nanos = proj["projected_nanos"]
        data.period_end = end
    return data


def write_chart(path: Path | str, data: ChartData) -> ChartResult:
    """Write ``data`` as a PNG or an HTML file, chosen by the file name's suffix."""
    path = Path(path)
    kind = check_chart_path(path)
    try:
        if kind == "png":
            width, height = save_png(data, path)
        else:
            path.write_text(render_html(data), encoding="utf-8")
            width, height = SVG_W, SVG_H
    except OSError as exc:
        raise TeamcostError(f"cannot write chart {path}: {exc.strerror or exc}") from None
    return ChartResult(path, kind, data.total_nanos, len(data.series), len(data.days),
                       width, height)


def _colour(i: int, key: str) -> str:
    return "#bbbbbb" if key == OTHER else PALETTE[i % len(PALETTE)]


def _money(nanos: float) -> str:
    """Chart labels: whole dollars from $100, cents below."""
    return format_usd(nanos, 0 if nanos >= 100 * NANOS_PER_USD else 2)


def axis_places(step_nanos: float) -> int:
    """Decimal places that show every multiple of an axis step exactly, the same for every
    tick of the axis ($0, $50, $100, not $50.00 beside $100): 0 for whole dollars, else
    as few as the step needs (cents as 2, never 1)."""
    step = round(step_nanos)
    places = 0
    while places < 9 and step % 10 ** (9 - places):
        places += 1
    return 2 if places == 1 else places


# -- PNG ------------------------------------------------------------------------------

def build_figure(data: ChartData) -> Any:
    """The matplotlib Figure (Agg): one bar container per series, in ``data.series`` order."""
    try:
        import matplotlib
    except ImportError:
        raise TeamcostError("a PNG chart needs matplotlib: pip install 'teamcost[charts]' "
                            "(or write the chart as FILE.html, which needs nothing)") from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=PNG_SIZE_IN, dpi=PNG_DPI)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(data.days)))
    bottom = [0.0] * len(x)
    for i, (key, values) in enumerate(data.series.items()):
        heights = [nanos_to_usd(v) for v in values]
        ax.bar(x, heights, bottom=bottom, color=_colour(i, key), label=key, width=0.8,
               gid=f"series:{key}")
        bottom = [b + h for b, h in zip(bottom, heights)]
    labels = [d.strftime("%b %d") for d in data.days]
    if data.projection_days:
        px = list(range(len(x), len(x) + len(data.projection_days)))
        ax.bar(px, [nanos_to_usd(data.projected_daily_nanos)] * len(px), width=0.8, color="none",
               edgecolor="#555555", hatch="//", linestyle="--",
               label=f"projection (period total {_money(data.projected_period_nanos or 0)})",
               gid="projection")
        labels += [d.strftime("%b %d") for d in data.projection_days]
    if data.daily_allowance_nanos is not None and data.budget is not None:
        ax.axhline(nanos_to_usd(data.daily_allowance_nanos), color="#d62728", linestyle="--",
                   linewidth=1.5, gid="budget",
                   label=f"budget per day ({_money(data.budget.limit_nanos)} per "
                         f"{data.budget.period})")
    step = max(1, len(labels) // 15)
    ax.set_xticks(list(range(0, len(labels), step)))
    ax.set_xticklabels(labels[::step], rotation=45, ha="right", fontsize=8)
    def tick_label(v: float, _pos: Any) -> str:
        # one number of decimals for the whole axis, from the step between its ticks
        locs = sorted(ax.yaxis.get_majorticklocs())
        step = min((b - a for a, b in zip(locs, locs[1:]) if b > a), default=1.0)
        return format_usd(round(v * NANOS_PER_USD), axis_places(step * NANOS_PER_USD))

    ax.yaxis.set_major_formatter(FuncFormatter(tick_label))
    ax.set_ylabel(f"spend per day (USD, {data.tz})")
    ax.set_title(f"{data.title}: total {_money(data.total_nanos)}, {data.calls} calls")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if data.series or data.projection_days:
        ax.legend(loc="upper left", fontsize=8, ncol=2, framealpha=0.9)
    fig.tight_layout()
    return fig


def save_png(data: ChartData, path: Path) -> tuple[int, int]:
    fig = build_figure(data)
    fig.savefig(path, dpi=PNG_DPI, format="png")
    w, h = fig.get_size_inches() * PNG_DPI
    return int(round(w)), int(round(h))


# -- HTML -----------------------------------------------------------------------------

_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 18px; }} .facts {{ color: #555; font-size: 14px; }}
.legend span {{ display: inline-block; margin: 4px 12px 4px 0; cursor: default; font-size: 13px; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }}
svg text {{ font-size: 11px; fill: #444; }} rect.bar {{ transition: opacity .15s; }}
.dim {{ opacity: .15; }}
</style></head>
<body>
<h1>{title}</h1>
<p class="facts">{facts}</p>
<div class="legend" id="legend">{legend}</div>
<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{title}">
{body}
</svg>
<script type="application/json" id="chart-data">{json}</script>
<script>
(function () {{
  "use strict";
  var legend = document.getElementById("legend");
  var bars = document.querySelectorAll("#chart rect.bar");
  function show(key) {{
    bars.forEach(function (b) {{
      b.classList.toggle("dim", key !== null && b.getAttribute("data-key") !== key);
    }});
  }}
  legend.querySelectorAll("span[data-key]").forEach(function (s) {{
    s.addEventListener("mouseenter", function () {{ show(s.getAttribute("data-key")); }});
    s.addEventListener("mouseleave", function () {{ show(null); }});
  }});
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  document.getElementById("chart").setAttribute("data-days", String(data.days.length));
}})();
</script>
</body></html>
"""


def _nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= raw (axis ticks)."""
    import math
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def render_html(data: ChartData) -> str:
    """One self-contained page: inline SVG bars (exact nanos in data-nanos) and a legend."""
    esc = html.escape
    left, right, top, bottom = 70, 20, 20, 70
    n_days = len(data.days) + len(data.projection_days)
    plot_w, plot_h = SVG_W - left - right, SVG_H - top - bottom
    totals = data.day_totals()
    peak = max([*totals, data.projected_daily_nanos, data.daily_allowance_nanos or 0, 1])
    tick = _nice_step(peak * 1.05 / 5)
    n_ticks = int(-(-peak * 1.05 // tick))
    scale = plot_h / (tick * n_ticks)
    slot = plot_w / max(n_days, 1)
    bar_w = max(1.0, slot * 0.8)
    parts: list[str] = []
    # y grid: 5 lines
    for i in range(n_ticks + 1):
        v = tick * i
        y = top + plot_h - v * scale
        parts.append(f'<line x1="{left}" x2="{SVG_W - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#eee"/><text x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{esc(format_usd(round(v), axis_places(tick)))}</text>')
    keys = list(data.series)
    for d_i, day in enumerate(data.days):
        x = left + d_i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for k_i, key in enumerate(keys):
            v = data.series[key][d_i]
            if v <= 0:
                continue
            h = v * scale
            y -= h
            parts.append(
                f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" height="{h:.2f}" '
                f'fill="{_colour(k_i, key)}" data-key="{esc(key)}" data-day="{day}" '
                f'data-nanos="{v}"><title>{esc(key)} {day}: {esc(_money(v))}</title></rect>')
    for p_i, day in enumerate(data.projection_days):
        x = left + (len(data.days) + p_i) * slot + (slot - bar_w) / 2
        h = data.projected_daily_nanos * scale
        parts.append(
            f'<rect class="projection" x="{x:.2f}" y="{top + plot_h - h:.2f}" '
            f'width="{bar_w:.2f}" height="{h:.2f}" fill="none" stroke="#555" '
            f'stroke-dasharray="4 3" data-day="{day}" data-nanos="{data.projected_daily_nanos}">'
            f'<title>projection {day}: {esc(_money(data.projected_daily_nanos))}</title></rect>')
    if data.daily_allowance_nanos is not None:
        y = top + plot_h - data.daily_allowance_nanos * scale
        parts.append(f'<line id="budget-line" x1="{left}" x2="{SVG_W - right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6 4" '
                     f'data-nanos="{data.daily_allowance_nanos}"><title>budget per day '
                     f'{esc(_money(data.daily_allowance_nanos))}</title></line>')
    all_days = data.days + data.projection_days
    step = max(1, len(all_days) // 15)
    for i in range(0, len(all_days), step):
        x = left + i * slot + slot / 2
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="end" '
                     f'transform="rotate(-45 {x:.1f} {top + plot_h + 14})">'
                     f'{all_days[i]:%b %d}</text>')
    parts.append(f'<line x1="{left}" x2="{SVG_W - right}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}" stroke="#999"/>')
    legend = "".join(f'<span data-key="{esc(k)}"><i style="background:{_colour(i, k)}"></i>'
                     f'{esc(k)} {esc(_money(sum(data.series[k])))}</span>'
                     for i, k in enumerate(keys))
    facts = [f"total {_money(data.total_nanos)} in {data.calls} calls"]
    if data.budget is not None:
        facts.append(f"budget {_money(data.budget.limit_nanos)} per {data.budget.period} "
                     f"(red line: {_money(data.daily_allowance_nanos or 0)} per day)")
    if data.projected_period_nanos is not None and data.period_end is not None:
        facts.append(f"projection {_money(data.projected_period_nanos)} by {data.period_end} "
                     "(dashed)")
    # "</" cannot end the JSON script early: keys are user data
    payload = json.dumps(data.to_dict()).replace("</", "<\\/")
    return _HTML.format(title=esc(data.title), facts=esc("; ".join(facts)), legend=legend,
                        w=SVG_W, h=SVG_H, body="\n".join(parts), json=payload)


# -- from a report ----------------------------------------------------------------------

def budget_line(budget: dict[str, Any] | None) -> BudgetLine | None:
    """The report document's budget entry as a BudgetLine (None: no budget); when it could
    not be read, the last known budget, if any (the line stays on an offline chart)."""
    if not budget:
        return None
    if "error" in budget:
        known = (budget.get("last_known") or {}).get("budget")
        return budget_line(known) if isinstance(known, dict) else None
    limit = budget.get("limit_nanos", budget.get("amount_nanos"))
    if limit is None and isinstance(budget.get("budget"), dict):
        return budget_line(budget["budget"])
    if not isinstance(limit, int) or limit <= 0:
        return None
    return BudgetLine(limit, str(budget.get("period", "month")))


def chart_by(by: Sequence[str]) -> str:
    """What a report's chart stacks by: the first of its --by that a chart can stack."""
    return next((b for b in by if b in CHART_BY), "member")


def window_chart(config: Config, since: datetime, until: datetime, *, by: str = "member",
                 tz: str = "UTC", filters: Any = None, source: str | None = None,
                 now: datetime | None = None, budget: BudgetLine | None = None,
                 client: Any = None, refresh: bool = False) -> ChartData:
    """``chart_data`` of the calls a report of this window and filters reads (same source,
    reaching back far enough for the projection when the window includes ``now``).
    ``client``: once the team's rollups are complete nothing fills the team cache, and
    the chart sums the rollup copy (every stack is a rollup dimension), as held unless
    ``refresh``."""
    from teamcost.reports.frames import Filters, load_calls

    now = now or datetime.now(UTC)
    filters = filters or Filters()
    start = min(since, agg.earliest_needed(since, now, tz)) if until >= now else since
    end = max(until, now + timedelta(microseconds=1))
    table = None
    if source in (None, "team") and by in CHART_BY:
        from teamcost.reports.rollup_source import held_rows
        table = held_rows(config, client, start, end, [by], filters, refresh)
    if table is not None:
        df = rollup_frame(table)
    else:
        df, _ = load_calls(config, start, end, source=source, filters=filters)
    return chart_data(df, since, until, by=by, tz=tz, now=now, budget=budget)


def rollup_frame(table: Any) -> pd.DataFrame:
    """Rollup rows (one per cell and quarter-hour, ``calls`` the calls each stands for)
    as a frame ``chart_data`` reads: it sums money per day and key, which a row gives
    whole; ``priced``/``success`` only feed breakdown columns the chart does not show."""
    df = table.to_pandas()
    return df.assign(priced=True, success=True)


def report_chart(config: Config, doc: dict[str, Any], path: Path | str,
                 by: Sequence[str] = ("member",), *, now: datetime | None = None) -> ChartResult:
    """Draw the chart of a report document (``build_report``) into ``path``.

    Reads the same calls the report read (same window, filters and source; no second
    pull) and refuses to write a chart whose stacks would not add up to the report.
    """
    from teamcost.reports.frames import Filters

    check_chart_path(path)
    window = doc["window"]
    f = doc.get("filters") or {}
    client = None
    if doc.get("source") == "team" and config.has_firestore:
        # complete rollups: the chart sums the rollup copy (the team cache holds at most
        # the report's window); while they are incomplete the client reads nothing more
        from teamcost.sync.client import client_for
        client = client_for(config)
    data = window_chart(config, datetime.fromisoformat(window["since"]),
                        datetime.fromisoformat(window["until"]), by=chart_by(by),
                        tz=window["timezone"],
                        filters=Filters(f.get("member"), f.get("model"), f.get("agent")),
                        source=doc.get("source"),
                        now=now or datetime.fromisoformat(doc["generated_at"]),
                        budget=budget_line(doc.get("budget")), client=client,
                        refresh=bool((doc.get("cache") or {}).get("pulled_now")))
    expected = doc["summary"]["cost_nanos"]
    if data.total_nanos != expected:  # calls landed between the report and this read
        raise TeamcostError(f"the chart's calls add up to {data.total_nanos} nano-dollars but "
                            f"the report's to {expected}; run the report again")
    return write_chart(path, data)
