"""A Firestore real-time listener that keeps this machine's rollup copy current (watch).

The listener's query is the one ``rollup_cache.refresh`` polls: the team's cells updated
after the copy's watermark. Firestore bills a listener one read per document in its first
snapshot (the cells changed since the watermark: what the first poll reads) and one read
per document change it delivers afterwards, and nothing while nothing changes, whereas a
poll is billed at least one read even when it finds nothing. A member's push changes one
or two cells, delivered once; a poll every 5 s (watch's default) reads the same cells once
per push at the agent's 5 s push cadence, so the listener costs the same while the team
works and nothing while it does not (docs/org-scale.md, "Freshness and live views").

Each delivered snapshot is stored with ``RollupCache.store`` (which moves the watermark),
so when the stream ends (the network, the emulator restarting) the next poll or the next
listener resumes exactly after what was stored. The callback runs on the library's
thread with a connection of its own; readers use theirs (WAL).
"""

from __future__ import annotations

import threading
import zlib
from array import array
from typing import TYPE_CHECKING, Any

from teamcost.sync.rollup_cache import RollupCache
from teamcost.sync.rollup_doc import METRICS, ROLLUPS
from teamcost.sync.rollups import CELL_LABELS

if TYPE_CHECKING:
    from teamcost.config import Config


def cell_row(doc_id: str, data: dict[str, Any]) -> tuple[Any, ...]:
    """A cell document as ``rollups.fetch_cell_rows`` decodes it: (doc id, *CELL_LABELS,
    packed slots, updated_at)."""
    row: list[Any] = [doc_id, *(str(data.get(k) if data.get(k) is not None else "")
                                for k in CELL_LABELS)]
    packed = array("q")
    for key, slot in (data.get("s") or {}).items():
        if not key.startswith("q") or not isinstance(slot, dict):
            continue
        packed.append(int(key[1:]))
        for name in METRICS:
            packed.append(int(slot.get(name) or 0))
    row.append(zlib.compress(packed.tobytes(), 1))
    row.append(data.get("updated_at"))
    return tuple(row)


class CellListener:
    """Listens to the team's cells changed after the copy's watermark; stores each snapshot.

    ``version`` counts the snapshots that changed something; ``delivered`` the documents
    delivered (the reads Firestore bills this listener); ``alive`` is False once the stream
    ended (the caller then polls, or starts another listener).
    """

    def __init__(self, client: Any, config: Config, team: str) -> None:
        from google.cloud.firestore_v1.base_query import FieldFilter

        self.team = team
        self.cache = RollupCache.for_config(config)
        self.version = 0
        self.delivered = 0
        self.error: str | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        q = client.collection(ROLLUPS).where(filter=FieldFilter("team", "==", team))
        mark = self.cache.watermark(team)
        if mark is not None:
            q = q.where(filter=FieldFilter("updated_at", ">", mark))
        try:
            self._watch = q.on_snapshot(self._on_snapshot)
        except Exception:
            self.cache.close()
            raise

    def _on_snapshot(self, _docs: Any, changes: Any, _read_time: Any) -> None:
        rows = [cell_row(c.document.id, c.document.to_dict() or {}) for c in changes
                if c.type.name != "REMOVED"]
        with self._lock:
            try:
                if rows:
                    self.cache.store(self.team, rows)
                    self.delivered += len(rows)
                    self.version += 1
            except Exception as exc:   # noqa: BLE001 - a full disk: the caller polls
                self.error = str(exc)   # (and closes the stream: not from its own thread)
            finally:
                self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        """True once the first snapshot is stored (the copy is then current)."""
        return self._ready.wait(timeout) and self.alive

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def alive(self) -> bool:
        return self.error is None and not getattr(self._watch, "_closed", False)

    def close(self) -> None:
        try:
            self._watch.unsubscribe()
        except Exception:   # noqa: BLE001 - the stream already ended with an error
            pass
        with self._lock:
            self.cache.close()
