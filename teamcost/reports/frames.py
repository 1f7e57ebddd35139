"""Calls of a time window as Arrow tables and pandas DataFrames, read from the
time-partitioned Parquet mirrors (teamcost.reports.columnar): whole columns, and only the
months the window overlaps.

Sources:
- ``team``: the team cache that ``sync pull`` fills, plus this machine's ledger calls the
  cache does not hold yet (not pushed, or pushed but not pulled back): they are the team's
  too, and a call is never counted twice (a local call whose call_id the cache holds is
  the cache's).
- ``local``: this machine's ledger alone: the embedded default when no Firestore project
  is configured.

Dtypes: ``ts`` tz-aware UTC (microseconds), money and tokens int64 (nano-dollars stay
exact integers through every sum), labels categorical (a million calls have a few
dozen members/models; categories keep memory and group-bys small).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger, record_to_row, us_to_ts
from teamcost.models import CALL_FIELDS, CallRecord
from teamcost.reports import columnar
from teamcost.reports.tagcolumns import TAG_PREFIX, with_tags
from teamcost.sync.cache import known_ids

if TYPE_CHECKING:
    import pandas as pd

    from teamcost.config import Config

SOURCES = ("team", "local")
INT_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
               "cost_nanos")
LABEL_COLUMNS = ("member", "provider", "model", "agent", "session_id", "task_id", "ledger_id")
BOOL_COLUMNS = ("priced", "success")
COLUMNS = ("call_id", "ts", *LABEL_COLUMNS, *INT_COLUMNS, *BOOL_COLUMNS)


@dataclass(frozen=True)
class Filters:
    member: str | None = None
    model: str | None = None
    agent: str | None = None
    # (tag, value) pairs a call must carry, e.g. (("repo", "github.com/acme/shop"),)
    tags: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, str | None]:
        """The column filters (what the mirrors and SQL readers filter on)."""
        return {"member": self.member, "model": self.model, "agent": self.agent}

    def document(self) -> dict[str, str | None]:
        """Every filter, as the report document shows them (repo, branch and ticket
        always; another tag as ``tag:NAME``)."""
        shown: dict[str, str | None] = {**self.to_dict(), "repo": None, "branch": None,
                                        "ticket": None}
        for k, v in self.tags:
            shown[k if k in ("project", "repo", "branch", "ticket", "pr") else f"tag:{k}"] = v
        return shown

    def sql(self) -> tuple[str, list[str]]:
        """`` AND name = ?`` for each filter set (``json_extract`` of the tags column for
        a tag), and its arguments (for SQL readers of the ledger and the team cache)."""
        clauses, args = [], []
        for name, value in self.to_dict().items():
            if value is not None:
                clauses.append(f" AND {name} = ?")
                args.append(value)
        for key, value in self.tags:
            clauses.append(" AND json_extract(tags, ?) = ?")
            args += [f'$."{key}"', value]
        return "".join(clauses), args


def _source(config: Config, source: str | None) -> str:
    if source is None:
        source = "team" if config.has_firestore and config.cache_file.exists() else "local"
    if source not in SOURCES:
        raise InvalidValue("source", source, "team or local")
    return source


def scan_calls(config: Config, since: datetime, until: datetime, *,
               source: str | None = None, filters: Filters = Filters(),
               columns: Sequence[str] = CALL_FIELDS,
               chunk_rows: int = columnar.SCAN_ROWS) -> tuple[Iterator[pa.Table], str]:
    """The window's calls (since <= ts < until) as Arrow tables of ``columns`` of about
    ``chunk_rows`` calls each, in no particular order, and the source used. Consume one
    scan before starting another (each holds its mirror's lock while it runs)."""
    source = _source(config, source)
    cols = list(columns)
    if filters.tags or any(c.startswith(TAG_PREFIX) for c in cols):
        # tag columns and filters come out of the tags column (reports.tags.with_tags)
        read = list(dict.fromkeys([c for c in cols if not c.startswith(TAG_PREFIX)] + ["tags"]))
        inner = (_scan_ledger(config, since, until, None, filters, read, chunk_rows)
                 if source == "local" else
                 _scan_team(config, since, until, filters, read, chunk_rows))
        return (with_tags(t, cols, filters.tags) for t in inner), source
    if source == "local":
        return _scan_ledger(config, since, until, None, filters, cols, chunk_rows), source
    return _scan_team(config, since, until, filters, cols, chunk_rows), source


def _scan_ledger(config: Config, since: datetime, until: datetime, team: str | None,
                 filters: Filters, cols: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    if not config.ledger_file.exists():
        return
    with Ledger.for_reading(config) as ledger:
        yield from columnar.scan_ledger(ledger.conn, ledger.ledger_id, config.ledger_file,
                                        since, until, team, filters.to_dict(), cols,
                                        chunk_rows)


def _scan_team(config: Config, since: datetime, until: datetime, filters: Filters,
               cols: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    from teamcost.sync.cache import TeamCache
    with TeamCache.for_reading(config) as cache:
        mine = [t for t in _scan_ledger(config, since, until, config.team, filters,
                                        list(dict.fromkeys(["call_id", *cols])), 1 << 62)]
        local = pa.concat_tables(mine) if mine else None
        if local is not None and local.num_rows:
            known = known_ids(cache.conn, local.column("call_id").to_pylist())
            if known:
                local = local.filter(pc.invert(pc.is_in(
                    local.column("call_id"), value_set=pa.array(sorted(known), pa.string()))))
        yield from columnar.scan(cache, config.team, since, until, filters.to_dict(), cols,
                                 chunk_rows)
    if local is not None and local.num_rows:
        yield local.select(cols)


def load_table(config: Config, since: datetime, until: datetime, *, source: str | None = None,
               filters: Filters = Filters(),
               columns: Sequence[str] = CALL_FIELDS) -> tuple[pa.Table, str]:
    """The window's calls as one Arrow table of ``columns`` (see scan_calls)."""
    chunks, used = scan_calls(config, since, until, source=source, filters=filters,
                              columns=columns, chunk_rows=1 << 62)
    tables = list(chunks)
    return (pa.concat_tables(tables) if tables
            else columnar.SCHEMA.empty_table().select(list(columns))), used


def load_daily_costs(config: Config, since: datetime, until: datetime, tz: str, *,
                     source: str, filters: Filters = Filters()) -> dict[date, int]:
    """Cost per local day of the calls with since <= ts < until, from the same sources with
    the same dedupe as ``load_calls``, read as two columns (what a spike baseline needs of
    the days before a window, without a frame of them)."""
    from teamcost.reports.rollup import DailyCosts

    if source not in SOURCES:
        raise InvalidValue("source", source, "team or local")
    days = DailyCosts(tz)
    chunks, _ = scan_calls(config, since, until, source=source, filters=filters,
                           columns=("ts", "cost_nanos"))
    for chunk in chunks:
        days.add(chunk)
    return days.costs()


def load_calls(config: Config, since: datetime, until: datetime, *, source: str | None = None,
               filters: Filters = Filters(),
               columns: Sequence[str] | None = None) -> tuple[pd.DataFrame, str]:
    """The window's calls as a frame (in no particular order), and the source used.

    ``columns`` (default COLUMNS) may leave out what a caller does not need. From the team
    cache the ``call_id`` column is empty (None): aggregations never need it and a million
    of them cost memory. Exports use ``load_records``.
    """
    want = list(columns or COLUMNS)
    read = [c for c in want if c != "call_id" or _source(config, source) == "local"]
    table, used = load_table(config, since, until, source=source, filters=filters,
                             columns=read)
    return arrow_frame(table, want), used


def arrow_frame(table: pa.Table, columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """A frame with ``columns`` (the dtypes above) from an Arrow table of calls; a missing
    ``call_id`` column is None."""
    import pandas as pd

    table = table.select([c for c in columns if c in table.column_names])
    # self_destruct frees each Arrow column as it is converted: lower peak memory
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    if "call_id" in columns and "call_id" not in frame:
        frame["call_id"] = None
    if "ts" in frame:
        frame["ts"] = frame["ts"].astype("datetime64[us, UTC]")
    for name in LABEL_COLUMNS:
        if name in frame and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype("category")
    return frame[list(columns)]


def load_records(config: Config, since: datetime, until: datetime, *,
                 source: str | None = None) -> tuple[list[CallRecord], str]:
    """Whole call records of a window (for exports): same sources and dedupe as
    load_calls, oldest first (then by call_id)."""
    table, used = load_table(config, since, until, source=source)
    return table_records(table), used


def table_records(table: pa.Table) -> list[CallRecord]:
    """CallRecords of an Arrow table of every call field, sorted by (ts, call_id)."""
    table = table.sort_by([("ts", "ascending"), ("call_id", "ascending")])
    cols = []
    for name in CALL_FIELDS:
        col = table.column(name)
        if name == "ts":
            values = [us_to_ts(us) for us in col.cast(pa.int64()).to_pylist()]
        elif name == "tags":
            values = [json.loads(t) for t in col.to_pylist()]
        else:
            values = col.to_pylist()
        cols.append(values)
    return [CallRecord(**dict(zip(CALL_FIELDS, row))) for row in zip(*cols)]


def records_table(records: Sequence[CallRecord]) -> pa.Table:
    """An Arrow table of every call field (the mirrors' schema) from records in memory."""
    return columnar._table([record_to_row(r) for r in records])


def records_frame(records: Sequence[CallRecord]) -> pd.DataFrame:
    """A frame (same columns and dtypes as load_calls) from records already in memory."""
    return arrow_frame(records_table(records))
