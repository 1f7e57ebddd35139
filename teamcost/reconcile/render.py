"""The reconcile document as CSV: one row per line of the comparison, fixed columns, money
as exact decimal dollars beside integer nano-dollars (pure; no I/O)."""

from __future__ import annotations

import csv
import io
from typing import Any

from teamcost.money import exact_usd

KINDS = ("input", "output", "cache_read", "cache_write")
CSV_COLUMNS = (
    "day", "model", "status", "billed_usd", "recorded_usd", "difference_usd",
    "difference_share", "billed_nanos", "recorded_nanos", "difference_nanos",
    *[f"{side}_{k}_tokens" for k in KINDS for side in ("provider", "recorded")],
    "provider_requests", "recorded_calls", "unpriced_calls",
)


def to_csv(doc: dict[str, Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in doc["rows"]:
        share = r["difference_share"]
        w.writerow([
            r["day"] or "", r["model"] or "", r["status"],
            exact_usd(r["billed_nanos"]), exact_usd(r["recorded_nanos"]),
            exact_usd(r["difference_nanos"]), "" if share is None else f"{share:.6f}",
            r["billed_nanos"], r["recorded_nanos"], r["difference_nanos"],
            *[r[f"{side}_tokens"][f"{k}_tokens"] for k in KINDS
              for side in ("provider", "recorded")],
            "" if r["provider_requests"] is None else r["provider_requests"],
            r["recorded_calls"], r["unpriced_calls"],
        ])
    return out.getvalue()
