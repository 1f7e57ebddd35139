"""format_usd of whole nanos is done in integers (the status line does not import decimal,
issue 28); it must give exactly the text the Decimal implementation gave."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from teamcost.money import format_usd


def decimal_format_usd(nanos: int, places: int | None = None) -> str:
    """format_usd as it was written with Decimal (teamcost before issue 28), kept as the
    reference the integer path must equal."""
    value = Decimal(nanos) / 1_000_000_000
    sign = "-" if value < 0 else ""
    value = abs(value)
    if places is None:
        places = 2
        if 0 < value < 1:
            places = min(9, 2 - value.adjusted())
            if value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN) >= 1:
                places = 2
    text = f"{value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN):,.{places}f}"
    if places > 2 and value < 1:
        text = text.rstrip("0")
        text += "0" * max(0, 2 - len(text.partition(".")[2]))
    return f"{sign}${text}"


# every size from one nano to 10**27, with ties (…5 followed by zeros) and near-dollars weighted in
_NANOS = st.one_of(
    st.integers(-10**27 + 1, 10**27 - 1),
    st.integers(0, 10**10),
    st.builds(lambda k, d, z: d * 10**z + 5 * 10**max(0, z - 1) * k,
              st.integers(0, 1), st.integers(0, 10**6), st.integers(0, 12)),
    st.integers(999_000_000, 1_000_000_000))


@settings(max_examples=3000, deadline=None)
@given(nanos=_NANOS, places=st.one_of(st.none(), st.integers(0, 9)))
@example(nanos=999_600_000, places=None)
@example(nanos=12_345_000_000, places=2)
@example(nanos=705_900_000, places=None)
@example(nanos=-45_250_000, places=None)
def test_whole_nanos_read_as_decimal_wrote_them(nanos: int, places: int | None) -> None:
    assert format_usd(nanos, places) == decimal_format_usd(nanos, places)


@pytest.mark.parametrize(("nanos", "places", "text"), [
    (0, None, "$0.00"), (1, None, "$0.000000001"), (705_900_000, None, "$0.706"),
    (999_600_000, None, "$1.00"), (12_345_000_000, None, "$12.34"),
    (12_355_000_000, None, "$12.36"), (1_234_500_000_000, None, "$1,234.50"),
    (412_340_000_000, 0, "$412"), (500_500_000_000, 0, "$500"), (501_500_000_000, 0, "$502"),
    (-7_500_000, None, "-$0.0075"), (10**27 - 1, 2, "$1,000,000,000,000,000,000.00"),
])
def test_written_out(nanos: int, places: int | None, text: str) -> None:
    assert format_usd(nanos, places) == text


def test_floats_huge_ints_and_odd_places_still_go_through_decimal() -> None:
    assert format_usd(7_500_000.0) == "$0.0075"
    assert format_usd(1, 12) == "$0.000000001"
    assert format_usd(10**30) == "$1,000,000,000,000,000,000,000.00"
