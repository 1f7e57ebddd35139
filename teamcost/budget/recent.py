"""The team's most recent budget alerts, as recorded in ``teamcost_alerts`` (read only).

A team has a handful of alert documents per period (one per threshold crossed), so the
team's documents are read with one equality filter (no composite index needed) and
the newest are picked here. Only the alert's own facts are returned: never who
created it (``created_by`` is a process token) or anything from the config.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from teamcost.budget.alerts import ALERTS
from teamcost.budget.store import CHECK_BACKOFF, TIMEOUT_S
from teamcost.sync.retry import Backoff, call_with_retry

if TYPE_CHECKING:
    from teamcost.config import Config

MAX_READ = 500
_FIELDS = ("alert_id", "period", "threshold", "message", "spent_nanos", "limit_nanos")


def recent_alerts(config: Config, client: Any, limit: int = 10,
                  backoff: Backoff = CHECK_BACKOFF) -> list[dict[str, Any]]:
    """Up to ``limit`` of the team's alerts, newest first ([] without a project)."""
    if not config.project:
        return []
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (client.collection(ALERTS)
             .where(filter=FieldFilter("team", "==", config.team)).limit(MAX_READ))
    snaps = call_with_retry(lambda: list(query.stream(retry=None, timeout=TIMEOUT_S)),
                            f"reading team {config.team}'s alerts", backoff)
    out = []
    for snap in snaps:
        doc = snap.to_dict() or {}
        created = doc.get("created_at")
        item: dict[str, Any] = {k: doc.get(k) for k in _FIELDS}
        item["created_at"] = created.isoformat() if isinstance(created, datetime) else None
        out.append(item)
    out.sort(key=lambda a: (a["created_at"] or "", a["alert_id"] or ""), reverse=True)
    return out[:limit]
