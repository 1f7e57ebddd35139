"""The three numbers in the report's table: a ``pays`` line and, in breakdowns, metered /
seats / plan-usage columns — shown only when the team has seats or plan usage, so a team
that pays per call sees the report it always did."""

from __future__ import annotations

from typing import Any

from teamcost.money import format_usd


def shown(doc: dict[str, Any]) -> bool:
    s = doc["summary"]
    return bool(s.get("seats_nanos") or s.get("plan_usage_nanos")
                or s.get("plans") == "unknown")


def pays_row(doc: dict[str, Any]) -> tuple[str, str] | None:
    """("pays", "metered $X · seats $Y · plan usage $Z at list price (not spend)")."""
    if not shown(doc):
        return None
    s = doc["summary"]
    rules = s.get("billing_rules") or {}
    counted = ", ".join(f"{n:,} by {k}" for k, n in rules.items() if n)
    text = (f"metered {format_usd(s['metered_nanos'])} · seats {format_usd(s['seats_nanos'])}"
            f" · plan usage {format_usd(s['plan_usage_nanos'])} at list price (not spend)"
            + (f"; calls classified {counted}" if counted else ""))
    if s.get("plans") == "unknown":
        text += "; the team's plans are unknown: untagged calls counted as metered"
    return ("pays", text)


def columns(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(header, row key) of the billing columns a breakdown table adds."""
    if not shown(doc):
        return []
    return [("metered", "metered_nanos"), ("seats", "seats_nanos"),
            ("plan use", "plan_usage_nanos")]
