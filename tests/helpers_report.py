"""Reading the season report's HTML back in tests."""
from __future__ import annotations

import re


def tile(html: str, label: str) -> str:
    """The value shown on the headline tile called ``label``."""
    found = re.search(rf'<div class="label">{re.escape(label)}</div><div class="value">([^<]*)</div>', html)
    assert found, f"no tile {label!r} in the report"
    return found[1]
