"""Attribution of calls this process makes (issue 25): the real SDK against a local server
and `teamcost record` in a subprocess, in a temporary git repository made with real git
and outside any repository; CI variables set and unset; a detached HEAD; a branch named
with markup and 300 characters (stored bounded, printed literally). Git is taken off PATH
before the calls: attribution reads the repository's files and never runs git."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

import teamcost
from teamcost.attribution import reset_process_attribution
from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.tracker import Tracker
from tests.cli_support import run
from tests.llm_server import LLMServer, server  # noqa: F401 - the fixture

CI_VARS = [v for v in os.environ if v.startswith(("GITHUB_", "CI_", "GITLAB", "BUILDKITE",
                                                  "CIRCLE", "BITBUCKET_"))]
MARKUP_BRANCH = ("feature/<b>bold</b>&amp;\"q\"'{x}'(y)" + "a" * 100 + "/"
                 + "<script>alert(1)</script>" + "z" * 300)[:300]


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.test",
                           *args], cwd=cwd, check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def make_repo(path: Path, remote: str | None, branch: str) -> Path:
    path.mkdir(parents=True)
    git("init", "-q", cwd=path)
    git("checkout", "-q", "-b", branch, cwd=path)
    git("commit", "-q", "--allow-empty", "-m", "first", cwd=path)
    if remote:
        git("remote", "add", "origin", remote, cwd=path)
    return path


@pytest.fixture
def attributing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Attribution on, no CI variables, and no git on PATH (an empty folder instead)."""
    monkeypatch.delenv("TEAMCOST_ATTRIBUTION")
    for v in CI_VARS:
        monkeypatch.delenv(v)
    reset_process_attribution()
    nogit = tmp_path / "no-git-here"
    nogit.mkdir()
    return nogit


def sdk_call_tags(server: LLMServer, home: Path,
                  tags: dict[str, str] | None = None) -> dict[str, str]:
    """The tags of one SDK call recorded in a fresh ledger in ``home`` (the local server
    answers every call with the same id)."""
    home.mkdir()
    tracker = Tracker(load_config(home))
    try:
        client = teamcost.instrument(openai.OpenAI(api_key="sk-test", base_url=server.url + "/v1",
                                                   max_retries=0), tracker)
        with tracker.session("s", tags=tags):
            client.chat.completions.create(model="gpt-4o",
                                           messages=[{"role": "user", "content": "hi"}])
        [rec] = list(tracker.ledger.calls())
        return dict(rec.tags)
    finally:
        tracker.close()


def test_sdk_call_in_a_repository_outside_one_and_explicit_tags(server, attributing, tmp_path,
                                                                 monkeypatch) -> None:
    repo = make_repo(tmp_path / "shop", "https://ana:ghp_secret@github.com/acme/shop.git",
                     "feature/PAY-7-totals")
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")
    monkeypatch.setenv("PATH", str(attributing))
    assert sdk_call_tags(server, tmp_path / "h1") == {"project": "src",
                                                      "repo": "github.com/acme/shop",
                                     "branch": "feature/PAY-7-totals", "ticket": "PAY-7"}
    # read once per process: another branch checked out later does not change it
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/other\n")
    tags = sdk_call_tags(server, tmp_path / "h2", tags={"branch": "mine", "ticket": "OPS-1"})
    assert tags == {"project": "src", "repo": "github.com/acme/shop", "branch": "mine",
                    "ticket": "OPS-1"}                      # the caller's tags win
    tags = sdk_call_tags(server, tmp_path / "h4", tags={"branch": "hotfix/OPS-9"})
    assert (tags["branch"], tags["ticket"]) == ("hotfix/OPS-9", "OPS-9")   # its own ticket

    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    reset_process_attribution()
    assert sdk_call_tags(server, tmp_path / "h3") == {"project": "plain"}


