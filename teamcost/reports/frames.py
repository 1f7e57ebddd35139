"""Calls of a time window as a pandas DataFrame, read with one indexed range query.

Sources:
- ``team``: the team cache that ``sync pull`` fills (``team_calls``, index (team, ts)),
  plus this machine's ledger calls the cache does not hold yet (not pushed, or pushed
  but not pulled back): they are the team's too, and a call is never counted twice.
- ``local``: this machine's ledger alone (index on ts): the embedded default when no
  Firestore project is configured.

Dtypes: ``ts`` tz-aware UTC (microseconds), money and tokens int64 (nano-dollars stay
exact integers through every sum), labels categorical (a million calls have a few
dozen members/models; categories keep memory and group-bys small).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger, ts_to_us
from teamcost.models import CallRecord

if TYPE_CHECKING:
    from teamcost.config import Config

SOURCES = ("team", "local")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
               "cost_nanos")
LABEL_COLUMNS = ("member", "provider", "model", "agent", "session_id", "task_id", "ledger_id")
BOOL_COLUMNS = ("priced", "success")
COLUMNS = ("call_id", "ts", *LABEL_COLUMNS, *INT_COLUMNS, *BOOL_COLUMNS)
_SELECT = ", ".join(COLUMNS)


@dataclass(frozen=True)
class Filters:
    member: str | None = None
    model: str | None = None
    agent: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"member": self.member, "model": self.model, "agent": self.agent}

    def sql(self) -> tuple[str, list[str]]:
        clauses, args = [], []
        for name, value in self.to_dict().items():
            if value is not None:
                clauses.append(f" AND {name} = ?")
                args.append(value)
        return "".join(clauses), args


def _to_frame(rows: Sequence[tuple]) -> pd.DataFrame:
    cols = list(zip(*rows)) if rows else [()] * len(COLUMNS)
    data: dict[str, object] = {}
    for name, values in zip(COLUMNS, cols):
        if name == "ts":
            us = np.fromiter(values, dtype=np.int64, count=len(values))
            data[name] = pd.to_datetime(us, unit="us", utc=True)
        elif name in INT_COLUMNS:
            data[name] = np.fromiter(values, dtype=np.int64, count=len(values))
        elif name in BOOL_COLUMNS:
            data[name] = np.fromiter(values, dtype=np.int8, count=len(values)).astype(bool)
        elif name == "call_id":
            data[name] = np.array(values, dtype=object)
        else:
            data[name] = pd.Categorical(values)
    return pd.DataFrame(data, columns=list(COLUMNS))


def _query(conn: sqlite3.Connection, table: str, since: datetime, until: datetime,
           filters: Filters, team: str | None, extra: str = "") -> list[tuple]:
    where, args = filters.sql()
    team_sql = " AND team = ?" if team is not None else ""
    team_args = [team] if team is not None else []
    sql = (f"SELECT {_SELECT} FROM {table} WHERE ts >= ? AND ts < ?{team_sql}{where}{extra}")
    return conn.execute(sql, [ts_to_us(since), ts_to_us(until), *team_args, *args]).fetchall()


def load_calls(config: Config, since: datetime, until: datetime, *, source: str | None = None,
               filters: Filters = Filters()) -> tuple[pd.DataFrame, str]:
    """The window's calls as a frame (in no particular order), and the source used.

    From the team cache the ``call_id`` column is empty (None): aggregations never need
    it and a million of them cost memory. Exports use ``load_records``.
    """
    if source is None:
        source = "team" if config.has_firestore and config.cache_file.exists() else "local"
    if source not in SOURCES:
        raise InvalidValue("source", source, "team or local")
    if source == "team":
        from teamcost.reports import columnar
        from teamcost.sync.cache import TeamCache
        with TeamCache.for_reading(config) as cache:
            # call_id is not read: 750k Python strings cost ~100 MB and nothing sums them;
            # local calls are deduplicated against the cache in SQL instead
            table = columnar.read(cache, config.team, since, until, filters.to_dict(),
                                  columns=[c for c in COLUMNS if c != "call_id"])
            frame = _arrow_frame(table)
            local: list[tuple] = []
            if config.ledger_file.exists():
                with Ledger.for_reading(config) as ledger:
                    mine = _query(ledger.conn, "calls", since, until, filters, config.team)
                known = _known_ids(cache.conn, [r[0] for r in mine])
                local = [r for r in mine if r[0] not in known]
        if local:
            frame = _concat(frame, _to_frame(local))
    else:
        rows: list[tuple] = []
        if config.ledger_file.exists():
            with Ledger.for_reading(config) as ledger:
                rows = _query(ledger.conn, "calls", since, until, filters, None)
        frame = _to_frame(rows)
    return frame, source


def _known_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the team cache already holds (pushed and pulled back)."""
    known: set[str] = set()
    for i in range(0, len(ids), 500):
        part = list(ids[i:i + 500])
        known.update(r[0] for r in conn.execute(
            f"SELECT call_id FROM team_calls WHERE call_id IN ({', '.join('?' * len(part))})",
            part))
    return known


