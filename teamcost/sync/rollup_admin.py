"""The admin's rollup commands as library calls: build (migrate) and verify."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from teamcost.errors import ConfigError
from teamcost.periods import parse_window
from teamcost.sync.client import client_for
from teamcost.sync.retry import DEFAULT_BACKOFF

if TYPE_CHECKING:
    from teamcost.config import Config
    from teamcost.sync.migrate import MigrateResult
    from teamcost.sync.verify import VerifyResult


def _client(config: Config, client: Any) -> Any:
    if not config.project:
        raise ConfigError("rollups live in Firestore and no project is configured: run "
                          "`teamcost init --project ID` (or set TEAMCOST_PROJECT)")
    return client if client is not None else client_for(config)


def build(config: Config, client: Any = None,
          progress: Callable[[MigrateResult], None] | None = None) -> MigrateResult:
    """`teamcost rollups build`: count every call pushed before rollups existed (admin)."""
    from teamcost.sync.migrate import build_rollups
    return build_rollups(_client(config, client), config.team, DEFAULT_BACKOFF, progress)


def verify_window(config: Config, since: str, until: str | None = None, client: Any = None,
                  now: datetime | None = None) -> VerifyResult:
    """`teamcost verify --since D [--until D]`: the UTC days covering the window."""
    from teamcost.sync.verify import verify
    w = parse_window(since, until, now or datetime.now(UTC), "UTC")
    first: date = w.since.astimezone(UTC).date()
    end = w.until.astimezone(UTC)
    last = end.date() + (timedelta(days=1) if end.time() != datetime.min.time() else
                         timedelta(0))
    return verify(_client(config, client), config.team, first, last, DEFAULT_BACKOFF)
