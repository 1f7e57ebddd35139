"""Helpers for the hostile-input tests: file snapshots, and running the CLI as a user who
cannot write (we run as root in CI, where chmod alone stops nobody)."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def snapshot(*roots: Path) -> dict[str, bytes | None]:
    """Every file under ``roots`` (or the file itself) -> its bytes; None for a missing root.
    What a refused command must leave exactly as it was."""
    out: dict[str, bytes | None] = {}
    for root in roots:
        if not root.exists():
            out[str(root)] = None
        elif root.is_file():
            out[str(root)] = root.read_bytes()
        else:
            for p in sorted(root.rglob("*")):
                out[str(p)] = p.read_bytes() if p.is_file() else b"<dir>"
    return out


def assert_one_line(result: Any, code: int, *needles: str) -> str:
    """Exit ``code``, nothing on stdout, one ``teamcost: error:`` line holding ``needles``."""
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    stdout = result.stdout if isinstance(result.stdout, str) else result.stdout.decode()
    code_got = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert code_got == code, (code_got, stdout, stderr)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("teamcost: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in stderr
    return lines[0]


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[list[str]]:
    """A command prefix under which ``paths`` are read-only for real: as root (where chmod
    stops nobody) a read-only bind mount in a private mount namespace; otherwise chmod."""
    if os.geteuid() == 0:
        mounts = " && ".join(f"mount --bind {q} {q} && mount -o remount,bind,ro {q}"
                             for q in (shlex.quote(str(p)) for p in paths))
        yield ["unshare", "--mount", "sh", "-c", mounts + ' && exec "$@"', "sh"]
        return
    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield []
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMCOST_")}
    # the teamcost of this checkout, wherever the command runs
    env.update({"TEAMCOST_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(REPO)}, **extra)
    return env


def run_cli(args: list[str], env: dict[str, str], *, prefix: Sequence[str] = (),
            stdin: Any = subprocess.DEVNULL, stdout: Any = subprocess.PIPE,
            timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (``prefix``: e.g. ``read_only(...)``'s)."""
    return subprocess.run([*prefix, sys.executable, "-m", "teamcost.cli", *args],
                          env=env, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          stdin=stdin, timeout=timeout, cwd=str(cwd or REPO))
