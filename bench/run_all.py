"""Run every benchmark and write the issue 18 table to bench/results.md.

Each ``bench/bench_<name>.py`` that has ``measure() -> list[dict]`` contributes its rows (keys:
figure, product, baseline, baseline_label, unit, ratio, goal, met). A bench that fails to import
or raises gets one row saying so, with its error, and the others still run. Product and baseline
are measured in the same run by each bench, so the ratios are what to compare between machines.

Run: python bench/run_all.py            (all of them)
     python bench/run_all.py mail calls (only bench_mail.py and bench_calls.py)
"""
from __future__ import annotations

import importlib.util
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.md"  # the table, rewritten by every full run
COLUMNS = ("figure", "product", "baseline", "ratio", "goal", "met")


def benches(only: list[str] | None = None) -> list[Path]:
    """The bench scripts, by name; ``only`` keeps those whose name (``mail`` or ``bench_mail``) is listed."""
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
        found = [p for p in found if p.stem.removeprefix("bench_") in wanted]
    return found


def load(path: Path) -> ModuleType:
    """Import a bench script as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_run_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look a module up by name while it runs
    spec.loader.exec_module(module)
    return module


def run_one(path: Path) -> tuple[list[dict], float]:
    """The rows of one bench and the seconds it took; a failure is one row carrying the error."""
    start = time.perf_counter()
    try:
        module = load(path)
        measure = getattr(module, "measure", None)
        if measure is None:
            return [], time.perf_counter() - start  # a script without the contract (e.g. bench_reconcile.py)
        rows = [checked(r, path) for r in measure()]
    except Exception as exc:  # noqa: BLE001 - any failure of one bench must not stop the others
        traceback.print_exc(file=sys.stderr)
        rows = [failure(path, exc)]
    return rows, time.perf_counter() - start


def checked(row: dict, path: Path) -> dict:
    """A row with every key of the contract (a missing key is shown, not fatal)."""
    missing = [k for k in ("figure", "product", "baseline", "baseline_label", "unit", "ratio", "goal", "met")
               if k not in row]
    if missing:
        return failure(path, ValueError(f"row {row.get('figure', '?')!r} lacks {', '.join(missing)}"))
    return row


def failure(path: Path, exc: BaseException) -> dict:
    """The row of a bench that could not run."""
    return {"figure": f"{path.name}: FAILED", "product": None, "baseline": None, "baseline_label": "",
            "unit": "", "ratio": None, "goal": "", "met": False,
            "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]}


def number(value: object, unit: str = "") -> str:
    """``918.4 msg/s``, ``0.07``; blank for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.1f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def cell(text: str) -> str:
    """Markdown table cell text: no pipes or newlines."""
    return " ".join(str(text).replace("|", "/").split())


def table(rows: list[dict]) -> str:
    """The markdown table: figure | product | baseline | ratio | goal | met."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {cell(r['figure'])} | {cell(r['error'])} |  |  |  | no |")
            continue
        baseline = f"{number(r['baseline'], r['unit'])} ({r['baseline_label']})"
        lines.append("| " + " | ".join(cell(c) for c in (
            r["figure"], number(r["product"], r["unit"]), baseline, number(r["ratio"]), r["goal"],
            "yes" if r["met"] else "no")) + " |")
    return "\n".join(lines) + "\n"


def report(rows: list[dict], timings: dict[str, float]) -> str:
    """results.md: when and where it ran, the table, and how long each bench took."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    took = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    return (f"# Benchmarks (issue 18)\n\nRun {when} on {platform.platform()}, Python {platform.python_version()}, "
            f"by `python bench/run_all.py`. Product and baseline are measured in the same run; compare the "
            f"ratios, not the absolute numbers.\n\n{table(rows)}\nTime taken: {took}.\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benches, print the table, write bench/results.md; exit 1 when a bench failed."""
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(ROOT))
    rows: list[dict] = []
    timings: dict[str, float] = {}
    for path in benches(argv):
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        got, seconds = run_one(path)
        rows.extend(got)
        if got:
            timings[path.stem] = seconds
    text = report(rows, timings)
    print(table(rows))
    if not argv:  # a partial run does not overwrite the full table
        RESULTS.write_text(text, encoding="utf-8")
        print(f"written: {RESULTS.relative_to(ROOT)}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
