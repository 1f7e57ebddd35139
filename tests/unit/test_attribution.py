"""teamcost.attribution (pure parts and real git folders) and the report's tag columns."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from teamcost import attribution as a
from teamcost.config import load_config
from teamcost.errors import ConfigError
from teamcost.reports.report import parse_by
from teamcost.reports.tagcolumns import tag_values, with_tags

PAT = a.DEFAULT_TICKET_PATTERN


@pytest.mark.parametrize("url", [
    "https://github.com/acme/shop.git", "https://user:ghp_token@GitHub.com/acme/shop.git",
    "git@github.com:acme/shop.git", "ssh://git@github.com:22/acme/shop/",
    "git+ssh://git@github.com/acme/shop", "http://github.com/acme/shop/",
    "  https://github.com/acme/shop\n"])
def test_remotes_normalise_to_host_and_path_without_credentials(url: str) -> None:
    assert a.normalise_remote(url) == "github.com/acme/shop"


@pytest.mark.parametrize("url, want", [
    ("/srv/git/shop.git", "shop"), ("file:///srv/git/shop", "shop"), ("../shop", "shop"),
    ("C:\\repos\\shop", "shop"), ("", None), (None, None), (42, None),
    ("git@gitlab.example.com:group/sub/api.git", "gitlab.example.com/group/sub/api")])
def test_other_remotes(url: object, want: str | None) -> None:
    assert a.normalise_remote(url) == want


def test_bound_replaces_control_characters_and_cuts_at_256() -> None:
    assert a.bound("a\x00b\x1b[31mc\u2028d\x7f") == "a\ufffdb\ufffd[31mc\ufffdd\ufffd"
    assert a.bound("  <b>x</b>  ") == "<b>x</b>"         # markup kept: printed literally
    long = "x" * 300
    assert a.bound(long) == "x" * 255 + "…" and len(a.bound(long) or "") == 256
    assert a.bound("y" * 256) == "y" * 256
    assert a.bound(" \n ") is None and a.bound(None) is None and a.bound(3) is None
    assert a.bound("bad\udcff") == "bad?"                 # a lone surrogate has no UTF-8 form


def test_tickets_by_pattern_first_text_with_one_wins() -> None:
    assert a.ticket_in(["feature/PAY-142-refunds"], PAT) == "PAY-142"
    assert a.ticket_in(["main", "AUTH-3: title"], PAT) == "AUTH-3"
    assert a.ticket_in(["fix/#123-typo"], PAT) is None    # #123 is off by default
    assert a.ticket_in(["fix/#123-typo"], f"{PAT}|{a.ISSUE_NUMBER_PATTERN}") == "#123"
    assert a.ticket_in([None, "", "pay-1"], PAT) is None


def test_ticket_pattern_is_a_config_key_checked_when_loaded(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('ticket_pattern = "#[0-9]+"\n')
    assert load_config(tmp_path, env={}).ticket_pattern == "#[0-9]+"
    (tmp_path / "config.toml").write_text('ticket_pattern = "([A-Z"\n')
    with pytest.raises(ConfigError, match="ticket_pattern.*regular expression"):
        load_config(tmp_path, env={})
    (tmp_path / "config.toml").write_text("ticket_pattern = 7\n")
    with pytest.raises(ConfigError, match="ticket_pattern"):
        load_config(tmp_path, env={})


def test_explicit_tags_win_and_derived_ones_never_pass_the_tag_limit() -> None:
    assert a.merge({"repo": "r", "branch": "b"}, {"branch": "mine"}) == {"branch": "mine",
                                                                         "repo": "r"}
    full = {f"k{i}": "v" for i in range(15)}
    got = a.merge({"repo": "r", "branch": "b"}, full, limit=16)
    assert len(got) == 16 and got["repo"] == "r" and "branch" not in got


def test_ci_variables() -> None:
    gh = a.ci_attribution({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/pull/12/merge",
                           "GITHUB_HEAD_REF": "feat/X-1", "GITHUB_REPOSITORY": "acme/shop"})
    assert gh == {"pr": "12", "branch": "feat/X-1", "repo": "github.com/acme/shop"}
    assert a.ci_attribution({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/v1",
                             "GITHUB_REF_NAME": "v1", "GITHUB_REF_TYPE": "tag"}) == {}
    assert a.ci_attribution({"BUILDKITE": "true", "BUILDKITE_PULL_REQUEST": "false",
                             "BUILDKITE_BRANCH": "main"}) == {"branch": "main"}
    assert a.ci_attribution({"CIRCLECI": "true", "CIRCLE_BRANCH": "b",
                             "CIRCLE_PULL_REQUEST": "https://github.com/a/b/pull/5"}) == {
        "pr": "5", "branch": "b"}
    assert a.ci_attribution({"BITBUCKET_BUILD_NUMBER": "3", "BITBUCKET_PR_ID": "x1",
                             "BITBUCKET_BRANCH": "b"}) == {"branch": "b"}   # not a number
    assert a.ci_attribution({}) == {}


def test_log_attribution_claude_code_detached_and_missing_folders(tmp_path: Path) -> None:
    gone = str(tmp_path / "no" / "such")
    assert a.for_log(gone, "feature/PAY-1-x") == {"project": "such", "branch": "feature/PAY-1-x",
                                                  "ticket": "PAY-1"}
    assert a.for_log(gone, "HEAD") == {"project": "such"}       # Claude Code: detached
    assert a.for_log(None, None) == {}
    assert a.for_log(gone, "b", "git@h.io:x/y.git", pr="#4", title="OPS-2 z") == {
        "project": "such", "repo": "h.io/x/y", "branch": "b", "pr": "4", "ticket": "OPS-2"}
    # a relative folder is never read against this process's own folder
    assert a.for_log("@ROOT@/ana/src/shop", "b") == {"project": "shop", "branch": "b"}
    (tmp_path / "file").write_text("")
    assert a.for_log(str(tmp_path / "file"), "b") == {"project": "file", "branch": "b"}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.test", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=30)


def test_repositories_read_from_their_files(tmp_path: Path) -> None:
    main = tmp_path / "shop"
    main.mkdir()
    git("init", "-q", "-b", "main", cwd=main)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=main)
    assert a.repo_info(main) == {"repo": "shop", "branch": "main"}     # no remote: the folder
    git("remote", "add", "upstream", "git@github.com:up/shop.git", cwd=main)
    git("remote", "add", "origin", "https://t:x@github.com/acme/shop.git", cwd=main)
    assert a.repo_info(main / ".")["repo"] == "github.com/acme/shop"   # origin first
    (main / "deep" / "er").mkdir(parents=True)
    assert a.repo_info(main / "deep" / "er") == {"repo": "github.com/acme/shop",
                                                 "branch": "main"}
    # a linked worktree: a .git file, HEAD of its own, the config of the main repository
    git("worktree", "add", "-q", "-b", "feature/OPS-5", str(tmp_path / "wt"), cwd=main)
    assert a.repo_info(tmp_path / "wt") == {"repo": "github.com/acme/shop",
                                            "branch": "feature/OPS-5"}
    git("checkout", "-q", "--detach", cwd=main)
    assert a.repo_info(main) == {"repo": "github.com/acme/shop"}      # detached: no branch
    assert a.repo_info(tmp_path / "nowhere") == {}
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / ".git").write_text("not a gitdir line\n")
    assert a.repo_info(tmp_path / "odd") == {}


def test_tag_columns_from_the_tags_json() -> None:
    rows = [{"branch": "feat/x", "repo": "r"}, {"repo": "r2"}, {},
            {"note": '"branch":"fake"', "branch": 'q"uo\\te'}, {"branch": "ünï😀\n"}]
    tags = pa.array([json.dumps(t, sort_keys=True, separators=(",", ":")) for t in rows])
    got = tag_values(tags, "branch").cast(pa.string()).to_pylist()
    assert got == ["feat/x", None, None, 'q"uo\\te', "ünï😀\n"]
    table = pa.table({"tags": tags, "cost_nanos": pa.array([1, 2, 3, 4, 5])})
    kept = with_tags(table, ["cost_nanos", "tag:repo"], [("repo", "r")])
    assert kept.column("cost_nanos").to_pylist() == [1]
    assert kept.column("tag:repo").cast(pa.string()).to_pylist() == ["r"]


def test_by_accepts_the_attribution_dimensions_and_any_tag() -> None:
    assert parse_by(["repo,branch", "ticket", "tag:env", "pr,project"]) == (
        "repo", "branch", "ticket", "tag:env", "pr", "project")
    from teamcost.errors import InvalidValue
    for bad in ("tag:", "tag:a b", "tags:x", "Repo"):
        with pytest.raises(InvalidValue, match="tag:NAME"):
            parse_by([bad])


def test_otlp_resource_vcs_attributes_attribute_the_calls(teamcost_home: Path) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from teamcost.capture.otlp import decode_traces
    from teamcost.tracker import Tracker

    def kv(k: str, v: str) -> KeyValue:
        return KeyValue(key=k, value=AnyValue(string_value=v))

    req = ExportTraceServiceRequest()
    for n, resource in enumerate([
            {"service.name": "shop-api",
             "vcs.repository.url.full": "https://ci:tok@github.com/acme/shop",
             "vcs.ref.head.name": "feature/PAY-9-x", "vcs.change.id": "31"},
            {"service.name": "old", "vcs.repository.ref.name": "main"},    # earlier name
            {"service.name": "none"}]):
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(kv(k, v) for k, v in resource.items())
        span = rs.scope_spans.add().spans.add(
            trace_id=bytes([n + 1] * 16), span_id=bytes([n + 1] * 8), name="chat gpt-4o",
            start_time_unix_nano=1_795_000_000_000_000_000,
            end_time_unix_nano=1_795_000_001_000_000_000)
        span.attributes.extend([kv("gen_ai.provider.name", "openai"),
                                kv("gen_ai.request.model", "gpt-4o"),
                                kv("gen_ai.operation.name", "chat")])
        span.attributes.append(KeyValue(key="gen_ai.usage.input_tokens",
                                        value=AnyValue(int_value=10)))
    tracker = Tracker(load_config())
    try:
        got = decode_traces(req.SerializeToString(), "application/x-protobuf", tracker.build)
    finally:
        tracker.close()
    assert got.reasons == []
    attribution = [{k: v for k, v in r.tags.items() if k in a.KEYS} for r in got.records]
    assert attribution == [{"repo": "github.com/acme/shop", "branch": "feature/PAY-9-x",
                            "pr": "31", "ticket": "PAY-9"}, {"branch": "main"}, {}]


def test_gemini_cli_calls_take_the_repo_of_their_project_root(tmp_path: Path) -> None:
    """The fixture's .project_root files rewritten to real repositories here (the chats are
    the fixture's as they are)."""
    import shutil

    from teamcost.capture.logs.gemini_cli import import_gemini_cli
    from teamcost.ledger import Ledger

    gemini = tmp_path / "gemini"
    shutil.copytree(Path(__file__).parent.parent / "fixtures" / "gemini_cli", gemini)
    shop = tmp_path / "src" / "shop"
    shop.mkdir(parents=True)
    git("init", "-q", "-b", "trunk", cwd=shop)
    git("remote", "add", "origin", "git@github.com:acme/shop.git", cwd=shop)
    (gemini / "tmp" / "shop" / ".project_root").write_text(f"{shop}\n")
    (gemini / "tmp" / "api" / ".project_root").write_text(f"{tmp_path / 'gone' / 'api'}\n")
    config = load_config(tmp_path / "home", env={"TEAMCOST_MEMBER": "t@example.test"})
    (tmp_path / "home").mkdir()
    import_gemini_cli(gemini, config)
    with Ledger.for_config(config) as ledger:
        calls = list(ledger.calls())
    repos = {(c.tags.get("project"), c.tags.get("repo"), c.tags.get("branch")) for c in calls}
    # the repo of the folder as it is now; the branch is not taken from it (the call may
    # have been made on another one)
    assert repos == {("shop", "github.com/acme/shop", None), ("api", None, None)}


