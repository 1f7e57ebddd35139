"""Hostile or odd files (issue 18): another application's SQLite file, a newer ledger, a
corrupt team cache, odd auth files and token files, --out paths. Refused in one line,
and the file is byte-identical afterwards."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from teamcost.config import load_config
from teamcost.ledger import MIGRATIONS, Ledger
from teamcost.sync.cache import TeamCache
from tests.cli_support import run
from tests.hostile_support import assert_one_line, snapshot


def foreign_db(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('groceries')")
    return path


def laravel_like(path: Path) -> Path:
    """Another application with a table called migrations, of its own shape."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE migrations (id INTEGER PRIMARY KEY, migration TEXT, "
                     "batch INTEGER)")
        conn.execute("INSERT INTO migrations (migration, batch) VALUES ('create_users', 1)")
    return path


COMMANDS = [["ledger", "status"], ["record", "-m", "gpt-4o", "-i", "5"],
            ["report", "--offline"], ["sync", "status"], ["export", "--week", "this",
                                                          "--offline"]]


@pytest.mark.parametrize("make", [foreign_db, laravel_like])
@pytest.mark.parametrize("command", COMMANDS)
def test_another_applications_sqlite_file_is_never_touched(tmp_path, monkeypatch, make,
                                                           command):
    other = make(tmp_path / "app.db")
    monkeypatch.setenv("TEAMCOST_LEDGER", str(other))
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    result = run(*command)
    assert_one_line(result, 1, f"{other} is not a teamcost ledger", "another application's",
                    "nothing was written")
    assert snapshot(tmp_path) == before   # no tables added, no -wal, no export


def test_a_ledger_from_a_newer_teamcost_is_refused_unchanged(teamcost_home):
    assert run("record", "-m", "gpt-4o", "--call-id", "a").exit_code == 0
    newest = max(v for v, _, _ in MIGRATIONS)
    conn = sqlite3.connect(teamcost_home / "ledger.db", isolation_level=None)
    conn.execute("INSERT INTO migrations VALUES (?, 'from the future', 0)", (newest + 1,))
    conn.close()
    before = snapshot(teamcost_home)
    for command in COMMANDS[:3]:
        result = run(*command)
        assert_one_line(result, 1, "written by a newer teamcost",
                        f"schema version {newest + 1}", f"knows up to {newest}")
        assert snapshot(teamcost_home) == before


def test_the_team_cache_is_not_taken_for_a_ledger_nor_the_other_way(teamcost_home,
                                                                     monkeypatch):
    assert run("record", "-m", "gpt-4o").exit_code == 0
    cache = teamcost_home / "cache-copy.db"
    TeamCache(cache).close()
    monkeypatch.setenv("TEAMCOST_LEDGER", str(cache))
    before = snapshot(cache)
    assert_one_line(run("ledger", "status"), 1, "is a teamcost team cache, not a ledger")
    assert snapshot(cache) == before
    with pytest.raises(Exception, match="is a teamcost ledger, not a team cache"):
        TeamCache(teamcost_home / "ledger.db")


def test_an_empty_file_is_a_new_ledger(tmp_path, monkeypatch):
    empty = tmp_path / "new.db"
    empty.write_bytes(b"")
    monkeypatch.setenv("TEAMCOST_LEDGER", str(empty))
    assert run("record", "-m", "gpt-4o", "--call-id", "x").exit_code == 0
    with Ledger(empty) as led:
        assert led.get("x") is not None


def test_a_corrupt_team_cache_says_it_can_be_rebuilt(teamcost_home, monkeypatch):
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-corrupt")
    cache = teamcost_home / "team-cache.db"
    cache.write_bytes(b"this is not sqlite at all" * 100)
    before = snapshot(cache)
    result = run("sync", "status")
    assert_one_line(result, 1, "team-cache.db", "rebuilds it", "sync pull")
    result = run("report", "--offline", "--source", "team")
    assert_one_line(result, 1, "rebuilds it")
    assert snapshot(cache) == before


# -- auth files --------------------------------------------------------------------------

@pytest.fixture
def invites(monkeypatch):
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")   # unsigned tokens


def test_invite_out_a_directory_or_a_missing_parent_is_one_line(invites, tmp_path):
    before = snapshot(tmp_path)
    for out, why in ((tmp_path, "this is a directory"),
                     (tmp_path / "missing" / "ana.token", "does not exist")):
        result = run("team", "invite", "ana@example.com", "--out", str(out))
        assert_one_line(result, 2, "invalid --out: '", f"{out.name}'", why)
    assert snapshot(tmp_path) == before


def test_invite_never_overwrites_a_file(invites, tmp_path):
    theirs = tmp_path / "ana.token"
    theirs.write_text("someone's notes\n")
    result = run("team", "invite", "ana@example.com", "--out", str(theirs))
    assert_one_line(result, 2, "already exists")
    assert theirs.read_text() == "someone's notes\n"
    fresh = tmp_path / "bo.token"
    assert run("team", "invite", "bo@example.com", "--out", str(fresh)).exit_code == 0
    assert fresh.stat().st_mode & 0o777 == 0o600 and fresh.read_text().count(".") == 2


@pytest.mark.parametrize("content, why", [
    (bytes(range(256)) * 4, "this file is binary"),
    (b"eyJ\x00abc.def.ghi", "this file is binary"),
    (b"a.b.c" * 20_000, "about 1 KB"),
])
def test_login_token_file_that_is_not_a_token_is_one_line(tmp_path, content, why):
    f = tmp_path / "token"
    f.write_bytes(content)
    assert_one_line(run("login", "--token-file", str(f)), 2, "invalid --token-file: '",
                    "/token'", why)
    assert_one_line(run("login", "--token-file", str(tmp_path)), 2, "this is a directory")


@pytest.mark.parametrize("command", [["whoami"], ["logout"], ["whoami", "--format", "json"]])
def test_auth_json_a_directory_is_one_line_and_left_alone(teamcost_home, command):
    odd = teamcost_home / "auth.json"
    odd.mkdir(mode=0o700)
    (odd / "inside.txt").write_text("keep")
    result = run(*command)
    assert_one_line(result, 1, f"{odd} is not a teamcost sign-in file")
    assert (odd / "inside.txt").read_text() == "keep"


def test_auth_json_a_fifo_is_never_read(teamcost_home):
    fifo = teamcost_home / "auth.json"
    os.mkfifo(fifo, 0o600)
    assert_one_line(run("whoami"), 1, "is not a teamcost sign-in file")   # returns at once
    assert_one_line(run("logout"), 1, "is not a teamcost sign-in file")
    assert fifo.exists()


def test_a_readable_session_still_works(teamcost_home):
    session = {"uid": "ana", "team": "core", "admin": False, "project": None, "api_key": "k",
               "id_token": "a.b.c", "refresh_token": "r", "expires_at": 4102444800.0}
    path = teamcost_home / "auth.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(session, fh)
    result = run("whoami", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["member"] == "ana"
    assert run("logout").exit_code == 0 and not path.exists()
    assert load_config().home == teamcost_home
