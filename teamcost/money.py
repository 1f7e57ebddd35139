"""Money: integer nano-dollars (1e-9 USD) end to end, and the one place they become text.

Every sum in teamcost is a sum of integers. Dollars are read by ``parse_usd`` (one written
form, refusing what it cannot read exactly), enter through ``usd_to_nanos`` (exact, rounded
half-even once) and leave for people through ``format_usd``; ``nanos_to_usd`` gives
the float that JSON and CSV carry beside the exact nanos, for display and compatibility only.
"""

from __future__ import annotations

from teamcost.errors import InvalidValue

# the status line formats money: no typing, no re, no decimal, no math at import (format_usd does
# whole nanos with integers; Decimal loads where a dollar amount is read or a float shown)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from decimal import Decimal
    from typing import Any

NANOS_PER_USD = 1_000_000_000
INT64_MAX = 2**63 - 1            # Firestore integers are int64
MAX_BUDGET_NANOS = 10**18        # a billion dollars: a budget beyond this is a typo

# One call costs at most $10,000 (10^13 nano-dollars), here, in CallRecord and in
# firestore.rules. The dearest real calls cost around $100 (a full context window at the
# highest list prices), so the bound leaves 100x headroom while keeping one forged call
# from being worth 9e18. It also bounds a period's sum: N calls sum to at most
# N x 10^13, so Firestore's int64 sum(cost_nanos) is exact for up to
# SUM_EXACT_CALLS = 922,337 calls of any cost ($9.2 billion at the maximum each); past
# that the server answers with a double, which budget.spend refuses as an error.
MAX_CALL_NANOS = 10**13
SUM_EXACT_CALLS = INT64_MAX // MAX_CALL_NANOS


# The one written form of a dollar amount a person types (a flag, a config string):
# ASCII digits with an optional decimal point and fraction, nothing else. A comma is
# refused rather than guessed at: "12,50" is twelve and a half in most of Europe and
# 1,250 in the US, and dropping it (as teamcost once did) made a budget 100x too large;
# "1,250.00" is refused too, so no comma ever means two things. "$", exponents ("1e3"),
# non-ASCII digits ("٣"), inner spaces, NaN and infinity are refused; surrounding spaces
# are ignored.
AMOUNT_FORM = "digits with an optional decimal point, such as 1250 or 12.50 (no $, no commas)"
_AMOUNT_TEXT = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"


def parse_usd(value: Any, field: str = "cost_usd", accepted: str | None = None) -> Decimal:
    """The exact decimal value of a dollar amount: the one reading of money in teamcost.

    ``value`` is a string in ``AMOUNT_FORM`` (surrounding whitespace ignored), an int, a
    Decimal, or a float (read through its shortest repr, so 0.1 means 0.1). Anything
    else, any sign, and any non-finite number raise InvalidValue naming ``field``, the
    value and ``accepted`` (default: the form above).
    """
    from decimal import Decimal

    accepted = accepted or f"a non-negative dollar amount: {AMOUNT_FORM}"
    if isinstance(value, bool):
        raise InvalidValue(field, value, accepted)
    if isinstance(value, str):
        text = value.strip()
        import re

        if not re.fullmatch(_AMOUNT_TEXT, text, re.ASCII):
            raise InvalidValue(field, value, accepted)
        return Decimal(text)
    if isinstance(value, float):
        import math

        dec = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    elif isinstance(value, (int, Decimal)):
        dec = Decimal(value)
    else:
        raise InvalidValue(field, value, accepted)
    if not dec.is_finite() or dec < 0:
        raise InvalidValue(field, value, accepted)
    return dec


