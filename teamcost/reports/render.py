"""CSV views of a report document (the table view is drawn by the CLI with rich).

One long-format table: a ``dimension`` column names the breakdown (member, model,
day, ...), ``key`` its value; the columns and their order are fixed, so a
spreadsheet or a script can rely on them. Each dimension's cost_nanos sums exactly
to the report's total.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from teamcost.money import exact_usd

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# injection"): a label such as =HYPERLINK(...) in a teammate's call must open as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# a cell that starts with the quote itself gets one too, so the rule can be undone: strip
# one leading ' from a cell that has one (``'=x`` was ``=x``; ``''=x`` was ``'=x``)
QUOTED_START = (*FORMULA_START, "'")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell starting like a formula, or with ``'``, gets a leading ``'``
    (spreadsheets show the text and hide the quote); numbers and every other cell pass
    unchanged. JSON never needs it."""
    if isinstance(value, str) and value.startswith(QUOTED_START):
        return "'" + value
    return value

CSV_COLUMNS = ("dimension", "key", "cost_usd", "cost_nanos", "calls", "input_tokens",
               "output_tokens", "cache_read_tokens", "cache_write_tokens", "unpriced_calls",
               "failed_calls")


def csv_rows(doc: Mapping[str, Any], by: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for dim in by:
        source = doc["breakdowns"][dim] if dim in doc["breakdowns"] else doc["trend"][dim]
        for r in source:
            rows.append({"dimension": dim, "key": spreadsheet_safe(r[dim]),
                         "cost_usd": exact_usd(r["cost_nanos"]),
                         **{c: r[c] for c in CSV_COLUMNS[3:]}})
    return rows


def to_csv(doc: Mapping[str, Any], by: Sequence[str]) -> str:
    out = io.StringIO()
    # CRLF rows (RFC 4180): the csv module quotes a cell holding a carriage return only
    # when the line terminator has one, and a label may hold any character
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(csv_rows(doc, by))
    return out.getvalue()
