"""The Firebase Auth emulator (firebase-tools 13.x, Node) as a session-scoped subprocess.

Found at $FIREBASE_TOOLS, .tools/node_modules/.bin/firebase (what `make test` installs)
or `firebase` on PATH. firebase-tools 13 runs the Auth emulator offline on Java 17 (it is
JavaScript; only other emulators need downloaded jars).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INSTALL_HINT = ("install firebase-tools 13 with `make tools` (npm install --prefix .tools "
                "firebase-tools@13) or set FIREBASE_TOOLS to a firebase executable")


class AuthEmulatorError(RuntimeError):
    pass


def find_firebase() -> str:
    candidates = [os.environ.get("FIREBASE_TOOLS"),
                  str(REPO / ".tools" / "node_modules" / ".bin" / "firebase"),
                  shutil.which("firebase")]
    for c in candidates:
        if c and Path(c).exists():
            return c
    raise AuthEmulatorError(f"no firebase-tools found for the Auth emulator: {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AuthEmulator:
    def __init__(self, project: str = "demo-teamcost-auth", timeout_s: float = 90) -> None:
        self.project = project
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="teamcost-auth-emu-"))
        (self.dir / "firebase.json").write_text(json.dumps(
            {"emulators": {"auth": {"host": "127.0.0.1", "port": self.port},
                           "ui": {"enabled": False}, "hub": {"port": _free_port()},
                           "logging": {"port": _free_port()}}}))
        self.log = open(self.dir / "emulator.log", "wb")
        env = {**os.environ, "NO_UPDATE_NOTIFIER": "1", "FIREBASE_CLI_EXPERIMENTS": ""}
        env.pop("FIRESTORE_EMULATOR_HOST", None)
        self.proc = subprocess.Popen(
            [find_firebase(), "emulators:start", "--only", "auth", "--project", project],
            cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AuthEmulatorError("the Auth emulator exited: "
                                        + (self.dir / "emulator.log").read_text()[-2000:])
            try:
                urllib.request.urlopen(f"http://{self.host}/", timeout=1).read()
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise AuthEmulatorError(f"the Auth emulator did not answer within {timeout_s:.0f}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
        self.log.close()

    def wipe(self) -> None:
        req = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{self.project}/accounts", method="DELETE")
        urllib.request.urlopen(req, timeout=10).read()
