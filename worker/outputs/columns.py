"""Fitting terminal output into a width: long lines wrapped at spaces, their continuation indented."""
from __future__ import annotations

import textwrap
from typing import Iterable

WIDTH = 80  # the columns of a terminal nobody resized: plan, status and report fit it by default


def wrap_line(text: str, width: int | None = WIDTH, indent: int | None = None) -> list[str]:
    """``text`` as lines of at most ``width`` (None: as it is); continuation lines are indented.

    The continuation goes ``indent`` columns in, or two more than the line's own indent, so a
    wrapped line still reads as part of its block. A word longer than the width (a URL) is broken.
    """
    if width is None or len(text) <= width:
        return [text]
    lead = len(text) - len(text.lstrip(" "))
    hang = " " * (indent if indent is not None else lead + 2)
    return textwrap.wrap(text, width, subsequent_indent=hang, break_on_hyphens=False) or [""]


def fit(lines: Iterable[str], width: int | None = WIDTH) -> list[str]:
    """Every line (and every line inside a multi-line string) wrapped to ``width``."""
    return [piece for text in lines for line in text.split("\n") for piece in wrap_line(line, width)]
