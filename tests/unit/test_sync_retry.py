"""Backoff maths and error translation (pure; no network)."""

from __future__ import annotations

import gc
import random
import traceback
import weakref

import pytest
from google.api_core import exceptions as gexc

from teamcost.errors import PermissionDenied, SyncError
from teamcost.sync.retry import Backoff, call_with_retry, translate


def test_delays_are_bounded_full_jitter() -> None:
    b = Backoff(attempts=7, base_s=0.2, cap_s=8.0)
    rng = random.Random(1)
    for attempt, ceiling in enumerate([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 8.0, 8.0]):
        delays = [b.delay(attempt, rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # really spread over the whole range


@pytest.mark.parametrize("exc", [gexc.ServiceUnavailable("x"), gexc.DeadlineExceeded("x"),
                                 gexc.ResourceExhausted("x"), gexc.Aborted("x")])
def test_transient_errors_are_retried_then_succeed(exc) -> None:
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise exc
        return "ok"

    assert call_with_retry(flaky, "op", Backoff(5, 0.1, 1.0), sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2 and all(0 <= s <= 0.2 for s in sleeps)


def test_gives_up_after_the_bound_with_the_status_name() -> None:
    sleeps: list[float] = []

    def down():
        raise gexc.ServiceUnavailable("connection refused")

    with pytest.raises(SyncError) as info:
        call_with_retry(down, "pushing 3 calls", Backoff(3, 0.1, 1.0), sleep=sleeps.append)
    assert len(sleeps) == 2
    assert str(info.value) == ("pushing 3 calls failed after 3 attempts: UNAVAILABLE: "
                               "connection refused; nothing was lost, run the command again "
                               "when Firestore is reachable")


def test_permission_denied_fails_fast_with_what_to_fix() -> None:
    calls = []

    def denied():
        calls.append(1)
        raise gexc.PermissionDenied("Missing or insufficient permissions.")

    with pytest.raises(PermissionDenied) as info:
        call_with_retry(denied, "pushing 5 calls", sleep=lambda s: None)
    assert calls == [1]  # not retried
    assert "PERMISSION_DENIED" in str(info.value) and "teamcost whoami" in str(info.value)
    assert info.value.exit_code == 1


def test_missing_project_and_missing_index_messages() -> None:
    nf = translate(gexc.NotFound("The database (default) does not exist for project x"), "pull")
    assert "NOT_FOUND" in str(nf) and "teamcost init --project" in str(nf)
    idx = translate(gexc.FailedPrecondition("The query requires an index."), "pull")
    assert "firestore.indexes.json" in str(idx)
    auth = translate(gexc.Unauthenticated("token expired"), "push")
    assert isinstance(auth, PermissionDenied) and "teamcost login" in str(auth)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_stopped_local_emulator_is_given_up_on_at_once(monkeypatch) -> None:
    """UNAVAILABLE from a loopback emulator that refuses connections: no backoff, one line
    naming it (issue 26: a stopped demo emulator cost ~6 s of retries per read)."""
    import time

    port = _closed_port()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{port}")
    sleeps: list[float] = []

    def fails() -> None:
        raise gexc.ServiceUnavailable("failed to connect to all addresses; last error: ...")

    t0 = time.monotonic()
    with pytest.raises(SyncError) as info:
        call_with_retry(fails, "reading the budget", Backoff(attempts=7), sleep=sleeps.append)
    assert sleeps == [] and time.monotonic() - t0 < 1.5
    assert str(info.value) == (f"reading the budget failed: the Firestore emulator at "
                               f"127.0.0.1:{port} is not running (connection refused); nothing "
                               "was lost, run the command again when Firestore is reachable")


def test_a_running_emulator_or_a_remote_host_still_gets_the_backoff(monkeypatch) -> None:
    import socket

    with socket.socket() as listener:      # something accepts connections: a restart, say
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        for host in (f"127.0.0.1:{listener.getsockname()[1]}", "firestore.example:443"):
            monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)
            sleeps: list[float] = []
            with pytest.raises(SyncError, match="after 3 attempts"):
                call_with_retry(lambda: (_ for _ in ()).throw(gexc.ServiceUnavailable("x")),
                                "pushing", Backoff(attempts=3), sleep=sleeps.append)
            assert len(sleeps) == 2


class _Batch:
    """Stands for what a caller holds while its RPC fails (a push's batch of calls)."""


def _intercepted_rpc() -> None:
    # grpc's interceptor chain, as google-cloud-firestore's logging interceptor runs it: the
    # continuation returns the error, the interceptor keeps it in a local, and the error is
    # raised from there, so its traceback reaches the frame that holds it: a cycle
    def continuation() -> BaseException:
        try:
            raise gexc.ServiceUnavailable("failed to connect to all addresses")
        except gexc.ServiceUnavailable as rpc_error:
            return rpc_error

    response = continuation()
    raise response


def test_a_failed_rpc_leaves_no_cycle_keeping_the_callers_data() -> None:
    """Each try's error, retried or raised, lets go of its frames: what the caller held is
    freed when the caller is done, not at the garbage collector's next full pass (which,
    while Firestore was down, let a push's batch pile up once per failed try)."""
    batch = _Batch()
    alive = weakref.ref(batch)

    def job(held: _Batch) -> None:
        call_with_retry(_intercepted_rpc, "pushing", Backoff(attempts=3, base_s=0, cap_s=0),
                        sleep=lambda s: None)

    gc.collect()
    gc.disable()
    try:
        try:
            job(batch)
        except SyncError as exc:
            assert "failed after 3 attempts" in str(exc)
        else:
            raise AssertionError("the job should have failed")
        del batch
        assert alive() is None, "a reference cycle still holds the caller's frame"
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_released_frames_keep_the_traceback_printable() -> None:
    try:
        call_with_retry(_intercepted_rpc, "pushing", Backoff(attempts=1), sleep=lambda s: None)
    except SyncError as exc:
        context = exc.__context__
    assert isinstance(context, gexc.ServiceUnavailable)
    text = "".join(traceback.format_exception(context))
    assert "_intercepted_rpc" in text and "raise response" in text
