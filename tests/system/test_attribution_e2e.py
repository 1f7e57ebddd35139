"""Attribution end to end (issue 25): Claude Code transcripts of two members on two
machines, in two repositories (real git repositories made here, with their remotes) and on
three branches, one of them a subagent's too, imported, pushed to the emulator, pulled;
``report --by repo,branch,ticket`` equals a table worked out by hand below, and
``teamcost pr --branch feature/PAY-142-refunds --format markdown`` equals a golden file.

Fixture transcripts (tests/fixtures/attribution) are Claude Code's format with the
machine's folder written as ``@ROOT@``, put back to a temporary folder here, so the
working directories exist and are repositories.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_support import run

pytestmark = pytest.mark.emulator

FIXTURES = Path(__file__).parent.parent / "fixtures" / "attribution"
FEAT = "feature/PAY-142-refunds"
WINDOW = ("--since", "2026-11-20", "--until", "2026-11-22")

# Prices per token in nano-dollars (Anthropic's list prices, per million tokens):
# claude-sonnet-4-5 input $3, output $15, cache read $0.30; claude-haiku-4-5 input $1,
# output $5, cache read $0.10; claude-nova-9 has no price (unpriced, $0).
#   ana S1 a1 sonnet 1000 in, 500 out, 20000 read: 3,000,000 + 7,500,000 + 6,000,000 = 16,500,000
#   ana S1 a2 sonnet 2000 in, 1000 out:            6,000,000 + 15,000,000            = 21,000,000
#   ana S1 a3 claude-nova-9 (unpriced)                                               =          0
#   ana S1 subagent a4 haiku 4000 in, 800 out:     4,000,000 + 4,000,000             =  8,000,000
#   ana S2 (main) a5 sonnet 500 in, 200 out:       1,500,000 + 3,000,000             =  4,500,000
#   ben S3 b1 sonnet 3000 in, 2000 out:            9,000,000 + 30,000,000            = 39,000,000
#   ben S3 b2 haiku 10000 in, 1000 out, 50000 read: 10,000,000 + 5,000,000 + 5,000,000 = 20,000,000
#   ben S4 (infra, fix/dns-timeouts) b3 sonnet 1000 in, 1000 out: 3,000,000 + 15,000,000 = 18,000,000
EXPECTED = {
    "repo": {"github.com/acme/shop": (109_000_000, 7), "github.com/acme/infra": (18_000_000, 1)},
    "branch": {FEAT: (104_500_000, 6), "fix/dns-timeouts": (18_000_000, 1),
               "main": (4_500_000, 1)},
    "ticket": {"PAY-142": (104_500_000, 6), "(none)": (22_500_000, 2)},
}
TOTAL = (127_000_000, 8)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_repo(path: Path, remote: str) -> None:
    path.mkdir(parents=True)
    git("init", "-q", cwd=path)
    git("remote", "add", "origin", remote, cwd=path)


def lay_out(root: Path) -> dict[str, Path]:
    """The two machines' repositories and transcripts under ``root``."""
    make_repo(root / "ana/src/shop", "git@github.com:acme/shop.git")
    # credentials in the remote are never recorded
    make_repo(root / "ben/work/shop", "https://ben:s3cret@github.com/acme/shop.git")
    make_repo(root / "ben/work/infra", "git@github.com:acme/infra.git")
    logs = root / "logs"
    shutil.copytree(FIXTURES, logs, ignore=shutil.ignore_patterns("*.md"))
    escaped = json.dumps(str(root))[1:-1]
    for f in logs.rglob("*.jsonl"):
        f.write_text(f.read_text().replace("@ROOT@", escaped))
    return {"ana": logs / "ana/projects", "ben": logs / "ben/projects"}


def ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_two_members_two_repos_three_branches_report_and_pr(firestore_emulator, tmp_path,
                                                            monkeypatch):
    logs = lay_out(tmp_path)
    homes = {}
    for member, path in logs.items():
        home = tmp_path / f"home-{member}"
        home.mkdir()
        homes[member] = home
        with monkeypatch.context() as m:
            m.setenv("TEAMCOST_HOME", str(home))
            m.setenv("TEAMCOST_MEMBER", f"{member}@acme.test")
            m.setenv("TEAMCOST_TEAM", "acme")
            m.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
            ok(run("import", "claude-code", str(path)))
            assert "pushed" in ok(run("sync", "push"))

    monkeypatch.setenv("TEAMCOST_HOME", str(homes["ana"]))
    monkeypatch.setenv("TEAMCOST_MEMBER", "ana@acme.test")
    monkeypatch.setenv("TEAMCOST_TEAM", "acme")
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    ok(run("sync", "pull"))
    doc = json.loads(ok(run("report", *WINDOW, "--by", "repo,branch,ticket", "--source",
                            "team", "--offline", "--format", "json")))
    assert (doc["summary"]["cost_nanos"], doc["summary"]["calls"]) == TOTAL
    got = {dim: {r[dim]: (r["cost_nanos"], r["calls"]) for r in doc["breakdowns"][dim]}
           for dim in EXPECTED}
    assert got == EXPECTED
    assert doc["by"] == ["repo", "branch", "ticket"]

    # the same table as CSV, and filtered to the ticket
    rows = [line.split(",") for line in ok(run(
        "report", *WINDOW, "--by", "repo,branch,ticket", "--source", "team", "--offline",
        "--format", "csv")).splitlines()[1:]]
    assert {(r[0], r[1]): (int(r[3]), int(r[4])) for r in rows} == {
        (dim, k): v for dim, table in EXPECTED.items() for k, v in table.items()}
    only = json.loads(ok(run("report", *WINDOW, "--ticket", "PAY-142", "--by", "member",
                             "--source", "team", "--offline", "--format", "json")))
    assert only["filters"]["ticket"] == "PAY-142"
    assert {r["member"]: r["cost_nanos"] for r in only["breakdowns"]["member"]} == {
        "ana@acme.test": 45_500_000, "ben@acme.test": 59_000_000}
    repo = json.loads(ok(run("report", *WINDOW, "--repo", "github.com/acme/infra", "--by",
                             "branch", "--source", "team", "--offline", "--format", "json")))
    assert [(r["branch"], r["cost_nanos"]) for r in repo["breakdowns"]["branch"]] == [
        ("fix/dns-timeouts", 18_000_000)]

    # the subagent's call counts in its parent's session and branch
    pr = json.loads(ok(run("pr", "--branch", FEAT, *WINDOW, "--source", "team",
                           "--offline", "--format", "json")))
    assert pr["summary"]["sessions"] == 2
    assert {s["session"]: s["cost_nanos"] for s in pr["sessions"]} == {
        "6f1d2c3b-1a2b-4c5d-8e9f-0a1b2c3d4e51": 45_500_000,
        "7a8b9c0d-2b3c-4d5e-9f0a-1b2c3d4e5f63": 59_000_000}
    assert pr["summary"]["unpriced_calls"] == 1

    md = ok(run("pr", "--branch", FEAT, *WINDOW, "--source", "team", "--offline",
                "--format", "markdown"))
    assert md == (FIXTURES / "pr-PAY-142.md").read_text()

    # exports: the attribution tags as CSV columns of their own, and in the summary
    out = tmp_path / "export"
    ok(run("export", "--month", "2026-11", "--out", str(out), "--offline", "--source", "team"))
    [calls_csv] = out.glob("*-calls.csv")
    with calls_csv.open(newline="") as fh:
        exported = list(csv.DictReader(fh))
    by_branch: dict[str, int] = {}
    for r in exported:
        by_branch[r["branch"]] = by_branch.get(r["branch"], 0) + int(r["cost_nanos"])
    assert by_branch == {k: v[0] for k, v in EXPECTED["branch"].items()}
    assert {r["ticket"] for r in exported} == {"PAY-142", ""}
    [summary] = out.glob("*-summary.json")
    ticket_rows = json.loads(summary.read_text())["breakdowns"]["ticket"]
    assert {r["ticket"]: (r["cost_nanos"], r["calls"]) for r in ticket_rows} == EXPECTED["ticket"]

    none = run("pr", "--branch", "no/such-branch", *WINDOW, "--source", "team",
               "--offline")
    assert none.exit_code == 0
    assert "No calls were recorded for branch no/such-branch" in none.stdout
