"""Every option and config value that takes dollars reads them one way (money.parse_usd):
a string either means exactly the amount an independent reading gives, or is refused with
exit 2 and one line naming the option and the accepted form. "12,50" is never $1,250.

The oracle here reads amounts with integers and fractions only (no Decimal, no regex
shared with the code): ASCII digits with at most one decimal point, surrounding
whitespace ignored, rounded half-even to nano-dollars.
"""

from __future__ import annotations

import json
import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from teamcost.errors import ConfigError, InvalidValue
from teamcost.money import (
    INT64_MAX,
    MAX_BUDGET_NANOS,
    MAX_CALL_NANOS,
    parse_usd,
    usd_to_nanos,
)
from teamcost.pricing import PriceOverride

from tests.cli_support import run

ASCII_DIGITS = set("0123456789")
HOSTILE = ["12,50", "1.234,56", "1,5", "1,2,3", "1,250.00", "1e3", "1E-3", "\u0663",
           "\u0661\u0662", "\uff11\uff12", "$5", "$1,234.50", "5$", "1 000", "1_000", "12 .5",
           "NaN", "nan", "inf", "Infinity", "-1", "+1", "-0", "0x10", "12.5.0", ".", "",
           " ", "1.", ".5", "0", "00012.50000", " 12.5 ", "\t3\n", "1\u00a0000", "½",
           "12.50 USD", "١٢٫٥٠"]
MONEYISH = st.text(alphabet="0123456789.,$eE+- _\u0663\uff12\t", max_size=14)


def oracle_value(text: str) -> Fraction | None:
    """The exact dollars of ``text``, or None when it is not plainly a dollar amount."""
    s = text.strip()
    if s.count(".") > 1 or not s.replace(".", "") or set(s.replace(".", "")) - ASCII_DIGITS:
        return None
    whole, _, frac = s.partition(".")
    return Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)


def oracle_nanos(text: str) -> int | None:
    """The exact nanos of ``text`` rounded half-even, or None (see ``oracle_value``)."""
    value = oracle_value(text)
    if value is None:
        return None
    scaled = value * 10**9
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return floor


def amounts() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE),
                     st.from_regex(r"[0-9]{1,13}(\.[0-9]{0,12})?", fullmatch=True),
                     MONEYISH, st.text(max_size=10))


def _one_error_line(result, flag: str) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"teamcost: error: invalid {flag}: "), lines[0]
    return lines[0]


# -- the library reader ---------------------------------------------------------------------

@given(amounts())
@example("12,50")
@example("1e3")
def test_usd_to_nanos_is_the_oracle_or_refuses(text: str) -> None:
    want = oracle_nanos(text)
    try:
        got = usd_to_nanos(text, "amount")
    except InvalidValue as exc:
        assert exc.field == "amount"
        if want is not None:  # read, but beyond int64 nanos
            assert want > INT64_MAX and "at most" in str(exc), (text, want)
        else:
            assert "no $, no commas" in str(exc), str(exc)
        return
    assert got == want, text


@pytest.mark.parametrize("text", ["12,50", "1.234,56", "1,5", "1e3", "\u0663", "$5", "1 000",
                                  "NaN", "inf", "1,250.00"])
def test_what_cannot_be_read_exactly_is_refused(text: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_usd(text, "amount")
    assert repr(text) in str(info.value)


# -- every amount option ---------------------------------------------------------------------

@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=amounts())
@example(text="12,50")
@example(text="1.234,56")
@example(text="\u0663")
def test_record_cost_usd(teamcost_home: Path, text: str) -> None:
    want = oracle_nanos(text)
    if want is not None and want > MAX_CALL_NANOS:
        want = None
    before = _ledger_costs(teamcost_home)
    r = run("record", "-m", "gpt-4o", "-i", "1", "-o", "1", f"--cost-usd={text}",
            "--format", "json")
    if want is None:
        assert r.exit_code == 2, (text, r.stdout)
        _one_error_line(r, "--cost-usd")
        assert _ledger_costs(teamcost_home) == before      # nothing recorded
    else:
        assert r.exit_code == 0, (text, r.stderr)
        assert json.loads(r.stdout)["cost_nanos"] == want
        assert _ledger_costs(teamcost_home) == before + [want]


def _ledger_costs(home: Path) -> list[int]:
    db = home / "ledger.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT cost_nanos FROM calls ORDER BY rowid")]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=amounts())
@example(text="12,50")
@example(text="1,5")
def test_budget_set_amount_and_check_estimate(teamcost_home: Path, text: str) -> None:
    """No project here: an amount that is read gets as far as "no project" (exit 1); one
    that is not is refused first, naming the option (exit 2)."""
    want = oracle_nanos(text)
    amount_ok = want is not None and 0 < want <= MAX_BUDGET_NANOS
    r = run("budget", "set", f"--amount={text}")
    if amount_ok:
        assert r.exit_code == 1 and "--amount" not in r.stderr, (text, r.stderr)
        assert usd_to_nanos(text, "amount", allow_zero=False,
                            maximum=MAX_BUDGET_NANOS) == want
    else:
        assert r.exit_code == 2, (text, r.stderr)
        _one_error_line(r, "--amount")
    estimate_ok = want is not None and want <= MAX_BUDGET_NANOS
    r = run("budget", "check", f"--estimate={text}")
    if estimate_ok:
        assert r.exit_code == 1 and "--estimate" not in r.stderr, (text, r.stderr)
    else:
        assert r.exit_code == 2, (text, r.stderr)
        _one_error_line(r, "--estimate")


@given(amounts())
@example("2,50")
def test_config_price_overrides(text: str) -> None:
    want = oracle_value(text)
    try:
        ov = PriceOverride.from_mapping({"pattern": "my-model", "input": text, "output": "1"})
    except ConfigError as exc:
        assert want is None, (text, str(exc))
        assert repr(text) in str(exc) and "no $, no commas" in str(exc)
        return
    assert want is not None, text
    assert Fraction(ov.input_mtok) == want     # $/Mtok keeps every digit given


@pytest.mark.parametrize("value", ["100", "1,5", "12,50"])
def test_config_milestone_is_a_number_not_text(teamcost_home: Path, value: str) -> None:
    (teamcost_home / "config.toml").write_text(f'[budget]\nmilestone_usd = "{value}"\n')
    r = run("ledger", "status")
    assert r.exit_code == 1       # the config cannot be used
    assert "invalid budget.milestone_usd: " in r.stderr and len(r.stderr.splitlines()) == 1


def test_config_milestone_numbers_are_read_exactly(teamcost_home: Path) -> None:
    from teamcost.config import load_config
    (teamcost_home / "config.toml").write_text("[budget]\nmilestone_usd = 0.1\n")
    assert load_config().budget.milestone_usd == 0.1
    (teamcost_home / "config.toml").write_text("[budget]\nmilestone_usd = nan\n")
    assert run("ledger", "status").exit_code == 1
