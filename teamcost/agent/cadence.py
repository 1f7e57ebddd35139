"""When the agent pushes: at most every ``every`` seconds, and not in the middle of a burst.

Claude Code's calls come in turns: several calls a few seconds apart (the model answers,
a tool runs, the model answers again), then minutes of a human reading and typing. Each
push commit writes, besides its call documents, the rollup cells and the ledger-month
they touch (teamcost/sync/rollup_doc.py), so the fewer commits a turn takes, the fewer
writes. A push that falls due while calls are still arriving (one came within ``settle``
seconds) waits for a quiet ``settle`` seconds, but never more than ``settle`` past its
due time: a call waits at most ``every + settle`` seconds (plus a tick) before it is
pushed. A full batch waiting is pushed at once (agent/loop.py).
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_EVERY_S = 20.0      # the settle defaults to half of it: a call waits at most 30 s


def push_now(now: float, due_at: float, last_call_at: float | None, settle: float) -> bool:
    """Whether a push due at ``due_at`` goes now, the newest call seen at ``last_call_at``."""
    if now < due_at:
        return False
    return (last_call_at is None or now - last_call_at >= settle
            or now >= due_at + settle)


def simulate(arrivals: Sequence[float], every: float, settle: float,
             tick: float = 1.0) -> list[tuple[float, list[int]]]:
    """The agent's pushes for calls recorded at ``arrivals`` (seconds, sorted): when each
    push happens and the indices of the calls it commits, as the agent's loop (one cycle
    a ``tick``) would."""
    pushes: list[tuple[float, list[int]]] = []
    due = every
    nxt = 0                      # next call not yet recorded
    pending: list[int] = []
    last: float | None = None
    t = 0.0
    end = (arrivals[-1] if arrivals else 0.0) + every + settle + 2 * tick
    while t <= end:
        while nxt < len(arrivals) and arrivals[nxt] <= t:
            pending.append(nxt)
            last = t             # the agent notices a new call at its next cycle
            nxt += 1
        if push_now(t, due, last, settle):
            if pending:
                pushes.append((t, pending))
                pending = []
            due = t + every
        t += tick
    if pending:
        pushes.append((t, pending))
    return pushes
