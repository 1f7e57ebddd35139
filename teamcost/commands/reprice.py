"""`teamcost reprice`: price this ledger's unpriced, not-yet-pushed calls."""

from __future__ import annotations

import typer

from teamcost.commands.output import FORMAT, OutputFormat, console, emit
from teamcost.config import load_config
from teamcost.money import format_usd
from teamcost.reprice import RepriceResult, reprice


def reprice_cmd(
        model: str | None = typer.Option(None, "--model", "-m", metavar="MODEL",
                                         help="Only calls of this model (as recorded). "
                                              "Default: every model."),
        fmt: OutputFormat = FORMAT,
) -> None:
    """Price unpriced calls not yet pushed, from the current prices and price overrides."""
    emit(reprice(load_config(), model=model), fmt, _render)


def _render(r: RepriceResult) -> None:
    which = f" of {r.model}" if r.model else ""
    if not r.models:
        console.print(f"no unpriced calls{which} in this ledger", markup=False)
        return
    if r.repriced:
        console.print(f"repriced {r.repriced:,} call{'s' if r.repriced != 1 else ''}{which}: "
                      f"{format_usd(r.cost_nanos)}", markup=False)
    else:
        console.print(f"no unpriced call{which} could be priced yet", markup=False)
    for m in r.models:
        name = m.model if m.provider == "unknown" else f"{m.provider}/{m.model}"
        if m.repriced:
            console.print(f"  {name}: {m.repriced:,} priced, {format_usd(m.cost_nanos)} "
                          f"({m.price_source})", markup=False)
        if m.unpriced:
            console.print(f"  {name}: {m.unpriced:,} still unpriced ({m.unpriced_tokens:,} "
                          "tokens): no price known; add a [[price_overrides]] entry to "
                          "config.toml", markup=False)
        if m.pushed_unpriced:
            console.print(f"  {name}: {m.pushed_unpriced:,} pushed unpriced "
                          f"({m.pushed_unpriced_tokens:,} tokens): pushed calls never "
                          "change, they stay unpriced", markup=False)
        if m.skipped:
            console.print(f"  {name}: {m.skipped:,} pushed or priced elsewhere while this "
                          "ran", markup=False)


def register(app: typer.Typer) -> None:
    app.command("reprice")(reprice_cmd)
