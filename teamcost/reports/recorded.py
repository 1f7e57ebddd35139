"""One provider's recorded calls summed per UTC day and model (for ``teamcost reconcile``).

The calls come from ``frames.load_calls`` (the team cache's Parquet mirror plus this
machine's calls the cache does not hold yet, or the local ledger alone), so a call is
counted once. Days are UTC whatever the team's timezone: the providers bucket in UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from teamcost.reports.frames import load_calls

if TYPE_CHECKING:
    from teamcost.config import Config

_SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
         "cost_nanos", "unpriced")


class DayModelTotals(NamedTuple):
    day: date
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_nanos: int
    unpriced_calls: int


class PlanUsage(NamedTuple):
    calls: int
    cost_nanos: int


def day_model_totals(config: Config, since: datetime, until: datetime, provider: str, *,
                     source: str | None = None, plans: Any = None,
                     excluded: list[PlanUsage] | None = None
                     ) -> tuple[list[DayModelTotals], str]:
    """Totals of ``provider``'s calls with since <= ts < until, and the source read.

    Calls a seat covers (teamcost.plans.classify with ``plans``, or their source's own
    ``billing=plan`` tag) are left out: the provider's API bill does not hold subscription
    usage, so it is neither unrecorded nor overcounted spend. What was left out is appended
    to ``excluded``."""
    frame, used = load_calls(config, since, until, source=source)
    df = frame[frame["provider"].astype(object) == provider]
    if not df.empty:
        from teamcost.reports.billing import plan_rows
        covered = plan_rows(df, plans)
        if excluded is not None:
            excluded.append(PlanUsage(int(covered.sum()),
                                      int(df.loc[covered, "cost_nanos"].sum())))
        df = df[~covered]
    if df.empty:
        return [], used
    df = df.assign(day=df["ts"].dt.tz_convert("UTC").dt.floor("D"),
                   model=df["model"].astype(object),
                   unpriced=(~df["priced"]).astype("int64"))
    grouped = df.groupby(["day", "model"], sort=True)
    sums = grouped[list(_SUMS)].sum()
    calls = grouped.size()
    out = []
    for (day, model), row in sums.iterrows():
        out.append(DayModelTotals(day.date(), str(model), int(calls[(day, model)]),
                                  int(row["input_tokens"]), int(row["output_tokens"]),
                                  int(row["cache_read_tokens"]), int(row["cache_write_tokens"]),
                                  int(row["cost_nanos"]), int(row["unpriced"])))
    return out, used
