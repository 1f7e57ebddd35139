"""Importers: Claude Code logs (hand-built fixture, totals worked out here), llm_calls
databases, and teamcost's own JSONL export read back losslessly."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from teamcost.capture.logs import base as importers
from teamcost.capture.logs.claude_code import import_claude_code
from teamcost.capture.logs.jsonl import import_jsonl
from teamcost.capture.logs.sqlite import import_sqlite
from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.pricing import Pricer
from teamcost.tracker import Tracker

from tests.cli_support import one_error_line, run

UTC = timezone.utc
MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]


def cc_line(session: str, msg_id: str, req: str, ts: datetime, model: str, usage: dict,
            cwd: str = "/home/ana/src/shop") -> dict[str, Any]:
    return {"type": "assistant", "sessionId": session, "requestId": req, "cwd": cwd,
            "timestamp": ts.isoformat().replace("+00:00", "Z"), "uuid": f"u-{msg_id}",
            "message": {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                        "content": [{"type": "text", "text": "ok"}],
                        "stop_reason": "end_turn", "usage": usage}}


def build_fixture(root: Path) -> tuple[list[dict], list[str]]:
    """Two sessions in two projects over two UTC days, three models, cache tokens,
    duplicate lines, a resumed session repeating earlier messages, noise and a corrupt
    line. Returns (every assistant line with usage as written, raw lines of the files)."""
    t0 = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)
    s1, s2 = [], []
    for i in range(12):       # session 1 crosses midnight UTC
        usage = {"input_tokens": 10 + i, "output_tokens": 100 * (i + 1),
                 "cache_read_input_tokens": 1000 * i, "cache_creation_input_tokens": 50 * (i % 3)}
        s1.append(cc_line("sess-1", f"msg_a{i:02d}", f"req_a{i:02d}",
                          t0 + timedelta(minutes=10 * i), MODELS[i % 3], usage))
    for i in range(5):
        usage = {"input_tokens": 7 * i + 1, "output_tokens": 33 + i,
                 "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
        s2.append(cc_line("sess-2", f"msg_b{i:02d}", f"req_b{i:02d}",
                          t0 + timedelta(hours=12, minutes=i), MODELS[(i + 1) % 3], usage,
                          cwd="/home/ana/src/api"))
    p1 = root / "-home-ana-src-shop" / "sess-1.jsonl"
    p2 = root / "-home-ana-src-api" / "sess-2.jsonl"
    resumed = root / "-home-ana-src-shop" / "sess-3.jsonl"
    for p in (p1, p2):
        p.parent.mkdir(parents=True, exist_ok=True)
    noise = [{"type": "user", "sessionId": "sess-1", "message": {"role": "user", "content": "hi"}},
             {"type": "summary", "summary": "x"},
             cc_line("sess-1", "msg_syn", "req_syn", t0, "<synthetic>",
                     {"input_tokens": 0, "output_tokens": 0})]
    lines1 = [json.dumps(noise[0])]
    snapshots = []
    for d in s1:
        if d["message"]["id"] in ("msg_a05", "msg_a09"):
            # Claude Code logs a message as it streams: same ids and input/cache tokens,
            # output so far, a few seconds earlier (msg_a09's final line is 00:00:00, its
            # snapshots are on the previous day); the last line has the whole output
            for k, out in enumerate((3, d["message"]["usage"]["output_tokens"] // 2)):
                snap = json.loads(json.dumps(d))
                snap["message"]["usage"]["output_tokens"] = out
                snap["message"]["stop_reason"] = None
                when = datetime.fromisoformat(d["timestamp"][:-1]) - timedelta(seconds=4 - 2 * k)
                snap["timestamp"] = when.isoformat() + "Z"
                lines1.append(json.dumps(snap))
                snapshots.append(snap)
        lines1.append(json.dumps(d))
        if d["message"]["id"] in ("msg_a03", "msg_a07"):     # the same message logged twice
            lines1.append(json.dumps(d))
    lines1 += [json.dumps(noise[1]), json.dumps(noise[2]),
               '{"type": "assistant", "message": {"id": "msg_trunc", "usa']   # truncated
    p1.write_text("\n".join(lines1) + "\n")
    p2.write_text("\n".join(json.dumps(d) for d in s2) + "\n\n")
    # a resumed session: Claude Code copies earlier messages into the new file
    resumed.write_text("\n".join(json.dumps(d) for d in s1[:4]) + "\n")
    return snapshots + s1 + s2, lines1


def expected_totals(calls: list[dict]) -> tuple[dict, dict]:
    """Per UTC day and per model: [calls, in, out, cache read, cache write] — by hand.
    One call per (message id, request id): the line with the most output tokens, on the
    day of the message's first (earliest) line."""
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    per_model: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    final: dict[tuple[str, str], dict] = {}
    first: dict[tuple[str, str], str] = {}
    for d in calls:
        key = (d["message"]["id"], d["requestId"])
        first[key] = min(first.get(key, d["timestamp"]), d["timestamp"])
        if key not in final or (d["message"]["usage"]["output_tokens"]
                                > final[key]["message"]["usage"]["output_tokens"]):
            final[key] = d
    for key, d in final.items():
        u = d["message"]["usage"]
        vals = [1, u["input_tokens"], u["output_tokens"], u["cache_read_input_tokens"],
                u["cache_creation_input_tokens"]]
        for table, k in ((per_day, first[key][:10]), (per_model, d["message"]["model"])):
            table[k] = [a + b for a, b in zip(table[k], vals)]
    return dict(per_day), dict(per_model)


