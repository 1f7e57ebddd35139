"""Threshold alerts: exactly one per team, period and threshold, however many notice it.

The first process to notice a crossing creates ``teamcost_alerts/{team}_{period}_{name}``
with ``create()`` (fails if it exists); only the creator delivers. Delivery is a log line
always, plus a Slack-compatible webhook (``{"text": ...}``) and/or a generic JSON webhook.
A delivery that fails is kept in this machine's team cache and retried at the next check;
it is logged, never raised. A lost create response is told apart from another creator by
the ``created_by`` token this process writes into the document.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from teamcost.budget.model import BudgetStatus, threshold_name
from teamcost.errors import TeamcostError
from teamcost.money import NANOS_PER_USD, format_usd, nanos_to_usd
from teamcost.sync.retry import Backoff, call_with_retry

if TYPE_CHECKING:
    from teamcost.config import Config
    from teamcost.sync.cache import TeamCache

ALERTS = "teamcost_alerts"
PENDING = "alert:pending:"
WEBHOOK_TIMEOUT_S = 5.0
log = logging.getLogger("teamcost.alerts")
_PROCESS_TOKEN = uuid.uuid4().hex


@dataclass(frozen=True)
class Alert:
    alert_id: str
    team: str
    period_key: str
    name: str           # "80", "90", "limit", "usd100"
    message: str
    spent_nanos: int
    limit_nanos: int

    def payload(self) -> dict[str, Any]:
        return {"event": "teamcost.budget", "alert_id": self.alert_id, "team": self.team,
                "period": self.period_key, "threshold": self.name, "message": self.message,
                "spent_nanos": self.spent_nanos, "limit_nanos": self.limit_nanos,
                "spent_usd": nanos_to_usd(self.spent_nanos),
                "limit_usd": nanos_to_usd(self.limit_nanos)}


def crossed(status: BudgetStatus, milestone_usd: float | None = None) -> list[Alert]:
    """Alerts due for what is already spent (the estimate is not spend yet), lowest first."""
    b = status.budget
    spent = status.spent_nanos
    names: list[tuple[str, str]] = []
    for t in b.thresholds:
        if spent >= t * b.amount_nanos:
            names.append((threshold_name(t), f"crossed {threshold_name(t)}% of"))
    if spent >= b.amount_nanos:
        names.append(("limit", "exhausted"))
    if milestone_usd:
        step = int(round(milestone_usd * NANOS_PER_USD))
        if step > 0 and spent >= step:
            top = spent // step * step   # only the highest milestone reached is announced
            names.append((f"usd{top // NANOS_PER_USD}" if top % NANOS_PER_USD == 0
                          else f"nanos{top}", f"passed {format_usd(top, 2)} of"))
    out = []
    for name, verb in names:
        msg = (f"teamcost: team {b.team} {verb} its {b.period} budget "
               f"({status.period_key}): {format_usd(spent, 2)} of {format_usd(b.amount_nanos, 2)}")
        out.append(Alert(f"{b.team}_{status.period_key}_{name}", b.team, status.period_key,
                         name, msg, spent, b.amount_nanos))
    return out


def claim(client: Any, alert: Alert, member: str, backoff: Backoff) -> bool:
    """Create the alert document; True only for the one process that created it."""
    from google.api_core import exceptions as gexc
    from google.cloud.firestore import SERVER_TIMESTAMP

    ref = client.collection(ALERTS).document(alert.alert_id)
    doc = {**alert.payload(), "created_by": _PROCESS_TOKEN, "member": member,
           "created_at": SERVER_TIMESTAMP}
    retried: list[int] = []
    try:
        call_with_retry(lambda: ref.create(doc, retry=None, timeout=WEBHOOK_TIMEOUT_S),
                        f"creating alert {alert.alert_id}", backoff,
                        on_retry=lambda n, exc: retried.append(n),
                        passthrough=(gexc.AlreadyExists, gexc.Conflict))
        return True
    except (gexc.AlreadyExists, gexc.Conflict):
        if not retried:
            # there before this claim began: someone's earlier check (this long-running
            # process's included) claimed it; its delivery is retried from the pending state
            return False
        # ours if an earlier attempt of this claim landed but its response was lost
        snap = call_with_retry(lambda: ref.get(retry=None, timeout=WEBHOOK_TIMEOUT_S),
                               f"reading alert {alert.alert_id}", backoff)
        return bool(snap.exists and (snap.to_dict() or {}).get("created_by") == _PROCESS_TOKEN)


Post = Callable[[str, dict[str, Any]], None]


def post_json(url: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "teamcost"})
    with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_S) as resp:  # noqa: S310
        resp.read()


def _redact(url: str) -> str:
    # webhook URLs carry their secret in the path: show scheme and host only
    parts = url.split("/")
    return "/".join(parts[:3]) + "/..." if len(parts) > 3 else url


def deliver(config: Config, alert: Alert, post: Post = post_json) -> list[str]:
    """Send to every configured webhook; returns the failures (empty: all sent)."""
    failures = []
    targets = [(config.budget.slack_webhook_url, {"text": alert.message}),
               (config.budget.webhook_url, alert.payload())]
    for url, body in targets:
        if not url:
            continue
        try:
            post(url, body)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            failures.append(f"webhook {_redact(url)}: {type(exc).__name__}: {exc}"
                            .replace(url, _redact(url)))
    return failures


def notify(config: Config, client: Any, status: BudgetStatus, cache: TeamCache | None,
           backoff: Backoff, post: Post = post_json) -> list[str]:
    """Claim and deliver newly crossed alerts, and retry undelivered ones; never raises.

    Returns the messages of alerts delivered (or logged) by this call.
    """
    sent: list[str] = []
    due: dict[str, Alert] = {}
    if cache is not None:
        for key, value in cache.states(PENDING).items():
            try:
                due[key[len(PENDING):]] = Alert(**json.loads(value))
            except (TypeError, ValueError):
                cache.delete_state(key)
    for alert in crossed(status, config.budget.milestone_usd):
        if alert.alert_id in due:
            continue
        try:
            mine = claim(client, alert, config.member, backoff)
        except TeamcostError as exc:
            log.warning("could not record alert %s (will try at the next check): %s",
                        alert.alert_id, exc)
            continue
        if mine:
            log.warning("%s", alert.message)
            sent.append(alert.message)
            due[alert.alert_id] = alert
            if cache is not None:
                cache.set_state(PENDING + alert.alert_id, json.dumps(alert.__dict__))
    for alert_id, alert in due.items():
        failures = deliver(config, alert, post)
        if failures:
            for f in failures:
                log.warning("alert %s not delivered (retried at the next check): %s",
                            alert_id, f)
        elif cache is not None:
            cache.delete_state(PENDING + alert_id)
    return sent
