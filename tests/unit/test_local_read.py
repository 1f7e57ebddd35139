"""local_read: the status line's fast readers agree with config and the ledger they shortcut."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teamcost.config import load_config, write_config
from teamcost.errors import ConfigError, LedgerError
from teamcost.ledger import Ledger
from teamcost.local_read import (
    SESSION_TOTALS_SQL,
    default_home,
    home_dir,
    ledger_file,
    ledger_path,
    session_totals,
)
from teamcost.models import CallRecord

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def call(call_id: str, cost: int, session: str | None) -> CallRecord:
    return CallRecord(call_id=call_id, ts=T0, team="core", member="ann@example.com",
                      ledger_id="lg-1", provider="anthropic", model="claude-sonnet-4-5",
                      input_tokens=10, output_tokens=3, cost_nanos=cost, price_source="test",
                      session_id=session)


def test_session_totals_sums_one_session_of_a_real_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger(path) as lg:
        lg.record_many([call("a", 2_140_000_000, "cc-1"), call("b", 7, "cc-1"),
                        call("c", 999, "cc-2"), call("d", 5, None)])
        assert session_totals(path, "cc-1") == (2, 2_140_000_007)   # while the writer is open
    assert session_totals(path, "cc-1") == (2, 2_140_000_007)
    assert session_totals(path, "cc-2") == (1, 999)
    assert session_totals(path, "nope") == (0, 0)


def test_session_totals_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "ledger.db"
    assert session_totals(missing, "s") == (0, 0)
    assert not missing.parent.exists()
    (tmp_path / "empty").mkdir()
    assert session_totals(tmp_path / "empty" / "ledger.db", "s") == (0, 0)
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize("content", [b"not a database at all" * 100, b""])
def test_a_file_that_is_not_a_ledger_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(content)
    with pytest.raises(LedgerError, match=str(path)):
        session_totals(path, "s")
    assert path.read_bytes() == content


CASES: list[tuple[dict[str, Any], dict[str, str]]] = [
    ({}, {}),
    ({"ledger_path": "/data/ledgers/mine.db"}, {}),
    ({"ledger_path": "~/l.db"}, {}),
    ({"ledger_path": "/data/from-config.db"}, {"TEAMCOST_LEDGER": "/data/from-env.db"}),
    ({}, {"TEAMCOST_LEDGER": "~/env.db"}),
]


@pytest.mark.parametrize("values, env", CASES)
def test_ledger_file_agrees_with_load_config(tmp_path: Path, values: dict[str, Any],
                                             env: dict[str, str]) -> None:
    home = tmp_path / "home"
    if values:
        home.mkdir()
        (home / "config.toml").write_text("".join(f'{k} = "{v}"\n' for k, v in values.items()))
    else:
        write_config(home, {"team": "core"})
    assert ledger_file(home, env) == load_config(home, env=env).ledger_file


def test_ledger_file_errors_name_the_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("ledger_path = [1]\n")
    with pytest.raises(ConfigError, match="ledger_path"):
        ledger_file(tmp_path, {})
    (tmp_path / "config.toml").write_text("ledger_path = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ledger_file(tmp_path, {})


def test_quick_ledger_path_parses_only_a_config_that_can_name_it(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    other = tmp_path / "elsewhere.db"
    for text in (f'team = "core"\nledger_path = "{other}"\n',
                 f'"ledger\\u005fpath" = "{other}"\n',        # the key spelled with an escape
                 f"ledger_path = '{other}'\n"):
        cfg.write_text(text)
        assert ledger_path(tmp_path, {}, quick=True) == str(other) == str(ledger_file(tmp_path, {}))
    cfg.write_text('team = "core"\nmember = "ann@example.com"\n')
    assert ledger_path(tmp_path, {}, quick=True) == str(tmp_path / "ledger.db")
    # not parsed, so not checked: the status line shows the default ledger's session
    cfg.write_text("team = \n")
    assert ledger_path(tmp_path, {}, quick=True) == str(tmp_path / "ledger.db")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ledger_path(tmp_path, {})


def test_default_home(tmp_path: Path) -> None:
    assert default_home({"TEAMCOST_HOME": str(tmp_path)}) == tmp_path
    assert default_home({"TEAMCOST_HOME": "~/tc"}) == Path(os.path.expanduser("~/tc"))
    assert default_home({}) == Path(platformdirs.user_data_dir("teamcost", appauthor=False))


# what an environment variable may hold (no NUL, no lone surrogates): the characters that
# steer platformdirs (/, ~, blanks, dots) weighted in, and some others
_ENV_TEXT = st.text(st.one_of(st.sampled_from("/~ \t.\\"), st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\x00")), max_size=12)
_ENV_VALUE = st.one_of(st.none(), _ENV_TEXT, _ENV_TEXT.map(lambda t: "/" + t),
                       _ENV_TEXT.map(lambda t: "~" + t))


@contextmanager
def _environ(**values: str | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _platformdirs_answer() -> str:
    try:
        return platformdirs.user_data_dir("teamcost", appauthor=False)
    except RuntimeError as exc:       # no home it can use: home_dir must say the same
        return f"RuntimeError: {exc}"


@settings(max_examples=400, deadline=None)
@given(xdg=_ENV_VALUE, home=_ENV_VALUE)
def test_home_dir_without_teamcost_home_is_platformdirs_answer(xdg: str | None,
                                                              home: str | None) -> None:
    """The status line finds the home without importing platformdirs (issue 28), and finds
    the same one: XDG_DATA_HOME set, empty, blank, relative or unset, HOME likewise."""
    with _environ(XDG_DATA_HOME=xdg, HOME=home, TEAMCOST_HOME=None):
        expect = _platformdirs_answer()
        try:
            got = home_dir({})
        except RuntimeError as exc:
            got = f"RuntimeError: {exc}"
        assert got == expect
        assert home_dir() == got


def test_home_dir_reads_xdg_data_home_and_home_as_platformdirs_does() -> None:
    """Values written out (independent of both implementations)."""
    with _environ(XDG_DATA_HOME="/data/x", HOME="/home/ann"):
        assert home_dir({}) == "/data/x/teamcost"
    for xdg in (None, "", "  ", "rel/dir", "~/d"):
        with _environ(XDG_DATA_HOME=xdg, HOME="/home/ann/"):
            assert home_dir({}) == "/home/ann/.local/share/teamcost"
    with _environ(XDG_DATA_HOME=None, HOME="/"):
        assert home_dir({}) == "/.local/share/teamcost"


def _vm_steps(path: Path, session: str) -> tuple[int, list[str], tuple[int, int]]:
    """(SQLite VM instructions, query plan, answer) of the status line's session query."""
    conn = sqlite3.connect(path)
    try:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {SESSION_TOTALS_SQL}",
                                               (session,))]
        steps = [0]

        def tick() -> int:
            steps[0] += 1
            return 0

        conn.set_progress_handler(tick, 1)
        row = conn.execute(SESSION_TOTALS_SQL, (session,)).fetchone()
        return steps[0], plan, (row[0], row[1])
    finally:
        conn.close()


def test_the_session_query_costs_the_same_in_a_small_and_a_large_ledger(tmp_path: Path) -> None:
    """Constant time for the status line (issue 28): it reads the session's rows from the
    covering index, so 50 calls cost the same among 100 calls as among 20,000."""
    answers = []
    for n in (100, 20_000):
        path = tmp_path / f"ledger-{n}.db"
        with Ledger(path) as lg:
            lg.record_many(call(f"c{i}", 1_000 + i, f"s{i // 50}") for i in range(n))
        answers.append(_vm_steps(path, "s1"))
        assert session_totals(path, "s1") == (50, sum(1_000 + i for i in range(50, 100)))
    (small_steps, small_plan, small), (large_steps, large_plan, large) = answers
    assert small_plan == large_plan == ["SEARCH calls USING COVERING INDEX calls_session "
                                        "(session_id=?)"]
    assert small == large == (50, 53_725)
    # a scan would take thousands more steps; the index takes one more comparison (the
    # next session's first entry, which the small ledger does not have)
    assert small_steps <= large_steps <= small_steps + 5, (small_steps, large_steps)
