"""A Claude Code message's bigger snapshots are checked as they are read and built into a
record once, when the message is final (issue 28): the records, the bad lines and the
counts are those of building every bigger snapshot as it comes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from teamcost.capture.logs.base import why_bad
from teamcost.capture.logs.claude_code import ClaudeCodeReader
from teamcost.config import load_config
from teamcost.errors import TeamcostError
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.tracker import Tracker
from tests.old_shape import MODEL, session_lines

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _line(n: int, out: int, *, stop: str | None = None, cwd: str = "/home/ana/src/shop",
          model: str = MODEL, parent: str | None = None, mid: str = "msg_A",
          rid: str = "req_A") -> str:
    return json.dumps({
        "parentUuid": parent, "cwd": cwd, "sessionId": "s1", "gitBranch": "main",
        "type": "assistant", "uuid": f"u{mid}{n}", "requestId": rid,
        "timestamp": f"2026-11-20T09:00:{n:02d}.000Z",
        "message": {"id": mid, "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": "x"}], "stop_reason": stop,
                    "usage": {"input_tokens": 10, "cache_read_input_tokens": 1000,
                              "cache_creation_input_tokens": 100, "output_tokens": out}}})


def _read(tmp_path: Path, lines: list[str], check: bool) -> tuple[list[CallRecord],
                                                                    list[str], int]:
    """Every record the reader emits for ``lines`` (then quiet), the bad lines as the scan
    reports them, and the lines it merged."""
    path = tmp_path / "projects" / "-p" / "s.jsonl"
    with Ledger(tmp_path / f"l{int(check)}.db") as ledger:
        tracker = Tracker(load_config(), ledger)
        reader = ClaudeCodeReader(path, tmp_path / "projects", tracker.build,
                                  check=tracker.check_numbers if check else None)
        out: list[CallRecord] = []
        bad: list[str] = []
        end = 0
        for no, text in enumerate(lines, 1):
            raw = (text + "\n").encode()
            end += len(raw)
            try:
                out += reader.feed(raw, no, end)
            except (ValueError, TypeError, TeamcostError, RecursionError) as exc:
                bad.append(f"{no}: {why_bad(exc)}")
                reader.advance(no, end)
        out += reader.finish(quiet=True)
        return ([r.replace(ledger_id="L") for r in out], bad, reader.merged)


def test_bad_bigger_snapshots_are_reported_when_read_and_the_biggest_good_one_kept(
        tmp_path: Path) -> None:
    lines = [_line(1, 10), _line(2, 10**13), _line(3, 50),
             _line(4, 10**11),                  # within the token bound, over $10,000
             _line(5, 60, stop="end_turn")]
    for check in (True, False):
        recs, bad, merged = _read(tmp_path, lines, check)
        assert [(r.output_tokens, r.ts) for r in recs] == [
            (60, datetime(2026, 11, 20, 9, 0, 1, tzinfo=UTC))]
        assert [b.split(":")[0] for b in bad] == ["2", "4"]
        assert "output_tokens" in bad[0] and "cost_nanos" in bad[1]
        assert merged == 2


def test_deferred_build_gives_the_records_building_each_snapshot_gives(tmp_path: Path
                                                                         ) -> None:
    lines, expected, _ = session_lines(T0, messages=6, snapshots=4)
    # snapshots unlike the first in more than their numbers (another cwd: other tags),
    # a smaller one after a bigger one, a model changing mid-message, and a bad model
    lines += [_line(1, 5, mid="msg_B", rid="req_B"),
              _line(2, 9, mid="msg_B", rid="req_B", cwd="/home/ana/src/other"),
              _line(3, 7, mid="msg_B", rid="req_B"),
              _line(4, 30, mid="msg_B", rid="req_B"),
              _line(5, 1, mid="msg_C", rid="req_C"),
              _line(6, 2, mid="msg_C", rid="req_C", model="claude-opus-4-1-20250805"),
              _line(7, 3, mid="msg_C", rid="req_C", model=""),
              _line(8, 4, mid="msg_C", rid="req_C", stop="end_turn")]
    fast = _read(tmp_path, lines, check=True)
    slow = _read(tmp_path, lines, check=False)
    assert fast == slow
    recs = {r.tags["request_id"]: r for r in fast[0]}
    assert {e.request_id for e in expected} < set(recs)
    assert recs["req_B"].output_tokens == 30 and recs["req_B"].tags["project"] == "shop"
    assert recs["req_C"].output_tokens == 4 and recs["req_C"].model == MODEL
    assert fast[1] == [f"{len(lines) - 1}: invalid message.model: ''; expected a model name"]
