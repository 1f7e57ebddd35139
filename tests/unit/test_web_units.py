"""The dashboard's pure parts and small I/O pieces: access rules, cursors, the change
probe, the event hub, the columnar mirror under concurrent readers, the page's rules."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teamcost.commands.serve import parse_pull_every
from teamcost.config import Config
from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.reports.calls import Cursor, check_limit
from teamcost.reports.changes import ChangeProbe
from teamcost.sync.cache import TeamCache
from teamcost.web.live import Hub
from teamcost.web.security import _host_of, check_exposure, is_loopback, session_value

STATIC = Path(__file__).resolve().parents[2] / "teamcost" / "web" / "static"


def call(i: int, ts: datetime | None = None) -> CallRecord:
    return CallRecord(call_id=f"u{i}", ts=ts or datetime(2026, 11, 20, tzinfo=UTC)
                      + timedelta(minutes=i), team="core", member="ana@example.com",
                      ledger_id="L", provider="openai", model="gpt-4o", cost_nanos=1000 + i,
                      price_source="test")


# -- who may connect -------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost",
                                  "LOCALHOST"])
def test_loopback_hosts_need_no_token(host):
    assert is_loopback(host)
    check_exposure(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com",
                                  "localhost.example.com", ""])
def test_other_hosts_need_a_token(host):
    assert not is_loopback(host)
    with pytest.raises(InvalidValue) as err:
        check_exposure(host, None)
    assert err.value.field == "--host" and "--token" in str(err.value)
    check_exposure(host, "a" * 16)


def test_a_short_token_is_refused_without_being_shown():
    with pytest.raises(InvalidValue) as err:
        check_exposure("127.0.0.1", "s3cr3t")
    assert "s3cr3t" not in str(err.value) and "<6 characters>" in str(err.value)


@pytest.mark.parametrize("header, host", [("127.0.0.1:8787", "127.0.0.1"),
                                          ("localhost", "localhost"), ("[::1]:8787", "::1"),
                                          ("[::1]", "::1"), ("evil.example:80", "evil.example"),
                                          ("", "")])
def test_host_header_parsing(header, host):
    assert _host_of(header) == host


def test_the_login_cookie_is_not_the_token():
    token = "x" * 32
    assert session_value(token) == session_value(token) != token
    assert token not in session_value(token) and session_value(token + "y") != session_value(token)


@pytest.mark.parametrize("text, seconds", [(None, 30.0), ("0", 0.0), ("off", 0.0), ("5s", 5.0),
                                           ("2m", 120.0)])
def test_pull_every(text, seconds):
    assert parse_pull_every(text, True) == seconds
    assert parse_pull_every(None, False) == 0.0


@pytest.mark.parametrize("bad", ["soon", "-1s", "5h", "10ms"])
def test_pull_every_refuses_bad_values(bad):
    with pytest.raises(InvalidValue) as err:
        parse_pull_every(bad, True)
    assert err.value.field == "--pull-every"


# -- cursors ---------------------------------------------------------------------------

@given(st.integers(min_value=-(2**62), max_value=2**62),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=128))
def test_cursor_round_trips(ts_us, call_id):
    c = Cursor(ts_us, call_id)
    assert Cursor.decode(c.encode()) == c
    assert re.fullmatch(r"[A-Za-z0-9_\-]+", c.encode())


@pytest.mark.parametrize("bad", ["", "!!!", "bm90IGEgY3Vyc29y", "OjE=", "MTI6"])
def test_a_bad_cursor_names_itself(bad):
    with pytest.raises(InvalidValue) as err:
        Cursor.decode(bad)
    assert err.value.field == "cursor" and "next_cursor" in str(err.value)


@pytest.mark.parametrize("bad", ["0", "1001", "ten", "", "2.5", "-3"])
def test_limits(bad):
    with pytest.raises(InvalidValue):
        check_limit(bad)
    assert check_limit("1") == 1 and check_limit(" 1000 ") == 1000


# -- change detection --------------------------------------------------------------------

def test_the_probe_moves_exactly_when_calls_arrive(tmp_path):
    cfg = Config(home=tmp_path, team="core", project="demo-probe")
    probe = ChangeProbe(cfg)
    empty = probe.fingerprint()
    assert (empty.cache, empty.ledger) == (None, None)
    assert not cfg.cache_file.exists() and not cfg.ledger_file.exists()  # watching writes nothing
    with Ledger.for_config(cfg) as led:
        led.record(call(1))
        one = probe.fingerprint()
        assert one.ledger is not None and one.ledger[1] == 1 and one != empty
        assert probe.fingerprint() == one                               # nothing new
        led.mark_pushed(["u1"])                                         # not a new call
        assert probe.fingerprint() == one
        led.record(call(2))
        assert probe.fingerprint().ledger[1] == 2
    with TeamCache(cfg.cache_file) as cache:
        cache.set_state("pull:core:x", "1")                             # bookkeeping only
        before = probe.fingerprint()
        cache.upsert([(call(3), 5)])
        after = probe.fingerprint()
    assert after.cache and after.cache[1] == 1 and after != before
    cfg.cache_file.unlink()                                             # a cache pulled anew
    for suffix in ("-wal", "-shm"):
        Path(str(cfg.cache_file) + suffix).unlink(missing_ok=True)
    assert probe.fingerprint().cache is None
    with TeamCache(cfg.cache_file) as cache:
        cache.upsert([(call(4), 6)])
    assert probe.fingerprint().cache is not None
    probe.close()


def test_the_probe_survives_a_close_during_a_read(tmp_path):
    """A server stopping closes the probe while a worker thread may be reading with it;
    unguarded, sqlite3 crashes the interpreter (seen once in this suite)."""
    home = tmp_path / "odd?#dir"          # a path that is not a plain URI either
    cfg = Config(home=home, team="core", project="demo-probe")
    home.mkdir()
    with Ledger.for_config(cfg) as led:
        led.record_many([call(i) for i in range(50)])
    probe = ChangeProbe(cfg)
    assert probe.fingerprint().ledger[1] == 50
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            probe.fingerprint()

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    for _ in range(3000):
        probe.close()
    stop.set()
    for t in readers:
        t.join()
    assert probe.fingerprint().ledger[1] == 50


def test_a_slow_listener_loses_old_events_and_blocks_nobody():
    async def go() -> tuple[list[str], list[str]]:
        hub = Hub()
        slow, fast = hub.subscribe(), hub.subscribe()
        got_fast = []
        for i in range(100):
            hub.publish("calls", {"n": i})
            got_fast.append((await fast.get())[1]["n"])
        drained = []
        while not slow.empty():
            drained.append(slow.get_nowait()[1]["n"])
        hub.unsubscribe(slow)
        assert hub.listeners == 1
        return got_fast, drained

    fast, slow = asyncio.run(go())
    assert fast == list(range(100))
    assert slow == list(range(100 - len(slow), 100)) and 0 < len(slow) <= 32


# -- the columnar mirror under threads of one server -----------------------------------------

def test_concurrent_readers_while_calls_arrive(tmp_path):
    from teamcost.reports import columnar

    cache = TeamCache(tmp_path / "team-cache.db")
    cache.upsert((call(i), 1) for i in range(200))
    results: list[int] = []
    errors: list[BaseException] = []
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)

    def reader() -> None:
        try:
            with TeamCache(tmp_path / "team-cache.db") as mine:
                for _ in range(5):
                    results.append(columnar.read(mine, "core", since, until).num_rows)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    for round_ in range(20):  # each round: new rows, then many threads refresh at once
        cache.upsert((call(1000 + 10 * round_ + j), 2) for j in range(10))
        threads = [threading.Thread(target=reader) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert set(results[-30:]) == {200 + 10 * (round_ + 1)}
    parts = list((tmp_path / columnar.MIRROR_DIR).iterdir())
    assert not [p for p in parts if ".tmp-" in p.name]
    cache.close()


# -- the page keeps its own rules ---------------------------------------------------------------

def test_the_page_has_no_inline_script_or_style():
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/static/app.js" defer>']
    assert "<style" not in html and not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)          # no inline handlers
    assert not re.search(r"(src|href)\s*=\s*\"(https?:)?//", html)  # nothing remote


def test_the_script_never_parses_data_as_html():
    js = (STATIC / "app.js").read_text()
    code = re.sub(r"/\*.*?\*/", "", js, flags=re.DOTALL)          # comments may name them
    code = re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", code)
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function", "setAttribute(\"style\"", ".style."):
        assert banned not in code, banned
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", js)   # no remote origin
    # one money formatter: every "$" the page shows comes from money()
    assert js.count('"$"') == 1 and len(re.findall(r"function money\(", js)) == 1
