"""The README's tour, as a newcomer runs it: a fresh clone, nothing running, each line typed
in order. Every command exits as the tour says, in its time, with no traceback and no gRPC
text on either stream; `make demo` runs again after the tour wrote into the demo's home.

The clone reuses this checkout's virtualenv (``VENV=...`` for make, its bin/ on PATH) rather
than installing one: what is tested is the tour, not pip. The demo's emulator stops with
the demo, so every command after it runs with Firestore unreachable (the offline path).
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.system.test_readme import README, REPO, readme_blocks

VENV = Path(sys.executable).parent.parent
# what a newcomer must never see: a traceback, or the Firestore client's transport talk
LEAKS = re.compile(r"Traceback|grpc|_InactiveRpcError|StatusCode\.|failed to connect to all "
                   r"addresses|ipv4:|UNAVAILABLE:|absl::", re.I)
_EXITS = re.compile(r"#.*\bexits (\d+)")
# CPU seconds (user + system, the command and its children) a step may take: a report with
# Firestore unreachable, under 2 s. CPU time, not wall time: on 2 cores shared with other
# work a wall clock measures the neighbours. Waiting (retries, timeouts) costs no CPU, so
# every step also has a wall limit; tests/unit/test_sync_retry.py proves a stopped local
# emulator costs no backoff at all.
LIMITS = {"make demo": 240.0, "teamcost report --since 7d": 2.0}
DEFAULT_LIMIT = 20.0
WALL = {"make demo": 300.0}
DEFAULT_WALL = 8.0


@dataclass
class Step:
    command: str
    exit_code: int
    serves: bool
    limit: float
    wall: float


def tour_steps(text: str) -> list[Step]:
    blocks = [b for b in readme_blocks(text) if b.mark == "tour"]
    assert len(blocks) == 1, "README.md must have one block marked <!-- readme-test: tour -->"
    steps = []
    for line in blocks[0].code.splitlines():
        command = line.split("#", 1)[0].strip()
        if not command:
            continue
        m = _EXITS.search(line)
        steps.append(Step(command, int(m.group(1)) if m else 0, "until Ctrl-C" in line,
                          LIMITS.get(command, DEFAULT_LIMIT), WALL.get(command, DEFAULT_WALL)))
    return steps


def test_the_tour_parser_reads_exits_and_servers() -> None:
    text = ("<!-- readme-test: tour -->\n```sh\nmake demo   # ~1 min\n"
            "teamcost budget check     # exits 1: offline\nteamcost serve  # until Ctrl-C\n```\n")
    assert [(s.command, s.exit_code, s.serves) for s in tour_steps(text)] == [
        ("make demo", 0, False), ("teamcost budget check", 1, False),
        ("teamcost serve", 0, True)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(script: str, clone: Path, env: dict[str, str], port: int) -> tuple[int, str, str]:
    """Start the server as the tour does, load the page and the report API, then Ctrl-C."""
    proc = subprocess.Popen(["bash", "-c", script], cwd=clone, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200 and b"teamcost" in r.read()
                break
            except OSError:
                assert proc.poll() is None, "the dashboard exited before answering"
                assert time.monotonic() < deadline, "the dashboard did not answer in 30 s"
                time.sleep(0.2)
        t0 = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/report?since=7d",
                                    timeout=10) as r:
            assert r.status == 200
        assert time.monotonic() - t0 < 5
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


@pytest.mark.slow
def test_the_readme_tour_runs_as_written_on_a_fresh_clone(tmp_path: Path) -> None:
    steps = tour_steps(README.read_text())
    clone = tmp_path / "teamcost"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    # the venv's install stamp is newer than the clone's pyproject.toml: make reuses it
    os.utime(clone / "pyproject.toml", (1_000_000_000, 1_000_000_000))
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TEAMCOST_", "FIRESTORE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT",
                                "MAKEFLAGS", "MFLAGS"))}
    env |= {"VENV": str(VENV), "PATH": f"{VENV / 'bin'}:{env.get('PATH', '')}",
            "TEAMCOST_SERVE_PORT": str(port), "COLUMNS": "100"}
    exports: list[str] = []        # `export` lines carry on to the next commands, as in a shell
    ran = []
    for step in steps:
        script = "\n".join([*exports, step.command])
        t0, cpu0 = time.monotonic(), _children_cpu()
        if step.serves:
            code, out, err = _serve(script, clone, env, port)
            assert code in (0, 130), (step.command, code, out, err)
        else:
            proc = subprocess.run(["bash", "-c", script], cwd=clone, env=env, text=True,
                                  capture_output=True, timeout=step.wall)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
            assert code == step.exit_code, (
                f"`{step.command}` exited {code}, the tour says {step.exit_code}\n"
                f"--- stdout\n{out[-2000:]}\n--- stderr\n{err[-2000:]}")
        took, cpu = time.monotonic() - t0, _children_cpu() - cpu0
        if not step.serves:
            assert cpu < step.limit, f"`{step.command}` used {cpu:.2f} s of CPU (< {step.limit})"
            assert took < step.wall, f"`{step.command}` took {took:.1f} s (< {step.wall})"
        for stream in (out, err):
            leak = LEAKS.search(stream)
            assert leak is None, f"`{step.command}` printed {leak.group(0)!r}:\n{stream[-2000:]}"
        if step.exit_code and not step.serves:
            assert len(err.strip().splitlines()) == 1, f"`{step.command}`: one line\n{err}"
        if step.command.startswith("export "):
            exports.append(step.command)
        ran.append(step.command)
    assert ran.count("make demo") >= 2     # the demo runs again after the tour
    assert (clone / "demo-output" / "spend.html").is_file()
