"""Prometheus metrics: the pure families, and the agent's endpoint's access rules."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from teamcost.agent.metrics_http import MetricsServer, check_exposure
from teamcost.errors import InvalidValue
from teamcost.reports.metrics import Cached, exposition, metric_families

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ROWS = [{"team": "core", "provider": "openai", "model": "gpt-4o", "member": "ana",
         "cost_nanos": 1_500_000_001, "calls": 3, "input_tokens": 10, "output_tokens": 20,
         "cache_read_tokens": 30, "cache_write_tokens": 40, "unpriced_calls": 0,
         "failed_calls": 1}]
BUDGET = {"period": "month", "limit_nanos": 40_000_000_000, "spent_nanos": 10_000_000_000,
          "fraction": 0.25}
AGENT = {"written_at": "2026-11-25T09:59:30Z", "backlog": {"calls": 4, "cost_nanos": 2 * 10**8},
         "jobs": {"push": {"at": "2026-11-25T09:59:58Z", "ok": True,
                           "ok_at": "2026-11-25T09:59:58Z",
                           "result": {"conflicts": [{"call_id": "c1", "fields": ["cost"]}]}},
                  "pull": {"at": "2026-11-25T09:59:00Z", "ok": False,
                           "ok_at": "2026-11-25T09:50:00Z"},
                  "check": {"at": None, "ok": None}}}


def _text(families: list, ) -> str:
    class C(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            yield from families
    reg = CollectorRegistry(auto_describe=False)
    reg.register(C())
    return generate_latest(reg).decode()


def test_families_carry_the_sums_budget_and_health() -> None:
    text = _text(metric_families(ROWS, BUDGET, AGENT, team="core", now=NOW))
    lines = set(text.splitlines())
    assert 'teamcost_spend_usd_total{model="gpt-4o",provider="openai",team="core"} ' \
           '1.500000001' in lines
    assert 'teamcost_calls_total{model="gpt-4o",provider="openai",team="core"} 3.0' in lines
    assert ('teamcost_tokens_total{kind="cache_write",model="gpt-4o",provider="openai",'
            'team="core"} 40.0') in lines
    assert 'teamcost_budget_fraction{period="month",team="core"} 0.25' in lines
    assert 'teamcost_budget_limit_usd{period="month",team="core"} 40.0' in lines
    assert 'teamcost_agent_last_success_age_seconds{agent_job="push",team="core"} 2.0' in lines
    assert 'teamcost_agent_last_success_age_seconds{agent_job="pull",team="core"} 600.0' in lines
    assert 'teamcost_agent_job_ok{agent_job="pull",team="core"} 0.0' in lines
    assert 'teamcost_agent_backlog_calls{team="core"} 4.0' in lines
    assert 'teamcost_agent_held_messages{team="core"} 1.0' in lines
    assert "member" not in text


def test_member_label_only_when_asked_and_nothing_without_data() -> None:
    text = _text(metric_families(ROWS, None, None, team="core", member_label=True, now=NOW))
    assert 'member="ana"' in text and "budget" not in text and "agent_" not in text


def test_cached_keeps_the_last_value_when_a_read_fails() -> None:
    values = iter([1, RuntimeError("offline")])

    def read() -> int:
        v = next(values)
        if isinstance(v, Exception):
            raise v
        return v
    c = Cached(read, ttl=0)
    assert c() == 1 and c() == 1


def _get(url: str, **headers: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_agent_endpoint_follows_the_dashboard_rules() -> None:
    with pytest.raises(InvalidValue, match="--metrics-host"):
        check_exposure("0.0.0.0", None)
    with pytest.raises(InvalidValue, match="--metrics-token"):
        check_exposure("127.0.0.1", "short")

    def render(accept: str | None) -> tuple[bytes, str]:
        return exposition(CollectorRegistry(), accept)
    open_ = MetricsServer("127.0.0.1", 0, render).start()
    try:
        base = f"http://127.0.0.1:{open_.port}"
        assert _get(f"{base}/metrics") == 200
        assert _get(f"{base}/metrics", Host="attacker.example") == 403
        assert _get(f"{base}/nope") == 404
    finally:
        open_.stop()
    token = "t" * 20
    guarded = MetricsServer("127.0.0.1", 0, render, token).start()
    try:
        base = f"http://127.0.0.1:{guarded.port}"
        assert _get(f"{base}/metrics") == 401
        assert _get(f"{base}/metrics", Authorization="Bearer wrong-token-xxxxxxx") == 401
        assert _get(f"{base}/metrics", Authorization=f"Bearer {token}") == 200
    finally:
        guarded.stop()


def test_serve_metrics_sit_behind_the_dashboard_guard(teamcost_home) -> None:
    from starlette.testclient import TestClient

    from teamcost.config import load_config
    from teamcost.ledger import Ledger
    from teamcost.models import CallRecord
    from teamcost.web.app import create_app

    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many([CallRecord(call_id="a", ts=NOW, team="default", member="x",
                                    ledger_id="l", provider="openai", model="gpt-4o",
                                    cost_nanos=2_500_000_000, price_source="test")])
    token = "s" * 24
    app = create_app(load_config(), token=token, clock=lambda: NOW)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/metrics").status_code == 401
        r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert ('teamcost_spend_usd_total{model="gpt-4o",provider="openai",team="default"} 2.5'
                in r.text.splitlines())
        om = client.get("/metrics", headers={"Authorization": f"Bearer {token}",
                                             "Accept": "application/openmetrics-text"})
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert om.text.rstrip().endswith("# EOF")
    with TestClient(create_app(load_config(), clock=lambda: NOW),
                    base_url="http://attacker.example") as client:
        assert client.get("/metrics").status_code == 403
