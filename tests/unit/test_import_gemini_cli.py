"""`teamcost import gemini-cli`: the hand-written chat sessions in tests/fixtures/gemini_cli
(a legacy whole-JSON session resumed into JSON Lines, a sub-agent, a second project),
every response written out below by hand and priced here with per-million prices typed
in, independently of the importer and of genai-prices."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teamcost.capture.logs import gemini_cli
from teamcost.capture.logs.gemini_cli import Reader, import_gemini_cli, read_whole
from teamcost.capture.logs.parsing import BadLine
from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.tracker import Tracker

from tests.cli_support import one_error_line, run

UTC = timezone.utc
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "gemini_cli"
G1 = "5b0c7e2a-3d41-4f8e-9a61-2c7d9e0f1a23"     # shop: .json, resumed into .jsonl
SUB = "9d1e2f30-4a5b-4c6d-8e7f-8091a2b3c4d5"    # a sub-agent of G1
G2 = "e4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f60718"     # api
CHATS = FIXTURE / "tmp/shop/chats"
LEGACY = CHATS / "session-2026-11-20T23-30-5b0c7e2a.json"
RESUMED = CHATS / "session-2026-11-20T23-30-5b0c7e2a.jsonl"
SUBFILE = CHATS / G1 / f"{SUB}.jsonl"
API = FIXTURE / "tmp/api/chats/session-2026-11-22T14-00-e4f5a6b7.jsonl"

# USD per million tokens: (input, output, cached input). Checked against genai-prices 0.2.3:
# gemini-2.5-pro $1.25 / $10 / $0.125 (prompts up to 200k tokens; every call here is
# below), gemini-2.5-flash $0.30 / $2.50 / $0.03, gemini-2.5-flash-lite $0.10 / $0.40 / $0.01.
PRICES = {"gemini-2.5-pro": ("1.25", "10", "0.125"),
          "gemini-2.5-flash": ("0.30", "2.50", "0.03"),
          "gemini-2.5-flash-lite": ("0.10", "0.40", "0.01")}

# Every response in the fixture, by hand from the logs: (time, session, project, model,
# input = tokens.input - cached + tool, cached, output = tokens.output + thoughts, thoughts).
CALLS = [
    ("2026-11-20T23:30:20.871", G1, "shop", "gemini-2.5-pro", 9000, 0, 1000, 600),
    ("2026-11-20T23:58:00.500", G1, "shop", "gemini-2.5-pro", 4000, 8000, 2000, 1100),
    ("2026-11-21T00:10:40", G1, "shop", "gemini-2.5-flash", 4000, 11000, 300, 0),
    ("2026-11-21T00:12:00", G1, "shop", "gemini-2.5-flash", 2000, 14000, 1450, 250),
    ("2026-11-21T00:15:00", SUB, "shop", "gemini-2.5-flash", 5000, 0, 300, 100),
    ("2026-11-21T00:20:00", G1, "shop", "gemini-2.5-flash-lite", 3200, 0, 150, 0),
    ("2026-11-22T14:01:00", G2, "api", "gemini-2.5-pro", 10000, 30000, 5000, 3000),
]


def nanos(model: str, inp: int, cached: int, out: int) -> int:
    p_in, p_out, p_cached = (Decimal(p) for p in PRICES[model])
    usd = (inp * p_in + out * p_out + cached * p_cached) / Decimal(1_000_000)
    return int(usd * 1_000_000_000)     # whole nanos per token at these prices


def expected() -> list[tuple[Any, ...]]:
    return sorted((datetime.fromisoformat(ts).replace(tzinfo=UTC), s, m, i, c, o,
                   nanos(m, i, c, o), {"source": "gemini-cli", "project": p,
                                       **({"thoughts_tokens": str(th)} if th else {})})
                  for ts, s, p, m, i, c, o, th in CALLS)


def ledger_rows(home: Path) -> list[tuple[Any, ...]]:
    with Ledger.for_config(load_config(home)) as ledger:
        return sorted((c.ts, c.session_id, c.model, c.input_tokens, c.cache_read_tokens,
                       c.output_tokens, c.cost_nanos, dict(c.tags)) for c in ledger.calls())


def test_every_response_counted_once_per_day_and_model_with_its_cost(
        teamcost_home: Path) -> None:
    res = import_gemini_cli(FIXTURE, load_config())
    # 7 responses. Seen again: g1, g2 copied into the .jsonl on resume (2), g3 written
    # again with its tool call (1), the checkpoint's g1, g2, g3, g5 (4). g3's first line
    # has no tokens yet; the rewind removes g4 from the chat, not from the bill.
    assert (res.files, res.imported, res.already, res.skipped) == (4, 7, 7, 1)
    assert res.bad == [f"{RESUMED}:13: not valid JSON (Invalid control character at column 77)"]
    rows = ledger_rows(teamcost_home)
    assert rows == expected()
    assert Counter(r[0].date().isoformat() for r in rows) == {
        "2026-11-20": 2, "2026-11-21": 4, "2026-11-22": 1}
    assert Counter(r[2] for r in rows) == {"gemini-2.5-pro": 3, "gemini-2.5-flash": 3,
                                           "gemini-2.5-flash-lite": 1}
    # by hand, thousandths of a dollar: 21.25 + 26 + 2.28 + 4.645 + 2.25 + 0.38 + 66.25
    assert sum(r[6] for r in rows) == res.cost_nanos == 123_055_000
    with Ledger.for_config(load_config()) as ledger:
        calls = list(ledger.calls())
    assert {(c.provider, c.priced, c.cache_write_tokens) for c in calls} == {("google", True, 0)}
    assert all(len(c.call_id) <= 128 and "/" not in c.call_id
               and not any(ch.isspace() for ch in c.call_id) for c in calls)

    again = import_gemini_cli(FIXTURE, load_config())     # every file known and unchanged: read nothing
    assert (again.imported, again.already, again.skipped, again.cost_nanos) == (0, 0, 0, 0)
    assert (again.lines, again.bytes_read) == (0, 0)
    assert ledger_rows(teamcost_home) == expected()


_trackers: dict[str, Tracker] = {}


def build() -> Any:
    home = os.environ["TEAMCOST_HOME"]
    if home not in _trackers:
        _trackers[home] = Tracker(load_config())
    return _trackers[home].build


def read_lines(path: Path, state: dict | None = None, start: int = 0,
               stop: int | None = None) -> tuple[list, dict]:
    reader = Reader(path, FIXTURE, build(), state)
    out = []
    lines = path.read_bytes().splitlines(keepends=True)
    for no, line in enumerate(lines[start:stop], start + 1):
        try:
            out += reader.feed(line, no)
        except ValueError:
            pass
    return out, reader.state()


@pytest.mark.parametrize("path", [RESUMED, SUBFILE, API], ids=["resumed", "subagent", "api"])
def test_a_reader_resumed_from_its_state_at_every_line_reads_what_one_pass_reads(
        path: Path) -> None:
    whole, _ = read_lines(path)
    assert whole
    for k in range(len(path.read_bytes().splitlines()) + 1):
        head, state = read_lines(path, stop=k)
        tail, _ = read_lines(path, json.loads(json.dumps(state)), k)
        assert head + tail == whole, f"resumed after line {k}"


def test_the_legacy_whole_file_is_read_whole_with_the_same_ids_as_its_jsonl_copy() -> None:
    assert gemini_cli.MODE == "lines"
    assert gemini_cli.file_mode(LEGACY) == "whole" and gemini_cli.file_mode(RESUMED) == "lines"
    legacy = list(read_whole(LEGACY, FIXTURE, build()))
    assert legacy == list(read_whole(LEGACY, FIXTURE, build()))      # re-reading: the same
    resumed, _ = read_lines(RESUMED)
    assert [r.call_id for r in legacy] == [r.call_id for r in resumed[:2]]
    assert legacy == resumed[:2]


def test_read_whole_reports_bad_parts(tmp_path: Path) -> None:
    chats = tmp_path / "chats"
    chats.mkdir()
    bad = chats / "session-x.json"
    bad.write_text(json.dumps({"sessionId": "s", "projectHash": "h", "messages": [
        msg("m1", {"input": 10, "output": -1}, ts="2026-11-20T10:00:00Z"),
        msg("m2", {"input": 10, "output": 1}, ts="2026-11-20T10:00:01Z")]}))
    items = list(read_whole(bad, tmp_path, build()))
    assert isinstance(items[0], BadLine) and items[0].where == f"{bad}:messages[0]"
    assert "tokens.output" in items[0].why and items[1].input_tokens == 10
    bad.write_text("{" * 5)
    assert [type(i) for i in read_whole(bad, tmp_path, build())] == [BadLine]
    bad.write_text("[" * 100_000 + "]" * 100_000)
    assert list(read_whole(bad, tmp_path, build())) == [
        BadLine(str(bad), "not readable JSON (nested too deeply)")]


# -- the rules, on small made-up sessions --

def msg(mid: str, tokens: dict | None, model: str | None = "gemini-2.5-flash",
        ts: str = "2026-11-20T10:00:00.000Z", typ: str = "gemini") -> dict:
    m: dict[str, Any] = {"id": mid, "timestamp": ts, "type": typ, "content": "x", "tokens": tokens}
    if model is not None:
        m["model"] = model
    return m


def feed(lines: list[dict | str], path: Path = Path("chats/session-x.jsonl")) -> list:
    reader = Reader(path, Path("."), build())
    out = []
    for no, d in enumerate(lines, 1):
        out += reader.feed((d if isinstance(d, str) else json.dumps(d)).encode(), no)
    return out


def test_thoughts_and_tool_prompts_are_billed_and_an_unknown_model_is_unpriced() -> None:
    recs = feed([{"sessionId": "s1", "projectHash": "h"},
                 msg("m1", {"input": 1000, "output": 10, "cached": 1500, "thoughts": 5, "tool": 7}),
                 msg("m2", {"input": 10, "output": 1}, model=None),
                 msg("m3", {"input": 0, "output": 0, "cached": 0}),      # nothing billed
                 msg("m4", {"input": 10, "output": 1}, typ="user")])
    assert [(r.input_tokens, r.cache_read_tokens, r.output_tokens) for r in recs] == [
        (7, 1000, 15), (10, 0, 1)]       # cached never above the prompt it is part of
    assert recs[0].tags["thoughts_tokens"] == "5"
    assert (recs[1].model, recs[1].priced, recs[1].cost_nanos) == ("unknown", False, 0)


def test_the_session_comes_from_the_first_line_or_the_file() -> None:
    one = feed([msg("m1", {"input": 10, "output": 1})], Path(f"chats/p/{SUB}.jsonl"))
    assert one[0].session_id == SUB
    two = feed([{"sessionId": "s1", "projectHash": "h"}, {"$set": {"sessionId": "s2"}},
                msg("m1", {"input": 10, "output": 1})])
    assert two[0].session_id == "s2"


@pytest.mark.parametrize("line,why", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"$set": 5}', r"\$set"),
    ('{"$set": {"messages": {"a": 1}}}', "messages"),
    (json.dumps(msg("m1", {"input": "10"})), "tokens.input"),
    (json.dumps(msg("m1", {"input": 10}, ts="soon")), "timestamp"),
    (json.dumps(msg("", {"input": 10})), "id"),
    (json.dumps(msg("m1", [10])), "tokens"),
    ("[1, 2]", "not a JSON object"),
])
def test_a_bad_line_raises_and_leaves_the_reader_as_it_was(line: str, why: str) -> None:
    reader = Reader(Path("chats/s.jsonl"), Path("."), build())
    reader.feed(b'{"sessionId": "s1", "projectHash": "h"}', 1)
    with pytest.raises(ValueError, match=why):
        reader.feed(line.encode(), 2)
    assert reader.state() == {"session": "s1"}


@st.composite
def sessions(draw: Any) -> list[str]:
    lines = [json.dumps({"sessionId": "s1", "projectHash": "h"})]
    written: list[dict] = []
    for n in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["msg", "msg", "again", "rewind", "set", "bad"]))
        if kind == "msg":
            i = draw(st.integers(0, 9000))
            tokens = {"input": i, "output": draw(st.integers(0, 900)),
                      "cached": draw(st.integers(0, i)), "thoughts": draw(st.integers(0, 90))}
            m = msg(f"m{n}", tokens if draw(st.booleans()) else None)
            written.append(m)
            lines.append(json.dumps(m))
        elif kind == "again" and written:
            lines.append(json.dumps(draw(st.sampled_from(written))))
        elif kind == "rewind" and written:
            lines.append(json.dumps({"$rewindTo": written[-1]["id"]}))
        elif kind == "set":
            lines.append(json.dumps({"$set": {"lastUpdated": "x", "messages": written}}))
        else:
            lines.append('{"id": "m9", "tok')
    return lines


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sessions())
def test_property_resuming_anywhere_reads_the_same_and_ids_are_per_message(
        tmp_path_factory: Any, lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("g") / "chats" / "session-x.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    whole, _ = read_lines(path)
    for k in range(len(lines) + 1):
        head, state = read_lines(path, stop=k)
        tail, _ = read_lines(path, json.loads(json.dumps(state)), k)
        assert head + tail == whole
    by_id: dict[str, Any] = {}
    for r in whole:                       # a message written again is the same record
        assert by_id.setdefault(r.call_id, r) == r


# -- paths and the CLI --

def test_default_root_and_listing(tmp_path: Path, monkeypatch, teamcost_home: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(FIXTURE, home / ".gemini")
    monkeypatch.setenv("GEMINI_CLI_HOME", str(home))
    assert gemini_cli.default_roots() == [home / ".gemini"]
    files = gemini_cli.list_files(home / ".gemini")
    assert [str(p.relative_to(home / ".gemini")) for p in files] == [
        "tmp/api/chats/session-2026-11-22T14-00-e4f5a6b7.jsonl",
        f"tmp/shop/chats/{G1}/{SUB}.jsonl",
        "tmp/shop/chats/session-2026-11-20T23-30-5b0c7e2a.json",
        "tmp/shop/chats/session-2026-11-20T23-30-5b0c7e2a.jsonl"]    # not settings.json
    assert gemini_cli.list_files(home / ".gemini/tmp/shop/chats") == files[1:]
    res = run("import", "gemini-cli")
    assert res.exit_code == 0, res.output
    assert "imported 7 calls (7 already present, 1 bad lines skipped) from 4 files" in res.stdout
    assert ".jsonl:13: not valid JSON" in res.stderr
    # an older project directory named by a hash, without .project_root: its name
    old = home / ".gemini/tmp" / ("ab" * 32)
    (home / ".gemini/tmp/api").rename(old)
    (old / ".project_root").unlink()
    assert gemini_cli.project_for(old / "chats/s.jsonl") == "ab" * 32
    monkeypatch.delenv("GEMINI_CLI_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert gemini_cli.default_roots() == [tmp_path / ".gemini"]


def test_cli_json_output_and_one_file(teamcost_home: Path) -> None:
    doc = json.loads(run("import", "gemini-cli", str(LEGACY), "--format", "json").stdout)
    assert (doc["source"], doc["files"], doc["imported"], doc["cost_nanos"]) == (
        "gemini-cli", 1, 2, 21_250_000 + 26_000_000)
    again = run("import", "gemini-cli", "--path", str(RESUMED), "--format", "json")
    doc = json.loads(again.stdout)
    assert (doc["imported"], doc["already"], doc["skipped"]) == (3, 2 + 1 + 4, 1)


def test_bad_dirs_exit_2_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    db = tmp_path / "costs.db"
    sqlite3.connect(db).execute("CREATE TABLE t (a)").connection.commit()
    (tmp_path / "settings.json").write_text('{"general": {}}')
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "rollout.jsonl").write_text('{"timestamp": "x", "type": "session_meta"}\n')
    # a copy in tmp_path: the message names the path whole only while it is short, and the
    # clone's own folder may be long
    shutil.copy(FIXTURE / "tmp/api/.project_root", tmp_path / ".project_root")
    cases = [(tmp_path / "nope", "(no such file or directory)"),
             (tmp_path / "empty", "it holds no gemini-cli session logs"),
             (tmp_path / ".project_root", "its first line is not a JSON object"),
             (db, "this is a SQLite database (use 'teamcost import sqlite')"),
             (tmp_path / "settings.json", "not a Gemini CLI session (no messages list)"),
             (tmp_path / "notes.txt", "its first line is not a JSON object"),
             (tmp_path / "rollout.jsonl", "not a Gemini CLI session line")]
    for path, needle in cases:
        res = run("import", "gemini-cli", str(path))
        assert res.exit_code == 2, (path, res.output)
        line = one_error_line(res)
        assert f"invalid DIR: '{path}'" in line and needle in line, line
