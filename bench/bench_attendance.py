"""Benchmark: attendance at scale, against the real Zoom client and the Zoom emulator.

Reported as ratios measured in one run (machines are noisy), never as absolute limits:
- attendance CPU (issue 18): merge, identify and store in a real SQLite file for 100k join records /
  the same for 10k (goal: at most 11, i.e. linear);
- merge scaling: merge_participants time for 10x the join records / time for 1x (goal: 10-15:
  one pass plus a sort, n log n, on a working set that outgrows the CPU cache);
- merge memory: peak traced memory for 10x / for 1x (goal: about 10 or less);
- fetch pages: report pages requested for N joins / ceil(N / 300) (goal: exactly 1, every page once);
- fetch scaling: wall time to fetch 10x the participants over HTTP / time for 1x (goal: about 10 or less).

Run: python bench/bench_attendance.py (prints the rows of ``measure()``, the benchmarks' contract).
"""
from __future__ import annotations

import gc
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from integrations.sandbox.zoom_server import ZoomEmulator  # noqa: E402
from integrations.zoom import ZoomClient, ZoomConfig  # noqa: E402
from worker.core.attendance import Roster, identify, merge_participants  # noqa: E402
from worker.core.model import MeetingSpec, ParticipantRecord  # noqa: E402
from worker.store.state import StateStore  # noqa: E402
from bench.common import print_rows  # noqa: E402

UTC = timezone.utc
START = datetime(2027, 1, 7, 1, 0, tzinfo=UTC)


def records(people: int, seed: int = 0) -> list[ParticipantRecord]:
    """Join records for ``people`` people, a third of whom rejoin once or twice."""
    rng = random.Random(seed)
    out = []
    for n in range(people):
        for stay in range(1 + (n % 3 == 0) + (n % 9 == 0)):
            join = START + timedelta(minutes=rng.randint(0, 30) + 30 * stay)
            out.append(ParticipantRecord(f"Peserta {n}", f"p{n}@example.org" if n % 4 else "", "", join,
                                         join + timedelta(minutes=20), 1200))
    rng.shuffle(out)
    return out


def timed(fn, repeat: int = 5) -> float:
    """Best of ``repeat`` runs with the garbage collector paused, as timeit does (its passes grow with the heap)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        finally:
            gc.enable()
    return best


def peak_memory(fn) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def joins(count: int, seed: int = 0) -> list[ParticipantRecord]:
    """About ``count`` join records (``records`` makes 13 for every 9 people)."""
    return records(round(count * 9 / 13), seed)


def merge_and_store_cpu(join_records: list[ParticipantRecord], folder: str, repeat: int = 3) -> float:
    """Least CPU seconds to merge, identify and store one session's attendance in a fresh SQLite file.

    The garbage collector stays on: the figure is what the worker pays, allocations included.
    """
    best = float("inf")
    for n in range(repeat):
        with StateStore(f"{folder}/bench-{len(join_records)}-{n}.sqlite") as store:
            store.update_session("bench/2027-01-07", START)
            gc.collect()
            t = time.process_time()
            store.store_attendance("bench/2027-01-07", identify(merge_participants(join_records), Roster()), START)
            best = min(best, time.process_time() - t)
    return best


def row(figure: str, product: float, baseline: float, baseline_label: str, unit: str, ratio: float, goal: str,
        met: bool) -> dict:
    """One row of the benchmarks' table (the contract shared by bench/bench_*.py)."""
    return {"figure": figure, "product": round(product, 4), "baseline": round(baseline, 4),
            "baseline_label": baseline_label, "unit": unit, "ratio": round(ratio, 2), "goal": goal, "met": met}


def measure() -> list[dict]:
    """The rows: attendance CPU scaling (issue 18), merge scaling and memory, Zoom report pages and fetch time."""
    small, large = joins(10_000), joins(100_000)
    with tempfile.TemporaryDirectory() as folder:
        small_s, large_s = merge_and_store_cpu(small, folder), merge_and_store_cpu(large, folder)
    rows = [row("attendance, 10k → 100k join records, CPU", large_s, small_s,
                f"the same for {len(small)} join records", "s", large_s / small_s, "<= 11", large_s / small_s <= 11)]
    time_ratio, memory_ratio = merge_ratios()
    rows.append(row("merge, 10x join records, peak memory", memory_ratio, 1.0, "peak for 1x", "x", memory_ratio,
                    "<= 11", memory_ratio <= 11))
    with ZoomEmulator() as emulator:
        small_f, small_pages, small_joins = fetch(emulator, 300)
        large_f, large_pages, large_joins = fetch(emulator, 3_000)
    pages_ratio = large_pages / -(-large_joins // 300)
    rows.append(row(f"Zoom report pages for {large_joins} joins", large_pages, -(-large_joins // 300),
                    "ceil(joins / 300)", "pages", pages_ratio, "1.00", pages_ratio == 1))
    rows.append(row("attendance fetch over HTTP, 10x participants", large_f, small_f, "the same for 1x", "s",
                    large_f / small_f, "<= 11", large_f / small_f <= 11))
    return rows


def merge_ratios() -> tuple[float, float]:
    small, large = records(10_000), records(100_000)
    time_ratio = timed(lambda: merge_participants(large)) / timed(lambda: merge_participants(small))
    memory_ratio = peak_memory(lambda: merge_participants(large)) / peak_memory(lambda: merge_participants(small))
    return time_ratio, memory_ratio


def fetch(emulator: ZoomEmulator, people: int) -> tuple[float, int, int]:
    """Seconds to fetch, pages requested, join records served, for one meeting with ``people`` attendees."""
    config = ZoomConfig(emulator.account_id, emulator.client_id, emulator.client_secret,
                        api_base_url=emulator.api_base_url, oauth_url=emulator.oauth_url)
    client = ZoomClient(config, requests.Session())
    meeting = client.create_meeting(MeetingSpec("Bench", START, "Asia/Makassar", 90, "bench"))
    emulator.end_meeting(meeting.meeting_id, started_at=START, ended_at=START + timedelta(minutes=90))
    expected = emulator.simulate_attendance(meeting.meeting_id, people, rejoin_every=3, seed=people)
    joins = sum(e.joins for e in expected)
    emulator.reset_calls()
    t = time.perf_counter()
    records = client.fetch_participants(meeting.meeting_id, START)
    merged = merge_participants(records) if records is not None else None  # the engine's part of the work
    seconds = time.perf_counter() - t
    assert merged is not None and len(merged) == len(expected), "merge lost or invented people"
    return seconds, emulator.calls["report_participants"], joins


def main() -> None:
    """Print the rows."""
    print_rows(measure())


if __name__ == "__main__":
    main()
