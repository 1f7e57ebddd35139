"""local_read: the status line's fast readers agree with config and the ledger they shortcut."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from teamcost.config import load_config, write_config
from teamcost.errors import ConfigError, LedgerError
from teamcost.ledger import Ledger
from teamcost.local_read import default_home, ledger_file, ledger_path, session_totals
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
