"""A chart's money axis uses one number of decimals for all its ticks (issue 26: the HTML
chart printed $200 beside $50.00)."""

from __future__ import annotations

import pytest

from teamcost.reports.chart import axis_places


@pytest.mark.parametrize("step_usd,places", [
    ("50", 0), ("200", 0), ("1", 0), ("2.5", 2), ("0.5", 2), ("0.25", 2), ("0.025", 3),
    ("0.000001", 6),
])
def test_axis_places_show_every_tick_exactly(step_usd: str, places: int) -> None:
    from decimal import Decimal

    step = int(Decimal(step_usd) * 10**9)
    assert axis_places(step) == places
    # every multiple of the step is exact at that many places
    for k in range(6):
        v = Decimal(step * k) / 10**9
        assert v == round(v, places)
