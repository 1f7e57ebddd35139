"""`teamcost pr`: what one branch's (or pull request's) work cost across the team."""

from __future__ import annotations

import enum
import os
import sys
from datetime import UTC, datetime

import typer
from rich.console import Group, RenderableType
from rich.text import Text

from teamcost.commands.output import err_console, to_json
from teamcost.commands.report import BREAKDOWN_COLUMNS, WHEN_HELP, Source, _pct
from teamcost.commands.tables import Column, show, table, view_width, wrap
from teamcost.config import load_config
from teamcost.errors import InvalidValue
from teamcost.money import format_usd as usd
from teamcost.periods import parse_window


class PrFormat(str, enum.Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


def pr_cost(
    branch: str | None = typer.Option(None, "--branch", metavar="BRANCH",
                                      help="The branch. Default: the current branch of the "
                                           "working directory (or of the CI job)."),
    pr: str | None = typer.Option(None, "--pr", metavar="N",
                                      help="A pull request number instead: the calls CI "
                                           "tagged with it and every call on their branches. "
                                           "Default: none (a branch)."),
    repo: str | None = typer.Option(None, "--repo", metavar="REPO",
                                    help="Only calls in this repository (its repo tag, e.g. "
                                         "github.com/acme/shop). Default: any repository."),
    since: str = typer.Option("90d", "--since", metavar="WHEN", show_default=False,
                              help=f"Start of the window: {WHEN_HELP}. Default: 90d."),
    until: str | None = typer.Option(None, "--until", metavar="WHEN",
                                     help="End of the window, same forms. Default: now."),
    tz: str | None = typer.Option(None, "--tz", metavar="ZONE",
                                  help="Timezone for days, an IANA name. Default: the team's."),
    fmt: PrFormat = typer.Option(PrFormat.table, "--format", metavar="FORMAT",
                                 show_default=False,
                                 help="table, json (the teamcost.pr/1 document) or markdown "
                                      "(a pull request comment body). Default: table."),
    source: Source | None = typer.Option(None, "--source", metavar="SOURCE",
                                         help="team or local (see report). Default: team "
                                              "when a project is configured, else local."),
    offline: bool = typer.Option(False, "--offline",
                                 help="Do not pull new calls first. Default: pull first."),
) -> None:
    """What a branch's work cost across the team: total, by member, model, agent and day."""
    from teamcost.attribution import for_process
    from teamcost.reports.branch_cost import branch_cost, no_calls_sentence, to_markdown

    config = load_config()
    if branch is not None and pr is not None:
        raise InvalidValue("--branch/--pr", f"{branch} and {pr}", "one of --branch or --pr")
    if branch is None and pr is None:
        try:
            cwd = os.getcwd()
        except OSError:          # the folder was deleted under the shell
            cwd = "."
        branch = for_process(cwd, os.environ, config.ticket_pattern).get("branch")
        if branch is None:
            raise InvalidValue("branch", cwd, "a branch: this folder is not on a branch of a "
                                              "git repository (detached, or none) and no CI "
                                              "variable names one; give --branch or --pr")
    zone = tz if tz is not None else config.timezone
    now = datetime.now(UTC)
    window = parse_window(since, until, now, zone)
    doc = branch_cost(config, window, branch=branch, pr=pr, repo=repo, tz=zone,
                      source=source.value if source else None, now=now,
                      refresh=not offline)
    for w in doc["warnings"]:
        err_console.print(f"teamcost: warning: {w}")
    if fmt == PrFormat.json:
        sys.stdout.write(to_json(doc) + "\n")
    elif fmt == PrFormat.markdown:
        sys.stdout.write(to_markdown(doc))
    elif not doc["summary"]["calls"]:
        show(Text("\n".join(wrap(no_calls_sentence(doc), view_width()))), view_width())
    else:
        show(pr_view(doc, view_width()), view_width())


def pr_view(doc: dict, width: int | None) -> RenderableType:
    from teamcost.reports.branch_cost import subject

    s = doc["summary"]

    def n(k: str, word: str) -> str:
        return f"{s[k]:,} {word}{'' if s[k] == 1 else 's'}"

    head = (f"{subject(doc)}: {usd(s['cost_nanos'])} over {n('calls', 'call')}, "
            f"{n('sessions', 'session')}, {n('members', 'member')}"
            + (f", {n('unpriced_calls', 'UNPRICED call')} of "
               f"{', '.join(s['unpriced_models'])} not in the total" if s["unpriced_calls"]
               else ""))
    extra = [f"{k} {', '.join(doc[k])}" for k in ("branches", "tickets", "repos")
             if doc[k] and (k != "branches" or doc["pr"] is not None)]
    parts: list[RenderableType] = [Text("\n".join(wrap(" · ".join([head, *extra]), width)))]
    for dim, items in [*doc["breakdowns"].items(), ("day", doc["days"])]:
        cols = [Column(dim, "label"), *BREAKDOWN_COLUMNS]
        parts.append(table(f"by {dim}", cols, [
            [x[dim], usd(x["cost_nanos"]), _pct(x["cost_nanos"] / s["cost_nanos"]
                                               if s["cost_nanos"] else None),
             f"{x['calls']:,}", f"{x['input_tokens']:,}", f"{x['output_tokens']:,}",
             f"{x['cache_read_tokens']:,}", f"{x['cache_write_tokens']:,}"]
            for x in items], width))
    return Group(*parts)


def register(app: typer.Typer) -> None:
    app.command("pr")(pr_cost)
