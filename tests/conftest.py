"""Shared fixtures: an isolated TEAMCOST_HOME per test, and the real Firestore emulator.

The emulator is the gcloud ``cloud-firestore-emulator`` started once per session as a
subprocess (no Docker engine runs here). If FIRESTORE_EMULATOR_HOST is already set,
that emulator is used instead. Data is wiped between tests with the emulator's
DELETE endpoint; each test also gets its own project id, so rules-enabled emulators
and parallel tests never see each other's documents.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

# Tests fork while gRPC is live in this process (pexpect's pty spawn, after in-process
# pushes): grpcio's fork support (on unless this says otherwise; read when grpc loads,
# which must come after this line) restarts its event-engine poller thread in the forked
# child, the child then closes every inherited descriptor before exec (ptyprocess does),
# and a poller that wakes in that window aborts the child on "epoll_wait error: Bad file
# descriptor" (SIGABRT, before `teamcost watch` ever ran; grpc/grpc#43055). ~1% of pty
# spawns under load; tests/system/test_fork_with_grpc.py. No test uses gRPC in a forked
# child, so there is nothing for fork support to do here.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"

from teamcost import tracker as _tracker  # noqa: E402
from teamcost.attribution import reset_process_attribution  # noqa: E402
from teamcost.emulator import Emulator, EmulatorError, is_up, start_emulator  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "firestore.rules"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (``CI`` set) a skipped test fails the run: CI must prove everything."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which must run every test: {reason}"


@pytest.fixture(autouse=True)
def teamcost_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty TEAMCOST_HOME and no inherited teamcost settings."""
    home = tmp_path / "teamcost-home"
    home.mkdir()
    for var in ("TEAMCOST_TEAM", "TEAMCOST_MEMBER", "TEAMCOST_PROJECT", "TEAMCOST_LEDGER",
                "TEAMCOST_TZ", "TEAMCOST_FAIL_CLOSED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TEAMCOST_HOME", str(home))
    monkeypatch.setenv("TEAMCOST_MEMBER", "tester@example.com")
    # the repository and CI a test runs in are not the test's: attribution of this process
    # (and of the teamcost subprocesses it starts) is off unless a test turns it on
    monkeypatch.setenv("TEAMCOST_ATTRIBUTION", "0")
    reset_process_attribution()
    _tracker.set_default_tracker(None)
    yield home
    _tracker.set_default_tracker(None)
    reset_process_attribution()


@dataclass
class FirestoreEmulator:
    host: str
    emulator: Emulator
    project: str

    def wipe(self) -> None:
        self.emulator.wipe(self.project)


@pytest.fixture(scope="session")
def _emulator_process() -> Iterator[Emulator]:
    existing = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if existing:
        if not is_up(existing):
            pytest.fail(f"FIRESTORE_EMULATOR_HOST={existing} is set but nothing answers there")
        yield Emulator(existing, None)
        return
    try:
        emu = start_emulator(rules=RULES if RULES.exists() else None)
    except EmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def firestore_emulator(_emulator_process: Emulator,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[FirestoreEmulator]:
    """The running emulator with a fresh project id; FIRESTORE_EMULATOR_HOST points at it."""
    project = f"demo-t{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", _emulator_process.host)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    fe = FirestoreEmulator(_emulator_process.host, _emulator_process, project)
    yield fe
    fe.wipe()


@pytest.fixture
def firestore_client(firestore_emulator: FirestoreEmulator):
    """An admin google-cloud-firestore client on the emulator (bypasses rules)."""
    from google.cloud import firestore

    client = firestore.Client(project=firestore_emulator.project)
    yield client
    client.close()
