"""Claude Code transcript shapes and the second witness: older versions' all-null stop
reasons, held messages, pre-join call ids, telemetry agreeing or not."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from teamcost.capture.logs.claude_code import import_claude_code
from teamcost.capture.witness import (
    legacy_transcript_id,
    recorded_before,
    request_call_id,
    second_witness,
)
from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.tracker import Tracker
from tests.old_shape import MODEL, session_lines

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def by_request(ledger: Ledger) -> dict[str, tuple]:
    return {c.tags["request_id"]: (c.input_tokens, c.output_tokens, c.cache_read_tokens,
                                   c.cache_write_tokens, c.estimated)
            for c in ledger.calls()}


def test_older_shape_each_message_final_at_the_next_line_of_its_conversation(
        tmp_path: Path) -> None:
    lines, expected, ends = session_lines(T0)
    root = tmp_path / "projects"
    log = root / "-home-ana-src-shop" / "old.jsonl"
    log.parent.mkdir(parents=True)
    cfg = load_config()
    with Ledger(tmp_path / "l.db") as ledger:
        for i, text in enumerate(lines):
            with log.open("a") as fh:
                fh.write(text + "\n")
            # the kernel stamps the file with the real clock; the reader judges quiet by the
            # process's (faked under make test): written now means now by the process's clock
            now = time.time()
            os.utime(log, (now, now))
            res = import_claude_code(root, cfg, ledger=ledger)
            assert res.skipped == 0, res.bad
            done = {e.request_id for e, end in zip(expected, ends) if 0 <= end <= i}
            assert set(by_request(ledger)) == done, (i, text)
        # the last message: held (counted, with why and until when) until the file is quiet
        res = import_claude_code(root, cfg, ledger=ledger)
        assert res.pending == 1
        assert res.held_until == log.stat().st_mtime + 90
        assert "1 held until" in res.summary() and "quiet" in res.summary()
        quiet = time.time() - 91
        os.utime(log, (quiet, quiet))
        res = import_claude_code(root, cfg, ledger=ledger)
        assert (res.imported, res.pending) == (1, 0)
        got = by_request(ledger)
    # every message's biggest snapshot, exact (the older shape's null is not an interrupt)
    assert got == {e.request_id: (e.input_tokens, e.output_tokens, e.cache_read_tokens,
                                  e.cache_write_tokens, False) for e in expected}


def test_calls_recorded_under_pre_join_ids_are_not_counted_again(tmp_path: Path) -> None:
    lines, expected, _ = session_lines(T0, messages=3)
    root = tmp_path / "projects"
    log = root / "-p" / "s.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join(lines) + "\n")
    old = time.time() - 3600
    os.utime(log, (old, old))
    cfg = load_config()
    with Ledger(tmp_path / "l.db") as ledger:
        tracker = Tracker(cfg, ledger)
        # an earlier teamcost recorded the first message under its old transcript id
        first = expected[0]
        tracker.record(MODEL, first.input_tokens, first.output_tokens, provider="anthropic",
                       call_id=legacy_transcript_id("msg_old00", first.request_id), ts=T0)
        res = import_claude_code(root, cfg, ledger=ledger)
        assert res.imported == 2
        ids = sorted(c.call_id for c in ledger.calls())
        assert ids == sorted([legacy_transcript_id("msg_old00", "req_old00"),
                              request_call_id("req_old01"), request_call_id("req_old02")])
        # its telemetry event (request id only) finds it too, by the suffix of the old id
        tele = tracker.build(MODEL, 1, 2, provider="anthropic", ts=T0,
                             call_id=request_call_id("req_old00"),
                             tags={"request_id": "req_old00", "source": "claude-code-otel"})
        assert recorded_before(ledger, tele)
        assert second_witness(ledger, tele) == (True, None)
        other = tele.replace(call_id=request_call_id("req_new"),
                             tags={"request_id": "req_new", "source": "claude-code-otel"})
        assert second_witness(ledger, other) == (False, None)


def test_telemetry_first_with_other_numbers_is_reported_never_summed(tmp_path: Path) -> None:
    lines, expected, _ = session_lines(T0, messages=2)
    root = tmp_path / "projects"
    log = root / "-p" / "s.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join(lines) + "\n")
    old = time.time() - 3600
    os.utime(log, (old, old))
    cfg = load_config()
    with Ledger(tmp_path / "l.db") as ledger:
        tracker = Tracker(cfg, ledger)
        e = expected[1]
        tracker.record(MODEL, e.input_tokens, e.output_tokens + 5, provider="anthropic",
                       cache_read_tokens=e.cache_read_tokens,
                       cache_write_tokens=e.cache_write_tokens, ts=T0,
                       call_id=request_call_id(e.request_id),
                       tags={"request_id": e.request_id, "source": "claude-code-otel"})
        res = import_claude_code(root, cfg, ledger=ledger)
        assert (res.imported, res.disagreed) == (1, 1)
        assert res.bad == [f"disagreement: request {e.request_id}: claude-code-otel recorded "
                           f"output {e.output_tokens + 5} vs {e.output_tokens} (claude-code); "
                           "the first kept, nothing summed"]
        got = by_request(ledger)
        assert got[e.request_id][1] == e.output_tokens + 5       # the first witness's
        assert len(got) == 2
        assert "1 telemetry disagreements" in res.summary()


def test_a_modern_transcripts_null_stop_reason_is_an_interrupted_estimate(
        tmp_path: Path) -> None:
    lines, _, _ = session_lines(T0, messages=2, snapshots=1)
    done = json.loads(lines[1])
    done["message"]["stop_reason"] = "tool_use"        # the current shape: final lines
    cut = json.loads(lines[-1])
    cut["message"]["usage"]["output_tokens"] = 1       # the stream stopped early
    root = tmp_path / "projects"
    log = root / "-p" / "s.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join([lines[0], json.dumps(done), *lines[2:-1], json.dumps(cut)])
                   + "\n")
    old = time.time() - 3600
    os.utime(log, (old, old))
    with Ledger(tmp_path / "l.db") as ledger:
        res = import_claude_code(root, load_config(), ledger=ledger)
        got = by_request(ledger)
    assert res.estimated == 1
    assert got["req_old00"][4] is False and got["req_old01"][4] is True
    assert got["req_old01"][1] == 1


def test_a_snapshot_after_quiet_is_recorded_as_a_deterministic_correction(
        tmp_path: Path) -> None:
    lines, expected, _ = session_lines(T0, messages=2, snapshots=2)
    last = json.loads(lines[-1])
    root = tmp_path / "projects"
    log = root / "-p" / "s.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join(lines) + "\n")
    quiet = time.time() - 91
    os.utime(log, (quiet, quiet))
    cfg = load_config()
    with Ledger(tmp_path / "l.db") as ledger:
        assert import_claude_code(root, cfg, ledger=ledger).imported == 2
        # the stream went on after all: a bigger snapshot of the last message
        later = dict(last, uuid="u-later", parentUuid=last["uuid"])
        later["message"] = dict(last["message"], usage=dict(last["message"]["usage"],
                                                             output_tokens=900))
        with log.open("a") as fh:
            fh.write(json.dumps(later) + "\n")
        os.utime(log, (quiet, quiet))
        res = import_claude_code(root, cfg, ledger=ledger)
        assert (res.imported, res.disagreed) == (1, 0)
        rid = expected[-1].request_id
        calls = {c.call_id: c for c in ledger.calls()}
        fix = calls[f"{request_call_id(rid)}-more-900"]
        kept = calls[request_call_id(rid)]
        assert (fix.input_tokens, fix.output_tokens, fix.cache_read_tokens,
                fix.cache_write_tokens) == (0, 900 - kept.output_tokens, 0, 0)
        assert fix.tags["corrects"] == kept.call_id and fix.ts == kept.ts
        full = Tracker(cfg, ledger).build(MODEL, kept.input_tokens, 900, provider="anthropic",
                                          cache_read_tokens=kept.cache_read_tokens,
                                          cache_write_tokens=kept.cache_write_tokens,
                                          ts=kept.ts)
        assert kept.cost_nanos + fix.cost_nanos == full.cost_nanos
        # read again from the start: nothing new
        from teamcost.capture.logs.tail import forget
        forget(ledger, [str(log.resolve())])
        again = import_claude_code(root, cfg, ledger=ledger)
        assert again.imported == 0 and len(list(ledger.calls())) == 3


def test_an_interrupted_estimate_is_completed_by_a_late_telemetry_event(tmp_path: Path
                                                                        ) -> None:
    from teamcost.capture.witness import settle
    with Ledger(tmp_path / "l.db") as ledger:
        tracker = Tracker(load_config(), ledger)
        cid = request_call_id("req_cut")
        est = tracker.record(MODEL, 10, 1, provider="anthropic", cache_read_tokens=500,
                             call_id=cid, ts=T0, estimated=True,
                             tags={"request_id": "req_cut", "source": "claude-code"})
        tele = tracker.build(MODEL, 10, 44, provider="anthropic", cache_read_tokens=500,
                             call_id=cid, ts=T0,
                             tags={"request_id": "req_cut", "source": "claude-code-otel"})
        already, differs, more = settle(ledger, tele)
        assert already and differs is None and more is not None
        assert (more.call_id, more.output_tokens, more.input_tokens, more.estimated) == (
            f"{cid}-more-44", 43, 0, True)
        assert est.cost_nanos + more.cost_nanos == tele.cost_nanos
        ledger.record(more)
        assert settle(ledger, tele)[2] is None        # the same event again: nothing more
