"""What a provider billed beside what teamcost recorded, and the verdict: pure, no I/O.

Inputs are the provider's daily usage and cost buckets and teamcost's recorded totals, all
keyed by UTC day and model (the providers bucket in UTC, so calls are matched on UTC days
whatever the team's timezone). Money stays integer nano-dollars; a share or a percentage
is computed only for display.

Judging: each row of the chosen breakdown (day x model by default) is *unrecorded* when the
provider billed more than teamcost recorded by more than the tolerance (a share of what was
billed) and by at least one cent, *overcounted* in the other direction, else *ok*. Rows of
days the provider has not finished counting (today, UTC) are *partial* and not judged
unless asked. The verdict sums the flagged rows; when both directions occur, the larger
amount decides the exit code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from teamcost.errors import EXIT_OK, EXIT_OVERCOUNTED, EXIT_UNRECORDED, InvalidValue
from teamcost.money import format_usd, nanos_to_usd

SCHEMA_ID = "teamcost.reconcile/1"
BY_CHOICES = ("day", "model")
DEFAULT_BY = ("day", "model")
# cent rounding of the providers' amounts and a call that straddles UTC midnight (the
# provider buckets by request start, teamcost by completion) are not findings
FLOOR_NANOS = 10_000_000
FINDINGS_SHOWN = 5
ALL = "the whole window"


@dataclass(frozen=True)
class Tokens:
    """Token counts in teamcost's four kinds (input excludes cache reads and writes)."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(self.input + other.input, self.output + other.output,
                      self.cache_read + other.cache_read, self.cache_write + other.cache_write)

    def to_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input, "output_tokens": self.output,
                "cache_read_tokens": self.cache_read, "cache_write_tokens": self.cache_write}


@dataclass(frozen=True)
class UsageBucket:
    """The provider's token usage of one model on one UTC day."""

    day: date
    model: str
    tokens: Tokens
    requests: int | None = None


@dataclass(frozen=True)
class CostBucket:
    """What the provider billed on one UTC day for one model (or for a line no model
    carries, labelled like ``(web_search)``)."""

    day: date
    model: str
    cost_nanos: int


@dataclass(frozen=True)
class RecordedBucket:
    """What teamcost recorded for the provider on one UTC day and model."""

    day: date
    model: str
    calls: int
    tokens: Tokens
    cost_nanos: int
    unpriced_calls: int = 0


def parse_tolerance(value: str | None) -> Fraction:
    """``2%``, ``0.5%``, ``0%`` -> a fraction of the billed amount (0 to 100%)."""
    accepted = "a percentage from 0% to 100%, such as 2% or 0.5%"
    text = (value or "").strip()
    if not text.endswith("%"):
        raise InvalidValue("tolerance", value, accepted)
    try:
        pct = Decimal(text[:-1].strip())
    except ArithmeticError:
        raise InvalidValue("tolerance", value, accepted) from None
    if not pct.is_finite() or not 0 <= pct <= 100:
        raise InvalidValue("tolerance", value, accepted)
    return Fraction(pct) / 100


def parse_by(values: Sequence[str] | None) -> tuple[str, ...]:
    """--by day, --by model, --by day,model (the default): the rows' keys, in order."""
    if not values:
        return DEFAULT_BY
    out: list[str] = []
    for item in values:
        for name in (p.strip() for p in item.split(",")):
            if name not in BY_CHOICES:
                raise InvalidValue("by", name, "day, model or day,model")
            if name not in out:
                out.append(name)
    return tuple(sorted(out, key=BY_CHOICES.index))


def normalise_model(model: str, provider: str) -> str:
    """A recorded model as the provider names it: LiteLLM-style ``anthropic/claude-x``
    loses its provider prefix."""
    prefix = provider + "/"
    return model[len(prefix):] if model.startswith(prefix) else model


def match_models(recorded: Iterable[RecordedBucket], provider_models: dict[date, set[str]],
                 provider: str) -> list[RecordedBucket]:
    """Recorded buckets under the provider's model names.

    A recorded alias (``claude-sonnet-4-5``) that the provider does not report that day is
    moved onto the one dated snapshot it names (``claude-sonnet-4-5-20250929``) when exactly
    one such model was billed that day; otherwise it stays as recorded and is compared as is.
    """
    merged: dict[tuple[date, str], RecordedBucket] = {}
    for b in recorded:
        model = normalise_model(b.model, provider)
        known = provider_models.get(b.day, set())
        if model not in known:
            snapshots = [m for m in known if m.startswith(model + "-")]
            if len(snapshots) == 1:
                model = snapshots[0]
        key = (b.day, model)
        prev = merged.get(key)
        if prev is None:
            merged[key] = RecordedBucket(b.day, model, b.calls, b.tokens, b.cost_nanos,
                                         b.unpriced_calls)
        else:
            merged[key] = RecordedBucket(b.day, model, prev.calls + b.calls,
                                         prev.tokens + b.tokens, prev.cost_nanos + b.cost_nanos,
                                         prev.unpriced_calls + b.unpriced_calls)
    return list(merged.values())


