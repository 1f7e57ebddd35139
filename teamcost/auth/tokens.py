"""JWT helpers that need no keys: read a token's claims, mint unsigned emulator tokens.

Reading claims is for display and expiry checks only (``whoami``, refresh timing);
Firestore and Firebase verify the signature, teamcost never trusts a claim itself.
Unsigned tokens (``alg: none``) are accepted only by the emulators — the same form
@firebase/rules-unit-testing builds — and stand in for real ID tokens in tests.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any

from teamcost.errors import AuthError


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified. AuthError (without the token) if malformed."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise AuthError("the stored ID token is not a JWT (expected 3 dot-separated parts); "
                        "run `teamcost login` again")
    try:
        payload = json.loads(_b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise AuthError("the stored ID token's payload is not base64url JSON; "
                        "run `teamcost login` again") from None
    if not isinstance(payload, dict):
        raise AuthError("the stored ID token's payload is not a JSON object; "
                        "run `teamcost login` again")
    return payload


def unsigned_id_token(project: str, uid: str, email: str | None = None,
                      custom: Mapping[str, Any] | None = None, *, lifetime_s: int = 3600,
                      now: float | None = None) -> str:
    """An emulator-only Firebase ID token for ``uid`` with ``custom`` claims (team, admin)."""
    iat = int(now if now is not None else time.time())
    payload: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{project}", "aud": project,
        "iat": iat, "exp": iat + lifetime_s, "auth_time": iat,
        "sub": uid, "user_id": uid,
        "firebase": {"sign_in_provider": "password",
                     "identities": {"email": [email]} if email else {}},
    }
    if email is not None:
        payload["email"] = email
        payload["email_verified"] = True
    payload.update(custom or {})
    header = {"alg": "none", "typ": "JWT"}
    return ".".join([_b64url(json.dumps(header).encode()),
                     _b64url(json.dumps(payload).encode()), ""])


CUSTOM_TOKEN_AUD = ("https://identitytoolkit.googleapis.com/"
                    "google.identity.identitytoolkit.v1.IdentityToolkit")


def custom_token_payload(uid: str, issuer: str, claims_: Mapping[str, Any],
                         now: float | None = None, lifetime_s: int = 3600) -> dict[str, Any]:
    """The payload Firebase expects of a custom token (at most one hour long)."""
    iat = int(now if now is not None else time.time())
    return {"iss": issuer, "sub": issuer, "aud": CUSTOM_TOKEN_AUD, "iat": iat,
            "exp": iat + min(lifetime_s, 3600), "uid": uid, "claims": dict(claims_)}


def unsigned_custom_token(uid: str, claims_: Mapping[str, Any],
                          now: float | None = None) -> str:
    """A custom token for the Auth emulator, which accepts ``alg: none``."""
    payload = custom_token_payload(uid, "firebase-auth-emulator@example.com", claims_, now)
    return ".".join([_b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                     _b64url(json.dumps(payload).encode()), ""])


def signed_custom_token(uid: str, claims_: Mapping[str, Any], credentials: Any,
                        now: float | None = None) -> str:
    """A custom token signed (RS256) with a service account's key, for a real project.

    ``credentials`` is google.oauth2.service_account.Credentials (it has a signer and
    the service account's email); user credentials cannot sign custom tokens.
    """
    from google.auth import jwt

    signer = getattr(credentials, "signer", None)
    email = getattr(credentials, "service_account_email", None)
    if signer is None or not email:
        raise AuthError("minting an invitation needs a service account key: set "
                        "GOOGLE_APPLICATION_CREDENTIALS to the key file of a service account "
                        "of the project")
    token = jwt.encode(signer, custom_token_payload(uid, email, claims_, now))
    return token.decode("ascii") if isinstance(token, bytes) else token
