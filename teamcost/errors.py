"""The exception hierarchy and every exit code teamcost uses.

The CLI turns each TeamcostError into one line on stderr and its ``exit_code``.
"""

from __future__ import annotations

TYPE_CHECKING = False   # every module imports this one: the status line too
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Exit codes: the CLI's whole vocabulary (README "Exit codes").
EXIT_OK = 0            # done; a budget under its warning threshold; a reconcile within tolerance
EXIT_ERROR = 1         # something failed (Firestore unreachable, a file unreadable, ...)
EXIT_USAGE = 2         # a bad flag or value: nothing was done
EXIT_WARN = 3          # a budget's warning threshold is crossed
EXIT_EXHAUSTED = 4     # a budget is exhausted (or the guard refused a call)
EXIT_CONFLICT = 5      # sync pushed what it could; some calls differ from Firestore's copy
EXIT_MISMATCH = 6      # verify: the rollups differ from the calls they should sum
# reconcile reuses 3 and 4: a CI gate reads "3 = money we did not see, 4 = money we over-count"
EXIT_UNRECORDED = 3    # reconcile: the provider billed more than teamcost recorded
EXIT_OVERCOUNTED = 4   # reconcile: teamcost recorded more than the provider billed
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

_FIELD_REF = r"\{field:([A-Za-z_][A-Za-z0-9_]*)\}"


class TeamcostError(Exception):
    """Base class of every error teamcost raises on purpose.

    ``exit_code`` is what the CLI exits with; messages must never contain secrets.
    """

    exit_code: int = EXIT_ERROR


class InvalidValue(TeamcostError, ValueError):
    """Bad input: names the field, the bad value and what would be accepted.

    The library names its own fields (``since``, ``amount``); ``accepted`` may refer to other
    fields as ``{field:until}``. A front end renders the message with its own names for them
    (the CLI: ``--since``, ``--until``; the web API: query parameters) through ``message``.
    """

    exit_code = EXIT_USAGE

    def __init__(self, field: str, value: Any, accepted: str) -> None:
        self.field = field
        self.value = value
        self.accepted = accepted
        super().__init__(self.message())

    def message(self, name: Callable[[str], str] = str) -> str:
        """The one-line message with every field shown as ``name(field)``."""
        shown = repr(self.value)
        if len(shown) > 80:  # both ends: a path's file name is at its end
            shown = shown[:40] + "..." + shown[-37:]
        import re

        accepted = re.sub(_FIELD_REF, lambda m: name(m.group(1)), self.accepted)
        return f"invalid {name(self.field)}: {shown}; expected {accepted}"


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


class ProviderAPIError(TeamcostError):
    """A provider's usage or cost API could not be read (unreachable, refused, malformed).

    Messages name the endpoint and the provider's error type, never a key.
    """
