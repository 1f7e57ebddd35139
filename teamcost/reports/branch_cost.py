"""What one branch's (or pull request's) work cost across the whole team: ``teamcost pr``.

The calls are the team's (the report's sources and dedupe: reports.frames.scan_calls)
whose ``branch`` tag is the branch; for a pull request, the calls tagged with its number
(``pr``, from CI) and every call on a branch those calls name (the work before CI ran).
Once the team's rollups are complete no call is pulled: ``branch`` and ``pr`` are rollup
dimensions, so the rollup copy says when the branch's calls were made, and only the
team's calls of that span are read (sessions' first and last times need the calls).
A document ``teamcost.pr/1`` (plain data, money in nano-dollars), rendered as a table,
JSON, or a Markdown comment body a CI job posts on the pull request (``to_markdown``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from teamcost.attribution import bound
from teamcost.errors import InvalidValue
from teamcost.money import format_usd
from teamcost.periods import Window, zone
from teamcost.reports import aggregate as agg
from teamcost.reports.frames import Filters, scan_calls
from teamcost.reports.rollup import Rollup
from teamcost.reports.window_source import refresh_team_cache

if TYPE_CHECKING:
    from teamcost.config import Config

SCHEMA_ID = "teamcost.pr/1"
BY = ("member", "model", "agent")
MARKER = "<!-- teamcost:pr -->"     # lets a CI job find and update its earlier comment
_PR_RE = re.compile(r"^#?([0-9]{1,12})$")
_COLUMNS = ("ts", "member", "model", "agent", "session_id", "input_tokens", "output_tokens",
            "cache_read_tokens", "cache_write_tokens", "cost_nanos", "priced", "success",
            "tag:branch", "tag:pr", "tag:ticket", "tag:repo")


def check_pr(value: Any) -> str:
    m = _PR_RE.match(value.strip()) if isinstance(value, str) else None
    if m is None:
        raise InvalidValue("pr", value, "a pull request number such as 142 (or #142)")
    return m.group(1)


def check_branch(value: Any) -> str:
    b = bound(value) if isinstance(value, str) else None
    if b is None:
        raise InvalidValue("branch", value, "a branch name")
    return b


def _strings(col: Any) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.cast(pa.string()) if pa.types.is_dictionary(arr.type) else arr


def branch_span(table: pa.Table, branch: str | None, pr: str | None
                ) -> tuple[datetime, datetime] | None:
    """[first, last quarter-hour's end) of the rows (rollup slots and unpushed calls,
    ``rollup_source.team_table``) on ``branch``, or of pull request ``pr`` and the
    branches its rows name; None when there are none."""
    if not table.num_rows:
        return None
    branches = _strings(table.column("branch"))
    if pr is not None:
        of_pr = pc.fill_null(pc.equal(_strings(table.column("pr")), pr), False)
        names = sorted({b for b in branches.filter(of_pr).to_pylist() if b})
        keep = pc.or_(of_pr, pc.fill_null(pc.is_in(branches, value_set=pa.array(
            names, pa.string())), False))
    else:
        keep = pc.fill_null(pc.equal(branches, branch), False)
    ts = table.column("ts").filter(keep)
    if not len(ts):
        return None
    lo, hi = pc.min_max(ts).values()
    return lo.as_py(), hi.as_py() + timedelta(minutes=15)


def _refresh_branch_calls(config: Config, window: Window, branch: str | None,
                          pr: str | None, repo: str | None) -> str | None:
    """Make the team cache hold the calls the document reads. While the team's rollups
    are incomplete: the incremental pull of every call, as always. Once they are: the
    rollup copy (refreshed) says which quarter-hours hold the branch's calls, and only
    the team's calls from the first to the last of them are read (window reader). Every
    call on the branch is then in the cache: a call document exists only with the cell
    that counts it (rollups.py), and the cache holds only documents Firestore has."""
    from teamcost.errors import TeamcostError
    from teamcost.reports.rollup_source import team_table
    from teamcost.reports.window_source import refresh_window, rollups_ready

    try:
        from teamcost.sync.client import client_for
        client = client_for(config)
        if not rollups_ready(config, client):
            return refresh_team_cache(config)
        # slots are quarter-hours: the one holding the window's start is read whole
        since = window.since.astimezone(UTC)
        since = since.replace(minute=since.minute - since.minute % 15, second=0,
                              microsecond=0)
        table, _ = team_table(config, client, since, window.until,
                              {"repo": repo} if repo is not None else None)
        span = branch_span(table, branch, pr)
    except TeamcostError as exc:
        return f"showing the cached team data: could not read the team's rollups " \
               f"({getattr(exc, 'reason', None) or exc})"
    if span is None:
        return None
    return refresh_window(config, max(span[0], window.since), min(span[1], window.until),
                          client)


def branch_cost(config: Config, window: Window, *, branch: str | None = None,
                pr: str | None = None, repo: str | None = None, tz: str | None = None,
                source: str | None = None, now: datetime | None = None,
                refresh: bool = True) -> dict[str, Any]:
    """The cost of ``branch`` (or pull request ``pr``) within ``window``, optionally only
    in ``repo``. Exactly one of branch and pr."""
    if (branch is None) == (pr is None):
        raise InvalidValue("branch", branch, "a branch, or a pull request number (not both)")
    branch = check_branch(branch) if branch is not None else None
    pr = check_pr(pr) if pr is not None else None
    tz = tz or config.timezone
    zone(tz)
    now = now or datetime.now(UTC)
    warnings: list[str] = []
    use_team = source == "team" or (source is None and config.has_firestore)
    if use_team and refresh:
        warning = _refresh_branch_calls(config, window, branch, pr, repo)
        if warning:
            warnings.append(warning)
    base = (("repo", repo),) if repo is not None else ()
    branches: list[str] = [branch] if branch is not None else []
    if pr is not None:      # the branches the pull request's calls were made on
        chunks, _ = scan_calls(config, window.since, window.until,
                               source="team" if use_team else "local",
                               filters=Filters(tags=(*base, ("pr", pr))),
                               columns=("tag:branch",))
        found: set[str] = set()
        for t in chunks:
            found.update(b for b in _strings(t.column("tag:branch")).to_pylist() if b)
        branches = sorted(found)
    rollup = Rollup(window.since, window.until, tz, ["agent"])
    tickets: set[str] = set()
    repos: set[str] = set()
    chunks, used = scan_calls(config, window.since, window.until,
                              source="team" if use_team else "local",
                              filters=Filters(tags=base), columns=_COLUMNS)
    wanted = pa.array(branches, pa.string())
    for t in chunks:
        keep = pc.fill_null(pc.is_in(_strings(t.column("tag:branch")), value_set=wanted), False)
        if pr is not None:
            keep = pc.or_(keep, pc.fill_null(pc.equal(_strings(t.column("tag:pr")), pr), False))
        t = t.filter(keep)
        if not t.num_rows:
            continue
        tickets.update(x for x in _strings(t.column("tag:ticket")).to_pylist() if x)
        repos.update(x for x in _strings(t.column("tag:repo")).to_pylist() if x)
        rollup.add(t)
    summary = rollup.summary()
    days = [d for d in rollup.trend("day") if d["calls"]]
    return {
        "schema": SCHEMA_ID,
        "generated_at": now.isoformat(),
        "team": config.team,
        "source": used,
        "window": {"since": window.since.isoformat(), "until": window.until.isoformat(),
                   "label": window.label, "timezone": tz},
        "branch": branch, "pr": pr, "repo": repo,
        "branches": branches,
        "tickets": sorted(tickets),
        "repos": sorted(repos),
        "summary": summary,
        "first_day": days[0]["day"] if days else None,
        "last_day": days[-1]["day"] if days else None,
        "breakdowns": {b: rollup.breakdown(b, agg.BREAKDOWNS[b]) for b in BY},
        "days": days,
        "sessions": rollup.top_sessions(n=max(summary["sessions"], 1)),
        "warnings": warnings,
    }


def subject(doc: dict[str, Any]) -> str:
    """``branch feature/x`` or ``pull request #12``, for sentences."""
    return f"pull request #{doc['pr']}" if doc["pr"] is not None else f"branch {doc['branch']}"


