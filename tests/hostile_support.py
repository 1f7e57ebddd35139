"""Helpers for the hostile-input tests: file snapshots, and running the CLI as a user who
cannot write (we run as root in CI, where chmod alone stops nobody)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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


def unprivileged() -> list[str]:
    """A command prefix that drops root (setpriv to nobody); [] when not root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def shared_tmp() -> Path:
    """A directory ``nobody`` can reach (pytest's tmp_path lives under a 0700 root dir)."""
    d = Path(tempfile.mkdtemp(prefix="teamcost-hostile-"))
    d.chmod(0o755)
    return d


def run_cli(args: list[str], env: dict[str, str], *, as_nobody: bool = False,
            stdin: Any = subprocess.DEVNULL, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (optionally as a user who may not write our files)."""
    prefix = unprivileged() if as_nobody else []
    base = {k: v for k, v in os.environ.items() if not k.startswith("TEAMCOST_")}
    base.update(env)
    base.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return subprocess.run([*prefix, sys.executable, "-m", "teamcost.cli", *args],
                          env=base, capture_output=True, text=True, stdin=stdin,
                          timeout=timeout, cwd=str(REPO))
