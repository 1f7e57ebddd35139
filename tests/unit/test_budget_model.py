"""Budget maths, worked by hand: dollars to nanos, thresholds, exit codes, projection."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from teamcost.budget.alerts import crossed
from teamcost.budget.model import (Budget, BudgetStatus, parse_thresholds, period_of,
                                   projection, threshold_name)
from teamcost.money import MAX_BUDGET_NANOS, usd_to_nanos
from teamcost.errors import InvalidValue

UTC = timezone.utc


@pytest.mark.parametrize("value,nanos", [
    ("500", 500_000_000_000), ("0.1", 100_000_000), ("1234.5", 1_234_500_000_000),
    (12.5, 12_500_000_000), ("0.0000000005", 0), ("0.0000000015", 2),  # half-even
])
def test_usd_to_nanos_is_exact(value: object, nanos: int) -> None:
    assert usd_to_nanos(value, "--amount", maximum=MAX_BUDGET_NANOS) == nanos


@pytest.mark.parametrize("value", ["0", "-5", "abc", "nan", "inf", "", True, "1e12",
                                   "$1,234.5", "12,50"])
def test_bad_amounts_name_the_value(value: object) -> None:
    with pytest.raises(InvalidValue) as exc:
        usd_to_nanos(value, "--amount", allow_zero=False, maximum=MAX_BUDGET_NANOS)
    assert "--amount" in str(exc.value) and repr(value) in str(exc.value)


def test_thresholds() -> None:
    assert parse_thresholds(None) == (0.8, 0.9)
    assert parse_thresholds("0.9, 0.5") == (0.5, 0.9)
    assert parse_thresholds("75%,92.5%") == (0.75, 0.925)
    assert threshold_name(0.925) == "92.5" and threshold_name(0.8) == "80"
    for bad in ["1.2", "0", "0.8,0.8", "x", ""]:
        with pytest.raises(InvalidValue, match="invalid thresholds: "):
            parse_thresholds(bad)


def test_projection_by_hand() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 12, 1, tzinfo=UTC)            # 30 days
    now = start + timedelta(days=12)                    # 12 of 30 days gone
    assert projection(1_200_000_000, start, end, now) == 3_000_000_000
    # 7 nanos over 1/3 of the period = 21; 1 nano over 2/3 = 1.5 -> half-even 2
    assert projection(7, start, end, start + timedelta(days=10)) == 21
    assert projection(1, start, end, start + timedelta(days=20)) == 2
    assert projection(5, start, end, start) == 5        # no time passed: what is spent
    assert projection(5, start, end, end + timedelta(days=1)) == 5


def status(spent: int, *, estimate: int = 0, limit: int = 500_000_000_000,
           thresholds: tuple[float, ...] = (0.8, 0.9)) -> BudgetStatus:
    b = Budget("acme", limit, "month", "UTC", thresholds)
    now = datetime(2026, 11, 16, tzinfo=UTC)   # 15 of 30 days
    start, end, key = period_of(b, now)
    return BudgetStatus(b, now, start, end, key, spent - 1000, 7, 1000, 1, estimate)


def test_levels_and_exit_codes() -> None:
    assert status(399_999_999_999).exit_code == 0
    assert status(400_000_000_000).exit_code == 3                 # exactly 80%
    assert status(449_999_999_999).level == "WARN"
    assert status(499_999_999_999).exit_code == 3
    assert status(500_000_000_000).exit_code == 4                 # exactly the limit
    assert status(100_000_000_000, estimate=300_000_000_000).exit_code == 3
    assert status(100_000_000_000, estimate=400_000_000_000).exit_code == 4
    assert status(1, limit=10, thresholds=(0.5,)).exit_code == 0


def test_status_line_and_dict() -> None:
    st = status(412_500_000_000)
    assert st.period_key == "2026-11"
    assert st.line == ("team acme: $412.50 of $500.00 (82.5%) this month, WARN, "
                       "projected $825.00 by month end")
    d = st.to_dict()
    assert d["spent_nanos"] == 412_500_000_000 and d["pushed_nanos"] == 412_499_999_000
    assert d["unpushed_nanos"] == 1000 and d["exit_code"] == 3
    assert d["remaining_nanos"] == 87_500_000_000 and d["projected_nanos"] == 825_000_000_000
    est = status(100_000_000_000, estimate=25_000_000_000)
    assert "+ $25.00 estimated" in est.line and "(25.0%)" in est.line


def test_alerts_due() -> None:
    assert [a.name for a in crossed(status(399_999_999_999))] == []
    assert [a.name for a in crossed(status(450_000_000_000))] == ["80", "90"]
    assert [a.name for a in crossed(status(500_000_000_000))] == ["80", "90", "limit"]
    ids = [a.alert_id for a in crossed(status(450_000_000_000))]
    assert ids == ["acme_2026-11_80", "acme_2026-11_90"]
    # milestones: only the highest reached every $100
    assert [a.name for a in crossed(status(350_000_000_000), 100)] == ["usd300"]
    # the estimate is not spend: no alert for it
    assert crossed(status(10, estimate=499_000_000_000)) == []


def test_budget_validation() -> None:
    with pytest.raises(InvalidValue, match="period"):
        Budget("acme", 1, "year")
    with pytest.raises(InvalidValue, match="timezone"):
        Budget("acme", 1, "day", "Mars/Olympus")
    with pytest.raises(InvalidValue, match="amount"):
        Budget("acme", 0)
