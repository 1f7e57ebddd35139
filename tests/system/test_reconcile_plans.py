"""`teamcost reconcile` leaves subscription usage out: a Claude Max seat's Claude Code calls
are not on the Anthropic API bill, so they are neither unrecorded nor overcounted spend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from teamcost.config import load_config, write_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.plans.model import Cover, Plan, Plans, Seat
from teamcost.plans.store import put_plans
from teamcost.reconcile.service import reconcile
from tests.admin_api_server import AdminAPIServer, serve

pytestmark = pytest.mark.emulator
KEY = "sk-ant-admin01-T3stOnlyN0tAR3alK3y-Pl4n"
SONNET = "claude-sonnet-4-5-20250929"
DAY = date(2026, 10, 14)
NOW = datetime(2026, 10, 20, tzinfo=UTC)


@pytest.fixture
def api() -> Iterator[AdminAPIServer]:
    srv = AdminAPIServer(key=KEY)
    httpd, thread = serve(srv)
    # the API bill: one key's $0.50 of Sonnet output on the 14th
    srv.anthropic_usage[DAY] = [{
        "model": SONNET, "uncached_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "cache_read_input_tokens": 0, "output_tokens": 33_334,
        "server_tool_use": {"web_search_requests": 0}, "api_key_id": "apikey_cy",
        "workspace_id": "wrkspc_core", "service_tier": "standard", "context_window": "0-200k"}]
    srv.anthropic_cost[DAY] = [{
        "amount": "50", "currency": "USD", "cost_type": "tokens",
        "description": f"{SONNET} usage - output_tokens", "model": SONNET,
        "token_type": "output_tokens", "service_tier": "standard",
        "context_window": "0-200k", "inference_geo": None, "workspace_id": "wrkspc_core"}]
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_plan_usage_is_left_out_of_the_comparison(api, firestore_emulator, firestore_client,
                                                  teamcost_home: Path) -> None:
    write_config(teamcost_home, {"team": "acme", "member": "cy@acme.dev",
                                 "project": firestore_emulator.project})
    config = load_config()
    ts = datetime(2026, 10, 14, 12, tzinfo=UTC)
    with Ledger.for_config(config) as led:
        led.record_many([
            CallRecord(call_id="cy-1", ts=ts, team="acme", member="cy@acme.dev",
                       ledger_id=led.ledger_id, provider="anthropic", model=SONNET,
                       output_tokens=33_334, cost_nanos=500_000_000),
            CallRecord(call_id="ann-1", ts=ts, team="acme", member="ann@acme.dev",
                       ledger_id=led.ledger_id, provider="anthropic", model=SONNET,
                       output_tokens=400_000, cost_nanos=6_000_000_000, agent="claude-code",
                       tags={"source": "claude-code"})])
    env = {"ANTHROPIC_ADMIN_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.anthropic_root}
    # without plans ann's $6 of subscription usage looks overcounted
    before = reconcile(config, "anthropic", "2026-10-14", "2026-10-14", env=env, now=NOW)
    assert before.exit_code == 4
    put_plans(firestore_client, Plans("acme", {"Max": Plan("Max", 200_000_000_000, (
        Cover(source="claude-code", provider="anthropic"),))},
        (Seat("ann@acme.dev", "Max", datetime(2026, 10, 1, tzinfo=UTC)),)))
    after = reconcile(config, "anthropic", "2026-10-14", "2026-10-14", env=env, now=NOW)
    assert after.exit_code == 0, after.to_dict()
    assert any("1 recorded anthropic calls ($6.00 at list price) are covered by seats" in w
               for w in after.warnings)