def _arrow_frame(table: object) -> pd.DataFrame:
    # self_destruct frees each Arrow column as it is converted: lower peak memory
    frame = table.to_pandas(split_blocks=True, self_destruct=True)  # type: ignore[attr-defined]
    if "call_id" not in frame:
        frame["call_id"] = None
    frame["ts"] = frame["ts"].astype("datetime64[us, UTC]")
    for name in LABEL_COLUMNS:
        if not isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype("category")
    return frame[list(COLUMNS)]


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    out = pd.concat([a, b], ignore_index=True)
    for name in LABEL_COLUMNS:  # differing categories concatenate as object: restore
        if not isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].astype("category")
    return out


def load_records(config: Config, since: datetime, until: datetime, *,
                 source: str | None = None) -> tuple[list[CallRecord], str]:
    """Whole call records of a window (for exports): same sources and dedupe as load_calls."""
    if source is None:
        source = "team" if config.has_firestore and config.cache_file.exists() else "local"
    if source not in SOURCES:
        raise InvalidValue("source", source, "team or local")
    records: list[CallRecord] = []
    if source == "team":
        from teamcost.sync.cache import TeamCache
        with TeamCache.for_reading(config) as cache:
            records = cache.calls(team=config.team, since=since, until=until)
            if config.ledger_file.exists():
                with Ledger.for_reading(config) as ledger:
                    mine = [r for r in ledger.calls(since, until) if r.team == config.team]
                known = _known_ids(cache.conn, [r.call_id for r in mine])
                records.extend(r for r in mine if r.call_id not in known)
    elif config.ledger_file.exists():
        with Ledger.for_reading(config) as ledger:
            records = list(ledger.calls(since, until))
    records.sort(key=lambda r: (r.ts, r.call_id))
    return records, source


def records_frame(records: Sequence[CallRecord]) -> pd.DataFrame:
    """A frame (same columns and dtypes as load_calls) from records already in memory."""
    from teamcost.ledger import record_to_row
    from teamcost.models import CALL_FIELDS
    idx = [CALL_FIELDS.index(c) for c in COLUMNS]
    return _to_frame([tuple(row[i] for i in idx) for row in map(record_to_row, records)])



BUCKET_US = 15 * 60 * 1_000_000   # every zone's offset from UTC is a multiple of 15 minutes


def load_daily_costs(config: Config, since: datetime, until: datetime, tz: str, *,
                     source: str, filters: Filters = Filters()) -> dict[date, int]:
    """Cost per local day of the calls with since <= ts < until, from the same sources with
    the same dedupe as ``load_calls``, summed in 15-minute buckets (what a spike baseline
    needs of the days before a window, without a frame of them)."""
    if source not in SOURCES:
        raise InvalidValue("source", source, "team or local")
    where, args = filters.sql()
    span = [ts_to_us(since), ts_to_us(until)]
    buckets: dict[int, int] = {}

    def add(rows: Sequence[tuple]) -> None:
        for bucket, nanos in rows:
            buckets[bucket] = buckets.get(bucket, 0) + int(nanos)

    # times are from 2000 on (periods.EARLIEST): integer division is the floor
    grouped = (f"SELECT ts / {BUCKET_US}, sum(cost_nanos) FROM calls WHERE ts >= ? AND ts < ?"
               + where + " GROUP BY 1")
    if source == "team":
        import pyarrow as pa
        import pyarrow.compute as pc

        from teamcost.reports import columnar
        from teamcost.sync.cache import TeamCache
        with TeamCache.for_reading(config) as cache:
            # from the Parquet mirror, two columns: ten times faster than SQLite fetching
            # each row's cost (the (team, ts) index does not hold it)
            table = columnar.read(cache, config.team, since, until, filters.to_dict(),
                                  columns=["ts", "cost_nanos"])
            us = table.column("ts").cast(pa.int64())
            sums = pa.table({"b": pc.divide(us, BUCKET_US), "c": table.column("cost_nanos")}
                            ).group_by("b").aggregate([("c", "sum")])
            add(list(zip(sums.column("b").to_pylist(), sums.column("c_sum").to_pylist())))
            if config.ledger_file.exists():
                with Ledger.for_reading(config) as ledger:
                    mine = ledger.conn.execute(
                        f"SELECT call_id, ts, cost_nanos FROM calls WHERE ts >= ? AND ts < ? "
                        f"AND team = ?{where}", [*span, config.team, *args]).fetchall()
                known = _known_ids(cache.conn, [r[0] for r in mine])
                add([(r[1] // BUCKET_US, r[2]) for r in mine if r[0] not in known])
    elif config.ledger_file.exists():
        with Ledger.for_reading(config) as ledger:
            add(ledger.conn.execute(grouped, [*span, *args]).fetchall())
    zone = ZoneInfo(tz)
    days: dict[date, int] = {}
    for bucket, nanos in buckets.items():
        d = (_EPOCH + timedelta(microseconds=bucket * BUCKET_US)).astimezone(zone).date()
        days[d] = days.get(d, 0) + nanos
    return days
