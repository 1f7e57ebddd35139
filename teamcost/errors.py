"""The exception hierarchy. The CLI turns each into one line on stderr and an exit code."""

from __future__ import annotations

from typing import Any


class TeamcostError(Exception):
    """Base class of every error teamcost raises on purpose.

    ``exit_code`` is what the CLI exits with; messages must never contain secrets.
    """

    exit_code: int = 1


class InvalidValue(TeamcostError, ValueError):
    """Bad input: names the field, the bad value and what would be accepted."""

    exit_code = 2

    def __init__(self, field: str, value: Any, accepted: str) -> None:
        self.field = field
        self.value = value
        self.accepted = accepted
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid {field}: {shown}; expected {accepted}")


class ConfigError(TeamcostError):
    """The config file or environment cannot be used."""


class LedgerError(TeamcostError):
    """The local SQLite ledger cannot be opened or written."""


class DuplicateCallError(LedgerError):
    """A call_id already recorded with different content (history is never rewritten)."""

    def __init__(self, call_id: str, differing: list[str]) -> None:
        self.call_id = call_id
        self.differing = differing
        super().__init__(
            f"call {call_id!r} is already recorded with different "
            f"{', '.join(differing)}; recorded calls are never changed"
        )


class SyncError(TeamcostError):
    """Firestore could not be reached or refused the work."""


class PermissionDenied(SyncError):
    """Firestore said PERMISSION_DENIED: credentials or rules need fixing."""


class AuthError(TeamcostError):
    """Sign-in, token exchange or token refresh failed."""


class BudgetError(TeamcostError):
    """A budget cannot be read, set or evaluated."""


class BudgetExceeded(TeamcostError):
    """Raised by the guard before a call that would exhaust a hard-stop budget."""

    exit_code = 4

    def __init__(self, team: str, spent_nanos: int, limit_nanos: int, period: str,
                 estimate_nanos: int = 0) -> None:
        self.team = team
        self.spent_nanos = spent_nanos
        self.limit_nanos = limit_nanos
        self.period = period
        self.estimate_nanos = estimate_nanos
        super().__init__(
            f"team {team} budget exhausted: ${spent_nanos / 1e9:,.2f} spent "
            f"+ ${estimate_nanos / 1e9:,.2f} estimated of ${limit_nanos / 1e9:,.2f} "
            f"this {period}"
        )


class BudgetUnavailable(BudgetExceeded):
    """The guard could not learn the team's spend and is configured to fail closed.

    A subclass of BudgetExceeded so ``except BudgetExceeded`` covers every "do not make
    this call" answer.
    """

    exit_code = 4

    def __init__(self, team: str, reason: str) -> None:
        self.team = team
        self.reason = reason
        self.spent_nanos = self.limit_nanos = self.estimate_nanos = 0
        self.period = ""
        TeamcostError.__init__(
            self, f"team {team} budget cannot be checked ({reason}) and the guard fails "
            "closed ([budget] fail_closed = true): the call was not made")
