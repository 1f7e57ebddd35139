"""`teamcost reconcile`: does what teamcost recorded match what the provider billed?

Exit 0 when recorded cost is within the tolerance of billed cost, 3 when the provider billed
more (spend no teamcost source recorded), 4 when teamcost recorded more (double counting or
wrong prices); errors exit 1 and usage errors 2, so CI can gate on it.
"""

from __future__ import annotations

import enum
import sys
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from teamcost.commands.output import console, err_console, to_json
from teamcost.config import load_config
from teamcost.labels import one_line
from teamcost.money import format_usd


class Provider(str, enum.Enum):
    anthropic = "anthropic"
    openai = "openai"


class ReconcileFormat(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"


def reconcile(
    provider: Provider = typer.Option(..., "--provider", metavar="PROVIDER", help="anthropic or openai."),
    since: str = typer.Option("7d", "--since", metavar="TIME", show_default=False, help="First UTC day: 7d, 30d, today, yesterday or YYYY-MM-DD. Default: 7d."),
    until: str | None = typer.Option(None, "--until", metavar="TIME", help="Last UTC day, included (same forms). Default: today."),
    by: list[str] | None = typer.Option(None, "--by", metavar="FIELDS", help="Rows per day, model, or day,model; the verdict judges these rows. Default: day,model."),
    fmt: ReconcileFormat = typer.Option(ReconcileFormat.table, "--format", metavar="FORMAT", show_default=False, help="table, json or csv. Default: table."),
    tolerance: str = typer.Option("2%", "--tolerance", metavar="PERCENT", show_default=False, help="How far recorded may be from billed per row, as a share of billed (differences under one cent never count). Default: 2%."),
    include_today: bool = typer.Option(False, "--include-today", help="Judge today (UTC) too, although the provider is still counting it. Default: today is shown, not judged."),
    offline: bool = typer.Option(False, "--offline", help="Do not pull the team's new calls from Firestore first. Default: pull first."),
) -> None:
    """Compare the provider's billed usage and cost with the team's recorded calls, per UTC day
    and model. Needs an admin key (ANTHROPIC_ADMIN_API_KEY / OPENAI_ADMIN_KEY).
    Exit 0 within tolerance, 3 billed more than recorded, 4 recorded more than billed."""
    from teamcost.reconcile.service import reconcile as run

    result = run(load_config(), provider.value, since, until, by=by, tolerance=tolerance,
                 include_today=include_today, refresh=not offline)
    doc = result.to_dict()
    for w in doc["warnings"]:
        err_console.print(f"teamcost: warning: {one_line(w)}", markup=False, soft_wrap=True)
    if fmt == ReconcileFormat.json:
        sys.stdout.write(to_json(doc) + "\n")
    elif fmt == ReconcileFormat.csv:
        from teamcost.reconcile.render import to_csv
        sys.stdout.write(to_csv(doc))
        err_console.print(one_line(doc["verdict"]["line"]), markup=False, soft_wrap=True)
    else:
        render_table(doc)
    raise typer.Exit(result.exit_code)


def _signed(nanos: int) -> str:
    return ("+" if nanos > 0 else "-" if nanos < 0 else "") + format_usd(abs(nanos))


def _count(n: int) -> str:
    """Tokens for a narrow column: 950, 12.3k, 1.40M, 2.15B."""
    for div, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if n >= div:
            v = n / div
            return f"{v:.3g}{unit}" if v < 1000 else f"{v:,.0f}{unit}"
    return str(n)


def _tokens(row: dict[str, Any], kind: str) -> str:
    p, r = row["provider_tokens"][f"{kind}_tokens"], row["recorded_tokens"][f"{kind}_tokens"]
    return _count(p) if p == r else f"{_count(p)} / {_count(r)}"


def _keys(doc: dict[str, Any], table: Table, row: dict[str, Any] | None = None) -> list[Any]:
    """The day and model columns (added to ``table`` when ``row`` is None)."""
    cells: list[Any] = []
    if "day" in doc["by"] or doc["partial_days"]:
        if row is None:
            table.add_column("day", no_wrap=True)
        else:
            cells.append(row["day"] or "")
    if "model" in doc["by"]:
        if row is None:
            table.add_column("model", overflow="fold")
        else:
            cells.append(Text(one_line(row["model"] or "")))
    return cells


def render_table(doc: dict[str, Any]) -> None:
    w = doc["window"]
    title = (f"{doc['provider']} billed vs teamcost recorded · team {doc['team']} · "
             f"{w['since']}..{w['until']} (UTC days) · source {doc['source']}")
    cost = Table(title=Text(one_line(title)), title_justify="left", box=box.SIMPLE_HEAD)
    _keys(doc, cost)
    for col in ("billed", "recorded", "difference", "share", "status"):
        cost.add_column(col, justify="left" if col == "status" else "right", no_wrap=True)
    tokens = Table(title="tokens: provider's count, or provider / recorded where they differ",
                   title_justify="left", box=box.SIMPLE_HEAD)
    _keys(doc, tokens)
    for col in ("calls", "input", "output", "cache read", "cache write"):
        tokens.add_column(col, justify="right", no_wrap=True)
    for r in doc["rows"]:
        share = r["difference_share"]
        status = r["status"] + (f" ({r['unpriced_calls']} unpriced)" if r["unpriced_calls"]
                                else "")
        cost.add_row(*_keys(doc, cost, r), format_usd(r["billed_nanos"]),
                     format_usd(r["recorded_nanos"]), _signed(r["difference_nanos"]),
                     "" if share is None else f"{100 * share:+.1f}%", status)
        tokens.add_row(*_keys(doc, tokens, r), f"{r['recorded_calls']:,}",
                       *(_tokens(r, k) for k in ("input", "output", "cache_read",
                                                 "cache_write")))
    console.print(cost)
    console.print(tokens)
    tot = doc["totals"]
    console.print(f"judged: billed {format_usd(tot['billed_nanos'])}, recorded "
                  f"{format_usd(tot['recorded_nanos'])}, difference "
                  f"{_signed(tot['difference_nanos'])}", markup=False)
    if doc["partial_days"]:
        pt = doc["partial_totals"]
        console.print(f"partial: {', '.join(doc['partial_days'])} (UTC) is still being counted "
                      f"by {doc['provider']}: billed so far {format_usd(pt['billed_nanos'])}, "
                      f"recorded {format_usd(pt['recorded_nanos'])}; not judged "
                      "(--include-today to judge it)", markup=False)
    console.print(one_line(doc["verdict"]["line"]), markup=False)


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)
