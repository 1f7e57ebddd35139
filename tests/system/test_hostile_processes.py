"""Hostile conditions only a real process meets (issue 18): Ctrl-C inside a command, a
read-only TEAMCOST_HOME, a stdout nobody reads, the demo in folders that are not its own,
and a corrupt team cache under `sync push` (against the real emulator)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from teamcost.config import load_config, write_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.reports import columnar
from teamcost.sync.cache import TeamCache
from tests.hostile_support import REPO, assert_one_line, cli_env, read_only, run_cli, snapshot
from tests.sync_support import server_totals


def ledger_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT call_id, cost_nanos FROM calls ORDER BY seq").fetchall()
    finally:
        conn.close()


# -- Ctrl-C ------------------------------------------------------------------------------

def _wait_for_reader(fifo: Path, proc: subprocess.Popen, deadline_s: float = 60) -> int:
    """Poll until ``proc`` has the FIFO open for reading (then it blocks in read)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:   # ENXIO: no reader yet
            time.sleep(0.05)
    raise AssertionError("the command never opened the FIFO")


@pytest.mark.parametrize("args", [["login", "--token-file", "{fifo}"],
                                  ["import", "jsonl", "{fifo}"]])
def test_ctrl_c_inside_a_command_says_interrupted_and_exits_130(tmp_path, args):
    home = tmp_path / "home"
    home.mkdir()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    argv = [sys.executable, "-m", "teamcost.cli", *(a.format(fifo=fifo) for a in args)]
    proc = subprocess.Popen(argv, env=cli_env(home), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        writer = _wait_for_reader(fifo, proc)
        if args[0] == "import":   # get past the file's first-line check, then block
            os.write(writer, b"{")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        os.close(writer)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines() == ["teamcost: interrupted"], err
    assert out == ""


# -- a read-only TEAMCOST_HOME -----------------------------------------------------------

@pytest.fixture
def local_home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, {"team": "core", "member": "ana"})
    now = datetime.now(UTC)
    with Ledger(home / "ledger.db") as led:
        led.record_many([CallRecord(call_id=f"c{i}", ts=now - timedelta(hours=i + 1),
                                    team="core", member="ana", ledger_id=led.ledger_id,
                                    provider="openai", model="gpt-4o", cost_nanos=100 + i)
                         for i in range(5)])
    return home


def test_report_and_status_work_in_a_read_only_home(local_home):
    before = snapshot(local_home)
    with read_only(local_home) as prefix:
        env = cli_env(local_home)
        r = run_cli(["report", "--since", "1d", "--format", "json", "--offline"], env,
                    prefix=prefix)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert (doc["summary"]["calls"], doc["summary"]["cost_nanos"]) == (5, 510)
        r = run_cli(["ledger", "status", "--format", "json"], env, prefix=prefix)
        assert r.returncode == 0 and json.loads(r.stdout)["calls"] == 5, r.stderr
        r = run_cli(["whoami"], env, prefix=prefix)
        assert r.returncode == 0 and "ana of team core" in r.stdout, r.stderr
        # what must write says so in one line
        assert_one_line(run_cli(["record", "-m", "gpt-4o"], env, prefix=prefix), 1,
                        str(local_home / "ledger.db"))
        assert_one_line(run_cli(["init", "--team", "other"], env, prefix=prefix), 1,
                        str(local_home))
    assert snapshot(local_home) == before


def test_the_team_report_in_a_read_only_home_reads_what_the_mirror_lacks(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, {"team": "core", "member": "ana", "project": "demo-readonly"})
    cfg = load_config(home, env={})
    now = datetime.now(UTC)
    calls = [CallRecord(call_id=f"t{i}", ts=now - timedelta(hours=i + 1), team="core",
                        member=f"m{i % 2}", ledger_id="lap", provider="openai",
                        model="gpt-4o", cost_nanos=1_000 * (i + 1)) for i in range(15)]
    with TeamCache.for_config(cfg) as cache:
        cache.upsert((c, 1) for c in calls[:10])
        columnar.refresh(cache)                   # the mirror holds the first ten
        cache.upsert((c, 2) for c in calls[10:])  # pulled later, not mirrored yet
    before = snapshot(home)
    with read_only(home) as prefix:
        r = run_cli(["report", "--since", "1d", "--format", "json", "--offline", "--source",
                     "team", "--member", "m0"], cli_env(home), prefix=prefix)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    mine = [c for c in calls if c.member == "m0"]
    assert (doc["summary"]["calls"], doc["summary"]["cost_nanos"]) == (
        len(mine), sum(c.cost_nanos for c in mine))
    assert snapshot(home) == before


