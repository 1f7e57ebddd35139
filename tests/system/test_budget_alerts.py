"""Alerts against the real emulator and a real local HTTP server: once per team."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from teamcost.budget.alerts import ALERTS
from teamcost.budget.check import check, set_team_budget
from teamcost.config import load_config

from teamcost.sync.service import run_push
from teamcost.tracker import Tracker


class Hook:
    """A webhook receiver: records every POST body; can fail the first N with a 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict] = []
        self.attempts = 0
        self.fail_first = fail_first
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                if hook.attempts <= hook.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                hook.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/SECRET-PART"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def write_home(home: Path, project: str, member: str, hook_url: str, key: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(textwrap.dedent(f"""\
        team = "core"
        member = "{member}"
        project = "{project}"
        [budget]
        {key} = "{hook_url}"
        """))
    return home


def spend(firestore_client, home: Path, n_usd_tenths: int) -> None:
    """Record and push n x $0.10 from ``home`` (gpt-4o: 40,000 input tokens = $0.10)."""
    cfg = load_config(home)
    tracker = Tracker(cfg)
    for _ in range(n_usd_tenths):
        tracker.record("gpt-4o", 40000, 0)
    tracker.close()
    run_push(cfg, client=firestore_client)


RACER = textwrap.dedent("""\
    import os, sys, time, json
    from teamcost.config import load_config
    from teamcost.budget.check import _client, send_alerts, status_for
    from teamcost.budget.store import get_budget
    cfg = load_config()
    client = _client(cfg, None)
    status = status_for(cfg, client, get_budget(client, cfg.team))
    go = sys.argv[1]
    while not os.path.exists(go):      # everyone computed the crossing; now race
        time.sleep(0.001)
    st = send_alerts(cfg, client, status)
    print(json.dumps(st.alerts))
""")


@pytest.mark.emulator
def test_eight_processes_one_alert_one_delivery(firestore_emulator, firestore_client,
                                                hook: Hook, tmp_path: Path) -> None:
    project = firestore_emulator.project
    homes = [write_home(tmp_path / f"m{i}", project, f"m{i}@example.com", hook.url,
                        "webhook_url") for i in range(8)]
    set_team_budget(load_config(homes[0]), "1", "month", "0.5", client=firestore_client)
    spend(firestore_client, homes[0], 6)                        # $0.60 of $1: past 50%
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(go)],
                              env={**os.environ, "TEAMCOST_HOME": str(h)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for h in homes]
    time.sleep(3)          # let all eight import, connect and compute the status
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    sent = [json.loads(o[0]) for o in outs]
    assert sum(len(s) for s in sent) == 1                      # one creator
    docs = list(firestore_client.collection(ALERTS).stream())
    key = time.strftime("%Y-%m", time.gmtime())
    assert [d.id for d in docs] == [f"core_{key}_50"]
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert (body["event"], body["threshold"], body["team"]) == ("teamcost.budget", "50", "core")
    assert (body["spent_nanos"], body["limit_nanos"]) == (600_000_000, 1_000_000_000)
    # a later check sends nothing new
    check(load_config(homes[3]), client=firestore_client)
    assert len(hook.bodies) == 1


@pytest.mark.emulator
def test_failed_delivery_is_retried_at_the_next_check_and_never_fatal(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    hook = Hook(fail_first=1)
    try:
        home = write_home(tmp_path / "a", firestore_emulator.project, "a@example.com",
                          hook.url, "slack_webhook_url")
        cfg = load_config(home)
        set_team_budget(cfg, "1", "month", "0.5", client=firestore_client)
        spend(firestore_client, home, 6)
        res = subprocess.run([sys.executable, "-m", "teamcost.cli", "budget", "check"],
                             env={**os.environ, "TEAMCOST_HOME": str(home)},
                             capture_output=True, text=True)
        assert res.returncode == 3, res.stderr        # the failure did not change the answer
        assert "crossed 50% of its month budget" in res.stderr
        assert "not delivered (retried at the next check)" in res.stderr
        assert "SECRET-PART" not in res.stderr        # webhook secrets are not logged
        assert (hook.attempts, hook.bodies) == (1, [])
        check(cfg, client=firestore_client)           # retried: delivered now
        assert hook.attempts == 2 and len(hook.bodies) == 1
        assert hook.bodies[0]["text"].startswith("teamcost: team core crossed 50% of its "
                                                 "month budget")
        check(cfg, client=firestore_client)           # and only once
        assert hook.attempts == 2
        # crossing the limit later: one more alert, the 'limit' one
        spend(firestore_client, home, 4)
        assert run_check(home) == 4
        assert hook.attempts == 3 and "exhausted" in hook.bodies[-1]["text"]
    finally:
        hook.close()


def run_check(home: Path) -> int:
    return subprocess.run([sys.executable, "-m", "teamcost.cli", "budget", "check"],
                          env={**os.environ, "TEAMCOST_HOME": str(home)},
                          capture_output=True).returncode
