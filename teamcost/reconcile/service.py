"""``teamcost reconcile`` as one library call: the provider's bill beside the team's record.

Order of work: the admin key (fail before any network), the provider's usage and cost
reports, the team's calls of those days (reports.window_source.refresh_window: an
incremental pull of every call until the team's rollups are complete; a failure is a
warning), the recorded totals, the comparison. The key is read from the environment (``ANTHROPIC_ADMIN_API_KEY``,
``OPENAI_ADMIN_KEY``, the names the providers' docs use) or the config's ``[reconcile]``
table, lives in an ``AdminKey`` for the length of the call and is written nowhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from types import ModuleType
from typing import Any

from teamcost.config import CONFIG_FILE, Config, read_config_file
from teamcost.errors import ConfigError, InvalidValue
from teamcost.money import format_usd
from teamcost.periods import parse_window
from teamcost.reconcile import anthropic, openai
from teamcost.reconcile.compare import (
    SCHEMA_ID,
    Comparison,
    RecordedBucket,
    Row,
    Tokens,
    compare,
    parse_by,
    parse_tolerance,
    tolerance_text,
)
from teamcost.reconcile.http import AdminKey, RetryPolicy

PROVIDERS: dict[str, ModuleType] = {"anthropic": anthropic, "openai": openai}
CONFIG_KEYS = {"anthropic_admin_key", "openai_admin_key"}
MAX_DAYS = 400


def provider_module(name: str) -> ModuleType:
    if name not in PROVIDERS:
        raise InvalidValue("provider", name, " or ".join(PROVIDERS))
    return PROVIDERS[name]


def admin_key(config: Config, provider: str, env: Mapping[str, str]) -> AdminKey:
    """The provider's admin key: its environment variable, else ``[reconcile]
    <provider>_admin_key`` in config.toml. Messages name where, never what."""
    module = provider_module(provider)
    if env.get(module.KEY_ENV):
        return AdminKey(env[module.KEY_ENV], module.KEY_ENV)
    path = config.home / CONFIG_FILE
    table = read_config_file(path).get("reconcile", {})
    if not isinstance(table, dict):
        raise ConfigError(f"reconcile in {path} must be a table ([reconcile])")
    unknown = set(table) - CONFIG_KEYS
    if unknown:
        raise ConfigError(f"[reconcile] in {path} accepts only {', '.join(sorted(CONFIG_KEYS))}; "
                          f"found {', '.join(sorted(unknown))}")
    name = f"{provider}_admin_key"
    where = f"[reconcile] {name} in {path}"
    value = table.get(name)
    if value is None:
        raise ConfigError(f"no {provider} admin key: set {module.KEY_ENV} or {where} (an "
                          "organisation admin key; the usage and cost reports need one)")
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string")
    return AdminKey(value, where)


def day_window(since: str, until: str | None, now: datetime) -> tuple[date, date]:
    """--since/--until (the report's forms, read in UTC) as whole UTC days [first, end)."""
    window = parse_window(since, until, now, "UTC")
    first = window.since.astimezone(UTC).date()
    last = window.until.astimezone(UTC)
    end = last.date() if last.time() == datetime.min.time() else last.date() + timedelta(days=1)
    end = min(end, now.astimezone(UTC).date() + timedelta(days=1))  # no days from the future
    if first >= end:
        raise InvalidValue("since", since, "a day up to today (UTC); the providers report "
                           "nothing from the future")
    if (end - first).days > MAX_DAYS:
        raise InvalidValue("since", since, f"a window of at most {MAX_DAYS} days with "
                           "{field:until}")
    return first, end


@dataclass(frozen=True)
class Reconciliation:
    provider: str
    team: str
    source: str
    first_day: date
    end_day: date                 # exclusive
    by: tuple[str, ...]
    tolerance: Fraction
    include_today: bool
    partial_days: tuple[date, ...]
    comparison: Comparison
    warnings: tuple[str, ...]
    api_requests: int
    api_retries: int
    generated_at: datetime

    @property
    def exit_code(self) -> int:
        return self.comparison.verdict.exit_code

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "schema": SCHEMA_ID,
            "generated_at": self.generated_at.isoformat(),
            "provider": self.provider,
            "team": self.team,
            "source": self.source,
            "window": {"since": self.first_day.isoformat(),
                       "until": (self.end_day - timedelta(days=1)).isoformat(),
                       "days": (self.end_day - self.first_day).days, "timezone": "UTC"},
            "by": list(self.by),
            "tolerance": tolerance_text(self.tolerance),
            "include_today": self.include_today,
            "partial_days": [d.isoformat() for d in self.partial_days],
            "rows": [r.to_dict() for r in c.rows],
            "totals": _totals(c.total),
            "partial_totals": _totals(c.partial_total) if self.partial_days else None,
            "verdict": c.verdict.to_dict(),
            "warnings": list(self.warnings),
            "api": {"requests": self.api_requests, "retries": self.api_retries},
        }


