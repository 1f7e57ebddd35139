"""Prometheus metrics of the team's spend, budget and agent (``/metrics`` on ``teamcost
serve`` and ``teamcost agent``), in the exposition format of ``prometheus-client``.

Counters never go backwards across restarts because nothing is counted in process memory:
every scrape computes them from stored data (the team cache and this machine's ledger,
through ``frames.scan_calls``, the report's own sources and dedupe), so the spend counter
is the report's all-time total. Once the team's rollups are complete, from the rollup
copy instead (``rollup_usage_rows``: why they still never go backwards is argued there).
Two small pieces:

- ``usage_rows(config)``: the all-time sums per team, provider, model (and member): the
  one place that reads calls (``rollup_usage_rows`` reads the rollups).
- ``metric_families(rows, budget, agent, member_label)``: pure; rows (dicts with those
  labels and the report's sums: ``cost_nanos``, ``calls``, the four token kinds,
  ``unpriced_calls``, ``failed_calls``), a budget status (``BudgetStatus.to_dict()`` or
  the agent snapshot's ``budget``) and the agent snapshot, to metric families.

Member is a label only when asked (``--metrics-members``): one series per person and
model multiplies the series a team stores (the Prometheus docs' warning about
high-cardinality labels).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from teamcost.periods import EARLIEST, LATEST

if TYPE_CHECKING:
    from teamcost.config import Config

NANOS = 1e9
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
SUMS = ("cost_nanos", "calls", *TOKENS, "unpriced_calls", "failed_calls")
_TOKEN_KIND = {"input_tokens": "input", "output_tokens": "output",
               "cache_read_tokens": "cache_read", "cache_write_tokens": "cache_write"}
JOBS = ("push", "pull", "check")
# with complete rollups a scrape refreshes the rollup copy at most this often: one query
# (at least one read) per refresh, plus one read per cell changed since the last one
REFRESH_S = 30.0


def usage_rows(config: Config, *, member_label: bool = False,
               source: str | None = None) -> list[dict[str, Any]]:
    """All-time sums per team, provider, model (and member) of every stored call."""
    from teamcost.reports.frames import scan_calls

    keys = ["team", "provider", "model", *(["member"] if member_label else [])]
    chunks, _ = scan_calls(config, EARLIEST, LATEST, source=source,
                           columns=(*keys, "cost_nanos", *TOKENS, "priced", "success"),
                           chunk_rows=1 << 18)
    acc: dict[tuple[Any, ...], list[int]] = {}
    _add_chunks(acc, chunks, keys)
    return _rows(acc, keys)


def _rows(acc: Mapping[tuple[Any, ...], list[int]], keys: Sequence[str]
          ) -> list[dict[str, Any]]:
    return [{**dict(zip(keys, key)), **dict(zip(SUMS, v))} for key, v in sorted(
        acc.items(), key=lambda kv: tuple(str(x) for x in kv[0]))]


# a cell's metric (rollup_doc.METRICS) for each of SUMS
_CELL_METRIC = {"cost_nanos": "c", "calls": "n", "input_tokens": "i", "output_tokens": "o",
                "cache_read_tokens": "cr", "cache_write_tokens": "cw", "unpriced_calls": "u",
                "failed_calls": "f"}


def rollup_usage_rows(config: Config, *, member_label: bool = False) -> list[dict[str, Any]]:
    """``usage_rows`` once the team's rollups are complete: every other ledger's calls
    from this machine's rollup copy (all its cells, all time), this machine's own ledger
    from the ledger itself (every call of the team, pushed or not). The caller refreshes
    the copy first (``rollup_cache.refresh``).

    Why the counters never go backwards: a cell's numbers only grow (a push commit adds to
    a cell only the calls it creates, and a call document is never deleted or changed, so
    every increment is a call's non-negative counts); the copy only ever replaces a cell
    with a later version of it (fetched by ``updated_at`` after the copy's watermark),
    never drops one. This machine's calls are counted from its ledger whether or not they
    were pushed, so a push moving a call from "unpushed" into a cell (which the copy may
    not have read yet) neither removes nor doubles it: its own ledger's cells are left
    out. (Repricing a call before it is pushed can change its cost, as before rollups.)
    A cell folded into ``(other)`` (past 50 values of a dimension in a ledger-day) is
    labelled ``(other)``: totals stay exact, the label is the rollup's."""
    import numpy as np

    from teamcost.ledger import Ledger
    from teamcost.reports.frames import Filters, _scan_ledger
    from teamcost.sync.rollup_cache import RollupCache
    from teamcost.sync.rollup_doc import CELL_DIMS, METRICS

    keys = ["team", "provider", "model", *(["member"] if member_label else [])]
    own = None
    acc: dict[tuple[Any, ...], list[int]] = {}
    if config.ledger_file.exists():
        with Ledger.for_reading(config) as ledger:
            own = ledger.ledger_id
        _add_chunks(acc, _scan_ledger(config, EARLIEST, LATEST, config.team, Filters(),
                                      [*keys, "cost_nanos", *TOKENS, "priced", "success"],
                                      1 << 18), keys)
    col = {m: i + 1 for i, m in enumerate(METRICS)}
    width = len(METRICS) + 1
    pos = {k: i for i, k in enumerate(("member", "ledger_id", "day", *CELL_DIMS))}
    import zlib
    with RollupCache.for_config(config) as cache:
        rows = cache.rows(config.team, datetime.min.date(), datetime.max.date())
    for r in rows:
        if r[pos["ledger_id"]] == own:
            continue
        n = len(CELL_DIMS)
        slots = np.frombuffer(zlib.decompress(r[3 + n]), dtype=np.int64).reshape(-1, width)
        totals = slots.sum(axis=0)
        label = {"team": config.team, "provider": r[pos["provider"]],
                 "model": r[pos["model"]], "member": r[pos["member"]]}
        row = acc.setdefault(tuple(label[k] for k in keys), [0] * len(SUMS))
        for j, name in enumerate(SUMS):
            row[j] += int(totals[col[_CELL_METRIC[name]]])
    return _rows(acc, keys)


def _add_chunks(acc: dict[tuple[Any, ...], list[int]], chunks: Iterable[pa.Table],
                keys: Sequence[str]) -> None:
    for chunk in chunks:
        if not chunk.num_rows:
            continue
        cols = {k: chunk.column(k).cast(pa.string()) for k in keys}
        t = pa.table({**cols, "cost_nanos": chunk.column("cost_nanos"),
                      **{c: chunk.column(c) for c in TOKENS},
                      "unpriced_calls": pc.invert(chunk.column("priced")).cast(pa.int64()),
                      "failed_calls": pc.invert(chunk.column("success")).cast(pa.int64())})
        sums = [c for c in SUMS if c != "calls"]
        g = t.group_by(keys).aggregate([*((c, "sum") for c in sums), ("cost_nanos", "count")])
        labels = [g.column(k).to_pylist() for k in keys]
        values = [g.column(f"{c}_sum").to_pylist() for c in sums]
        counts = g.column("cost_nanos_count").to_pylist()
        for i, key in enumerate(zip(*labels)):
            row = acc.setdefault(key, [0] * len(SUMS))
            row[1] += int(counts[i])
            for j, c in enumerate(sums):
                row[SUMS.index(c)] += int(values[j][i] or 0)


def _age(at: Any, now: datetime) -> float | None:
    if not isinstance(at, str):
        return None
    try:
        t = datetime.fromisoformat(at)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return max(0.0, (now - t).total_seconds())


def metric_families(rows: Iterable[Mapping[str, Any]], budget: Mapping[str, Any] | None,
                    agent: Mapping[str, Any] | None, *, team: str, member_label: bool = False,
                    now: datetime | None = None) -> list[Metric]:
    """The metric families of usage ``rows``, a ``budget`` status and an ``agent``
    snapshot (either may be None: its metrics are left out)."""
    now = now or datetime.now(UTC)
    labels = ["team", "provider", "model", *(["member"] if member_label else [])]
    spend = CounterMetricFamily("teamcost_spend_usd", "Spend of the recorded calls, USD "
                                "(exact nano-dollar sums; unpriced calls add nothing)",
                                labels=labels)
    calls = CounterMetricFamily("teamcost_calls", "Recorded LLM calls", labels=labels)
    unpriced = CounterMetricFamily("teamcost_unpriced_calls",
                                   "Recorded calls nobody could price (their cost is unknown)",
                                   labels=labels)
    failed = CounterMetricFamily("teamcost_failed_calls", "Recorded calls that failed",
                                 labels=labels)
    tokens = CounterMetricFamily("teamcost_tokens", "Tokens of the recorded calls by kind",
                                 labels=[*labels, "kind"])
    for r in rows:
        values = [str(r.get(k) if r.get(k) is not None else "") for k in labels]
        spend.add_metric(values, int(r["cost_nanos"]) / NANOS)
        calls.add_metric(values, int(r["calls"]))
        unpriced.add_metric(values, int(r["unpriced_calls"]))
        failed.add_metric(values, int(r["failed_calls"]))
        for c in TOKENS:
            tokens.add_metric([*values, _TOKEN_KIND[c]], int(r[c]))
    out: list[Metric] = [spend, calls, tokens, unpriced, failed]
    if budget:
        period = str(budget.get("period") or "")
        blabels = ["team", "period"]
        for name, doc, value in (
                ("teamcost_budget_limit_usd", "The team's budget for the period, USD",
                 int(budget["limit_nanos"]) / NANOS),
                ("teamcost_budget_spent_usd", "The team's spend in the budget period, USD",
                 int(budget["spent_nanos"]) / NANOS),
                ("teamcost_budget_fraction", "Spent over limit in the budget period "
                 "(1 = exhausted), as budget check computes it", float(budget["fraction"]))):
            g = GaugeMetricFamily(name, doc, labels=blabels)
            g.add_metric([team, period], value)
            out.append(g)
    if agent:
        age = GaugeMetricFamily("teamcost_agent_last_success_age_seconds",
                                "Seconds since the agent's job last succeeded",
                                labels=["team", "agent_job"])
        ok = GaugeMetricFamily("teamcost_agent_job_ok",
                               "1 when the job's last run succeeded, 0 when it failed",
                               labels=["team", "agent_job"])
        jobs = agent.get("jobs") or {}
        for job in JOBS:
            entry = jobs.get(job) or {}
            a = _age(entry.get("ok_at") or (entry.get("at") if entry.get("ok") else None), now)
            if a is not None:
                age.add_metric([team, job], a)
            if entry.get("ok") is not None:
                ok.add_metric([team, job], 1.0 if entry["ok"] else 0.0)
        backlog = agent.get("backlog") or {}
        b_calls = GaugeMetricFamily("teamcost_agent_backlog_calls",
                                    "This machine's calls not pushed yet", labels=["team"])
        b_calls.add_metric([team], int(backlog.get("calls") or 0))
        b_usd = GaugeMetricFamily("teamcost_agent_backlog_usd",
                                  "Cost of this machine's calls not pushed yet, USD",
                                  labels=["team"])
        b_usd.add_metric([team], int(backlog.get("cost_nanos") or 0) / NANOS)
        # held: calls the last push kept back because Firestore holds a differing copy
        # (a conflict is reported, never overwritten; they stay in the backlog)
        held = GaugeMetricFamily("teamcost_agent_held_messages",
                                 "Calls the last push held back: Firestore has a differing "
                                 "copy (sync conflicts, never overwritten)", labels=["team"])
        push_result = (jobs.get("push") or {}).get("result") or {}
        conflicts = push_result.get("conflicts") if isinstance(push_result, dict) else None
        held.add_metric([team], len(conflicts) if isinstance(conflicts, list)
                        else int(conflicts or 0))
        snap_age = GaugeMetricFamily("teamcost_agent_snapshot_age_seconds",
                                     "Seconds since the agent last wrote its status",
                                     labels=["team"])
        s = _age(agent.get("written_at"), now)
        if s is not None:
            snap_age.add_metric([team], s)
        out += [age, ok, b_calls, b_usd, held, snap_age]
    return out


class Cached:
    """A value recomputed at most every ``ttl`` seconds (a budget read costs Firestore
    reads; a scrape every 15 s need not make one each time)."""

    def __init__(self, compute: Callable[[], Any], ttl: float) -> None:
        self.compute, self.ttl = compute, ttl
        self._at = -1e18
        self._value: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                try:
                    self._value = self.compute()
                except Exception:   # a failed read keeps the last value (or none)
                    pass
                self._at = time.monotonic()
            return self._value


class TeamcostCollector(Collector):
    """A prometheus-client collector computing every metric from stored data per scrape."""

    def __init__(self, config: Config, *, member_label: bool = False,
                 budget: Callable[[], Mapping[str, Any] | None] | None = None,
                 agent: Callable[[], Mapping[str, Any] | None] | None = None,
                 source: str | None = None) -> None:
        self.config = config
        self.member_label = member_label
        self.budget = budget or (lambda: None)
        self.agent = agent
        self.source = source
        self._lock = threading.Lock()   # one scan of the mirrors at a time
        self._client: Any = None
        self._refreshed = -1e18

    def _from_rollups(self) -> bool:
        """With complete rollups: refresh the rollup copy (at most every REFRESH_S; a
        failure keeps the copy as it is: counters then pause, never drop) and say so."""
        if self.source == "local" or not self.config.has_firestore:
            return False
        from teamcost.errors import TeamcostError
        from teamcost.reports.window_source import rollups_ready
        try:
            if self._client is None:
                from teamcost.sync.client import client_for
                self._client = client_for(self.config)
        except TeamcostError:
            return False
        if not rollups_ready(self.config, self._client):
            return False
        if time.monotonic() - self._refreshed >= REFRESH_S:
            from teamcost.sync.retry import Backoff
            from teamcost.sync.rollup_cache import RollupCache, refresh
            try:
                with RollupCache.for_config(self.config) as cache:
                    refresh(self._client, cache, self.config.team,
                            Backoff(attempts=2, base_s=0.2, cap_s=1.0))
            except TeamcostError:
                pass
            self._refreshed = time.monotonic()
        return True

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._from_rollups():
                rows = rollup_usage_rows(self.config, member_label=self.member_label)
            else:
                rows = usage_rows(self.config, member_label=self.member_label,
                                  source=self.source)
        yield from metric_families(rows, self.budget(), self.agent() if self.agent else None,
                                   team=self.config.team, member_label=self.member_label)


def registry_for(collector: Collector) -> Any:
    from prometheus_client import CollectorRegistry
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


def exposition(registry: Any, accept: str | None) -> tuple[bytes, str]:
    """The registry's metrics in the format the scraper asked for (OpenMetrics or text)."""
    from prometheus_client.exposition import choose_encoder
    encoder, ctype = choose_encoder(accept or "")
    return encoder(registry), ctype


def budget_reader(config: Config) -> Callable[[], Mapping[str, Any] | None]:
    """The team's budget status as ``budget check`` computes it, or None (no budget, no
    project, or Firestore unreachable)."""
    def read() -> Mapping[str, Any] | None:
        if not config.has_firestore:
            return None
        from teamcost.budget.check import budget_status
        from teamcost.errors import TeamcostError
        try:
            status = budget_status(config)
        except TeamcostError:
            return None
        return status.to_dict() if status is not None else None
    return read


__all__: Sequence[str] = ("usage_rows", "metric_families", "TeamcostCollector", "Cached",
                          "registry_for", "exposition", "budget_reader")