def ledger_totals(home: Path) -> tuple[dict, dict]:
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    per_model: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    with Ledger.for_config(load_config(home)) as ledger:
        for c in ledger.calls():
            vals = [1, c.input_tokens, c.output_tokens, c.cache_read_tokens,
                    c.cache_write_tokens]
            for table, k in ((per_day, c.ts.date().isoformat()), (per_model, c.model)):
                table[k] = [a + b for a, b in zip(table[k], vals)]
    return dict(per_day), dict(per_model)


@pytest.mark.parametrize("batch", [2000, 3])
def test_claude_code_import_is_exact_and_counts_once(tmp_path: Path, teamcost_home: Path,
                                                     batch: int, monkeypatch) -> None:
    # batch 3: ledger transactions end between a message's streaming snapshots
    monkeypatch.setattr(importers, "BATCH", batch)
    root = tmp_path / "projects"
    calls, _ = build_fixture(root)
    cfg = load_config()
    res = import_claude_code(root, cfg)
    assert (res.files, res.imported, res.skipped) == (3, 17, 1)
    assert res.already == 2 + 4 + 4       # two repeated lines, four resumed, four snapshots
    # the truncated line: 22nd of sess-1.jsonl (1 user + 12 + 2 repeated + 4 snapshots + 2
    # noise before it); its 57 characters end without a closing quote, so column 58 is "\n"
    assert res.bad == [f"{root / '-home-ana-src-shop' / 'sess-1.jsonl'}:22: not valid JSON "
                       "(Invalid control character at column 58)"]
    assert ledger_totals(teamcost_home) == expected_totals(calls)
    assert set(expected_totals(calls)[0]) == {"2026-11-20", "2026-11-21"}
    with Ledger.for_config(cfg) as ledger:
        recs = {c.call_id: c for c in ledger.calls()}
    # the final snapshot's whole output, at the time of the first snapshot (the request):
    # msg_a09 streamed across midnight and belongs to the day it started
    a9 = recs["cc-req-req_a09"]
    assert (a9.output_tokens, a9.ts) == (1000, datetime(2026, 11, 20, 23, 59, 56, tzinfo=UTC))
    a0 = recs["cc-req-req_a00"]
    assert (a0.provider, a0.session_id, a0.tags["project"]) == ("anthropic", "sess-1", "shop")
    # cost: the ledger's own pricer on the same tokens (input excludes cache tokens)
    p = Pricer().price("anthropic", a0.model, 10, 100, cache_read_tokens=0,
                       cache_write_tokens=0)
    assert a0.cost_nanos == p.cost_nanos and a0.priced
    # importing again adds nothing and reads nothing: every file is known and unchanged
    again = import_claude_code(root, cfg)
    assert (again.imported, again.already, again.skipped) == (0, 0, 0)
    assert (again.lines, again.bytes_read) == (0, 0)
    assert ledger_totals(teamcost_home) == expected_totals(calls)