def no_calls_sentence(doc: dict[str, Any]) -> str:
    where = f" in {doc['repo']}" if doc["repo"] else ""
    return (f"No calls were recorded for {subject(doc)}{where} between "
            f"{doc['window']['since'][:10]} and {doc['window']['until'][:10]} "
            f"(team {doc['team']}, source {doc['source']}).")


# -- Markdown --

# what GitHub-flavoured Markdown could read as markup here: emphasis, code, links, images,
# HTML and entities, table pipes, strikethrough, math ($), @mentions, :emoji:, #refs
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>|!&~#$@:{}])")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def md(text: Any) -> str:
    """Text printed literally in GitHub-flavoured Markdown (inline, or in a table cell):
    each character markup could start with is backslash-escaped, control characters are
    U+FFFD."""
    return _MD_SPECIAL.sub(r"\\\1", _CONTROL.sub("\ufffd", str(text)))


def _md_table(title: str, rows: Sequence[dict[str, Any]], key: str, total: int) -> list[str]:
    out = [f"| {title} | cost | share | calls |", "|---|---:|---:|---:|"]
    for r in rows:
        share = f"{100 * r['cost_nanos'] / total:.1f}%" if total else "-"
        unpriced = f" ({r['unpriced_calls']} unpriced)" if r["unpriced_calls"] else ""
        out.append(f"| {md(r[key])} | {md(format_usd(r['cost_nanos']))} | {share} | "
                   f"{r['calls']:,}{unpriced} |")
    return [*out, ""]