def record(cwd: Path, env: dict[str, str], *tags: str) -> dict[str, str]:
    """`teamcost record` in a subprocess in ``cwd``: the recorded call's tags."""
    args = [sys.executable, "-m", "teamcost", "record", "-m", "gpt-4o", "-i", "10", "-o", "1",
            "--format", "json", *[a for t in tags for a in ("--tag", t)]]
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["tags"]


def test_record_with_ci_variables_set_and_unset_and_a_detached_head(attributing, tmp_path):
    repo = make_repo(tmp_path / "api", None, "main")   # no remote: the folder's name
    env = {k: v for k, v in os.environ.items() if k not in CI_VARS and k != "TEAMCOST_ATTRIBUTION"}
    env["PATH"] = f"{attributing}{os.pathsep}{Path(sys.executable).parent}"
    assert record(repo, env) == {"project": "api", "repo": "api", "branch": "main"}

    github = {**env, "GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/pull/77/merge",
              "GITHUB_HEAD_REF": "feature/SHOP-12-cart", "GITHUB_REF_NAME": "77/merge",
              "GITHUB_REPOSITORY": "acme/api", "GITHUB_SERVER_URL": "https://github.com"}
    assert record(repo, github) == {"project": "api", "repo": "github.com/acme/api",
                                    "branch": "feature/SHOP-12-cart", "ticket": "SHOP-12",
                                    "pr": "77"}
    push = {**env, "GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/release",
            "GITHUB_REF_NAME": "release", "GITHUB_REF_TYPE": "branch",
            "GITHUB_REPOSITORY": "acme/api"}
    assert record(repo, push) == {"project": "api", "repo": "github.com/acme/api",
                                  "branch": "release"}
    gitlab = {**env, "GITLAB_CI": "true", "CI_MERGE_REQUEST_IID": "9",
              "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "fix/login",
              "CI_MERGE_REQUEST_TITLE": "AUTH-31: fix the login loop",
              "CI_PROJECT_URL": "https://gitlab.example.com/acme/api"}
    assert record(repo, gitlab) == {"project": "api", "repo": "gitlab.example.com/acme/api",
                                    "branch": "fix/login", "ticket": "AUTH-31", "pr": "9"}

    git("checkout", "-q", "--detach", cwd=repo)         # a CI checkout: no branch of its own
    assert record(repo, env) == {"project": "api", "repo": "api"}
    assert record(repo, github)["branch"] == "feature/SHOP-12-cart"
    assert record(repo, env, "repo=mine") == {"project": "api", "repo": "mine"}


def test_a_branch_of_markup_and_300_characters_is_stored_bounded_and_printed_literally(
        attributing, tmp_path):
    repo = make_repo(tmp_path / "web", "git@github.com:acme/web.git", MARKUP_BRANCH)
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == MARKUP_BRANCH
    env = {k: v for k, v in os.environ.items() if k not in CI_VARS and k != "TEAMCOST_ATTRIBUTION"}
    env["PATH"] = f"{attributing}{os.pathsep}{Path(sys.executable).parent}"
    tags = record(repo, env)
    stored = MARKUP_BRANCH[:255] + "…"
    assert tags["branch"] == stored and len(stored) == 256
    with Ledger.for_config(load_config()) as ledger:
        [rec] = list(ledger.calls())
    assert rec.tags["branch"] == stored

    doc = json.loads(run("report", "--by", "branch", "--format", "json", "--offline").stdout)
    assert [r["branch"] for r in doc["breakdowns"]["branch"]] == [stored]
    table = run("report", "--by", "branch", "--offline")
    assert table.exit_code == 0
    assert "<b>bold</b>&amp;" in table.stdout              # shown as written, not styled
    out = run("pr", "--branch", stored, "--offline")
    assert out.exit_code == 0 and "<b>bold</b>&amp;" in out.stdout
    md = run("pr", "--branch", stored, "--offline", "--format", "markdown").stdout
    assert "\\<b\\>bold\\</b\\>\\&amp;" in md and "<b>" not in md