def _totals(row: Row) -> dict[str, Any]:
    d = row.to_dict()
    for k in ("day", "model", "status", "partial"):
        d.pop(k)
    return d


def _utc_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def recorded_buckets(config: Config, first: date, end: date, provider: str,
                     source: str, plans: Any = None,
                     excluded: list[Any] | None = None) -> tuple[list[RecordedBucket], str]:
    from teamcost.reports.recorded import day_model_totals  # late: pandas

    totals, used = day_model_totals(config, _utc_midnight(first), _utc_midnight(end),
                                    provider, source=source,
                                    plans=plans, excluded=excluded)
    return [RecordedBucket(t.day, t.model, t.calls,
                           Tokens(t.input_tokens, t.output_tokens, t.cache_read_tokens,
                                  t.cache_write_tokens), t.cost_nanos, t.unpriced_calls)
            for t in totals], used


def reconcile(config: Config, provider: str, since: str = "7d", until: str | None = None, *,
              by: Sequence[str] | None = None, tolerance: str = "2%",
              include_today: bool = False, refresh: bool = True, now: datetime | None = None,
              env: Mapping[str, str] | None = None,
              sleep: Callable[[float], None] = time.sleep,
              policy: RetryPolicy = RetryPolicy()) -> Reconciliation:
    """What ``provider`` billed for [since, until] (UTC days) beside what the team recorded."""
    module = provider_module(provider)
    env = os.environ if env is None else env
    now = now or datetime.now(UTC)
    dims = parse_by(by)
    tol = parse_tolerance(tolerance)
    first, end = day_window(since, until, now)
    key = admin_key(config, provider, env)
    today = now.astimezone(UTC).date()
    warnings: list[str] = []
    partial: tuple[date, ...] = ()
    if first <= today < end:
        if include_today:
            warnings.append(f"{today} (UTC) is still being counted by {provider} and is "
                            "judged anyway (--include-today)")
        else:
            partial = (today,)

    client = module.api(key, env, sleep=sleep, policy=policy)
    try:
        usage = module.usage(client, first, end)
        costs = module.costs(client, first, end)
    finally:
        client.close()
    del key

    use_team = config.has_firestore
    if use_team and refresh:
        # the reconciled days' calls only once the team's rollups are complete (the
        # incremental pull of every call before that)
        from teamcost.reports.window_source import refresh_window  # late: Firestore
        warning = refresh_window(config, _utc_midnight(first), _utc_midnight(end),
                                 doing="compared with")
        if warning:
            warnings.append(warning)
    if not use_team:
        warnings.append("no Firestore project is configured: compared with this machine's "
                        "ledger alone, so other machines' calls count as unrecorded")
    # subscription usage (a seat's calls) is not on the provider's API bill: left out
    from teamcost.reports.billing import load_plans  # late: pandas
    plans, plans_warning = load_plans(config, online=refresh)
    if plans_warning:
        warnings.append(plans_warning)
    excluded: list[Any] = []
    recorded, used = recorded_buckets(config, first, end, provider,
                                      "team" if use_team else "local", plans, excluded)
    if excluded and excluded[0].calls:
        warnings.append(f"{excluded[0].calls:,} recorded {provider} calls "
                        f"({format_usd(excluded[0].cost_nanos)} at list price) are covered "
                        "by seats (plan usage): left out, the provider's API bill does not "
                        "hold them")
    comparison = compare(usage, costs, recorded, provider=provider, by=dims, tolerance=tol,
                         partial_days=frozenset(partial))
    unpriced = comparison.total.unpriced_calls + comparison.partial_total.unpriced_calls
    if unpriced:
        warnings.append(f"{unpriced:,} recorded {provider} calls have no known price and "
                        "count $0 here: add a price override, then compare again")
    return Reconciliation(provider, config.team, used, first, end, dims, tol, include_today,
                          partial, comparison, tuple(warnings), client.stats.requests,
                          client.stats.retries, now)