def to_markdown(doc: dict[str, Any]) -> str:
    """A pull request comment body: the total, then by member, model, agent and day. It
    names no time of its own making, so the same calls give the same text."""
    name = (f"pull request \\#{doc['pr']}" if doc["pr"] is not None
            else f"branch {md(doc['branch'])}")
    lines = [MARKER, f"### AI cost of {name}", ""]
    s = doc["summary"]
    if not s["calls"]:
        return "\n".join([*lines, md(no_calls_sentence(doc)), ""])
    people = f"{s['members']:,} member" + ("s" if s["members"] != 1 else "")
    sessions = f"{s['sessions']:,} session" + ("s" if s["sessions"] != 1 else "")
    days = (doc["first_day"] if doc["first_day"] == doc["last_day"]
            else f"{doc['first_day']} to {doc['last_day']}")
    calls = f"{s['calls']:,} call" + ("s" if s["calls"] != 1 else "")
    lines.append(f"**{md(format_usd(s['cost_nanos']))}** over {calls} in "
                 f"{sessions} by {people}, {md(days)} ({md(doc['window']['timezone'])})")
    lines.append("")
    facts = []
    if doc["pr"] is not None and doc["branches"]:
        facts.append("branches " + ", ".join(md(b) for b in doc["branches"]))
    if doc["tickets"]:
        facts.append(("ticket " if len(doc["tickets"]) == 1 else "tickets ")
                     + ", ".join(md(t) for t in doc["tickets"]))
    if doc["repos"]:
        facts.append(("repository " if len(doc["repos"]) == 1 else "repositories ")
                     + ", ".join(md(r) for r in doc["repos"]))
    if facts:
        lines += ["; ".join(facts), ""]
    if s["unpriced_calls"]:
        n = s["unpriced_calls"]
        lines += [f"**Unpriced:** {n:,} call{'s' if n != 1 else ''} of "
                  f"{', '.join(md(m) for m in s['unpriced_models'])} "
                  f"{'is' if n == 1 else 'are'} not in the total "
                  "(no price known; add a price override).", ""]
    total = s["cost_nanos"]
    for b in BY:
        lines += _md_table(b, doc["breakdowns"][b], b, total)
    lines += _md_table("day", doc["days"], "day", total)
    lines.append(f"<sub>teamcost · team {md(doc['team'])} · source {md(doc['source'])}</sub>")
    return "\n".join(lines) + "\n"
