"""Hostile or odd configuration (issue 18): every config table is checked when the config
loads, an emulator host must be host:port, and TEAMCOST_HOME must be a usable directory.
Each case: one stderr line naming the key and the value, and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from teamcost.config import BudgetSettings, load_config
from teamcost.errors import ConfigError
from teamcost.tracker import Tracker
from tests.cli_support import run
from tests.hostile_support import assert_one_line, snapshot


@pytest.fixture
def home(teamcost_home: Path) -> Path:
    assert run("init", "--team", "core").exit_code == 0
    assert run("record", "-m", "gpt-4o", "-i", "10", "--call-id", "one").exit_code == 0
    return teamcost_home


BAD_BUDGET = [
    ('guard_ttl_s = "abc"', "budget.guard_ttl_s: 'abc'"),
    ("guard_ttl_s = -1", "budget.guard_ttl_s: -1"),
    ("guard_ttl_s = true", "budget.guard_ttl_s: True"),
    ("guard_ttl_s = nan", "budget.guard_ttl_s: nan"),
    ("guard_ttl_s = 1e9", "budget.guard_ttl_s: 1000000000.0"),
    ('fail_closed = "maybe"', "budget.fail_closed: 'maybe'"),
    ("fail_closed = 1", "budget.fail_closed: 1"),
    ("milestone_usd = -5", "budget.milestone_usd: -5"),
    ("milestone_usd = 0", "budget.milestone_usd: 0"),
    ('milestone_usd = "100"', "budget.milestone_usd: '100'"),
    ("webhook_url = 5", "budget.webhook_url: 5"),
    ('slack_webhook_url = "hooks.slack.com/x"', "budget.slack_webhook_url: 'hooks.slack.com/x'"),
    ('colour = "red"', "budget: 'colour'"),
]


@pytest.mark.parametrize("line, shown", BAD_BUDGET)
@pytest.mark.parametrize("command", [["ledger", "status"], ["record", "-m", "gpt-4o"],
                                     ["report", "--offline"], ["budget", "check"]])
def test_wrong_budget_values_are_refused_when_the_config_loads(home, line, shown, command):
    (home / "config.toml").write_text(f'team = "core"\n\n[budget]\n{line}\n')
    before = snapshot(home)
    result = run(*command)
    assert_one_line(result, 1, f"invalid {shown}", str(home / "config.toml"))
    assert snapshot(home) == before


def test_the_library_refuses_them_too_so_the_guard_never_meets_a_bad_type(home):
    (home / "config.toml").write_text('project = "demo-x"\n[budget]\nguard_ttl_s = "abc"\n')
    with pytest.raises(ConfigError, match=r"budget\.guard_ttl_s: 'abc'"):
        Tracker()
    (home / "config.toml").write_text('[budget]\nguard_ttl_s = 5\nfail_closed = true\n'
                                      'milestone_usd = 250\nwebhook_url = "https://x.test/h"\n')
    assert load_config().budget == BudgetSettings(5.0, True, "https://x.test/h", None, 250.0)


@pytest.mark.parametrize("table, shown", [
    ("price_overrides = [1]", "price_overrides: [1]"),
    ('price_overrides = "gpt"', "price_overrides: 'gpt'"),
    ("[[price_overrides]]\npattern = 7\ninput = 1\noutput = 1", "price_overrides.pattern: 7"),
    ("ledger_path = 5", "ledger_path: 5"),
    ('auth = "key"', "auth: 'key'"),
    ("[auth]\napi_key = 3", "auth.api_key: 3"),
    ('[auth]\ntoken = "x"', "auth: 'token'"),
])
def test_every_other_table_is_checked_too(home, table, shown):
    (home / "config.toml").write_text(table + "\n")
    before = snapshot(home)
    assert_one_line(run("ledger", "status"), 1, f"invalid {shown}")
    assert snapshot(home) == before


@pytest.mark.parametrize("value", ["not a host", "127.0.0.1:99999", "127.0.0.1:0", "localhost",
                                   "127.0.0.1:", ":8080", "http://localhost:8080",
                                   "[::1:8080", "[zz::1]:8080", "host name:80", "127.0.0.1:8o80"])
def test_init_refuses_an_emulator_host_that_is_not_host_port(home, value):
    before = snapshot(home)
    result = run("init", "--emulator-host", value)
    assert_one_line(result, 2, f"invalid --emulator-host: {value!r}", "host:port")
    assert snapshot(home) == before


@pytest.mark.parametrize("value", ["127.0.0.1:8080", "localhost:1", "[::1]:65535",
                                   "emulator.internal:8081"])
def test_good_emulator_hosts_are_saved(home, value):
    assert run("init", "--emulator-host", value).exit_code == 0
    assert load_config(env={}).emulator_host == value


def test_a_bad_emulator_host_in_the_environment_names_the_variable(home, monkeypatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:70000")
    assert_one_line(run("ledger", "status"), 1, "invalid emulator_host: '127.0.0.1:70000'",
                    "the environment variable FIRESTORE_EMULATOR_HOST")


def test_teamcost_home_pointing_at_a_file_says_so_instead_of_no_calls(tmp_path, monkeypatch):
    not_a_dir = tmp_path / "home-file"
    not_a_dir.write_text("my notes\n")
    monkeypatch.setenv("TEAMCOST_HOME", str(not_a_dir))
    for args in (["report", "--offline"], ["ledger", "status"], ["record", "-m", "gpt-4o"],
                 ["init"]):
        result = run(*args)
        assert_one_line(result, 1, f"TEAMCOST_HOME {not_a_dir} is a file, not a directory")
    monkeypatch.setenv("TEAMCOST_HOME", str(not_a_dir / "below"))
    assert_one_line(run("report", "--offline"), 1, "is inside a file, not a directory")
    assert not_a_dir.read_text() == "my notes\n"


def test_init_with_a_ten_thousand_character_home_is_one_short_line(tmp_path, monkeypatch):
    long_home = tmp_path / "/".join(["h" * 200] * 50)
    assert len(str(long_home)) > 10_000
    monkeypatch.setenv("TEAMCOST_HOME", str(long_home))
    for args in (["init", "--team", "core"], ["record", "-m", "gpt-4o"], ["report"],
                 ["whoami"]):
        result = run(*args)
        line = assert_one_line(result, 1, "name too long")
        assert len(line) < 400, len(line)
        assert str(tmp_path)[:40] in line and "..." in line   # the path's two ends
    assert not os.path.exists(tmp_path / ("h" * 200))
