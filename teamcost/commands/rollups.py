"""`teamcost rollups build|pack` and `teamcost verify` (admins): the team's rollup documents."""

from __future__ import annotations

from typing import Any

import typer

from teamcost.commands.output import FORMAT, OutputFormat, console, emit

rollups_app = typer.Typer(help="The team's rollup documents (admins): `rollups build` counts "
                               "calls pushed before rollups existed.", no_args_is_help=True)


@rollups_app.command("build")
def build_cmd(fmt: OutputFormat = FORMAT) -> None:
    """Count every call pushed before rollups existed (resumable, exact; run once per team,
    a new team too). Then budget checks and reports read the rollups."""
    from teamcost.config import load_config
    from teamcost.sync.rollup_admin import build
    res = build(load_config())
    emit(res.to_dict(), fmt, lambda r: console.print(
        f"rollups complete: {r['scanned']:,} calls scanned, {r['counted']:,} counted now, "
        f"{r['already']:,} counted by an earlier run, {r['rolled_up']:,} by their push",
        markup=False))


@rollups_app.command("pack")
def pack_cmd(fmt: OutputFormat = FORMAT) -> None:
    """Record the rollup cells changed since the last pack as a pack (admins), so members'
    reports read a few documents instead of every cell the team changed. The admin's agent
    does this every 5 minutes."""
    from teamcost.config import load_config
    from teamcost.sync.rollup_admin import pack
    res = pack(load_config())

    def text(r: dict[str, Any]) -> None:
        if not r["written"]:
            console.print(f"nothing to pack ({r['refreshed']:,} documents read)", markup=False)
        for w in r["written"]:
            console.print(f"pack level {w['level']}: {w['cells']:,} cells in {w['chunks']} "
                          f"document(s)", markup=False)
        if r["pruned"]:
            console.print(f"{r['pruned']:,} old pack documents deleted", markup=False)
    emit(res.to_dict(), fmt, text)


def verify_cmd(
        since: str = typer.Option(..., "--since", metavar="WHEN",
                                  help="Start: 7d, 2026-11-01 (UTC days)."),
        until: str | None = typer.Option(None, "--until", metavar="WHEN",
                                         help="End (default now)."),
        fmt: OutputFormat = FORMAT,
) -> None:
    """Recompute a window's rollups from the calls and list differences (admins). Exit 0 they agree, 6 they differ.

    The window covers whole UTC days; every difference is listed (--format json for
    scripts)."""
    from teamcost.config import load_config
    from teamcost.errors import EXIT_MISMATCH
    from teamcost.sync.rollup_admin import verify_window
    res = verify_window(load_config(), since, until)

    def text(r: dict[str, Any]) -> None:
        console.print(f"{r['since']}..{r['until']} (UTC): {r['calls']:,} calls, "
                      f"{r['cells']:,} rollup cells, {r['not_rolled_up']:,} pushed before "
                      f"rollups: {'they agree' if r['ok'] else 'DIFFERENT'}", markup=False)
        for d in r["differences"][:50]:
            console.print(f"  {d['where']} {d['metric']}: rollups {d['rollups']}, "
                          f"calls {d['calls']}", markup=False)
    emit(res.to_dict(), fmt, text)
    if not res.ok:
        raise typer.Exit(EXIT_MISMATCH)


def register(app: typer.Typer) -> None:
    app.add_typer(rollups_app, name="rollups")
    app.command("verify")(verify_cmd)