def test_logout_in_a_read_only_home_is_one_line(local_home):
    session = local_home / "auth.json"
    fd = os.open(session, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"uid": "ana", "team": "core", "admin": False, "project": None,
                   "api_key": "k", "id_token": "a.b.c", "refresh_token": "r",
                   "expires_at": 4102444800.0}, fh)
    with read_only(local_home) as prefix:
        r = run_cli(["logout"], cli_env(local_home), prefix=prefix)
        assert_one_line(r, 1, "cannot sign out", str(session))
        r = run_cli(["whoami"], cli_env(local_home), prefix=prefix)
        assert r.returncode == 0 and "signed in" in r.stdout, r.stderr
    assert session.exists()


# -- record: a stdout nobody reads -------------------------------------------------------

def test_record_with_a_closed_stdout_records_once_and_exits_0(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    r_end, w_end = os.pipe()
    os.close(r_end)                      # nobody will ever read what record prints
    try:
        p = run_cli(["record", "-m", "gpt-4o", "-i", "1000", "-o", "500"], cli_env(home),
                    stdout=w_end)
    finally:
        os.close(w_end)
    # exit 0: a script that retries a failed record would otherwise record the call twice
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert ledger_rows(home / "ledger.db") == [(ledger_rows(home / "ledger.db")[0][0],
                                                7_500_000)]


@pytest.mark.parametrize("closed", [">&-", ">&- 2>&- <&-"])
def test_record_with_stdout_closed_records_once_and_exits_0(tmp_path, closed):
    """`record ... >&-`: the call was written, then printing its confirmation raised (exit 1,
    a traceback), so a script retrying on failure recorded it twice."""
    home = tmp_path / "home"
    home.mkdir()
    p = run_cli(["record", "-m", "gpt-4o", "-i", "1000", "-o", "500"], cli_env(home),
                prefix=["sh", "-c", f'exec "$@" {closed}', "sh"])
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    rows = ledger_rows(home / "ledger.db")
    assert [cost for _, cost in rows] == [7_500_000]       # $2.50 + 500 x $10 per Mtok


def test_watch_once_in_a_read_only_home_shows_the_cached_team_data(tmp_path):
    """The cache cannot take a pull (a read-only home, Firestore unreachable): watch shows
    what the cache holds, as report does, instead of exiting 1."""
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, {"team": "core", "member": "ana", "project": "demo-readonly",
                        "emulator_host": "127.0.0.1:9"})       # nothing listens on port 9
    cfg = load_config(home, env={})
    now = datetime.now(UTC)
    calls = [CallRecord(call_id=f"t{i}", ts=now - timedelta(minutes=10 + i), team="core",
                        member="bea", ledger_id="lap", provider="openai", model="gpt-4o",
                        cost_nanos=1_000_000_000 * (i + 1)) for i in range(3)]
    with TeamCache.for_config(cfg) as cache:
        cache.upsert((c, 1) for c in calls)
        columnar.refresh(cache)
    before = snapshot(home)
    with read_only(home) as prefix:
        env = cli_env(home)
        env.pop("FIRESTORE_EMULATOR_HOST", None)
        r = run_cli(["watch", "--once"], env, prefix=prefix, timeout=180)
    assert r.returncode == 0, r.stderr
    # (which of the calls fall in this period depends on the hour: not asserted here)
    assert f"source: team cache {home / 'team-cache.db'}" in r.stdout
    assert "pull failed, showing the cache" in r.stdout and "not writable" in r.stdout
    assert snapshot(home) == before


