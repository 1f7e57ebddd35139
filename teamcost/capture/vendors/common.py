"""What the vendor importers share: who a vendor's user is on the team, exact amounts, the
result, and recording a batch of calls counted once.

A vendor's user (Cursor's e-mail, GitHub's login) becomes a team member through
``[member_aliases]`` in config.toml (``"alice@corp.com" = "alice"``, matched without regard
to case). A user with no alias is recorded under their vendor identity as given (an e-mail
is a valid member name) and listed in the result as unmapped: never dropped, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from teamcost.capture.logs.base import ImportResult, Sink
from teamcost.config import CONFIG_FILE, Config, check_name, read_config_file
from teamcost.errors import ConfigError, InvalidValue
from teamcost.httpapi import AdminKey
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.money import MAX_CALL_NANOS, NANOS_PER_USD

# the tag every billing-aware source sets (teamcost.plans reads it): "metered" (billed per
# use), "plan" (included in a seat or subscription)
BILLING_TAG = "billing"
METERED = "metered"
PLAN = "plan"


@dataclass
class VendorImportResult(ImportResult):
    """An import from a vendor API: ``lines`` counts the usage rows read, ``files`` the
    HTTP requests made; ``unmapped`` the vendor users without a ``[member_aliases]``
    entry (recorded under their vendor identity)."""

    unmapped: list[str] = field(default_factory=list)
    rows_by_billing: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        unmapped = (f"; {len(self.unmapped)} vendor user(s) not in [member_aliases], "
                    f"recorded under their own name: {', '.join(self.unmapped[:10])}"
                    if self.unmapped else "")
        return (f"imported {self.imported:,} calls ({self.already:,} already present, "
                f"{self.skipped:,} rows skipped) from {self.lines:,} usage rows in "
                f"{self.files:,} requests in {self.seconds:.1f}s{unmapped}")


class MemberMap:
    """Vendor identity -> team member, from ``[member_aliases]``."""

    def __init__(self, aliases: Mapping[str, str]) -> None:
        self._aliases = {k.casefold(): v for k, v in aliases.items()}
        self.unmapped: set[str] = set()

    @classmethod
    def from_config(cls, config: Config) -> MemberMap:
        path: Path = config.home / CONFIG_FILE
        table = read_config_file(path).get("member_aliases", {})
        if not isinstance(table, dict):
            raise ConfigError(f"member_aliases in {path} must be a table ([member_aliases]) "
                              'of "vendor e-mail or login" = "member"')
        for k, v in table.items():
            try:
                check_name(f"member_aliases.{k}"[:80], v)
            except InvalidValue as exc:
                raise ConfigError(f"[member_aliases] in {path}: {exc}") from None
        return cls(table)

    def member(self, identity: str) -> str:
        found = self._aliases.get(identity.casefold())
        if found is not None:
            return found
        self.unmapped.add(identity)
        return identity


def cents_to_nanos(value: Any, name: str) -> int:
    """A vendor's amount in cents (a JSON number read as Decimal) as nanos, half-even once."""
    return _to_nanos(value, name, Decimal(NANOS_PER_USD) / 100)


def usd_to_nanos_exact(value: Any, name: str) -> int:
    """A vendor's amount in dollars (a JSON number read as Decimal) as nanos, half-even once."""
    return _to_nanos(value, name, Decimal(NANOS_PER_USD))


def _to_nanos(value: Any, name: str, scale: Decimal) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValueError(f"{name} is {value!r}, not a number")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"{name} is {value!r}, not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{name} is {value!r}, not a finite amount of at least 0")
    if amount * scale > MAX_CALL_NANOS:   # checked first: 1e30 cannot be quantized
        raise ValueError(f"{name} is {value!r}, more than one call may cost")
    nanos = int((amount * scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    if nanos > MAX_CALL_NANOS:
        raise ValueError(f"{name} is {value!r}, more than one call may cost")
    return nanos


def record(ledger: Ledger, result: VendorImportResult,
           calls: Iterable[tuple[CallRecord, str]]) -> None:
    """Record calls once: an id already present with the same content counts as already
    present; with different content (the vendor changed a past figure) it is reported as a
    skipped row, and the recorded call is kept as it was."""
    sink = Sink(ledger, result, lenient=False)
    for rec, where in calls:
        sink.add(rec, where)
    sink.flush()


def vendor_key(env: Mapping[str, str], name: str, what: str) -> AdminKey:
    value = env.get(name)
    if not value:
        raise ConfigError(f"no {what}: set {name}")
    return AdminKey(value, name)
