"""Reading the CLI's terminal views back into cells, and checking a cell against the
exact value it shows, independently of teamcost's own formatting code.

``boxes(text)`` finds every box-drawn table (also inside a panel or side by side) and
returns its title, headers and rows; ``compact_rows(text, title)`` reads a table drawn in
the compact layout (a row's labels, then ``name value`` items on indented lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

MONEY = re.compile(r"\$[0-9]{1,3}(,[0-9]{3})*\.[0-9]{2,9}")
COUNT = re.compile(r"[0-9]{1,3}(,[0-9]{3})*")
PCT = re.compile(r"[0-9]{1,3}\.[0-9]%")


@dataclass
class Box:
    title: str
    headers: list[str]
    rows: list[list[str]]
    width: int

    def column(self, header: str) -> list[str] | None:
        if header not in self.headers:
            return None
        i = self.headers.index(header)
        return [r[i] for r in self.rows]


def boxes(text: str) -> list[Box]:
    """Every table drawn with rich's HEAVY_HEAD box in ``text``."""
    lines = text.splitlines()
    out: list[Box] = []
    for li, line in enumerate(lines):
        for m in re.finditer("┏", line):
            c0 = m.start()
            c1 = line.index("┓", c0)
            title = lines[li - 1][c0:c1 + 1].strip() if li else ""
            headers: list[str] = []
            rows: list[list[str]] = []
            for row in lines[li + 1:]:
                seg = row[c0:c1 + 1]
                if seg.startswith("└"):
                    break
                if seg.startswith("┃"):
                    headers = [c.strip() for c in seg[1:-1].split("┃")]
                elif seg.startswith("│"):
                    rows.append([c.strip() for c in seg[1:-1].split("│")])
            out.append(Box(title, headers, rows, c1 - c0 + 1))
    return out


def compact_rows(text: str, title: str) -> list[str]:
    """The rows (each joined into one line) of a compact-layout table titled ``title``:
    a row starts at the text's left edge, its continuation lines are indented by 2."""
    lines = [_unpanel(x) for x in text.splitlines()]
    start = next(i for i, x in enumerate(lines) if x.strip() == title) + 1
    rows: list[str] = []
    for x in lines[start:]:
        if not x.strip() or x.lstrip().startswith(("┏", "by ", "latest", "trend", "top ",
                                                    "source:")):
            break
        if x.startswith("  ") and rows:
            rows[-1] += " " + x.strip()
        else:
            rows.append(x.strip())
    return rows


def _unpanel(line: str) -> str:
    """A line without the border of a panel around it (``│ ... │``)."""
    if line.startswith("│ ") and line.rstrip().endswith("│"):
        return line.rstrip()[2:-1].rstrip()
    return line.rstrip()


def panel_text(text: str) -> str:
    """The first panel's content as one line (its wrapped lines joined by spaces)."""
    lines = text.splitlines()
    a = next(i for i, x in enumerate(lines) if x.startswith("╭"))
    b = next(i for i, x in enumerate(lines) if x.startswith("╰") and i > a)
    return " ".join(" ".join(x.strip().strip("│").split()) for x in lines[a + 1:b])


def dollars(cell: str) -> Decimal:
    assert MONEY.fullmatch(cell), f"not a whole money amount: {cell!r}"
    return Decimal(cell[1:].replace(",", ""))


def money_matches(cell: str, nanos: int) -> bool:
    """The cell is the exact amount rounded as promised: cents from $1, else three
    significant digits (at least two decimals), never a cut-off number."""
    shown = dollars(cell.strip())
    exact = Decimal(nanos) / Decimal(10**9)
    if exact >= 1:
        return cell.strip().split(".")[1].__len__() == 2 and abs(shown - exact) <= Decimal("0.005")
    if exact == 0:
        return shown == 0
    return abs(shown - exact) <= exact * Decimal("0.005") + Decimal("1e-9") / 2


def count_matches(cell: str, n: int) -> bool:
    cell = cell.strip()
    assert COUNT.fullmatch(cell), f"not a whole count: {cell!r}"
    return int(cell.replace(",", "")) == n


def pct_matches(cell: str, fraction: float) -> bool:
    cell = cell.strip()
    assert PCT.fullmatch(cell), f"not a whole percentage: {cell!r}"
    return abs(float(cell[:-1]) - 100 * fraction) <= 0.05 + 1e-9


def label_matches(cell: str, label: str) -> bool:
    """The label whole, or shortened in the middle keeping both of its ends."""
    if cell == label:
        return True
    if "…" not in cell:
        return False
    head, _, tail = cell.partition("…")
    return label.startswith(head) and label.endswith(tail) and len(head) >= 1 and len(tail) >= 1


def widest_line(text: str) -> int:
    return max((len(x) for x in text.splitlines()), default=0)