def test_pr_by_number_takes_its_branches_and_bad_values_are_usage_errors() -> None:
    from tests.cli_support import one_error_line, run

    def rec(i: int, cost: str, *tags: str) -> None:
        r = run("record", "-m", "gpt-4o", "-i", "1", "-o", "1", "--cost-usd", cost,
                "--call-id", f"pr-{i}", "--ts", "2026-11-20T10:00:00Z",
                *[a for t in tags for a in ("--tag", t)])
        assert r.exit_code == 0, r.stderr

    rec(1, "0.001", "branch=feature/OPS-3-x")                  # on a laptop, before CI
    rec(2, "0.002", "branch=feature/OPS-3-x", "pr=12")         # in CI for pull request 12
    rec(3, "0.004", "pr=12")                                   # CI that knew no branch
    rec(4, "0.008", "branch=main", "pr=13")
    rec(5, "0.016", "branch=feature/OPS-3-x", "repo=github.com/acme/other")
    window = ("--since", "2026-11-20", "--until", "2026-11-20", "--offline")
    doc = json.loads(run("pr", "--pr", "#12", *window, "--format", "json").stdout)
    assert (doc["summary"]["cost_nanos"], doc["branches"]) == (23_000_000, ["feature/OPS-3-x"])
    doc = json.loads(run("pr", "--branch", "feature/OPS-3-x", *window, "--repo",
                         "github.com/acme/other", "--format", "json").stdout)
    assert doc["summary"]["cost_nanos"] == 16_000_000
    for args, flag in ((("--pr", "abc"), "--pr"), (("--branch", " "), "--branch"),
                       (("--branch", "x", "--pr", "1"), "--branch/--pr")):
        bad = run("pr", *args, *window)
        assert bad.exit_code == 2 and one_error_line(bad).startswith(f"teamcost: error: invalid {flag}")
