"""The two Firebase Auth REST calls a member needs, honouring FIREBASE_AUTH_EMULATOR_HOST.

- signInWithCustomToken: an invitation (custom token) -> ID token + refresh token
- securetoken refresh: refresh token -> a new ID token

Error messages carry Firebase's error code (INVALID_CUSTOM_TOKEN, TOKEN_EXPIRED, ...) and
never a token: request bodies are not echoed and exceptions are raised ``from None``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from teamcost.errors import AuthError

TIMEOUT_S = 15.0
EMULATOR_API_KEY = "emulator-api-key"   # the Auth emulator accepts any key


@dataclass(frozen=True)
class Tokens:
    id_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self) -> str:  # a stray print or traceback shows no secret
        return f"Tokens(expires_in={self.expires_in}, id_token=<hidden>, refresh_token=<hidden>)"


def _hosts() -> tuple[str, str]:
    emu = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")
    if emu:
        return (f"http://{emu}/identitytoolkit.googleapis.com",
                f"http://{emu}/securetoken.googleapis.com")
    return "https://identitytoolkit.googleapis.com", "https://securetoken.googleapis.com"


def api_key_or_default(api_key: str | None) -> str:
    if api_key:
        return api_key
    if os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
        return EMULATOR_API_KEY
    raise AuthError("signing in to a real Firebase project needs its Web API key: pass "
                    "--api-key KEY (Firebase console > Project settings > General)")


def _post(url: str, body: bytes, content_type: str, what: str) -> dict[str, Any]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        code = _firebase_error(exc)
        raise AuthError(f"{what} was refused by Firebase Auth: {code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        host = urllib.parse.urlsplit(url).netloc
        raise AuthError(f"{what} failed: cannot reach Firebase Auth at {host} ({reason})") from None


def _firebase_error(exc: urllib.error.HTTPError) -> str:
    try:
        err = json.loads(exc.read()).get("error", {})
        msg = err.get("message") if isinstance(err, dict) else err
        return str(msg or f"HTTP {exc.code}").split(" : ")[0]
    except (ValueError, AttributeError, OSError):
        return f"HTTP {exc.code}"


def sign_in_with_custom_token(custom_token: str, api_key: str) -> Tokens:
    ident, _ = _hosts()
    url = f"{ident}/v1/accounts:signInWithCustomToken?key={urllib.parse.quote(api_key)}"
    body = json.dumps({"token": custom_token, "returnSecureToken": True}).encode()
    data = _post(url, body, "application/json", "signing in with the invitation token")
    try:
        return Tokens(data["idToken"], data["refreshToken"], int(data.get("expiresIn", 3600)))
    except (KeyError, TypeError, ValueError):
        raise AuthError("Firebase Auth answered the sign-in without tokens") from None


def refresh(refresh_token: str, api_key: str) -> Tokens:
    _, secure = _hosts()
    url = f"{secure}/v1/token?key={urllib.parse.quote(api_key)}"
    body = urllib.parse.urlencode({"grant_type": "refresh_token",
                                   "refresh_token": refresh_token}).encode()
    data = _post(url, body, "application/x-www-form-urlencoded", "refreshing the ID token")
    try:
        return Tokens(data["id_token"], data["refresh_token"], int(data.get("expires_in", 3600)))
    except (KeyError, TypeError, ValueError):
        raise AuthError("Firebase Auth answered the refresh without tokens") from None
