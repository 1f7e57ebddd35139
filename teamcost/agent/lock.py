"""One agent per TEAMCOST_HOME: an exclusive lock on ``agent.lock`` holding the agent's PID.

``flock`` locks belong to the open file, so the kernel releases them when the process dies,
however it dies (kill -9 included): a stale lock file never blocks the next agent.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from teamcost.errors import TeamcostError

LOCK_FILE = "agent.lock"


class AgentRunning(TeamcostError):
    """Another agent holds this home's lock."""

    def __init__(self, home: Path, pid: int | None) -> None:
        self.pid = pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"an agent is already running for {home} ({who} holds "
                         f"{home / LOCK_FILE}); stop it first or use another TEAMCOST_HOME")


class AgentLock:
    """Held for the agent's lifetime; ``release`` (or process exit) frees it."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TeamcostError(f"cannot create the agent lock {self.path}: "
                                f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(self._fd)
            os.close(self._fd)
            raise AgentRunning(home, pid) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        os.fsync(self._fd)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)   # closing drops the lock; the file stays (it is ours)
            self._fd = -1


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode().strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


def holder(home: Path) -> int | None:
    """The PID of the running agent of ``home``, or None when no agent holds the lock."""
    path = home / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
