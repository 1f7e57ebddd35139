"""A member's stored sign-in: ``$TEAMCOST_HOME/auth.json``, mode 0600, refreshed in time.

The file holds the ID token (one hour) and the refresh token (long-lived: it is the
secret). It is written atomically with 0600 from the start (never chmod-ed after), and a
file readable by others is refused with a message saying how to fix it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teamcost.auth import firebase
from teamcost.errors import AuthError

if TYPE_CHECKING:
    from teamcost.config import Config

SESSION_FILE = "auth.json"
REFRESH_MARGIN_S = 300      # refresh when the ID token has less than 5 minutes left


@dataclass(frozen=True)
class Session:
    uid: str
    team: str
    admin: bool
    project: str | None
    api_key: str
    id_token: str
    refresh_token: str
    expires_at: float       # epoch seconds of the ID token's expiry

    def __repr__(self) -> str:
        return (f"Session(uid={self.uid!r}, team={self.team!r}, admin={self.admin}, "
                f"expires_at={self.expires_at}, tokens=<hidden>)")

    def public(self) -> dict[str, Any]:
        """What may be shown (whoami, JSON): no token, no API key."""
        return {"uid": self.uid, "team": self.team, "admin": self.admin,
                "project": self.project, "expires_at": self.expires_at}


def session_path(config: Config) -> Path:
    return config.home / SESSION_FILE


def _not_a_session(path: Path) -> AuthError:
    return AuthError(f"{path} is not a teamcost sign-in file (teamcost writes a 0600 JSON file "
                     "there); move it away and run `teamcost login` again")


def load_session(config: Config) -> Session | None:
    path = session_path(config)
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise AuthError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):   # a directory, a FIFO: never read, never removed
        raise _not_a_session(path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthError(f"{path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o});"
                        f" run `chmod 600 {path}` or `teamcost login` again")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Session(**data)
    except OSError as exc:
        raise AuthError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise AuthError(f"{path} is not a teamcost sign-in file; run `teamcost logout` and "
                        "`teamcost login` again") from None


def save_session(config: Config, session: Session) -> Path:
    path = session_path(config)
    if path.exists() and not path.is_file():   # os.replace would fail on it, or worse
        raise _not_a_session(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".auth-", suffix=".json")  # 0600
    except OSError as exc:
        raise AuthError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(session), fh)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AuthError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def delete_session(config: Config) -> bool:
    """Remove the sign-in file; only a regular file (what teamcost wrote) is ever removed."""
    path = session_path(config)
    try:
        st = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise AuthError(f"cannot sign out: {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_a_session(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise AuthError(f"cannot sign out: cannot remove {path}: "
                        f"{exc.strerror or exc}") from None
    return True


class TokenSource:
    """The current ID token, refreshed through Firebase Auth before it expires."""

    def __init__(self, config: Config, session: Session,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.session = session
        self.clock = clock
        self._lock = threading.Lock()
        self.refreshes = 0

    def __call__(self) -> str:
        s = self.session
        if s.expires_at - self.clock() > REFRESH_MARGIN_S:
            return s.id_token
        with self._lock:
            s = self.session
            if s.expires_at - self.clock() <= REFRESH_MARGIN_S:
                tokens = firebase.refresh(s.refresh_token, s.api_key)
                s = replace(s, id_token=tokens.id_token, refresh_token=tokens.refresh_token,
                            expires_at=self.clock() + tokens.expires_in)
                save_session(self.config, s)
                self.session = s
                self.refreshes += 1
            return s.id_token

    def __repr__(self) -> str:
        return f"TokenSource({self.session!r})"
