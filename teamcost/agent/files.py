"""What the agent's setup commands share: the command line that runs teamcost again, and
atomic file writes."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from teamcost.errors import TeamcostError


def teamcost_argv(*args: str, argv0: str | None = None, python: str | None = None) -> list[str]:
    """``teamcost ARGS`` as an absolute command line for a service manager or Claude Code:
    the ``teamcost`` executable this process was started as (absolute, symlinks kept, so a
    pipx or venv link survives upgrades), else this interpreter with ``-m teamcost``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    exe = Path(argv0)
    if exe.name == "teamcost" and exe.is_file() and os.access(exe, os.X_OK):
        return [os.path.abspath(exe), *args]
    return [os.path.abspath(python or sys.executable), "-m", "teamcost", *args]


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename:
    a reader sees the old file or the new one, never half of one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise TeamcostError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise TeamcostError(f"cannot write {path}: {exc.strerror or exc}") from None
