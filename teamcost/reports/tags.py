"""Spend by the value of one tag (``project`` by default), as the report's breakdown rows.

Tags are free-form and not in the columnar mirror, so this reads SQLite: the team cache
summed per tag value by SQLite itself (integer sums are exact), plus this machine's calls
the cache does not hold yet, with the report's filters. Rows are assembled by
``aggregate.breakdown_rows`` (shares, order) like every other breakdown; calls without
the tag are "(none)".
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger, ts_to_us
from teamcost.reports import aggregate as agg
from teamcost.reports.frames import Filters

if TYPE_CHECKING:
    from teamcost.config import Config

DEFAULT_TAG = "project"
NONE = "(none)"
_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_SUMS = ("count(*), sum(cost_nanos), sum(input_tokens), sum(output_tokens), "
         "sum(cache_read_tokens), sum(cache_write_tokens), sum(priced = 0), sum(success = 0)")
_VALUES = ("1, cost_nanos, input_tokens, output_tokens, cache_read_tokens, "
           "cache_write_tokens, priced = 0, success = 0")


def check_tag_key(key: Any, field: str = "key") -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise InvalidValue(field, key, "a tag name of 1 to 64 letters, digits or _ . -")
    return key


def _where(since: datetime, until: datetime, team: str | None,
           filters: Filters) -> tuple[str, list[Any]]:
    where, args = filters.sql()
    team_sql = " AND team = ?" if team is not None else ""
    return (f"ts >= ? AND ts < ?{team_sql}{where}",
            [ts_to_us(since), ts_to_us(until), *([team] if team is not None else []), *args])


def _cache_groups(conn: sqlite3.Connection, path: str, since: datetime, until: datetime,
                  team: str, filters: Filters) -> list[tuple]:
    where, args = _where(since, until, team, filters)
    # over most of the table a straight scan beats a row lookup per index entry (4x at
    # 750k of 1M rows); counting through the index tells which case this is
    n = conn.execute(f"SELECT count(*) FROM team_calls WHERE {where}", args).fetchone()[0]
    everything = conn.execute("SELECT coalesce(max(rowid), 0) FROM team_calls").fetchone()[0]
    hint = " NOT INDEXED" if n * 4 > everything else ""
    return conn.execute(f"SELECT json_extract(tags, ?) AS k, {_SUMS} FROM team_calls{hint} "
                        f"WHERE {where} GROUP BY k", [path, *args]).fetchall()


def tag_breakdown(config: Config, since: datetime, until: datetime, *,
                  key: str = DEFAULT_TAG, filters: Filters | None = None,
                  source: str | None = None, client: Any = None) -> list[dict[str, Any]]:
    """Breakdown rows keyed by ``key`` (the tag's value) for since <= ts < until.
    ``client``: once the team's rollups are complete nothing fills the team cache; a tag
    the rollups keep (``project``, ``repo``, ...) is then summed from the rollup copy as
    held (every sum is a rollup metric), any other from the cache as before."""
    check_tag_key(key)
    filters = filters or Filters()
    if source in (None, "team"):
        from teamcost.reports.rollup_source import held_rows
        table = held_rows(config, client, since, until, [key], filters)
        if table is not None:
            return _rollup_rows(table, key)
    path = f'$."{key}"'
    if source is None:
        source = "team" if config.has_firestore and config.cache_file.exists() else "local"
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * 8)

    def add(k: Any, values: tuple) -> None:
        acc = sums[NONE if k is None else str(k)]
        for i, v in enumerate(values):
            acc[i] += int(v or 0)

    mine: list[tuple] = []
    if config.ledger_file.exists():
        with Ledger.for_config(config) as ledger:
            where, args = _where(since, until, config.team if source == "team" else None,
                                 filters)
            mine = ledger.conn.execute(f"SELECT call_id, json_extract(tags, ?), {_VALUES} "
                                       f"FROM calls WHERE {where}", [path, *args]).fetchall()
    if source == "team":
        from teamcost.sync.cache import TeamCache
        with TeamCache.for_config(config) as cache:
            for k, *values in _cache_groups(cache.conn, path, since, until, config.team,
                                            filters):
                add(k, tuple(values))
            ids = [r[0] for r in mine]
            known: set[str] = set()
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                known.update(r[0] for r in cache.conn.execute(
                    "SELECT call_id FROM team_calls WHERE call_id IN "
                    f"({', '.join('?' * len(part))})", part))
        mine = [r for r in mine if r[0] not in known]
    for _id, k, *values in mine:
        add(k, tuple(values))
    return agg.breakdown_rows(key, ((k, v[1], v[0], v[2], v[3], v[4], v[5], v[6], v[7])
                                    for k, v in sums.items()))


def _rollup_rows(table: Any, key: str) -> list[dict[str, Any]]:
    """Breakdown rows of rollup rows (reports.rollup_source) grouped by the ``key`` column."""
    names = ("cost_nanos", "calls", "input_tokens", "output_tokens", "cache_read_tokens",
             "cache_write_tokens", "unpriced_calls", "failed_calls")
    if not table.num_rows:
        return []
    groups = []
    for r in table.group_by(key).aggregate([(n, "sum") for n in names]).to_pylist():
        c, n, i, o, cr, cw, u, f = (int(r[f"{x}_sum"]) for x in names)
        groups.append((NONE if r[key] is None else str(r[key]), c, n, i, o, cr, cw, u, f))
    return agg.breakdown_rows(key, groups)