def test_a_message_still_streaming_in_a_live_session_waits_for_the_next_import(
        tmp_path: Path, teamcost_home: Path) -> None:
    root = tmp_path / "projects"
    log = root / "-home-ana-src-shop" / "sess-9.jsonl"
    log.parent.mkdir(parents=True)
    t0 = datetime(2026, 11, 22, 9, tzinfo=UTC)
    usage = {"input_tokens": 12, "output_tokens": 40, "cache_read_input_tokens": 4000,
             "cache_creation_input_tokens": 100}
    done = cc_line("sess-9", "msg_c00", "req_c00", t0, MODELS[0], usage)

    def c01(out: int, stop: str | None) -> str:
        d = cc_line("sess-9", "msg_c01", "req_c01", t0 + timedelta(minutes=1), MODELS[1],
                    dict(usage, output_tokens=out))
        d["message"]["stop_reason"] = stop
        return json.dumps(d)

    log.write_text("\n".join([json.dumps(done), c01(2, None), c01(7, None)]) + "\n")
    now = time.time()    # written just now by this process's clock, not the kernel's
    os.utime(log, (now, now))
    cfg = load_config()
    res = import_claude_code(root, cfg)            # the log was written just now: live
    assert (res.imported, res.pending, res.already) == (1, 1, 0)
    assert "1 held until " in res.summary()
    with log.open("a") as fh:                      # Claude Code finishes the message
        fh.write(c01(350, "tool_use") + "\n")
    os.utime(log, (time.time(), time.time()))
    res = import_claude_code(root, cfg)    # reads again from the held message's first line
    assert (res.imported, res.pending, res.already) == (1, 0, 2)
    with Ledger.for_config(cfg) as ledger:
        assert ledger.get("cc-req-req_c01").output_tokens == 350

    # a session that went quiet mid-stream (it crashed) is imported as it stands
    quiet = root / "-home-ana-src-shop" / "sess-10.jsonl"
    quiet.write_text(c01(9, None).replace("msg_c01", "msg_d01").replace("req_c01", "req_d01") + "\n")
    hour_ago = time.time() - 3600
    os.utime(quiet, (hour_ago, hour_ago))
    res = import_claude_code(quiet, cfg)
    assert (res.imported, res.pending) == (1, 0)
    with Ledger.for_config(cfg) as ledger:
        assert ledger.get("cc-req-req_d01").output_tokens == 9


