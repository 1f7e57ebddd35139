"""An older-shape transcript (every line ``stop_reason: null``) appended live while the
agent runs: each message's call reaches Firestore soon after the line that follows it, the
session's last within 120 s of the file going quiet, and the sums are exact."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from teamcost.capture.witness import request_call_id
from teamcost.sync.mapping import COLLECTION
from tests.old_shape import session_lines
from tests.system.test_agent import agents, wait_for, write_home  # noqa: F401

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_older_shape_appended_live_reaches_firestore_in_time(
        tmp_path: Path, firestore_emulator, firestore_client, agents) -> None:  # noqa: F811
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    projects = tmp_path / "claude" / "projects"
    log = projects / "-home-ana-src-shop" / "old.jsonl"
    log.parent.mkdir(parents=True)
    lines, expected, ends = session_lines(T0, messages=5)
    docs = firestore_client.collection(COLLECTION)

    def in_firestore(rid: str) -> bool:
        return docs.document(request_call_id(rid)).get().exists

    a = agents(home, "--claude-dir", str(projects), "--push-every", "1s")
    a.started()
    lags = []
    for i, text in enumerate(lines):
        with log.open("a") as fh:
            fh.write(text + "\n")
        final = [e for e, end in zip(expected, ends) if end == i]
        if final:
            t = time.monotonic()
            wait_for(f"{final[0].request_id} in Firestore", lambda: in_firestore(
                final[0].request_id), timeout=15)
            lags.append(time.monotonic() - t)
        else:
            time.sleep(0.3)
            assert not any(in_firestore(e.request_id) for e, end in zip(expected, ends)
                           if end > i or end == -1)      # nothing before its end
    quiet = time.monotonic()
    last = expected[-1].request_id
    wait_for("the last message after quiet", lambda: in_firestore(last), timeout=125)
    assert time.monotonic() - quiet < 120
    assert len(lags) == len(expected) - 1 and max(lags) < 15
    got = [d.to_dict() for d in docs.stream()]
    assert len(got) == len(expected)
    for kind, attr in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                       ("cache_read_tokens", "cache_read_tokens"),
                       ("cache_write_tokens", "cache_write_tokens")):
        assert sum(d[kind] for d in got) == sum(getattr(e, attr) for e in expected)
    assert not any(d.get("estimated") for d in got)
    assert a.stop() == 0, a.text()
