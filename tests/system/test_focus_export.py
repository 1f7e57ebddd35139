"""`teamcost export --format focus`: FOCUS 1.2 files the FinOps Foundation's validator
accepts, whose money adds up to the report to the nano-dollar.

Runs the real focus-validator (tests/focus_support.py; ``make focus-validator``) on the
export of the demo month and of an edge-case week (unpriced model, failed calls, a
long-context day, server-tool uses, a provider-reported cost, a local model, an empty day,
hostile labels), and shows it rejects a broken row.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from teamcost.demo.generate import generate_calls
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.pricing import Pricer, extras_tags
from tests.cli_support import run
from tests.focus_support import require_validator, validate

NOW = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
WEEK = "2026-W47"                       # Mon 2026-11-16 .. Sun 2026-11-22
MON = datetime(2026, 11, 16, tzinfo=UTC)
EMPTY_DAY = "2026-11-18"


def _nanos(text: str) -> int:
    return int(Decimal(text) * 1_000_000_000)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _export(out: Path, *period: str) -> tuple[Path, Path]:
    result = run("export", *period, "--format", "focus", "--tz", "UTC", "--out", str(out),
                 "--output", "json")
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    csv_path = next(Path(f) for f in files if f.endswith("-focus.csv"))
    return csv_path, next(Path(f) for f in files if f.endswith("-focus.parquet"))


def _report_days(since: str, until: str) -> dict[str, int]:
    result = run("report", "--since", since, "--until", until, "--tz", "UTC", "--format",
                 "json", "--offline")
    assert result.exit_code == 0, result.output
    return {d["day"]: d["cost_nanos"] for d in json.loads(result.stdout)["trend"]["day"]}


def _by_day(rows: list[dict[str, str]], column: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in rows:
        out[r["ChargePeriodStart"][:10]] += _nanos(r[column])
    return dict(out)


def edge_calls() -> list[CallRecord]:
    pricer = Pricer(warn_unpriced=False)
    calls: list[CallRecord] = []

    def add(ts: datetime, model: str, provider: str = "anthropic", *, inp: int = 0,
            out: int = 0, cr: int = 0, cw: int = 0, web: int = 0, member: str = "ana@x.dev",
            agent: str | None = "coder", success: bool = True, cost: int | None = None,
            source: str | None = None, priced: bool = True,
            tags: dict[str, str] | None = None) -> None:
        if cost is None:
            p = pricer.price(provider, model, inp, out, cr, cw, web_search_requests=web, ts=ts)
            cost, priced, source = p.cost_nanos, p.priced, p.source
        calls.append(CallRecord(
            call_id=f"edge-{len(calls):03d}", ts=ts, team="default", member=member,
            ledger_id="lap", provider=provider, model=model, agent=agent,
            input_tokens=inp, output_tokens=out, cache_read_tokens=cr, cache_write_tokens=cw,
            cost_nanos=cost, priced=priced, price_source=source or "reported",
            success=success, error=None if success else "upstream timeout",
            tags={**extras_tags(0, web), **(tags or {})}))

    attribution = {"project": "checkout", "repo": "git@x:shop.git", "branch": "feat/pay",
                   "ticket": "PAY-12", "pr": "481"}
    for i in range(5):   # Monday: cached calls with web searches, attributed
        add(MON + timedelta(hours=9, minutes=i), "claude-sonnet-4-5", inp=1200 + i,
            out=800 + 7 * i, cr=20_000 + i, cw=3_001 * i, web=i % 3, tags=attribution)
    for i in range(3):   # a model nobody can price: usage, no cost
        add(MON + timedelta(hours=10, minutes=i), "mystery-1", "acme", inp=500 * (i + 1),
            out=50, cost=0, priced=False, source="unpriced")
    tue = MON + timedelta(days=1)
    for i in range(4):   # the long-context day: two calls above 200k input tokens
        add(tue + timedelta(hours=11, minutes=i), "claude-sonnet-4-5",
            inp=[150_000, 250_000, 310_000, 1_000][i], out=4_000 + i, cr=[0, 0, 9_000, 0][i])
    thu = MON + timedelta(days=3)   # Wednesday is empty
    for i in range(3):   # failed calls: no usage at all, and one billed partly
        add(thu + timedelta(hours=14, minutes=i), "gpt-4o", "openai", success=False,
            agent="reviewer")
    add(thu + timedelta(hours=15), "gpt-4o", "openai", inp=900, out=10, success=False,
        agent="fixer")
    fri = MON + timedelta(days=4)
    add(fri + timedelta(hours=9), "gpt-4o", "openai", inp=1000, out=100, cost=1_234_567,
        source="reported")   # a provider-reported total: split by quantity
    add(fri + timedelta(hours=9, minutes=5), "llama3", "ollama", inp=4000, out=300,
        agent=None)          # a local model: priced, $0
    sat = MON + timedelta(days=5)
    add(sat + timedelta(hours=12), "claude-haiku-4-5", inp=300, out=30,
        member='=HYPERLINK("x"),\n"boss"', agent="plan\u00e9r \u2603",
        tags={"project": "a,b\"c"})
    return calls


@pytest.fixture
def validator() -> None:
    require_validator()


def test_demo_month_export_passes_the_validator(teamcost_home: Path, tmp_path: Path,
                                                 validator: None) -> None:
    data = generate_calls(NOW)
    calls = [c for cs in data.calls_by_machine.values() for c in cs]
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(calls)
    csv_path, parquet_path = _export(tmp_path / "out", "--month", "2026-11")

    rows = _rows(csv_path)
    expected: dict[str, int] = defaultdict(int)
    for c in calls:
        expected[c.ts.date().isoformat()] += c.cost_nanos
    for column in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        assert _by_day(rows, column) == {d: n for d, n in expected.items() if n}
    assert _by_day(rows, "BilledCost") == {
        d: n for d, n in _report_days("2026-11-01", "2026-11-30").items() if n}
    assert sum(int(r["x_Calls"]) for r in rows) == len(calls)

    for path in (csv_path, parquet_path):
        result = validate(path)
        assert result.failed == [], result.output[-4000:]
        assert result.passed > 200
        # the only rule set aside is the validator's either-or InvoiceId pair
        assert set(result.excused) <= {"InvoiceId-C-004-C", "InvoiceId-C-005-C"}


def test_edge_week_export_passes_and_adds_up(teamcost_home: Path, tmp_path: Path,
                                             validator: None) -> None:
    calls = edge_calls()
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(calls)
    csv_path, parquet_path = _export(tmp_path / "out", "--week", WEEK)
    rows = _rows(csv_path)

    # every day's money is the report's day, to the nano-dollar; the empty day has no rows
    report = _report_days("2026-11-16", "2026-11-22")
    assert report[EMPTY_DAY] == 0
    assert EMPTY_DAY not in {r["ChargePeriodStart"][:10] for r in rows}
    for column in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost",
                   "PricingCurrencyEffectiveCost"):
        got = _by_day(rows, column)
        assert {d: got.get(d, 0) for d in report} == report
    # and each group's kinds add up to its calls' recorded total
    groups: dict[tuple[str, ...], int] = defaultdict(int)
    for r in rows:
        groups[(r["ChargePeriodStart"], r["x_Member"], r["ProviderName"], r["x_Model"],
                r["x_ContextTier"], r["x_Unpriced"])] += int(r["x_CostNanos"] or 0)
    want: dict[tuple[str, ...], int] = defaultdict(int)
    tiers = {c.call_id: (200000 if c.input_tokens + c.cache_read_tokens > 200_000 else 0)
             for c in calls}
    for c in calls:
        member = ("'" + c.member) if c.member.startswith("=") else c.member
        want[(c.ts.strftime("%Y-%m-%dT00:00:00Z"), member, c.provider, c.model,
              str(tiers[c.call_id]), "false" if c.priced else "true")] += c.cost_nanos
    assert dict(groups) == dict(want)

    unpriced = [r for r in rows if r["x_Unpriced"] == "true"]
    assert {r["x_TokenKind"] for r in unpriced} == {"input", "output"}
    assert all(r["x_CostNanos"] == "" and Decimal(r["BilledCost"]) == 0 for r in unpriced)
    assert "unpriced" in unpriced[0]["ChargeDescription"]
    assert sum(Decimal(r["ConsumedQuantity"]) for r in unpriced
               if r["x_TokenKind"] == "input") == 500 + 1000 + 1500

    long_ctx = [r for r in rows if r["x_ContextTier"] == "200000"]
    assert long_ctx and all(r["SkuPriceId"].endswith(">200000") for r in long_ctx)
    web = [r for r in rows if r["x_TokenKind"] == "server_tool"]
    assert sum(Decimal(r["ConsumedQuantity"]) for r in web) == 0 + 1 + 2 + 0 + 1
    assert all(r["PricingUnit"] == "1000 Requests" for r in web)
    failed = [r for r in rows if r["x_Model"] == "gpt-4o" and int(r["x_FailedCalls"])]
    assert sum(int(r["x_FailedCalls"]) for r in failed) == 4
    thursday = [r for r in rows if r["ChargePeriodStart"].startswith("2026-11-19")]
    request = next(r for r in thursday if r["x_TokenKind"] == "request")   # no usage at all
    assert (request["ConsumedQuantity"], request["ConsumedUnit"]) == ("3.0", "Requests")
    assert {r["x_TokenKind"] for r in thursday if r["x_Agent"] == "fixer"} == {"input", "output"}
    tags = json.loads(next(r["Tags"] for r in rows if "checkout" in r["Tags"]))
    assert tags == {"member": "ana@x.dev", "agent": "coder", "project": "checkout",
                    "repo": "git@x:shop.git", "branch": "feat/pay", "ticket": "PAY-12",
                    "pr": "481"}
    hostile = next(r for r in rows if r["x_Model"] == "claude-haiku-4-5")
    assert json.loads(hostile["Tags"])["member"] == '=HYPERLINK("x"),\n"boss"'
    assert hostile["x_Member"].startswith("'=")   # spreadsheet-safe, as every teamcost CSV

    table = pq.read_table(parquet_path)
    assert table.num_rows == len(rows)
    assert sum(int(v * 1_000_000_000) for v in table.column("BilledCost").to_pylist()) == \
        sum(report.values())

    for path in (csv_path, parquet_path):
        result = validate(path)
        assert result.failed == [], result.output[-4000:]


def test_the_validator_rejects_a_broken_row(teamcost_home: Path, tmp_path: Path,
                                            validator: None) -> None:
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(edge_calls())
    csv_path, _ = _export(tmp_path / "out", "--week", WEEK)
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    rows[2]["BilledCost"] = ""           # FOCUS: BilledCost MUST NOT be null
    rows[3]["ChargeCategory"] = "Credit"    # ConsumedQuantity MUST be null then
    broken = tmp_path / "broken.csv"
    with broken.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    result = validate(broken)
    assert "BilledCost-C-003-M" in result.failed
    assert "ConsumedQuantity-C-004-C" in result.failed, result.failed
    assert result.fail_count >= len(result.failed) >= 2
