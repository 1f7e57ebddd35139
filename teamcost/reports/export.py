"""Period exports for finance: one row per call plus the period's summary.

Files (deterministic names in --out): ``teamcost-<label>-calls.csv`` (every call-record
field in CALL_FIELDS order, then cost_usd; ISO-8601 UTC timestamps, tags as JSON),
``teamcost-<label>-calls.jsonl`` (one record_to_json object per line; ``teamcost
import jsonl`` reads it back losslessly) and ``teamcost-<label>-summary.json`` (the
report document of the same calls, so export and report agree to the nano-dollar).
Each file is written to a temporary name in the same directory and renamed into
place: a crash leaves the previous file or none, never half of one.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa

from teamcost.errors import InvalidValue, TeamcostError
from teamcost.ledger import us_to_ts
from teamcost.models import CALL_FIELDS, CallRecord, format_ts, record_to_json
from teamcost.money import nanos_to_usd
from teamcost.periods import Window
from teamcost.reports import billing
from teamcost.reports.aggregate import baseline_start
from teamcost.reports.frames import load_daily_costs, load_table
from teamcost.reports.render import QUOTED_START, spreadsheet_safe
from teamcost.reports.report import table_document

if TYPE_CHECKING:
    from teamcost.config import Config

FORMATS = ("csv", "jsonl", "both", "focus")   # jsonl: JSON Lines, one call a line
# after every call field: the attribution tags (also inside ``tags``) as columns of their
# own, so a spreadsheet can sum by repository, branch, ticket or pull request
ATTRIBUTION_COLUMNS = ("project", "repo", "branch", "ticket", "pr")
CSV_COLUMNS = (*CALL_FIELDS, "cost_usd", *ATTRIBUTION_COLUMNS)


@dataclass
class ExportResult:
    label: str
    calls: int
    cost_nanos: int
    unpriced_calls: int
    files: list[str] = field(default_factory=list)
    source: str = "local"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "calls": self.calls, "cost_nanos": self.cost_nanos,
                "cost_usd": nanos_to_usd(self.cost_nanos), "unpriced_calls": self.unpriced_calls,
                "files": self.files, "source": self.source, "warnings": self.warnings}


class ExportError(TeamcostError):
    """The export could not be written (nothing partial is left behind)."""


def write_atomic(path: Path, write: Callable[[IO[str]], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _csv_value(name: str, value: Any) -> Any:
    if name == "tags":
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return spreadsheet_safe(value)


def _json(rec: CallRecord | dict[str, Any]) -> dict[str, Any]:
    return record_to_json(rec) if isinstance(rec, CallRecord) else rec


def _needs_csv_value(v: Any) -> bool:
    return (v is None or isinstance(v, bool)
            or (isinstance(v, str) and v.startswith(QUOTED_START)))


def write_calls_csv(fh: IO[str], records: Sequence[CallRecord | dict[str, Any]]) -> None:
    """Records, or their record_to_json form (what ``json_rows`` makes); each column is
    turned into CSV values in one pass (``_csv_value``'s rules: a column with nothing to
    change is written as it is)."""
    writer = csv.writer(fh, lineterminator="\r\n")   # RFC 4180; see render.to_csv
    writer.writerow(CSV_COLUMNS)
    rows = [_json(rec) for rec in records]
    cols = []
    for name in CSV_COLUMNS:
        values = ([r["tags"].get(name) for r in rows] if name in ATTRIBUTION_COLUMNS
                  else [r[name] for r in rows])
        if name == "tags" or any(_needs_csv_value(v) for v in values):
            values = [_csv_value(name, v) for v in values]
        cols.append(values)
    writer.writerows(zip(*cols))


def write_calls_jsonl(fh: IO[str], records: Sequence[CallRecord | dict[str, Any]]) -> None:
    for rec in records:
        fh.write(json.dumps(_json(rec), separators=(",", ":")) + "\n")


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """``record_to_json`` of every call of an Arrow table of call fields, oldest first (then
    by call_id), made from the columns: the calls were validated when they were recorded."""
    table = table.sort_by([("ts", "ascending"), ("call_id", "ascending")])
    cols: list[list[Any]] = []
    for name in CALL_FIELDS:
        col = table.column(name)
        if name == "ts":
            cols.append([format_ts(us_to_ts(us)) for us in col.cast(pa.int64()).to_pylist()])
        elif name == "tags":
            cols.append([json.loads(t) for t in col.to_pylist()])
        else:
            cols.append(col.to_pylist())
    rows = [dict(zip(CALL_FIELDS, values)) for values in zip(*cols)]
    for row in rows:
        row["cost_usd"] = nanos_to_usd(row["cost_nanos"])
    return rows


def export_period(config: Config, window: Window, out_dir: Path, *, fmt: str = "both",
                  tz: str | None = None, source: str | None = None,
                  now: datetime | None = None, refresh: bool = True,
                  client: Any = None) -> ExportResult:
    fmt = "jsonl" if fmt == "json" else fmt   # the 0.1 name of JSON Lines
    if fmt not in FORMATS:
        raise InvalidValue("format", fmt, "csv, jsonl, both or focus")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"cannot export to {out_dir}: it is a file, not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create export directory {out_dir}: "
                          f"{exc.strerror or exc}") from None
    tz = tz or config.timezone
    now = now or datetime.now(UTC)
    warnings: list[str] = []
    if refresh and config.has_firestore and source != "local":
        # the window's calls (and, for the summary's spikes, its baseline days): the
        # whole team history only while the team's rollups are incomplete
        from teamcost.reports.window_source import refresh_window
        first = window.since if fmt == "focus" else baseline_start(window.since, tz)
        w = refresh_window(config, first, window.until, client)
        if w:
            warnings.append(w)
    if fmt == "focus":   # FOCUS 1.2 rows by day, member, model and token kind (focus.py)
        from teamcost.reports.focus import export_focus
        # seats as purchases, plan usage at BilledCost 0: the report's three numbers
        plans, plans_warning = billing.load_plans(config, online=refresh)
        if plans_warning:
            warnings.append(plans_warning)
        try:
            paths, totals, used = export_focus(config, window, out_dir, source=source,
                                               plans=plans)
        except OSError as exc:
            raise ExportError(f"cannot write the export into {out_dir}: "
                              f"{exc.strerror or exc} (no partial file was left)") from None
        return ExportResult(window.label, totals["calls"], totals["cost_nanos"],
                            totals["unpriced_calls"], [str(p) for p in paths], used, warnings)
    table, used = load_table(config, window.since, window.until, source=source)
    # the days before the period, so the summary's spikes are the report's own
    before = load_daily_costs(config, baseline_start(window.since, tz), window.since, tz,
                              source=used)
    doc = table_document(table, window, by=("member", "model", *ATTRIBUTION_COLUMNS, "day"),
                         tz=tz, now=now,
                         team=config.team, source=used, warnings=warnings, before=before)
    # metered / seats / plan usage beside each other, as the report shows them
    plans, plans_warning = billing.load_plans(config, online=refresh)
    if plans_warning:
        warnings.append(plans_warning)
    bill = billing.Billing(window.since, window.until, plans,
                           {"member": "member", "model": "model"})
    bill.add(table)
    bill.apply(doc, tz)
    records = json_rows(table)
    del table
    doc["export"] = {"label": window.label, "calls_file_columns": list(CSV_COLUMNS)}
    stem = f"teamcost-{window.label}"
    files: list[Path] = []
    try:
        if fmt in ("csv", "both"):
            p = out_dir / f"{stem}-calls.csv"
            write_atomic(p, lambda fh: write_calls_csv(fh, records))
            files.append(p)
        if fmt in ("jsonl", "both"):
            p = out_dir / f"{stem}-calls.jsonl"
            write_atomic(p, lambda fh: write_calls_jsonl(fh, records))
            files.append(p)
        p = out_dir / f"{stem}-summary.json"
        write_atomic(p, lambda fh: print(json.dumps(doc, indent=2), file=fh))
        files.append(p)
    except OSError as exc:
        raise ExportError(f"cannot write the export into {out_dir}: {exc.strerror or exc} "
                          "(no partial file was left)") from None
    s = doc["summary"]
    return ExportResult(window.label, s["calls"], s["cost_nanos"], s["unpriced_calls"],
                        [str(f) for f in files], used, warnings)
