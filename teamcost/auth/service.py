"""What `teamcost team invite`, `login`, `logout` and `whoami` call."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teamcost.auth import firebase, tokens
from teamcost.auth.session import Session, delete_session, load_session, save_session, session_path
from teamcost.config import check_name, write_config
from teamcost.errors import AuthError, InvalidValue

if TYPE_CHECKING:
    from teamcost.config import Config


@dataclass(frozen=True)
class Invitation:
    member: str
    team: str
    admin: bool
    token: str
    expires_at: float
    token_file: str | None = None

    def __repr__(self) -> str:
        return f"Invitation(member={self.member!r}, team={self.team!r}, token=<hidden>)"

    def to_dict(self) -> dict[str, Any]:
        # the token is the secret: JSON (which ends up in CI logs) never carries it
        return {"member": self.member, "team": self.team, "admin": self.admin,
                "expires_at": self.expires_at, "token_file": self.token_file}


def invite(config: Config, member: str, admin: bool = False, out: Path | None = None,
           now: float | None = None) -> Invitation:
    """Mint a one-hour custom token for ``member`` (uid) carrying the team claim.

    Against the Auth emulator the token is unsigned; for a real project it is signed
    with the service account key of Application Default Credentials.
    """
    member = check_name("member", member)
    if out is not None:
        check_token_out(out)
    claims = {"team": config.team, **({"admin": True} if admin else {})}
    now = now if now is not None else time.time()
    if os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
        token = tokens.unsigned_custom_token(member, claims, now)
    else:
        try:
            import google.auth
            creds, _ = google.auth.default()
        except Exception as exc:  # DefaultCredentialsError and friends
            raise AuthError(f"minting an invitation needs admin credentials: "
                            f"{type(exc).__name__}") from None
        token = tokens.signed_custom_token(member, claims, creds, now)
    token_file = None
    if out is not None:
        write_token_file(out, token)
        token_file = str(out)
    return Invitation(member, config.team, admin, token, now + 3600, token_file)


_OUT_ACCEPTED = "a new file in an existing directory (the token is written there, mode 0600)"


def check_token_out(out: Path) -> None:
    """``--out`` must name a file that does not exist yet in a directory that does: an
    invitation never overwrites a file (it may be someone's), nor writes into a directory."""
    if out.is_dir():
        raise InvalidValue("out", str(out), _OUT_ACCEPTED + "; this is a directory")
    if out.exists() or out.is_symlink():
        raise InvalidValue("out", str(out), _OUT_ACCEPTED + "; this file already exists")
    if not out.parent.is_dir():
        raise InvalidValue("out", str(out), _OUT_ACCEPTED + f"; {out.parent} does not exist")


def write_token_file(out: Path, token: str) -> None:
    try:  # O_EXCL: a file that appeared since the check is still never overwritten
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidValue("out", str(out), _OUT_ACCEPTED + "; this file already exists") from None
    except OSError as exc:
        raise AuthError(f"cannot write the invitation to {out}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")


MAX_TOKEN_FILE = 64 * 1024   # an invitation is ~1 KB; anything far larger is the wrong file


def read_token_file(path: Path) -> str:
    """The invitation token in ``path`` (``login --token-file``): a small UTF-8 text file."""
    accepted = "a text file holding the invitation from `teamcost team invite`"
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_TOKEN_FILE + 1)
    except IsADirectoryError:
        raise InvalidValue("token_file", str(path), accepted + "; this is a directory") from None
    except OSError as exc:
        raise AuthError(f"cannot read --token-file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_TOKEN_FILE:
        raise InvalidValue("token_file", str(path), accepted + " (an invitation is about 1 KB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidValue("token_file", str(path), accepted + "; this file is binary") from None
    if "\0" in text:
        raise InvalidValue("token_file", str(path), accepted + "; this file is binary")
    return text


@dataclass(frozen=True)
class WhoAmI:
    signed_in: bool
    member: str
    team: str
    project: str | None
    admin: bool = False
    expires_at: float | None = None
    session_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def login(config: Config, custom_token: str, api_key: str | None = None,
          clock: Any = time.time) -> WhoAmI:
    """Exchange an invitation for ID and refresh tokens; store them; adopt uid and team."""
    token = (custom_token or "").strip()
    if token.count(".") != 2:
        raise AuthError("the invitation token is not a JWT (three dot-separated parts): "
                        "paste the whole token from `teamcost team invite`")
    key = firebase.api_key_or_default(api_key or config.auth.get("api_key"))
    got = firebase.sign_in_with_custom_token(token, key)
    claims = tokens.claims(got.id_token)
    uid = claims.get("user_id") or claims.get("sub")
    team = claims.get("team")
    if not isinstance(uid, str) or not isinstance(team, str):
        raise AuthError("the invitation carries no team claim; ask an admin for a new one "
                        "(`teamcost team invite MEMBER`)")
    session = Session(uid=uid, team=team, admin=claims.get("admin") is True,
                      project=config.project, api_key=key, id_token=got.id_token,
                      refresh_token=got.refresh_token, expires_at=clock() + got.expires_in)
    save_session(config, session)
    # calls recorded from now on carry the identity the rules check
    write_config(config.home, {"member": uid, "team": team})
    return whoami(config.with_(member=uid, team=team))


def logout(config: Config) -> bool:
    return delete_session(config)


def whoami(config: Config) -> WhoAmI:
    s: Session | None = load_session(config)
    if s is None:
        return WhoAmI(False, config.member, config.team, config.project)
    return WhoAmI(True, s.uid, s.team, s.project or config.project, s.admin, s.expires_at,
                  str(session_path(config)))
