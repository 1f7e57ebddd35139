"""Find, start and stop the real Cloud Firestore emulator (a Java subprocess).

Used by the test fixtures and by ``teamcost demo``. Lookup order: the
``TEAMCOST_FIRESTORE_EMULATOR`` env var (path to the launcher script or the jar),
the gcloud SDK component, firebase-tools' download cache.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from teamcost.errors import TeamcostError

INSTALL_HINT = (
    "no Cloud Firestore emulator found. Install one of: the gcloud component "
    "(`gcloud components install cloud-firestore-emulator`, or Debian's "
    "google-cloud-cli-firestore-emulator package), or firebase-tools "
    "(`npx firebase-tools@13 setup:emulators:firestore`); or point "
    "TEAMCOST_FIRESTORE_EMULATOR at its launcher or jar. It needs Java 17+.")

_GCLOUD_DIRS = [
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator",
    "/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator",
    "/opt/google-cloud-sdk/platform/cloud-firestore-emulator",
    os.path.expanduser("~/google-cloud-sdk/platform/cloud-firestore-emulator"),
]


class EmulatorError(TeamcostError):
    """The emulator could not be found or started."""


def find_emulator() -> list[str]:
    """The command that starts the emulator (without --host/--port), or EmulatorError."""
    override = os.environ.get("TEAMCOST_FIRESTORE_EMULATOR")
    if override and not os.path.isfile(override):
        raise EmulatorError(f"TEAMCOST_FIRESTORE_EMULATOR={override!r} is not a file; "
                            + INSTALL_HINT)
    candidates: list[str] = [override] if override else []
    for d in _GCLOUD_DIRS:
        candidates += [os.path.join(d, "cloud_firestore_emulator"),
                       os.path.join(d, "cloud-firestore-emulator.jar")]
    sdk = shutil.which("gcloud")
    if sdk:
        root = Path(os.path.realpath(sdk)).parent.parent
        candidates.append(str(root / "platform/cloud-firestore-emulator/cloud_firestore_emulator"))
    candidates += sorted(glob.glob(os.path.expanduser(
        "~/.cache/firebase/emulators/cloud-firestore-emulator-v*.jar")), reverse=True)
    for c in candidates:
        if c and os.path.isfile(c):
            if c.endswith(".jar"):
                java = shutil.which("java")
                if not java:
                    raise EmulatorError(f"found the emulator at {c} but no `java` (17+) on PATH")
                return [java, "-jar", c]
            return [c]
    raise EmulatorError(INSTALL_HINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Emulator:
    """A running emulator process; ``host`` is host:port for FIRESTORE_EMULATOR_HOST."""

    host: str
    process: subprocess.Popen[bytes] | None
    log_path: str | None = None

    def wipe(self, project: str) -> None:
        """Delete every document of ``project`` (the emulator's own reset endpoint)."""
        url = (f"http://{self.host}/emulator/v1/projects/{project}"
               "/databases/(default)/documents")
        req = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    def export(self, project: str, directory: str | Path) -> Path:
        """Write the project's documents to ``directory``; returns the metadata file to seed
        a later emulator with (``start_emulator(seed=...)``)."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        body = json.dumps({"database": f"projects/{project}/databases/(default)",
                           "export_directory": str(directory)}).encode()
        req = urllib.request.Request(f"http://{self.host}/emulator/v1/projects/{project}:export",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
        return max(Path(directory).rglob("*.overall_export_metadata"),
                   key=lambda p: p.stat().st_mtime)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # the launcher script execs java; kill the whole group so no JVM lingers
            try:
                os.killpg(self.process.pid, 15)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=10)


def is_up(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_emulator(rules: str | Path | None = None, port: int | None = None,
                   timeout_s: float = 90.0, seed: str | Path | None = None) -> Emulator:
    """Start the emulator on a free loopback port and wait until it answers HTTP.

    ``seed``: an ``.overall_export_metadata`` file written by ``Emulator.export`` to start
    with that data (a restart that keeps what the emulator held)."""
    cmd = find_emulator()
    port = port or free_port()
    args = [*cmd, "--host", "127.0.0.1", "--port", str(port)]
    if rules:
        args += ["--rules", str(rules)]
    if seed:
        args += ["--seed_from_export", str(seed)]
    log_fd, log_path = tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")
    proc = subprocess.Popen(args, stdout=log_fd, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    os.close(log_fd)
    emu = Emulator(f"127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = Path(log_path).read_text(errors="replace")[-2000:]
            raise EmulatorError(f"the Firestore emulator exited with code {proc.returncode}: "
                                f"{tail.strip().splitlines()[-1] if tail.strip() else 'no output'}"
                                f" (log: {log_path})")
        if is_up(emu.host):
            return emu
        time.sleep(0.2)
    emu.stop()
    raise EmulatorError(f"the Firestore emulator did not answer on {emu.host} within "
                        f"{timeout_s:.0f}s (log: {log_path})")
