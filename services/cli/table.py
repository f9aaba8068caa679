"""Plain-text tables that line up in a terminal, Chinese names (two columns wide) included."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def width(text: str) -> int:
    """Terminal columns: wide and full-width characters take two, combining marks none."""
    columns = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        columns += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return columns


def pad(text: str, columns: int, right: bool = False) -> str:
    space = " " * max(columns - width(text), 0)
    return space + text if right else text + space


def single_line(text: str) -> str:
    """One line: a resident's note with line breaks or tabs would break the table."""
    return " ".join(text.split())


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Columns separated by two spaces; the columns numbered in ``right`` aligned right."""
    rows = [[single_line(text) for text in row] for row in rows]
    widths = [width(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], width(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(pad(cell, widths[i], i in right) for i, cell in enumerate(cells)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])
