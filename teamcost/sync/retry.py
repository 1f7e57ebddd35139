"""Bounded exponential backoff with full jitter for Firestore RPCs, and error translation.

The gapic client has its own retry policies; teamcost turns them off for the calls
it makes (``retry=None``) and retries here instead, so that what is retried, how
often, and what the user is told when it gives up are decided in one place.
"""

from __future__ import annotations

import inspect
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TypeVar

from google.api_core import exceptions as gexc

from teamcost.errors import PermissionDenied, SyncError

T = TypeVar("T")

# Transient: the write may or may not have happened; retrying a create() is safe
# because a repeat meets ALREADY_EXISTS and is then compared, never overwritten.
TRANSIENT: tuple[type[BaseException], ...] = (
    gexc.ServiceUnavailable,      # UNAVAILABLE: dropped connection, server restart
    gexc.DeadlineExceeded,        # DEADLINE_EXCEEDED: the response may have been lost
    gexc.ResourceExhausted,       # RESOURCE_EXHAUSTED: quota / too much contention
    gexc.Aborted,                 # ABORTED: transaction contention
    gexc.InternalServerError,     # INTERNAL: the server asks to be retried
)


class FirestoreUnreachable(SyncError):
    """Firestore's endpoint does not accept connections (a stopped local emulator);
    ``reason`` says so in a few words, for views that only warn."""

    def __init__(self, what: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{what} failed: {reason}; nothing was lost, run the command again "
                         "when Firestore is reachable")


@dataclass(frozen=True)
class Backoff:
    attempts: int = 7        # total tries, so at most 6 sleeps
    base_s: float = 0.2
    cap_s: float = 8.0

    def delay(self, attempt: int, rng: random.Random = random.Random()) -> float:
        # "full jitter": uniform in [0, min(cap, base * 2**attempt)]; spreads retries of
        # several pushers that failed together instead of having them collide again
        return rng.uniform(0, min(self.cap_s, self.base_s * (2 ** attempt)))


DEFAULT_BACKOFF = Backoff()


def call_with_retry(fn: Callable[[], T], what: str, backoff: Backoff = DEFAULT_BACKOFF,
                    on_retry: Callable[[int, BaseException], None] | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    passthrough: tuple[type[BaseException], ...] = ()) -> T:
    """Run ``fn``; retry transient failures with backoff; translate the rest.

    Exceptions in ``passthrough`` are re-raised untouched for the caller to handle
    (push handles ALREADY_EXISTS itself).
    """
    for attempt in range(backoff.attempts):
        try:
            return fn()
        except passthrough as exc:
            release_frames(exc)
            raise
        except TRANSIENT as exc:
            release_frames(exc)      # retried or replaced below: see release_frames
            down = unreachable_emulator() if isinstance(exc, gexc.ServiceUnavailable) else None
            if down is not None:
                # a local emulator that refuses connections is not coming back within a
                # backoff: say so now instead of after ~8 s of retries
                raise FirestoreUnreachable(what, down) from None
            if attempt == backoff.attempts - 1:
                raise SyncError(f"{what} failed after {backoff.attempts} attempts: "
                                f"{describe(exc)}; nothing was lost, run the command again "
                                "when Firestore is reachable") from None
            if on_retry is not None:
                on_retry(attempt + 1, exc)
            sleep(backoff.delay(attempt))
        except gexc.GoogleAPICallError as exc:
            release_frames(exc)
            raise translate(exc, what) from None
    raise AssertionError("unreachable")  # pragma: no cover


# a suspended generator's frame is never cleared: clearing it would close the generator
_GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def release_frames(exc: BaseException) -> None:
    """Drop the locals of the finished frames ``exc`` and the exceptions it chains
    (``__cause__``, ``__context__``) passed through, and of their finished callers; code
    and line numbers stay, so the traceback still prints.

    A failed RPC leaves a reference cycle: grpc's interceptor returns the error to
    google-cloud-firestore's logging interceptor, which keeps it in a local (``response``)
    of a frame that the error's own traceback reaches (a frame's ``f_back``), and those
    frames reach every frame below them: the caller's batch of calls, its rollup writes, a
    pull's page. Only the garbage collector's full pass, which is rare, frees a cycle, so
    while Firestore was down (a failed try every second or two, most of them retried here
    and never seen by a caller) the agent kept copies of its backlog piling up, and the
    Python allocator's arenas that pile filled stayed mapped afterwards: the soak's ~8 MB
    step after an outage (docs/soak.md). Frames still running are left alone."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        while tb is not None:
            _clear_finished(tb.tb_frame)
            tb = tb.tb_next
        todo += [e.__cause__, e.__context__]


def _clear_finished(frame: FrameType | None) -> None:
    while frame is not None and not frame.f_code.co_flags & _GENERATOR_FLAGS:
        back = frame.f_back
        try:
            frame.clear()
        except RuntimeError:      # still running, and so is every frame above it
            return
        frame = back


_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
PROBE_TIMEOUT_S = 1.0


def unreachable_emulator(host: str | None = None) -> str | None:
    """Why the local Firestore emulator (FIRESTORE_EMULATOR_HOST) cannot be reached, in
    words, or None when it accepts a connection, is not local, or none is configured.

    A TCP connect on loopback is answered at once (refused) or within the timeout, so a
    stopped emulator is given up on in about a second rather than after a full backoff."""
    host = host if host is not None else os.environ.get("FIRESTORE_EMULATOR_HOST", "")
    name, _, port = host.rpartition(":")
    if name not in _LOOPBACK or not port.isdigit():
        return None
    try:
        with socket.create_connection((name.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            return None
    except ConnectionRefusedError:
        why = "connection refused"
    except TimeoutError:
        why = f"no answer within {PROBE_TIMEOUT_S:g} s"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    return f"the Firestore emulator at {host} is not running ({why})"


def describe(exc: BaseException) -> str:
    """One line: the gRPC status name and the first line of the message."""
    code = getattr(exc, "grpc_status_code", None)
    name = code.name if code is not None else type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return f"{name}: {message.splitlines()[0] if message else ''}".rstrip(": ")


def translate(exc: BaseException, what: str) -> SyncError:
    """A non-transient Firestore error as a TeamcostError that says what to fix."""
    if isinstance(exc, gexc.PermissionDenied):
        return PermissionDenied(
            f"{what} was refused by Firestore (PERMISSION_DENIED): check that you are "
            "signed in as a member of this team (`teamcost whoami`), that the credentials "
            "belong to the project, and that firestore.rules are deployed")
    if isinstance(exc, gexc.Unauthenticated):
        return PermissionDenied(
            f"{what} was refused by Firestore (UNAUTHENTICATED): sign in again with "
            "`teamcost login`, or set GOOGLE_APPLICATION_CREDENTIALS for an admin")
    if isinstance(exc, gexc.NotFound):
        return SyncError(
            f"{what} failed: Firestore says NOT_FOUND ({describe(exc)}); check the "
            "project id (`teamcost init --project ID`) and that the project has a "
            "Firestore database")
    if isinstance(exc, gexc.FailedPrecondition) and "index" in str(exc).lower():
        return SyncError(f"{what} needs a composite index: deploy firestore.indexes.json "
                         f"(`firebase deploy --only firestore:indexes`); {describe(exc)}")
    return SyncError(f"{what} failed: {describe(exc)}")
