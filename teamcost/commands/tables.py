"""Terminal views that never cut a number, and print every label literally.

Every table the CLI draws goes through ``table()`` and every block of lines through
``wrap()``/``pairs()``, at the width ``view_width()`` picks:

- ``COLUMNS`` when it is set (an explicit request, honoured in pipes too);
- else the terminal's width when stdout is a terminal;
- else ``None``: not a terminal (a pipe, a file), so the view is drawn at its natural width,
  every column and every label whole, and scripts get the same text whatever window
  they were started from.

A table that does not fit gives way in this order (the README states it too):

1. labels (member, model, agent, session, ...) shorten in the middle, keeping both ends
   (``claude-so…4-5``), down to ``LABEL_MIN`` cells;
2. low-priority columns drop, in ``DROP_ORDER``: cache write, cache read, out tokens, in tokens (a
   total-tokens column goes with them), share;
3. a compact layout: one block per row, its labels and then its numbers as ``name value``
   items (``cost $165.23  calls 1,234``), wrapped between items.

Money, counts and percentages are never shortened, folded or wrapped inside: only whole
items move. Money is ``money.format_usd`` text, right-aligned on the decimal point.

Labels come from teammates' data, so they are printed as ``Text`` (never parsed as rich
markup) after ``clean_label()`` (``teamcost.labels.one_line``) escapes newlines and terminal
control characters visibly; other text keeps its own newlines, ``clean()`` removing
control characters from it as a last line of defence.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from teamcost.labels import one_line

ELLIPSIS = "…"
LABEL_MIN = 12            # cells a shortened label keeps: "claude-s…4-5"
DROP_ORDER = ("cache_write", "cache_read", "out", "in", "share")
UNLIMITED = 1_000_000     # the console width that stands for "natural width"
_BIDI = (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
# C0 controls (ESC, NUL, BEL, CR, ...), DEL, C1 controls and bidi overrides: a label
# carrying them could move the cursor, recolour the terminal or reorder what it shows
_STRIP = {c: None for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI)
          if c not in (0x09, 0x0A)}


def clean(text: Any) -> str:
    """``text`` with terminal control characters removed (tab and newline are kept)."""
    return str(text).translate(_STRIP)


def clean_label(text: Any) -> str:
    """A label as one printable line (``teamcost.labels.one_line``: control characters,
    newlines and tabs escaped visibly, markup kept literal)."""
    return one_line(text)


class LiteralConsole(Console):
    """A rich Console that prints strings as they are: no markup, no emoji codes, no
    highlighting, and no terminal control characters (markup may still be asked for
    per call with ``markup=True``, for the CLI's own constant text)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(clean(text), **kwargs)


def view_width(console: Console | None = None) -> int | None:
    """The width to draw for: COLUMNS, else the terminal's, else None (natural width)."""
    console = console or LiteralConsole()
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if console.is_terminal:
        return console.size.width
    return None


def drawing_console(width: int | None, **kwargs: Any) -> LiteralConsole:
    """A console that draws at ``width`` (None: natural width) on stdout (or ``file=``)."""
    return LiteralConsole(width=width or UNLIMITED, **kwargs)


def show(renderable: RenderableType, width: int | None) -> None:
    """Print one view on stdout at ``width`` (None: natural width, nothing shortened).

    ``crop=False``: should anything ever exceed the width, the terminal wraps it rather
    than rich cutting it off.
    """
    drawing_console(width).print(renderable, crop=False)


def to_text(renderable: RenderableType, width: int | None) -> str:
    """The view as plain text (no colours), as ``show`` would lay it out."""
    buf = io.StringIO()
    drawing_console(width, file=buf, color_system=None).print(renderable, crop=False)
    return buf.getvalue()


# -- labels ----------------------------------------------------------------------------

def _take(text: str, cells: int, from_end: bool = False) -> str:
    """The longest prefix (or suffix) of ``text`` that fits ``cells``."""
    out: list[str] = []
    used = 0
    for ch in reversed(text) if from_end else text:
        w = cell_len(ch)
        if used + w > cells:
            break
        out.append(ch)
        used += w
    return "".join(reversed(out) if from_end else out)


def shorten(label: str, width: int) -> str:
    """``label`` in at most ``width`` cells, cut in the middle so both ends stay:
    ``claude-sonnet-4-5`` in 13 cells is ``claude-so…4-5``."""
    label = clean_label(label)
    if cell_len(label) <= width:
        return label
    if width <= 1:
        return ELLIPSIS[:width]
    room = width - 1
    head = _take(label, room - room // 3)
    tail = _take(label, room - cell_len(head), from_end=True)
    return f"{head}{ELLIPSIS}{tail}"


# -- lines -----------------------------------------------------------------------------

def _fold(word: str, width: int) -> list[str]:
    """A word wider than the line (a long path or label) cut into line-sized pieces."""
    pieces: list[str] = []
    while cell_len(word) > width:
        piece = _take(word, width) or word[0]
        pieces.append(piece)
        word = word[len(piece):]
    return [*pieces, word] if word else pieces


def wrap(text: str, width: int | None, indent: int = 0, first: int = 0) -> list[str]:
    """Word-wrap ``text`` (spaces are the only break points, so a number stays whole).

    Runs of spaces inside a line are kept (they align columns); a break swallows them.
    ``first`` cells are already used on the first line (a key printed before it);
    continuation lines start with ``indent`` spaces. A word wider than a line (a long
    path or label, never a number at any width this CLI supports) is folded.
    """
    text = clean(text)
    if width is None:
        return text.split("\n")
    out: list[str] = []
    for para in text.split("\n"):
        line, used, fresh, opening = "", first, True, True
        for gap, word in re.findall(r"( *)([^ ]+)", para):
            size = cell_len(word)
            if not fresh and used + len(gap) + size <= width:
                line += gap + word
                used += len(gap) + size
                continue
            if not fresh:
                out.append(line)
                line, used, opening = " " * indent, indent, False
            gap = gap if opening else ""
            if used + len(gap) + size <= width:
                line += gap + word
                used += len(gap) + size
            elif size <= width and not opening:  # too deep an indent for it: start at 0
                line, used = word, size
            else:  # wider than a line: fold it, the first piece after what is there
                head = _take(word, max(0, width - used - len(gap)))
                if head:
                    out.append(line + gap + head)
                elif line.strip():
                    out.append(line)
                pieces = _fold(word[len(head):], width)
                out += pieces[:-1]
                line, used = pieces[-1], cell_len(pieces[-1])
            fresh = False
        out.append(line)
        first = 0
    return out


def pairs(rows: Sequence[tuple[str, str]], width: int | None, gap: int = 2,
          key_width: int | None = None) -> Text:
    """Key/value lines (``ledger  /path``): values word-wrapped under themselves."""
    return Text("\n".join(pair_lines(rows, width, gap, key_width)))


def pair_lines(rows: Sequence[tuple[str, str]], width: int | None, gap: int = 2,
               key_width: int | None = None) -> list[str]:
    # a value is one line of text (wrapped to the width): a label inside it (a path, a
    # model in the UNPRICED line) never starts a line of its own
    rows = [(one_line(k), one_line(v)) for k, v in rows]
    key_w = key_width if key_width is not None else max(
        (cell_len(k) for k, _ in rows), default=0)
    pad = key_w + gap
    lines: list[str] = []
    if width is not None and width - pad < 20:  # too narrow for a value column
        for key, value in rows:
            lines += wrap(f"{key} {value}", width, indent=2)
        return lines
    for key, value in rows:
        body = wrap(value, None if width is None else width - pad, indent=0)
        lines.append(key.ljust(pad) + body[0])
        lines += [" " * pad + b for b in body[1:]]
    return lines


# -- tables ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """One column of a view's table.

    kind: ``label`` (shortens in the middle), ``fixed`` (a date or a time: never
    shortened), ``num`` (a count or a percentage: right-aligned, never shortened),
    ``money`` (``num`` aligned on the decimal point), ``bar`` (decoration that takes the
    room left, down to ``min_width``; cells are ``(fraction, mark)``).
    drop: the column's class in ``DROP_ORDER``; None never drops.
    """

    header: str
    kind: str = "num"
    drop: str | None = None
    min_width: int = 0
    bar_max: int = 30


@dataclass(frozen=True)
class Layout:
    columns: tuple[int, ...]     # indexes of the columns shown
    widths: tuple[int, ...]      # their widths (cells)
    compact: bool = False


def _overhead(n: int) -> int:
    return 3 * n + 1  # rich's default box: a border and one space each side of each cell


def _natural(col: Column, cells: list[Any]) -> int:
    if col.kind == "bar":
        marks = [cell_len(m) for _, m in cells] or [0]
        return col.bar_max + max(marks)
    return max([cell_len(col.header), *(cell_len(c) for c in cells)])


def _fill(naturals: list[int], mins: list[int], budget: int) -> list[int]:
    """Shrink the widest first until the total fits ``budget`` (never under ``mins``)."""
    widths = list(naturals)
    while sum(widths) > budget:
        i = max(range(len(widths)), key=lambda j: (widths[j] - mins[j] > 0, widths[j]))
        if widths[i] <= mins[i]:
            break
        widths[i] -= 1
    return widths


def fit(columns: Sequence[Column], rows: Sequence[Sequence[Any]], width: int | None) -> Layout:
    """Which columns to show at ``width``, and how wide (see the module docstring)."""
    cells = [[row[i] for row in rows] for i in range(len(columns))]
    nat = [_natural(c, cells[i]) for i, c in enumerate(columns)]
    if width is None:
        return Layout(tuple(range(len(columns))), tuple(nat))
    droppable = sorted((i for i, c in enumerate(columns) if c.drop),
                       key=lambda i: DROP_ORDER.index(columns[i].drop or ""))
    for k in range(len(droppable) + 1):
        shown = [i for i in range(len(columns)) if i not in droppable[:k]]
        labels = [i for i in shown if columns[i].kind == "label"]
        bars = [i for i in shown if columns[i].kind == "bar"]
        fixed = sum(nat[i] for i in shown if i not in labels and i not in bars)
        room = width - fixed - _overhead(len(shown))
        mins = [min(nat[i], max(LABEL_MIN, cell_len(columns[i].header))) for i in labels]
        bar_min = sum(columns[i].min_width for i in bars)
        if sum(mins) + bar_min > room:
            continue
        label_w = _fill([nat[i] for i in labels], mins, room - bar_min)
        left = room - sum(label_w)
        widths = dict(zip(labels, label_w))
        for i in bars:
            widths[i] = max(columns[i].min_width, min(nat[i], left))
            left -= widths[i]
        shown = [i for i in shown if i not in bars or widths[i] > 0]
        return Layout(tuple(shown), tuple(widths.get(i, nat[i]) for i in shown))
    return Layout((), (), compact=True)


def align_money(cells: Sequence[str]) -> list[str]:
    """Pad money cells on the right so their decimal points line up (right-justified)."""
    def after(c: str) -> int:
        return len(c) - c.index(".") - 1 if "." in c else (-1 if c else 0)
    most = max((after(c) for c in cells if c), default=0)
    return [c + " " * (most - after(c)) if c else c for c in cells]


def _bar(cell: Any, room: int) -> str:
    fraction, mark = cell
    return "█" * round(room * max(0.0, min(1.0, fraction or 0.0))) + mark


def _cell(col: Column, value: Any, width: int, marks: int = 0) -> str:
    if col.kind == "bar":
        return _bar(value, max(0, width - marks))
    if col.kind == "label":
        return shorten(value, width)
    return clean_label(value)


def table(title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[Any]],
          width: int | None) -> RenderableType:
    """The rows as a rich table that fits ``width``, or their compact layout."""
    cells = [list(r) for r in rows]
    for i, col in enumerate(columns):
        if col.kind == "money":
            for r, v in zip(cells, align_money([str(r[i]) for r in cells])):
                r[i] = v
    layout = fit(columns, cells, width)
    if layout.compact:
        return compact(title, columns, cells, width or UNLIMITED)
    t = Table(title=Text(clean_label(title)) if title else None, title_justify="left",
              box=box.HEAVY_HEAD)
    for i, w in zip(layout.columns, layout.widths):
        col = columns[i]
        right = col.kind in ("num", "money")
        header = shorten(col.header, w) if col.kind == "label" else col.header
        t.add_column(Text(header), justify="right" if right else "left", no_wrap=True,
                     width=w, overflow="fold")
    marks = {i: max((cell_len(r[i][1]) for r in cells), default=0)
             for i, c in enumerate(columns) if c.kind == "bar"}
    for r in cells:
        t.add_row(*(Text(_cell(columns[i], r[i], w, marks.get(i, 0)))
                    for i, w in zip(layout.columns, layout.widths)))
    return t


def compact(title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[Any]],
            width: int) -> RenderableType:
    """One block per row: its labels, then its numbers as ``name value`` items, wrapped
    between items (continuation lines indented), each label whole when it fits a line."""
    lines: list[str] = [shorten(title, width)] if title else []
    keep = [i for i, c in enumerate(columns) if not c.drop]
    labels = [i for i in keep if columns[i].kind in ("label", "fixed")]
    nums = [i for i in keep if columns[i].kind in ("num", "money")]
    marks = [i for i in keep if columns[i].kind == "bar"]
    nb = "\u00a0"  # a no-break space keeps "calls 1,234" (and a label) on one line
    for r in rows:
        # a label fits a continuation line: its indent (2) and the no-break space after it
        items = [shorten(r[i], max(1, width - 3)).replace(" ", nb) for i in labels
                 if clean_label(r[i])]
        items += [f"{columns[i].header}{nb}{str(r[i]).strip()}" for i in nums
                  if str(r[i]).strip()]
        items += [r[i][1].strip() for i in marks if r[i][1].strip()]
        lines += wrap(f"{nb} ".join(items), width, indent=2)
    return Text("\n".join(line.replace(nb, " ").rstrip() for line in lines))


def side_by_side(parts: Sequence[RenderableType], width: int | None, gap: int = 3) -> RenderableType:
    """Renderables next to each other when they fit ``width`` together, else stacked."""
    if width is not None:
        measure = drawing_console(width).measure
        need = sum(measure(p).maximum for p in parts) + gap * (len(parts) - 1)
        if need > width:
            return Group(*parts)
    grid = Table.grid(padding=(0, gap))
    for _ in parts:
        grid.add_column()
    grid.add_row(*parts)
    return grid


# -- times -----------------------------------------------------------------------------

def _when(value: datetime | str) -> datetime:
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def clock(at: datetime | str, now: datetime | str | None = None) -> str:
    """``at`` on the viewer's clock: ``19:45`` today, ``2026-11-24 19:45`` another day."""
    local = _when(at).astimezone()
    today = _when(now or datetime.now(UTC)).astimezone().date()
    return local.strftime("%H:%M" if local.date() == today else "%Y-%m-%d %H:%M")


def age(seconds: float) -> str:
    """A duration the way a person says it: 45s, 12m, 2h13m, 3d4h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def as_of(at: datetime | str, now: datetime | str | None = None) -> str:
    """``as of 19:45 (2h13m old)``: when data was current, and how old that is."""
    current = _when(now or datetime.now(UTC))
    return f"as of {clock(at, current)} ({age((current - _when(at)).total_seconds())} old)"


def say(text: str, indent: int = 2) -> None:
    """Print lines of text word-wrapped to the view width (numbers never split)."""
    width = view_width()
    show(Text("\n".join(wrap(text, width, indent=indent))), width)


def say_pairs(rows: Sequence[tuple[str, str]], gap: int = 2) -> None:
    """Print key/value lines fitted to the view width."""
    width = view_width()
    show(pairs(rows, width, gap), width)