def test_record_on_a_stdout_that_cannot_show_the_label(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(home, PYTHONIOENCODING="ascii")
    p = run_cli(["record", "-m", "modèle-ü", "--agent", "façade", "--call-id", "u1"], env)
    assert p.returncode == 0, p.stderr
    assert "mod\\xe8le-\\xfc" in p.stdout
    with Ledger(home / "ledger.db") as led:
        rec = led.get("u1")
    assert rec is not None and (rec.model, rec.agent) == ("modèle-ü", "façade")


# -- the demo's folder --------------------------------------------------------------------

def demo(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = cli_env(cwd / "unused-home")
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    return run_cli(["demo", "--local", "--format", "json", *args], env, cwd=cwd, timeout=600)


def test_demo_refuses_folders_it_did_not_make(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "q3.csv").write_text("finance")
    a_file = tmp_path / "notes.txt"
    before = snapshot(tmp_path)
    for args, why in ((["--dir", ""], "invalid --dir: ''"),
                      (["--dir", "."], "other files in it"),
                      (["--dir", str(tmp_path)], "other files in it"),
                      (["--dir", str(a_file)], "this is a file")):
        assert_one_line(demo(args, tmp_path), 2, why)
        assert snapshot(tmp_path) == before


def test_demo_in_a_read_only_folder_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder) as prefix:
        env = cli_env(tmp_path / "h")
        env.pop("FIRESTORE_EMULATOR_HOST", None)
        for target in (folder, folder / "sub"):
            r = run_cli(["demo", "--local", "--dir", str(target)], env, prefix=prefix,
                        cwd=tmp_path)
            assert_one_line(r, 1, f"cannot use {target}" if target != folder
                            else f"cannot write the demo into {folder}")
    assert list(folder.iterdir()) == []


def test_demo_reruns_replace_only_what_the_demo_made(tmp_path):
    out = tmp_path / "out"
    first = demo(["--dir", str(out)], tmp_path)
    assert first.returncode == 0, first.stderr
    marker = json.loads((out / ".teamcost-demo.json").read_text())
    assert "home/config.toml" in marker["created"] and "report-7d.json" in marker["created"]
    (out / "my-notes.txt").write_text("keep me")
    (out / "home" / "extra.txt").write_text("not the demo's")
    refused = demo(["--dir", str(out)], tmp_path)
    assert_one_line(refused, 2, "home/extra.txt", "is not the demo's")
    assert (out / "report-7d.json").exists()        # nothing was removed by the refusal
    (out / "home" / "extra.txt").unlink()
    again = demo(["--dir", str(out)], tmp_path)
    assert again.returncode == 0, again.stderr
    assert (out / "my-notes.txt").read_text() == "keep me"
    assert "my-notes.txt" not in json.loads((out / ".teamcost-demo.json").read_text())["created"]
    # a marker that points outside the folder never steers a deletion there
    victim = tmp_path / "victim.txt"
    victim.write_text("outside")
    m = json.loads((out / ".teamcost-demo.json").read_text())
    m["created"] += ["../victim.txt", str(victim)]
    (out / ".teamcost-demo.json").write_text(json.dumps(m))
    assert demo(["--dir", str(out)], tmp_path).returncode == 0
    assert victim.read_text() == "outside"


# -- sync push with a corrupt team cache ---------------------------------------------------

@pytest.mark.emulator
def test_sync_push_does_not_need_the_team_cache(firestore_emulator, firestore_client, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(home, TEAMCOST_PROJECT=firestore_emulator.project, TEAMCOST_TEAM="core",
                  FIRESTORE_EMULATOR_HOST=firestore_emulator.host)
    for _ in range(3):
        assert run_cli(["record", "-m", "gpt-4o", "-i", "1000", "-o", "500"], env).returncode == 0
    cache = home / "team-cache.db"
    cache.write_bytes(b"garbage, not SQLite " * 200)
    before = cache.read_bytes()
    r = run_cli(["sync", "push"], env)
    assert r.returncode == 0, r.stderr
    assert "pushed 3, already there 0, conflicts 0" in r.stdout
    warnings = r.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("teamcost: warning: pushed, but")
    assert "rebuilds it" in warnings[0] and "sync pull" in warnings[0]
    assert server_totals(firestore_client) == (3, 3 * 7_500_000)
    assert cache.read_bytes() == before            # the broken copy is left for the user
    with Ledger(home / "ledger.db") as led:
        assert led.status().unpushed == 0
