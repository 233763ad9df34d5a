"""A1 notation as Sheets v4 reads and writes it: "Tab!A1:C2", "'My tab'!B2", "A:A", "2:5".

https://developers.google.com/sheets/api/guides/concepts#cell
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class A1Range:
    """A parsed A1 range; rows and columns are 0-based, ends exclusive, None = to the grid's end."""

    title: str | None  # sheet title; None = the first sheet
    row0: int  # first row
    col0: int  # first column
    row1: int | None  # end row (exclusive); None = unbounded
    col1: int | None  # end column (exclusive); None = unbounded
    single: bool = False  # one cell like "B2": an anchor that grows to fit written data


_CELL = re.compile(r"([A-Za-z]*)([0-9]*)")


def column_letters(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA"."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_index(letters: str) -> int:
    """"A" -> 0, "Z" -> 25, "AA" -> 26."""
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number - 1


def quote_title(title: str) -> str:
    """A sheet title as A1 notation writes it: quoted (with '' escapes) unless it is a plain word."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_a1(text: str) -> tuple[str | None, str | None]:
    """Split "'My tab'!A1:B2" into (title, cells); a bare word gives (word, None) for the caller to judge."""
    if text.startswith("'"):
        i, title = 1, ""
        while i < len(text):
            if text[i] == "'":
                if text[i + 1:i + 2] == "'":
                    title += "'"
                    i += 2
                    continue
                rest = text[i + 1:]
                if rest == "":
                    return title, None
                if rest.startswith("!"):
                    return title, rest[1:]
                raise ValueError(text)
            title += text[i]
            i += 1
        raise ValueError(text)
    if "!" in text:
        title, cells = text.rsplit("!", 1)
        return title, cells
    return text, None


def parse_cells(cells: str) -> tuple[int, int, int | None, int | None, bool]:
    """"A1:F10" / "A:A" / "2:5" / "B2" -> (row0, col0, row1, col1, single); ValueError if not A1."""
    parts = cells.split(":")
    if len(parts) > 2 or not cells:
        raise ValueError(cells)
    ends = []
    for part in parts:
        match = _CELL.fullmatch(part)
        if not match or not part or (match.group(2) and int(match.group(2)) == 0):
            raise ValueError(cells)
        ends.append(match.groups())
    (c0, r0) = ends[0]
    if len(ends) == 1:
        if not (c0 and r0):
            raise ValueError(cells)
        row, col = int(r0) - 1, _column_index(c0)
        return row, col, row + 1, col + 1, True
    (c1, r1) = ends[1]
    if bool(c0) != bool(c1) and not (c0 and r0):  # "A:5" style mixes are not A1
        raise ValueError(cells)
    row0 = int(r0) - 1 if r0 else 0
    col0 = _column_index(c0) if c0 else 0
    row1 = int(r1) if r1 else None
    col1 = _column_index(c1) + 1 if c1 else None
    if row1 is not None and row1 <= row0:  # "B2:A1" means "A1:B2"
        row0, row1 = row1 - 1, row0 + 1
    if col1 is not None and col1 <= col0:
        col0, col1 = col1 - 1, col0 + 1
    return row0, col0, row1, col1, False


def parse_a1(text: str, titles: list[str]) -> A1Range:
    """Parse an A1 range against the spreadsheet's sheet titles; ValueError if it does not parse."""
    title, cells = split_a1(text)
    if cells is None:
        if title in titles:
            return A1Range(title, 0, 0, None, None)
        assert title is not None
        row0, col0, row1, col1, single = parse_cells(title)  # "A1:B2" alone means the first sheet
        return A1Range(None, row0, col0, row1, col1, single)
    row0, col0, row1, col1, single = parse_cells(cells)
    return A1Range(title, row0, col0, row1, col1, single)


def format_a1(title: str, row0: int, col0: int, row1: int, col1: int) -> str:
    """The A1 text Google answers with, e.g. "Tab!A1:C2" or "'My tab'!B2"."""
    start = f"{column_letters(col0)}{row0 + 1}"
    if row1 - row0 == 1 and col1 - col0 == 1:
        return f"{quote_title(title)}!{start}"
    return f"{quote_title(title)}!{start}:{column_letters(col1 - 1)}{row1}"


