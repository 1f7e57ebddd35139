"""invite -> login -> push as that member -> token refresh -> logout, against the real
Firebase Auth emulator (firebase-tools 13) and the Firestore emulator with the rules."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.auth_emulator import AuthEmulator, AuthEmulatorError
from tests.cli_support import one_error_line, run

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def auth_emulator() -> Iterator[AuthEmulator]:
    try:
        emu = AuthEmulator()
    except AuthEmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield emu
    emu.stop()


@pytest.fixture
def auth_env(auth_emulator: AuthEmulator, firestore_emulator, monkeypatch) -> AuthEmulator:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", auth_emulator.host)
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    monkeypatch.delenv("TEAMCOST_MEMBER", raising=False)
    yield auth_emulator
    auth_emulator.wipe()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def as_home(monkeypatch, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("TEAMCOST_HOME", str(home))


def test_invite_login_push_refresh_logout(auth_env, firestore_client, monkeypatch,
                                          tmp_path: Path) -> None:
    # the admin (Google credentials; the emulator: owner) mints an invitation
    as_home(monkeypatch, tmp_path / "admin")
    monkeypatch.setenv("TEAMCOST_TEAM", "A")
    invite_file = tmp_path / "invite.txt"
    res = run("team", "invite", "ana@example.com", "--out", str(invite_file),
              "--format", "json")
    assert res.exit_code == 0, res.output
    token = invite_file.read_text().strip()
    assert mode(invite_file) == 0o600
    assert json.loads(res.stdout)["member"] == "ana@example.com"
    assert token not in res.output                       # JSON never carries it
    res = run("team", "invite", "bo@example.com")        # text: the token alone on stdout
    assert res.exit_code == 0 and res.stdout.strip().count(".") == 2
    assert "teamcost login --token" in res.stderr

    # ana signs in on her own machine
    monkeypatch.delenv("TEAMCOST_TEAM")
    home = tmp_path / "ana"
    as_home(monkeypatch, home)
    res = run("login", "--token", token, "--format", "json")
    assert res.exit_code == 0, res.output
    who = json.loads(res.stdout)
    assert (who["signed_in"], who["member"], who["team"]) == (True, "ana@example.com", "A")
    assert token not in res.output
    session = home / "auth.json"
    assert mode(session) == 0o600
    stored = json.loads(session.read_text())
    assert stored["id_token"] not in res.output and stored["refresh_token"] not in res.output
    res = run("whoami")
    assert res.stdout.startswith("ana@example.com of team A, signed in")

    # she records and pushes: the member client, so the rules check her uid and team
    assert run("record", "-m", "gpt-4o", "-i", "1000", "-o", "100").exit_code == 0
    res = run("sync", "push")
    assert res.exit_code == 0, res.output
    docs = [d.to_dict() for d in firestore_client.collection("trinity_costs").stream()]
    assert [(d["member"], d["team"]) for d in docs] == [("ana@example.com", "A")]

    # the ID token expires: the next push refreshes it through the Auth emulator first
    stored["expires_at"] = 0
    session.write_text(json.dumps(stored))
    assert run("record", "-m", "gpt-4o", "-i", "2000", "-o", "100").exit_code == 0
    res = run("sync", "push")
    assert res.exit_code == 0, res.output
    fresh = json.loads(session.read_text())
    # only a refresh through Firebase Auth rewrites expires_at (the new token may equal
    # the old one byte for byte when both were minted in the same second)
    assert fresh["expires_at"] > time.time() + 3000
    assert mode(session) == 0o600
    assert len(list(firestore_client.collection("trinity_costs").stream())) == 2

    # logout: the session is gone, whoami says so
    res = run("logout")
    assert res.exit_code == 0 and "signed out" in res.stdout
    assert not session.exists()
    assert json.loads(run("whoami", "--format", "json").stdout)["signed_in"] is False
    assert "not signed in" in run("logout").stdout


def test_bad_or_missing_tokens_fail_in_one_line_without_the_token(auth_env, monkeypatch,
                                                                  tmp_path: Path) -> None:
    as_home(monkeypatch, tmp_path / "x")
    forged = "eyJhbGciOiJub25lIn0.eyJub3QiOiJhIHRva2VuIn0.c2VjcmV0LXNpZ25hdHVyZQ"
    res = run("login", "--token", forged)
    assert res.exit_code == 1
    line = one_error_line(res)
    assert "INVALID_CUSTOM_TOKEN" in line and forged not in line and "c2VjcmV0" not in line
    res = run("login", "--token", "not-a-jwt")
    assert res.exit_code == 1 and "not a JWT" in one_error_line(res)
    res = run("login")
    assert res.exit_code == 2 and "--token" in one_error_line(res)
    res = run("login", "--token-file", str(tmp_path / "missing.txt"))
    assert res.exit_code == 1 and "cannot read --token-file" in one_error_line(res)
    res = run("team", "invite", "bad member!")
    assert res.exit_code == 2 and "invalid member: 'bad member!'" in one_error_line(res)


def test_auth_unreachable_and_loose_session_file(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")
    as_home(monkeypatch, tmp_path / "y")
    res = run("login", "--token", "a.b.c")
    assert res.exit_code == 1 and "cannot reach Firebase Auth at 127.0.0.1:9" in \
        one_error_line(res)
    session = tmp_path / "y" / "auth.json"
    session.write_text("{}")
    os.chmod(session, 0o644)
    res = run("whoami")
    assert res.exit_code == 1 and "chmod 600" in one_error_line(res)


def test_real_project_login_needs_an_api_key(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    as_home(monkeypatch, tmp_path / "z")
    res = run("login", "--token", "a.b.c")
    assert res.exit_code == 1 and "--api-key" in one_error_line(res)