@dataclass
class Row:
    """One line of the comparison: a day, a model, or a day and model."""

    day: date | None
    model: str | None
    partial: bool = False
    billed_nanos: int = 0
    recorded_nanos: int = 0
    provider_tokens: Tokens = field(default_factory=Tokens)
    recorded_tokens: Tokens = field(default_factory=Tokens)
    provider_requests: int | None = None
    recorded_calls: int = 0
    unpriced_calls: int = 0
    status: str = "ok"

    @property
    def difference_nanos(self) -> int:
        """Recorded minus billed: negative when teamcost saw less than was charged."""
        return self.recorded_nanos - self.billed_nanos

    @property
    def share(self) -> Fraction | None:
        return Fraction(self.difference_nanos, self.billed_nanos) if self.billed_nanos else None

    @property
    def label(self) -> str:
        parts = [self.day.isoformat() if self.day else "", self.model or ""]
        return " ".join(p for p in parts if p) or ALL

    def to_dict(self) -> dict[str, Any]:
        share = self.share
        return {
            "day": self.day.isoformat() if self.day else None,
            "model": self.model,
            "status": self.status,
            "partial": self.partial,
            "billed_nanos": self.billed_nanos,
            "billed_usd": nanos_to_usd(self.billed_nanos),
            "recorded_nanos": self.recorded_nanos,
            "recorded_usd": nanos_to_usd(self.recorded_nanos),
            "difference_nanos": self.difference_nanos,
            "difference_usd": nanos_to_usd(self.difference_nanos),
            "difference_share": float(share) if share is not None else None,
            "provider_tokens": self.provider_tokens.to_dict(),
            "recorded_tokens": self.recorded_tokens.to_dict(),
            "provider_requests": self.provider_requests,
            "recorded_calls": self.recorded_calls,
            "unpriced_calls": self.unpriced_calls,
        }


def judge_row(row: Row, tolerance: Fraction) -> str:
    """ok, unrecorded or overcounted (partial rows are not judged here)."""
    diff = row.difference_nanos
    if abs(diff) < FLOOR_NANOS or abs(diff) <= tolerance * row.billed_nanos:
        return "ok"
    return "unrecorded" if diff < 0 else "overcounted"


@dataclass(frozen=True)
class Verdict:
    status: str                 # ok | unrecorded | overcounted
    exit_code: int
    line: str
    unrecorded_nanos: int
    overcounted_nanos: int
    findings: tuple[Row, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "exit_code": self.exit_code, "line": self.line,
                "unrecorded_nanos": self.unrecorded_nanos,
                "unrecorded_usd": nanos_to_usd(self.unrecorded_nanos),
                "overcounted_nanos": self.overcounted_nanos,
                "overcounted_usd": nanos_to_usd(self.overcounted_nanos),
                "findings": [{"day": r.day.isoformat() if r.day else None, "model": r.model,
                              "status": r.status, "billed_nanos": r.billed_nanos,
                              "recorded_nanos": r.recorded_nanos,
                              "difference_nanos": r.difference_nanos} for r in self.findings]}


def _pct(share: Fraction | None) -> str:
    return "n/a" if share is None else f"{100 * float(share):+.2f}%"


def tolerance_text(tolerance: Fraction) -> str:
    pct = Decimal(tolerance.numerator) / Decimal(tolerance.denominator) * 100
    return f"{pct.normalize():f}%"