def test_claude_code_cli_summary_and_json(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    build_fixture(root)
    res = run("import", "claude-code", str(root))
    assert res.exit_code == 0, res.output
    assert "imported 17 calls (10 already present, 1 bad lines skipped) from 3 files" in res.stdout
    assert "sess-1.jsonl:" in res.stderr and "skipped" in res.stderr
    res = run("import", "claude-code", "--path", str(root), "--format", "json")
    doc = json.loads(res.stdout)
    assert (doc["imported"], doc["already"], doc["skipped"], doc["lines"]) == (0, 0, 0, 0)


def test_llm_calls_database_keeps_its_cost_as_reported(tmp_path: Path,
                                                       teamcost_home: Path) -> None:
    db = tmp_path / "costs.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE llm_calls (id INTEGER PRIMARY KEY, timestamp TEXT, agent "
                     "TEXT, task_id TEXT, correlation_id TEXT, model TEXT, model_tier TEXT, "
                     "input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL, "
                     "duration_seconds REAL, success INTEGER, error TEXT)")
        rows = [("2026-11-20T10:00:00", "planner", "t1", "c1", "gpt-4o", "large", 1000, 200,
                 0.0123, 1.5, 1, None),
                ("2026-11-20T10:05:00+00:00", "coder", "t1", "c2", "claude-sonnet-4-5",
                 "medium", 5000, 900, 0.1, 3.0, 0, "rate limited"),
                ("1795416686", None, None, None, "my-local-model", None, 10, 10, 0.0, None,
                 1, None),
                ("not a time", "x", None, None, "gpt-4o", None, 1, 1, 0.1, None, 1, None)]
        conn.executemany("INSERT INTO llm_calls (timestamp, agent, task_id, correlation_id, "
                         "model, model_tier, input_tokens, output_tokens, cost_usd, "
                         "duration_seconds, success, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         rows)
    res = run("import", "sqlite", str(db), "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["imported"], doc["skipped"]) == (2, 2)     # epoch-as-text and "not a time"
    with Ledger.for_config(load_config()) as ledger:
        recs = sorted(ledger.calls(), key=lambda c: c.ts)
    assert [c.cost_nanos for c in recs] == [12_300_000, 100_000_000]
    assert all(c.price_source == "reported" for c in recs)
    assert (recs[0].provider, recs[0].agent, recs[0].tags) == ("openai", "planner",
                                                                {"model_tier": "large"})
    assert (recs[1].success, recs[1].error, recs[1].duration_s) == (False, "rate limited", 3.0)
    assert recs[0].ts == datetime(2026, 11, 20, 10, tzinfo=UTC)
    again = json.loads(run("import", "sqlite", str(db), "--format", "json").stdout)
    assert (again["imported"], again["already"]) == (0, 2)


def test_export_then_import_jsonl_reproduces_every_field(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    monkeypatch.setenv("TEAMCOST_HOME", str(src))
    t = Tracker(load_config())
    now = datetime.now(UTC)
    with t.session("s-1"), t.agent("coder", task_id="T-9"):
        t.record("gpt-4o", 1234, 567, cache_read_tokens=89, duration_s=1.25,
                 tags={"repo": "shop", "ci": "yes"}, correlation_id="corr-1",
                 ts=now - timedelta(minutes=5))
    t.record("claude-sonnet-4-5", 10, 20, cache_write_tokens=30, success=False,
             error="overloaded", ts=now - timedelta(minutes=4))
    t.record("mystery-model-x", 5, 5, ts=now - timedelta(minutes=3))          # unpriced
    t.record("gpt-4o", 1, 1, cost_usd="0.000000007", ts=now - timedelta(minutes=2))
    t.close()
    with Ledger.for_config(load_config()) as ledger:
        originals = list(ledger.calls())
    out = tmp_path / "exports"
    assert run("export", "--week", "this", "--format", "json", "--out", str(out)).exit_code == 0
    jsonl = next(out.glob("*-calls.jsonl"))
    dst = tmp_path / "dst"
    dst.mkdir()
    monkeypatch.setenv("TEAMCOST_HOME", str(dst))
    res = run("import", "jsonl", str(jsonl), "--format", "json")
    assert res.exit_code == 0, res.output
    with Ledger.for_config(load_config()) as ledger:
        back = list(ledger.calls())
    assert back == originals and len(back) == 4        # every field, exactly
    again = json.loads(run("import", "jsonl", str(jsonl), "--format", "json").stdout)
    assert (again["imported"], again["already"]) == (0, 4)


def test_jsonl_bad_lines_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    t = Tracker(load_config())
    rec = t.build("gpt-4o", 10, 10)
    from teamcost.models import record_to_json
    good = json.dumps(record_to_json(rec))
    other = dict(record_to_json(rec), call_id="other-1")
    conflicting = dict(record_to_json(rec), input_tokens=11)
    f = tmp_path / "calls.jsonl"
    f.write_text("\n".join([good, "{oops", json.dumps({"call_id": "x"}), json.dumps(other),
                            json.dumps(conflicting)]) + "\n")
    res = import_jsonl(f, load_config())
    assert (res.imported, res.skipped) == (2, 3)
    assert [b.split(": ", 1)[0].rsplit(":", 1)[1] for b in res.bad] == ["2", "3", "5"]


@pytest.mark.parametrize("args,needle", [
    (["import", "jsonl", "nope.jsonl"], "invalid FILE: 'nope.jsonl'"),
    (["import", "sqlite", "nope.db"], "invalid FILE: 'nope.db'"),
    (["import", "claude-code", "nope-dir"], "invalid PATH: 'nope-dir'"),
    (["import", "jsonl", "."], "this is a directory"),
    (["import", "jsonl", "calls.jsonl", "--format", "xml"], "invalid --format: 'xml'; expected text or json"),
])
def test_bad_paths_exit_2_in_one_line(args: list[str], needle: str, tmp_path: Path,
                                      monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calls.jsonl").write_text("")
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert needle in one_error_line(res)


def test_wrong_kind_of_file_says_which_command_fits(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sqlite3.connect(db).execute("CREATE TABLE t (a)").connection.commit()
    res = run("import", "jsonl", str(db))
    assert res.exit_code == 2 and "use 'teamcost import sqlite'" in one_error_line(res)
    res = run("import", "sqlite", str(db))
    assert res.exit_code == 2 and "it has tables ['t']" in one_error_line(res)
    txt = tmp_path / "x.txt"
    txt.write_text("hello\n")
    res = run("import", "sqlite", str(txt))
    assert res.exit_code == 2 and "not a SQLite database" in one_error_line(res)
    res = run("import", "jsonl", str(txt))
    assert res.exit_code == 2 and "first line is not a JSON object" in one_error_line(res)
