"""What the benchmark scripts share: printing their rows (the contract of ``measure()``) when run alone."""
from __future__ import annotations

from typing import Iterable


def print_rows(rows: Iterable[dict]) -> None:
    """One line per row: product vs baseline, the ratio, the goal and whether it is met (and a note, if any)."""
    for row in rows:
        note = f" — {row['note']}" if row.get("note") else ""
        print(f"{row['figure']}: {row['product']} {row['unit']} vs {row['baseline']} ({row['baseline_label']}); "
              f"ratio {row['ratio']} (goal {row['goal']}): {'met' if row['met'] else 'NOT met'}{note}")
