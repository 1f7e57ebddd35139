"""Which dimension values get their own rollup cells, decided from this machine's ledger.

Per (ledger, UTC day, dimension) the first ``MAX_VALUES`` distinct values, in the order
the ledger recorded them (its append-only ``seq``), keep their own cells; later values
fold into ``OTHER``. The ledger never deletes or reorders rows, so the decision for a
value never changes: every pusher of this ledger (a retry, a second process, a push
after a crash) puts a call into the same cell. Folding moves a call to another cell,
never out of any total.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from teamcost.ledger import Ledger, ts_to_us
from teamcost.sync.rollup_doc import MAX_VALUES, OTHER, TAG_DIMS

_COLUMNS = {"provider": "provider", "model": "model", "agent": "agent",
            "session_id": "session_id"}


def _expr(dim: str) -> str:
    if dim in _COLUMNS:
        return _COLUMNS[dim]
    assert dim in TAG_DIMS          # a fixed name, never user input, in the SQL
    return f"json_extract(tags, '$.{dim}')"


class LedgerFold:
    def __init__(self, ledger: Ledger, max_values: int = MAX_VALUES) -> None:
        self.ledger = ledger
        self.max_values = max_values
        self._kept: dict[tuple[str, str], frozenset[str]] = {}
        self._lock = threading.Lock()

    def _load(self, day: str, dim: str) -> frozenset[str]:
        d = date.fromisoformat(day)
        start = datetime(d.year, d.month, d.day, tzinfo=UTC)
        e = _expr(dim)
        with self.ledger._lock:   # the ledger's connection is shared by the push threads
            rows = self.ledger.conn.execute(
                f"SELECT {e} AS v FROM calls WHERE ts >= ? AND ts < ? AND {e} IS NOT NULL "
                "GROUP BY v ORDER BY MIN(seq) LIMIT ?",
                (ts_to_us(start), ts_to_us(start + timedelta(days=1)),
                 self.max_values)).fetchall()
        return frozenset(str(r[0]) for r in rows)

    def __call__(self, day: str, dim: str, value: str, call_id: str) -> str:
        key = (day, dim)
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or (len(kept) < self.max_values and value not in kept):
                # not loaded yet, or a value recorded since: the ledger decides again
                kept = self._kept[key] = self._load(day, dim)
        return value if value in kept else OTHER
