"""The byte prefilter of the log readers: lines that cannot hold a call are counted and
skipped without decoding; lines that do not look like a JSON object are still decoded (and
reported bad); the calls and totals are those of decoding every line."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from teamcost.capture.logs import tail
from teamcost.capture.logs.base import needs_decoding
from teamcost.capture.logs.claude_code import import_claude_code
from teamcost.config import load_config

T0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("line", "decode"), [
    (b'{"type":"assistant","message":{"usage":{"output_tokens":3}}}\n', True),
    (b'{"type":"user","message":{"content":"hi"}}\n', False),
    (b'{"type":"user","message":{"content":"hi"}}', False),           # last line, no newline
    (b'{"type":"user","message":{"content":"hi"}}  \r\n', False),
    (b'{"type":"user","message":{"content":"a tool result with "usage" in it"}}\n', True),
    (b'not json at all\n', True),                                     # reported bad, not skipped
    (b'{"type":"user","message":{"content":"cut sho\n', True),          # a torn line
    (b'["a", "list"]\n', True),
    (b'\xff\xfe{}\n', True),
    (b'{"type":"user"}' + b" " * 20 + b"\n", True),    # odd trailing space: decoded, fine
])
def test_needs_decoding(line: bytes, decode: bool) -> None:
    assert needs_decoding(line, (b'"usage"',)) is decode


def _assistant(mid: str, out: int, stop: str | None, i: int) -> str:
    return json.dumps({
        "parentUuid": None, "isSidechain": False, "type": "assistant", "sessionId": "s-1",
        "cwd": "/home/ana/src/shop", "requestId": f"req_{mid}", "uuid": f"u{i}",
        "timestamp": (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
        "message": {"id": mid, "type": "message", "role": "assistant",
                    "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "ok"}],
                    "stop_reason": stop,
                    "usage": {"input_tokens": 5, "output_tokens": out,
                              "cache_read_input_tokens": 100,
                              "cache_creation_input_tokens": 20}}},
        separators=(",", ":"))


def _tool_result(i: int, body: str) -> str:
    return json.dumps({"parentUuid": f"u{i - 1}", "type": "user", "sessionId": "s-1",
                       "cwd": "/home/ana/src/shop", "uuid": f"u{i}",
                       "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                       "message": {"role": "user", "content": [
                           {"type": "tool_result", "tool_use_id": "toolu_1", "content": body}]}},
                      separators=(",", ":"))


def _ledger(home: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(home / "ledger.db")
    try:
        return db.execute("SELECT call_id, output_tokens, cost_nanos FROM calls "
                          "ORDER BY call_id").fetchall()
    finally:
        db.close()


def test_claude_code_tool_results_are_skipped_undecoded_and_calls_stay_exact(
        tmp_path: Path, teamcost_home: Path) -> None:
    lines = [_assistant("msg_1", 1, None, 1), _assistant("msg_1", 40, "tool_use", 2),
             _tool_result(3, "x" * 200_000),
             # a tool result whose text mentions usage is decoded (and is still no call)
             _tool_result(4, 'see "usage" in the docs'),
             _assistant("msg_2", 2, None, 5), _assistant("msg_2", 9, None, 6),
             _tool_result(7, "é" * 1000),
             "this line is not JSON",
             _assistant("msg_3", 7, "end_turn", 8)]
    f = tmp_path / "projects" / "-home-ana-src-shop" / "s-1.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    old = time.time() - 2 * tail.ACTIVE_S
    os.utime(f, (old, old))

    result = import_claude_code(tmp_path / "projects", load_config())

    assert result.lines == len(lines)           # skipped lines are counted as read
    assert result.skipped == 1 and "not valid JSON" in result.bad[0]
    assert result.bad[0].startswith(f"{f}:8:")
    got = _ledger(teamcost_home)
    assert [(c, o) for c, o, _ in got] == [("cc-req-req_msg_1", 40),
                                           ("cc-req-req_msg_2", 9),
                                           ("cc-req-req_msg_3", 7)]
    # each call priced once from its biggest snapshot: sonnet 4.5 at $3/$15/$0.30/$3.75
    # per Mtok -> 5*3000 + out*15000 + 100*300 + 20*3750 nanos
    assert [n for _, _, n in got] == [15_000 + o * 15_000 + 30_000 + 75_000 for o in (40, 9, 7)]

    again = import_claude_code(tmp_path / "projects", load_config())
    assert again.imported == 0 and again.lines == 0   # unchanged: nothing read again


def test_a_file_of_skipped_lines_saves_its_progress_at_checkpoints(
        tmp_path: Path, teamcost_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tail, "CHECKPOINT_LINES", 3)
    saves: list[int] = []
    real = tail._save

    def spy(ledger: Any, sink: Any, source: str, key: str, st: Any, reader: Any,
            size: int, path: Path) -> None:
        saves.append(reader.checkpoint()[1])
        real(ledger, sink, source, key, st, reader, size, path)

    monkeypatch.setattr(tail, "_save", spy)
    lines = [_tool_result(i, "y" * 50) for i in range(1, 8)] + [_assistant("msg_9", 3, "end_turn", 8)]
    f = tmp_path / "s-1.jsonl"
    f.write_text("\n".join(lines) + "\n")
    old = time.time() - 2 * tail.ACTIVE_S
    os.utime(f, (old, old))

    import_claude_code(f, load_config())

    assert saves == [3, 6, 8]      # every 3 lines consumed, skipped ones included, then the end
    assert [c for c, _, _ in _ledger(teamcost_home)] == ["cc-req-req_msg_9"]


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("name", ["codex", "gemini_cli"])
def test_codex_and_gemini_cli_read_the_same_with_and_without_the_prefilter(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from teamcost.capture.logs import codex, gemini_cli

    module = {"codex": codex, "gemini_cli": gemini_cli}[name]
    run = {"codex": codex.import_codex, "gemini_cli": gemini_cli.import_gemini_cli}[name]
    got = {}
    for needles in (module.NEEDLES, None):       # None: every line decoded, as before
        home = tmp_path / f"home-{needles is None}"
        monkeypatch.setenv("TEAMCOST_HOME", str(home))
        monkeypatch.setattr(module, "NEEDLES", needles)
        result = run(FIXTURES / name, load_config())
        db = sqlite3.connect(home / "ledger.db")
        rows = db.execute("SELECT call_id, model, input_tokens, output_tokens, "
                          "cache_read_tokens, cache_write_tokens, cost_nanos, session_id "
                          "FROM calls ORDER BY call_id").fetchall()
        db.close()
        got[needles is None] = (rows, result.lines, result.skipped, result.bad)
    assert got[False][0]                     # the fixtures hold calls
    assert got[False] == got[True]


def _old_shape_tree(root: Path) -> None:
    """Older-shape sessions (every stop reason null: each message held until the next line
    of its conversation) whose follow-up lines are tool results and prompts, with lines
    whose parentUuid the bytes do not tell (escaped, nested, not first), interrupt markers
    (plain and escaped), a torn line (reported bad, ending nothing), and a session whose
    last message only quiet ends. (A line that looks like a whole object without being
    JSON is skipped unread, held message or not: base.needs_decoding.)"""
    from tests.old_shape import session_lines

    for n in range(4):
        lines, _, _ = session_lines(T0 + timedelta(hours=n), messages=6, snapshots=3,
                                    session=f"old-{n}")
        out: list[str] = []
        for text in lines:
            d = json.loads(text)
            if "requestId" in d:      # each session's own requests
                d["requestId"] = f"req_{n}_{d['requestId']}"
                text = json.dumps(d, separators=(",", ":"))
            if d["type"] == "user" and isinstance(d["message"]["content"], list):
                body = d["message"]["content"][0]
                body["content"] = "y" * (5000 * (n + 1)) + ' "quoted" \\ end'
                parent = d["parentUuid"]
                if n == 1:      # the parentUuid escaped: only decoding tells it
                    text = json.dumps(d, separators=(",", ":")).replace(
                        f'"parentUuid":"{parent}"',
                        '"parentUuid":"' + "".join(f"\\u{ord(c):04x}" for c in parent) + '"')
                elif n == 2:    # a nested parentUuid naming the message, the real one not
                    d["toolUseResult"] = {"parentUuid": parent}
                    d["parentUuid"] = "u-elsewhere"
                    text = json.dumps(d, separators=(",", ":"))
                elif n == 3:    # the user interrupts, the marker's first letter escaped
                    body["text"] = "[Request interrupted by user for tool use]"
                    text = json.dumps(d, separators=(",", ":"))
                    if parent.endswith("3-2"):
                        text = text.replace('"[Request', '"\\u005bRequest')
                else:
                    text = json.dumps(d, separators=(",", ":"))
            out.append(text)
        out.insert(4, '{"parentUuid":"u-msg_old00-2","torn": tr')
        out.insert(9, '{"type":"user","parentUuid":"u-msg_old01-2","message":{}}')
        f = root / "-home-ana-src-shop" / f"old-{n}.jsonl"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("\n".join(out) + "\n")
        old = time.time() - 2 * tail.ACTIVE_S
        os.utime(f, (old, old))


def test_claude_code_held_messages_end_alike_with_parent_ids_read_from_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from teamcost.capture.logs.claude_code import ClaudeCodeReader

    root = tmp_path / "projects"
    _old_shape_tree(root)
    got = {}
    for decode_all in (False, True):
        home = tmp_path / f"home-{decode_all}"
        monkeypatch.setenv("TEAMCOST_HOME", str(home))
        if decode_all:   # every line decoded while a message is held, as before
            monkeypatch.setattr(ClaudeCodeReader, "needles", property(
                lambda self: None if self.open else (b'"usage"',)))
        result = import_claude_code(root, load_config())
        db = sqlite3.connect(home / "ledger.db")
        rows = db.execute("SELECT call_id, output_tokens, cost_nanos, estimated, tags "
                          "FROM calls ORDER BY call_id").fetchall()
        db.close()
        got[decode_all] = (rows, result.lines, result.skipped, result.bad, result.imported,
                           result.already, result.estimated)
    assert got[False][0] and got[False][2] == 4    # the four torn lines
    assert any(r[3] for r in got[False][0])        # the interrupts made estimates
    assert got[False] == got[True]
