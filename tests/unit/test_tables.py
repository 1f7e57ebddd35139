"""teamcost.commands.tables and money.format_usd: hand-worked layouts and amounts."""

from __future__ import annotations

import pytest

from teamcost.commands.tables import (
    DROP_ORDER,
    Column,
    age,
    align_money,
    clean,
    clean_label,
    fit,
    shorten,
    table,
    to_text,
    wrap,
)
from teamcost.money import format_usd


@pytest.mark.parametrize("nanos, text", [
    (0, "$0.00"),
    (1, "$0.000000001"),                 # one nano-dollar: nine places, never "$0.00"
    (999_999, "$0.001"),                 # 0.000999999 -> 3 significant digits -> 0.00100
    (7_500_000, "$0.0075"),              # 0.00750: trailing zero dropped
    (45_200_000, "$0.0452"),
    (705_900_000, "$0.706"),             # the issue's $0.7059
    (500_000_000, "$0.50"),              # zeros dropped down to cents, not further
    (999_400_000, "$0.999"),
    (999_600_000, "$1.00"),              # rounds up to a dollar: shown as one
    (1_000_000_000, "$1.00"),
    (95_094_999_999, "$95.09"),
    (230_000_000_000, "$230.00"),
    (1_234_567_890_000_000, "$1,234,567.89"),
    (2_345_000_000, "$2.34"),            # half-even on the exact value: 2.345 -> 2.34
    (2_355_000_000, "$2.36"),
    (-5_000_000_000, "-$5.00"),
])
def test_format_usd(nanos: int, text: str) -> None:
    assert format_usd(nanos) == text


def test_format_usd_fixed_places() -> None:
    assert format_usd(1_234_567_890_000, 0) == "$1,235"
    assert format_usd(7_500_000, 2) == "$0.01"


@pytest.mark.parametrize("label, width, shown", [
    ("claude-sonnet-4-5", 13, "claude-s…-4-5"),
    ("claude-sonnet-4-5", 17, "claude-sonnet-4-5"),
    ("abcdefghij", 5, "abc…j"),
    ("abcdefghij", 2, "a…"),
    ("日本語のモデル名です", 9, "日本語…す"),   # wide characters: 2 cells each
])
def test_shorten_keeps_both_ends(label: str, width: int, shown: str) -> None:
    assert shorten(label, width) == shown


def test_clean_removes_control_characters() -> None:
    assert clean("a\x1b[31mred\x00\x07\x9b\u202eevil\tok\n") == "a[31mredevil\tok\n"
    # a label is one line: what could break it or act on the terminal is escaped visibly
    assert clean_label("two\nlines\tand\x1besc\u2028[b]") == "two\\nlines\\tand\\x1besc\\u2028[b]"


def test_wrap_breaks_between_words_only() -> None:
    text = "total   $1,234.56  over 1,234 calls, 5 members"
    assert wrap(text, 30, indent=8) == ["total   $1,234.56  over 1,234", "        calls, 5 members"]
    assert wrap(text, None) == [text]
    # a word wider than the line (a path) is folded, whole
    assert wrap("path /a/b/c/d/e/f/g", 10) == ["path", "/a/b/c/d/e", "/f/g"]


def test_align_money_on_the_decimal_point() -> None:
    cells = align_money(["$230.00", "$0.706", "$95.09", "$0.0452", ""])
    assert cells == ["$230.00  ", "$0.706 ", "$95.09  ", "$0.0452", ""]
    assert len({c.index(".") - len(c) for c in cells if c}) == 1   # one column of points


COLS = [Column("model", "label"), Column("cost", "money"), Column("share", drop="share"),
        Column("calls"), Column("in tok", drop="in"), Column("out tok", drop="out"),
        Column("cache tok", drop="cache_read")]
ROWS = [["claude-sonnet-4-5", "$165.23", "45.2%", "1,234", "8,203,123", "123,456", "45,678,901"],
        ["gpt-5-mini", "$0.706", "0.2%", "12", "8,203", "1,456", "0"]]
# natural widths: 17, 7, 5, 5, 9, 7, 10 = 60 cells of content + 3 x 7 + 1 = 82 in all


def shown(width: int | None) -> list[str]:
    layout = fit(COLS, ROWS, width)
    return ["compact"] if layout.compact else [COLS[i].header for i in layout.columns]


def test_fit_shortens_labels_then_drops_in_the_documented_order() -> None:
    assert DROP_ORDER == ("cache_write", "cache_read", "out", "in", "share")
    assert shown(None) == [c.header for c in COLS]
    assert fit(COLS, ROWS, 82).widths == (17, 7, 5, 5, 9, 7, 10)   # fits exactly
    assert fit(COLS, ROWS, 80).widths[0] == 15                      # the label gives first
    assert shown(77) == [c.header for c in COLS]                    # label at 12: 77 fits
    assert shown(76) == ["model", "cost", "share", "calls", "in tok", "out tok"]
    assert fit(COLS, ROWS, 76).widths[0] == 17                      # room again: whole
    assert shown(55) == ["model", "cost", "share", "calls", "in tok"]
    assert shown(45) == ["model", "cost", "share", "calls"]
    assert shown(35) == ["model", "cost", "calls"]
    assert shown(30) == ["compact"]


@pytest.mark.parametrize("width", [30, 35, 45, 55, 76, 80, 82, 200])
def test_rendered_tables_fit_and_keep_every_number(width: int) -> None:
    text = to_text(table("by model", COLS, ROWS, width), width)
    assert max(len(line) for line in text.splitlines()) <= width
    for number in ("$165.23", "$0.706", "1,234"):
        assert number in text
    for line in text.splitlines():   # an ellipsis only ever sits inside the label
        if "…" in line:
            cell = next(c.strip() for c in line.split("│") if "…" in c)
            head, tail = cell.split("…")
            assert "claude-sonnet-4-5".startswith(head) and "claude-sonnet-4-5".endswith(tail)


def test_compact_layout_lists_each_row() -> None:
    text = to_text(table("by model", COLS, ROWS, 30), 30)
    assert text.splitlines() == ["by model",
                                 "claude-sonnet-4-5",
                                 "  cost $165.23  calls 1,234",
                                 "gpt-5-mini  cost $0.706",
                                 "  calls 12"]


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"),
                                           (3600, "1h00m"), (7980, "2h13m"),
                                           (90000, "1d1h")])
def test_age(seconds: float, text: str) -> None:
    assert age(seconds) == text