def usd_to_nanos(value: Any, field: str = "cost_usd", *, allow_zero: bool = True,
                 maximum: int = INT64_MAX) -> int:
    """Exact conversion of a dollar amount (see ``parse_usd``) to nano-dollars.

    Rounds half-even once, here. Raises InvalidValue naming ``field`` for what
    ``parse_usd`` refuses, for zero unless ``allow_zero``, and above ``maximum`` nanos.
    """
    accepted = ("a non-negative dollar amount: " if allow_zero
                else "a positive dollar amount: ") + AMOUNT_FORM
    from decimal import ROUND_HALF_EVEN, Decimal

    dec = parse_usd(value, field, accepted)
    if dec == 0 and not allow_zero:
        raise InvalidValue(field, value, accepted)
    too_big = f"at most {format_usd(maximum, places=0)}"
    # check the size before quantize: past 28 digits it raises InvalidOperation
    if dec > Decimal(maximum) / NANOS_PER_USD + 1:
        raise InvalidValue(field, value, too_big)
    nanos = int((dec * NANOS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    if nanos > maximum:
        raise InvalidValue(field, value, too_big)
    return nanos


def nanos_to_usd(nanos: int) -> float:
    """Dollars as a float, for JSON/CSV beside the exact nanos and for drawing: never sum these."""
    return nanos / NANOS_PER_USD


def format_usd(nanos: int | float, places: int | None = None) -> str:
    """The one way money becomes text for people: ``$1,234.50``, ``$0.706``, ``$0.0075``.

    Left out, ``places`` follows one rule for every table and line: amounts of $1 and more
    show cents; smaller ones show three significant digits (trailing zeros dropped down to
    cents), so a cheap call never reads as $0.00 and $0.7059 sits beside $230.00 as
    $0.706. Rounding is half-even, on the exact decimal value of the nanos. ``places``
    fixes the decimals instead (0 for chart axes and limits in messages).
    """
    # below 10**27 nanos the Decimal path is exact too (28 digits): past it, it is decimal's
    if type(nanos) is int and -10**27 < nanos < 10**27 and (places is None or 0 <= places <= 9):
        return _format_whole_nanos(nanos, places)
    from decimal import ROUND_HALF_EVEN, Decimal

    value = (Decimal(nanos) if isinstance(nanos, int) else Decimal(repr(float(nanos)))
             ) / NANOS_PER_USD
    sign = "-" if value < 0 else ""
    value = abs(value)
    if places is None:
        places = 2
        if 0 < value < 1:
            # three significant digits: 0.706 -> 3 places, 0.0452 -> 4, at most 9 (1 nano)
            places = min(9, 2 - value.adjusted())
            if value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN) >= 1:
                places = 2  # 0.9996 rounds to a dollar: show it as one
    if not value.is_finite():
        return f"{sign}${value}"
    text = f"{value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN):,.{places}f}"
    if places > 2 and value < 1:
        text = text.rstrip("0")
        text += "0" * max(0, 2 - len(text.partition(".")[2]))
    return f"{sign}${text}"


def _half_even(n: int, unit: int) -> int:
    """``n / unit`` rounded half to even (n >= 0, unit > 0), exactly."""
    q, r = divmod(n, unit)
    return q + (2 * r > unit or (2 * r == unit and q % 2 == 1))


def _format_whole_nanos(nanos: int, places: int | None) -> str:
    """``format_usd`` of an int with ``places`` None or 0..9, in integers: the same text as
    its Decimal path (tests/unit/test_money.py compares them), without importing decimal."""
    sign = "-" if nanos < 0 else ""
    n = abs(nanos)
    if places is None:
        places = 2
        if 0 < n < NANOS_PER_USD:
            # three significant digits: Decimal's adjusted() is len(digits) - 1 - 9
            places = min(9, 12 - len(str(n)))
            if _half_even(n, 10 ** (9 - places)) >= 10 ** places:
                places = 2  # 0.9996 rounds to a dollar: show it as one
    units = _half_even(n, 10 ** (9 - places))      # in 10**-places dollars
    whole, frac = divmod(units, 10 ** places)
    text = f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    if places > 2 and n < NANOS_PER_USD:
        text = text.rstrip("0")
        text += "0" * max(0, 2 - len(text.partition(".")[2]))
    return f"{sign}${text}"


def exact_usd(nanos: int) -> str:
    """Dollars as exact decimal text with nine places ("12.500000000"), for CSV: no float."""
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), NANOS_PER_USD)
    return f"{sign}{whole}.{frac:09d}"