def _listing(rows: Sequence[Row]) -> str:
    ordered = sorted(rows, key=lambda r: (-abs(r.difference_nanos), r.label))
    shown = [f"{r.label} {format_usd(abs(r.difference_nanos), places=2)}"
             for r in ordered[:FINDINGS_SHOWN]]
    more = len(ordered) - FINDINGS_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def verdict(rows: Sequence[Row], total: Row, provider: str, tolerance: Fraction) -> Verdict:
    """The one line and exit code for CI from the judged (non-partial) rows."""
    judged = [r for r in rows if not r.partial]
    findings = [r for r in judged if r.status in ("unrecorded", "overcounted")]
    if not findings and judge_row(total, tolerance) != "ok":
        # many rows each under the cent floor can still add up to a miss over the window
        findings = [Row(None, None, billed_nanos=total.billed_nanos,
                        recorded_nanos=total.recorded_nanos, status=judge_row(total, tolerance))]
    under = [r for r in findings if r.status == "unrecorded"]
    over = [r for r in findings if r.status == "overcounted"]
    unrecorded = sum(-r.difference_nanos for r in under)
    overcounted = sum(r.difference_nanos for r in over)
    tol = tolerance_text(tolerance)
    if not findings:
        line = (f"OK: teamcost recorded {format_usd(total.recorded_nanos, places=2)} of the "
                f"{format_usd(total.billed_nanos, places=2)} {provider} billed "
                f"({_pct(total.share)}), within {tol}")
        return Verdict("ok", EXIT_OK, line, 0, 0, ())
    parts = []
    if under:
        parts.append(f"UNRECORDED: {format_usd(unrecorded, places=2)} billed that no teamcost "
                     f"source recorded: {_listing(under)}")
    if over:
        parts.append(f"OVERCOUNTED: {format_usd(overcounted, places=2)} recorded that "
                     f"{provider} did not bill (double counting or wrong prices): "
                     f"{_listing(over)}")
    status = "unrecorded" if unrecorded >= overcounted else "overcounted"
    code = EXIT_UNRECORDED if status == "unrecorded" else EXIT_OVERCOUNTED
    return Verdict(status, code, "; ".join(parts) + f" (tolerance {tol})", unrecorded,
                   overcounted, tuple(findings))


def _add_requests(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


def build_rows(usage: Iterable[UsageBucket], costs: Iterable[CostBucket],
               recorded: Iterable[RecordedBucket], *, by: Sequence[str],
               partial_days: frozenset[date] = frozenset()) -> list[Row]:
    """Rows keyed by ``by``; a partial day's cells never merge with complete days."""
    rows: dict[tuple[date | None, str | None, bool], Row] = {}

    def row(day: date, model: str) -> Row:
        partial = day in partial_days
        key = (day if ("day" in by or partial) else None,
               model if "model" in by else None, partial)
        if key not in rows:
            rows[key] = Row(key[0], key[1], partial=partial)
        return rows[key]

    for u in usage:
        r = row(u.day, u.model)
        r.provider_tokens = r.provider_tokens + u.tokens
        r.provider_requests = _add_requests(r.provider_requests, u.requests)
    for c in costs:
        r = row(c.day, c.model)
        r.billed_nanos += c.cost_nanos
    for b in recorded:
        r = row(b.day, b.model)
        r.recorded_nanos += b.cost_nanos
        r.recorded_tokens = r.recorded_tokens + b.tokens
        r.recorded_calls += b.calls
        r.unpriced_calls += b.unpriced_calls
    return sorted(rows.values(), key=lambda r: (r.day or date.min, r.model or "", r.partial))


def total_of(rows: Iterable[Row]) -> Row:
    t = Row(None, None)
    for r in rows:
        t.billed_nanos += r.billed_nanos
        t.recorded_nanos += r.recorded_nanos
        t.provider_tokens = t.provider_tokens + r.provider_tokens
        t.recorded_tokens = t.recorded_tokens + r.recorded_tokens
        t.provider_requests = _add_requests(t.provider_requests, r.provider_requests)
        t.recorded_calls += r.recorded_calls
        t.unpriced_calls += r.unpriced_calls
    return t


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    total: Row              # the judged rows (partial days left out unless included)
    partial_total: Row      # the partial days alone
    verdict: Verdict


def compare(usage: Sequence[UsageBucket], costs: Sequence[CostBucket],
            recorded: Sequence[RecordedBucket], *, provider: str,
            by: Sequence[str] = DEFAULT_BY, tolerance: Fraction = Fraction(2, 100),
            partial_days: frozenset[date] = frozenset()) -> Comparison:
    """Side by side rows, their statuses, the totals and the verdict."""
    provider_models: dict[date, set[str]] = {}
    for day, model in [*((u.day, u.model) for u in usage), *((c.day, c.model) for c in costs)]:
        provider_models.setdefault(day, set()).add(model)
    matched = match_models(recorded, provider_models, provider)
    rows = build_rows(usage, costs, matched, by=by, partial_days=partial_days)
    for r in rows:
        r.status = "partial" if r.partial else judge_row(r, tolerance)
    total = total_of(r for r in rows if not r.partial)
    partial_total = total_of(r for r in rows if r.partial)
    return Comparison(tuple(rows), total, partial_total,
                      verdict(rows, total, provider, tolerance))
