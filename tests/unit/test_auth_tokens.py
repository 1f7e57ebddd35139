"""Token helpers: claims of a JWT, unsigned emulator tokens, RS256 custom tokens."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from teamcost.auth.session import Session
from teamcost.auth.tokens import (CUSTOM_TOKEN_AUD, claims, signed_custom_token,
                                  unsigned_custom_token, unsigned_id_token)
from teamcost.errors import AuthError


def test_unsigned_tokens_carry_uid_and_claims() -> None:
    c = claims(unsigned_id_token("demo-x", "ana@example.com", "ana@example.com",
                                 {"team": "A"}, now=1000))
    assert (c["sub"], c["user_id"], c["team"], c["aud"], c["exp"]) == (
        "ana@example.com", "ana@example.com", "A", "demo-x", 4600)
    ct = claims(unsigned_custom_token("ana@example.com", {"team": "A", "admin": True}, 1000))
    assert (ct["uid"], ct["claims"], ct["aud"], ct["exp"]) == (
        "ana@example.com", {"team": "A", "admin": True}, CUSTOM_TOKEN_AUD, 4600)


@pytest.mark.parametrize("bad", ["", "a.b", "x.!!!.y", "a.bnVsbA.c"])
def test_malformed_tokens_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(AuthError) as exc:
        claims(bad)
    assert "run `teamcost login` again" in str(exc.value)
    assert bad == "" or bad not in str(exc.value)


def test_signed_custom_token_verifies_with_the_public_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.auth import crypt, jwt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    cert_pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    sa = SimpleNamespace(signer=crypt.RSASigner.from_string(pem, "kid1"),
                         service_account_email="admin@demo-x.iam.gserviceaccount.com")
    token = signed_custom_token("ana@example.com", {"team": "A"}, sa)
    payload = jwt.decode(token, certs=cert_pub, audience=CUSTOM_TOKEN_AUD,
                         clock_skew_in_seconds=5)
    assert (payload["uid"], payload["claims"], payload["iss"]) == (
        "ana@example.com", {"team": "A"}, "admin@demo-x.iam.gserviceaccount.com")


def test_user_credentials_cannot_sign_invitations() -> None:
    with pytest.raises(AuthError, match="service account key"):
        signed_custom_token("ana", {"team": "A"}, SimpleNamespace())


def test_session_repr_hides_tokens() -> None:
    s = Session("ana", "A", False, "demo-x", "KEY123", "IDTOKEN", "REFRESH", 1.0)
    assert "IDTOKEN" not in repr(s) and "REFRESH" not in repr(s) and "KEY123" not in repr(s)
    assert set(s.public()) == {"uid", "team", "admin", "project", "expires_at"}
