"""Benchmark (issue 18): 50 series in one process for a season, against 1 series.

Each series has its own settings file and its own state file (how the product keys series: one
``series.id`` per settings file, sessions keyed ``series/date``) and its own runner, engine and
clients, all in one process on one simulated clock, against one Zoom emulator, one Google emulator
(a spreadsheet per series, one shared calendar) and one SMTP server. Reported:

- remote calls per session with 50 series / with 1 series (goal 1.00: nothing is shared that
  would cost calls, and nothing grows with the number of series);
- memory per series: the growth of the process's resident memory over the 50-series season,
  divided by 50, less the same for 1 series (measured in a fresh child process each, so one
  run's memory does not hide the other's). It includes the emulators' copy of each series'
  meetings, events and sheets, so it is an upper bound for the worker alone.

The season per series is short (2 sessions, 2 invitees, 40 people attending each) and ticks only
in the hours around the sessions' moments: the same calls as hourly ticks all season, in a fraction
of the time (drawing each mail's .ics is what a series' season spends most of its time on).

Run: python bench/bench_scale.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_calls import CallSeason, SeasonCalls  # noqa: E402

SERIES = 50
WEEKS = 2


def season(folder: Path, series: int, weeks: int, people: int = 2, participants: int = 40) -> SeasonCalls:
    """One season of ``series`` series, ``weeks`` sessions each, no edits or cancellations."""
    folder.mkdir(parents=True, exist_ok=True)
    run = CallSeason(folder, series=series, weeks=weeks, edit_week=None, cancel_week=None, sparse=True,
                     people=people, participants=participants)
    run.finish_counts()
    return run.run()


def scale_check(folder: Path, series: int = SERIES, weeks: int = WEEKS, **kwargs) -> tuple[SeasonCalls, SeasonCalls]:
    """The season with 1 series and with ``series`` series (in this process): their counts."""
    return season(folder / "one", 1, weeks, **kwargs), season(folder / "many", series, weeks, **kwargs)


def rss_kib() -> int:
    """This process's resident memory now, in KiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _child(series: int, weeks: int) -> None:
    """Run one season here and print its calls and memory growth as JSON (for the parent)."""
    import gc

    with tempfile.TemporaryDirectory() as tmp:
        gc.collect()
        before = rss_kib()
        calls = season(Path(tmp), series, weeks)
        gc.collect()
        grown = rss_kib() - before
    print(json.dumps({"product": calls.product, "sessions": calls.sessions, "minimum": sum(calls.minimum().values()),
                      "rss_growth_kib": grown, "idle": calls.idle_tick_calls}))


def _measure_child(series: int, weeks: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(series), str(weeks)], capture_output=True,
                         text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure() -> list[dict]:
    """Rows for bench/run_all.py: calls per session and memory per series."""
    one, many = _measure_child(1, WEEKS), _measure_child(SERIES, WEEKS)
    per_one, per_many = one["product"] / one["sessions"], many["product"] / many["sessions"]
    per_series_mib = max(0, many["rss_growth_kib"] - one["rss_growth_kib"]) / (SERIES - 1) / 1024
    return [{"figure": f"remote calls per session, {SERIES} series in one process",
             "product": round(per_many, 2), "baseline": round(per_one, 2), "baseline_label": "1 series",
             "unit": "calls", "ratio": round(per_many / per_one, 2), "goal": "1.00",
             "met": per_many == per_one and many["product"] == many["minimum"]},
            {"figure": f"memory per series ({SERIES} series in one process)", "product": round(per_series_mib, 2),
             "baseline": round(one["rss_growth_kib"] / 1024, 2), "baseline_label": "1 series' whole growth",
             "unit": "MiB", "ratio": round(per_series_mib / max(one["rss_growth_kib"] / 1024, 0.01), 2),
             "goal": "< 5 MiB", "met": per_series_mib < 5}]


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]), int(sys.argv[3]))
        return
    for row in measure():
        print(f"{row['figure']}: {row['product']} {row['unit']} (baseline {row['baseline']}: "
              f"{row['baseline_label']}), ratio {row['ratio']}, goal {row['goal']}, met {row['met']}")


if __name__ == "__main__":
    main()
