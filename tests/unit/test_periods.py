"""Period boundaries and time parsing, by hand (DST, ISO weeks, bad values)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from teamcost.errors import InvalidValue
from teamcost.periods import (parse_month, parse_point, parse_week, parse_window, period_bounds,
                              period_key)

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # Monday; 20:30 Sunday in Los Angeles


def test_period_bounds_utc() -> None:
    assert period_bounds(NOW, "day") == (datetime(2026, 11, 23, tzinfo=UTC),
                                         datetime(2026, 11, 24, tzinfo=UTC))
    assert period_bounds(NOW, "week") == (datetime(2026, 11, 23, tzinfo=UTC),
                                          datetime(2026, 11, 30, tzinfo=UTC))
    assert period_bounds(NOW, "month") == (datetime(2026, 11, 1, tzinfo=UTC),
                                           datetime(2026, 12, 1, tzinfo=UTC))


def test_period_bounds_in_los_angeles_cross_dst() -> None:
    # still Sunday 11-22 there; the week began Monday 11-16 (PST, UTC-8)
    assert period_bounds(NOW, "day", "America/Los_Angeles") == (
        datetime(2026, 11, 22, 8, tzinfo=UTC), datetime(2026, 11, 23, 8, tzinfo=UTC))
    # November starts in PDT (UTC-7); DST ends 11-01 at 02:00 local
    assert period_bounds(NOW, "month", "America/Los_Angeles") == (
        datetime(2026, 11, 1, 7, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC))
    day = period_bounds(datetime(2026, 11, 1, 12, tzinfo=UTC), "day", "America/Los_Angeles")
    assert day[1] - day[0] == (datetime(2026, 11, 2, 8, tzinfo=UTC)
                               - datetime(2026, 11, 1, 7, tzinfo=UTC))  # a 25-hour day


def test_keys() -> None:
    start, _ = period_bounds(NOW, "week")
    assert period_key(start, "week") == "2026-W48"
    assert period_key(start, "month") == "2026-11" and period_key(start, "day") == "2026-11-23"


def test_relative_and_absolute_points() -> None:
    assert parse_point("--since", "7d", NOW, "UTC", end_of_day=False) == datetime(2026, 11, 16, 4, 30, tzinfo=UTC)
    assert parse_point("--since", "24h", NOW, "UTC", end_of_day=False) == datetime(2026, 11, 22, 4, 30, tzinfo=UTC)
    assert parse_point("--since", "2w", NOW, "UTC", end_of_day=False) == datetime(2026, 11, 9, 4, 30, tzinfo=UTC)
    assert parse_point("--since", "2026-11-01", NOW, "Europe/Berlin", end_of_day=False) == \
        datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert parse_point("--until", "2026-11-01", NOW, "UTC", end_of_day=True) == \
        datetime(2026, 11, 2, tzinfo=UTC)
    assert parse_point("--since", "2026-11-20T10:00:00+02:00", NOW, "UTC", end_of_day=False) == \
        datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert parse_point("--since", "today", NOW, "America/Los_Angeles", end_of_day=False) == \
        datetime(2026, 11, 22, 8, tzinfo=UTC)


@pytest.mark.parametrize("value", ["7x", "-3d", "2026-13-01", "2026-02-30", "soon", "", "0h"])
def test_bad_points(value: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_point("--since", value, NOW, "UTC", end_of_day=False)
    assert "--since" in str(info.value) and "7d" in str(info.value)


def test_window_order() -> None:
    with pytest.raises(InvalidValue, match="a time before until"):
        parse_window("1d", "3d", NOW, "UTC")
    w = parse_window("2026-11-01", "2026-11-07", NOW, "UTC")
    assert (w.since, w.until) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC))


def test_weeks_and_months() -> None:
    last = parse_week("last", NOW, "UTC")
    assert (last.since, last.until, last.label) == (datetime(2026, 11, 16, tzinfo=UTC),
                                                    datetime(2026, 11, 23, tzinfo=UTC), "2026-W47")
    assert parse_week("this", NOW, "UTC").label == "2026-W48"
    # ISO week 1 of 2027 starts on Monday 2027-01-04; 2026 has 53 weeks
    assert parse_week("2027-W01", NOW, "UTC").since == datetime(2027, 1, 4, tzinfo=UTC)
    assert parse_week("2026-W53", NOW, "UTC").since == datetime(2026, 12, 28, tzinfo=UTC)
    with pytest.raises(InvalidValue, match="exists"):
        parse_week("2027-W53", NOW, "UTC")
    m = parse_month("last", NOW, "UTC")
    assert (m.since, m.until, m.label) == (datetime(2026, 10, 1, tzinfo=UTC),
                                           datetime(2026, 11, 1, tzinfo=UTC), "2026-10")
    assert parse_month("2026-12", NOW, "UTC").until == datetime(2027, 1, 1, tzinfo=UTC)
