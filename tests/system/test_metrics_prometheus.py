"""A real Prometheus server (Debian's ``prometheus``; ``make prometheus`` installs it)
scrapes a running `teamcost serve` and `teamcost agent --metrics-port` on loopback; its
HTTP API then says what `report` and `budget check` say."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from teamcost.budget.check import set_team_budget
from teamcost.config import load_config
from teamcost.emulator import free_port
from teamcost.ledger import Ledger
from teamcost.models import CallRecord

from tests.system.test_agent import AgentProc, wait_for, write_home

TEAMCOST = str(Path(sys.executable).parent / "teamcost")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _query(prom: str, q: str) -> list[dict[str, Any]]:
    status, body = _get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    if status != 200:
        return []
    return json.loads(body)["data"]["result"]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TEAMCOST_HOME=str(home), HOME=str(home / "user"))
    env.pop("TEAMCOST_MEMBER", None)
    return subprocess.run([TEAMCOST, *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.emulator
def test_prometheus_scrapes_spend_and_budget_equal_to_report_and_budget_check(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip("Prometheus is not installed: make prometheus (apt-get install prometheus)")
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    config = load_config(home)
    set_team_budget(config, "40", "month", client=firestore_client)
    now = datetime.now(UTC).replace(microsecond=0)
    calls = [CallRecord(call_id=f"m{i:03d}", ts=now - timedelta(seconds=30 + i), team="core",
                        member="ana@example.com", ledger_id="lap", provider="openai",
                        model=["gpt-4o", "gpt-4o-mini", "mystery"][i % 3],
                        input_tokens=1000 + i, output_tokens=100 + i,
                        cost_nanos=0 if i % 3 == 2 else 123_456_789 * (i + 1),
                        priced=i % 3 != 2, price_source="test")
             for i in range(30)]
    with Ledger(home / "ledger.db") as led:
        led.record_many(calls)

    m_port, s_port, p_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    agent = AgentProc(home, "--metrics-port", str(m_port))
    try:
        agent.started()
        # the agent pushed everything and checked the budget since
        wait_for("the push and a budget check", lambda: (
            (snap := _snapshot(home)) and snap["backlog"]["calls"] == 0
            and snap.get("budget") and snap["budget"]["spent_nanos"] == sum(
                c.cost_nanos for c in calls)), timeout=60)
        env = dict(os.environ, TEAMCOST_HOME=str(home), HOME=str(home / "user"))
        serve_log = (tmp_path / "serve.log").open("wb")
        procs.append(subprocess.Popen([TEAMCOST, "serve", "--port", str(s_port),
                                       "--pull-every", "0"], env=env,
                                      stdout=serve_log, stderr=serve_log))
        wait_for("serve", lambda: _get(f"http://127.0.0.1:{s_port}/metrics")[0] == 200,
                 timeout=60)
        # the agent's endpoint answers loopback names only, and only /metrics
        assert _get(f"http://127.0.0.1:{m_port}/metrics", {"Host": "evil.example"})[0] == 403
        assert _get(f"http://127.0.0.1:{m_port}/other")[0] == 404

        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(textwrap.dedent(f"""\
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: serve
                static_configs: [{{targets: ["127.0.0.1:{s_port}"]}}]
              - job_name: agent
                static_configs: [{{targets: ["127.0.0.1:{m_port}"]}}]
            """))
        prom_log = (tmp_path / "prometheus.log").open("wb")
        procs.append(subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{p_port}"],
            stdout=prom_log, stderr=prom_log, stdin=subprocess.DEVNULL))
        prom = f"http://127.0.0.1:{p_port}"
        for job in ("serve", "agent"):   # two successful scrapes of each
            wait_for(f"two scrapes of {job}", lambda job=job: [
                r for r in _query(prom, f'count_over_time(up{{job="{job}"}}[5m]) >= 2')]
                and _query(prom, f'up{{job="{job}"}} == 1'), timeout=90, every=0.5)

        report = _cli(home, "report", "--since", "2000-01-01", "--format", "json",
                      "--offline")
        assert report.returncode == 0, report.stderr
        total = json.loads(report.stdout)["summary"]["cost_nanos"]
        assert total == sum(c.cost_nanos for c in calls)
        check = _cli(home, "budget", "check", "--format", "json")
        assert check.returncode in (0, 3, 4), check.stderr
        fraction = json.loads(check.stdout)["fraction"]

        for job in ("serve", "agent"):
            spend = _query(prom, f'sum(teamcost_spend_usd_total{{job="{job}"}})')
            assert round(float(spend[0]["value"][1]) * 100) == round(total / 1e7), spend
            calls_ = _query(prom, f'sum(teamcost_calls_total{{job="{job}"}})')
            assert int(float(calls_[0]["value"][1])) == len(calls)
            unpriced = _query(prom, f'sum(teamcost_unpriced_calls_total{{job="{job}"}})')
            assert int(float(unpriced[0]["value"][1])) == 10
            gauge = _query(prom, f'teamcost_budget_fraction{{job="{job}"}}')
            assert gauge and float(gauge[0]["value"][1]) == pytest.approx(fraction, abs=1e-6)
            limit = _query(prom, f'teamcost_budget_limit_usd{{job="{job}"}}')
            assert float(limit[0]["value"][1]) == 40.0
        # no member label unless asked
        assert "member" not in _query(prom, "teamcost_calls_total")[0]["metric"]
        health = _query(prom, 'teamcost_agent_last_success_age_seconds{job="agent"}')
        assert {r["metric"]["agent_job"] for r in health} == {"push", "pull", "check"}
        backlog = _query(prom, 'teamcost_agent_backlog_calls{job="agent"}')
        assert float(backlog[0]["value"][1]) == 0

        # serve restarts: its counters start where they were (computed from stored calls),
        # so Prometheus sees no counter reset
        serve = procs[0]
        serve.send_signal(signal.SIGTERM)
        serve.wait(15)
        wait_for("a failed scrape of the stopped serve",
                 lambda: _query(prom, 'up{job="serve"} == 0'), timeout=30, every=0.5)
        procs[0] = subprocess.Popen([TEAMCOST, "serve", "--port", str(s_port),
                                     "--pull-every", "0"], env=env,
                                    stdout=serve_log, stderr=serve_log)
        wait_for("serve scraped again", lambda: _query(prom, 'up{job="serve"} == 1'),
                 timeout=60, every=0.5)
        time.sleep(2.5)   # two more scrapes
        resets = _query(prom, 'resets(teamcost_spend_usd_total{job="serve"}[10m])')
        assert resets and all(float(r["value"][1]) == 0 for r in resets), resets
        spend = _query(prom, 'sum(teamcost_spend_usd_total{job="serve"})')
        assert round(float(spend[0]["value"][1]) * 100) == round(total / 1e7)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        agent.stop()
        agent.kill()


def _snapshot(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads((home / "agent-status.json").read_text())
    except (OSError, ValueError):
        return None


def test_counters_come_from_stored_calls_not_process_memory(teamcost_home: Path) -> None:
    """Two collectors (two processes' worth) over the same ledger report the same counters;
    more calls only add."""
    from prometheus_client import generate_latest

    from teamcost.reports.metrics import TeamcostCollector, registry_for

    def scrape() -> dict[str, float]:
        text = generate_latest(registry_for(TeamcostCollector(load_config()))).decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("teamcost_spend_usd_total{"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
        return out

    t0 = datetime(2026, 11, 3, 12, tzinfo=UTC)
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many([CallRecord(call_id=f"a{i}", ts=t0 + timedelta(minutes=i),
                                    team="default", member="x", ledger_id="l",
                                    provider="openai", model="gpt-4o", input_tokens=10,
                                    output_tokens=1, cost_nanos=1_000_000_000,
                                    price_source="test") for i in range(3)])
    first = scrape()
    assert first == scrape()
    key = 'teamcost_spend_usd_total{model="gpt-4o",provider="openai",team="default"}'
    assert first == {key: 3.0}
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many([CallRecord(call_id="b", ts=t0, team="default", member="x",
                                    ledger_id="l", provider="openai", model="gpt-4o",
                                    cost_nanos=500_000_000, price_source="test")])
    assert scrape() == {key: 3.5}
