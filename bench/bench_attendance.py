"""Benchmark: attendance at scale, against the real Zoom client and the Zoom emulator.

Reported as ratios measured in one run (machines are noisy), never as absolute limits:
- merge scaling: merge_participants time for 10x the join records / time for 1x (goal: 10-15:
  one pass plus a sort, n log n, on a working set that outgrows the CPU cache);
- merge memory: peak traced memory for 10x / for 1x (goal: about 10 or less);
- fetch pages: report pages requested for N joins / ceil(N / 300) (goal: exactly 1, every page once);
- fetch scaling: wall time to fetch 10x the participants over HTTP / time for 1x (goal: about 10 or less).

Run: python bench/bench_attendance.py
"""
from __future__ import annotations

import gc
import random
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from integrations.sandbox.zoom_server import ZoomEmulator  # noqa: E402
from integrations.zoom import ZoomClient, ZoomConfig  # noqa: E402
from worker.core.attendance import merge_participants  # noqa: E402
from worker.core.model import MeetingSpec, ParticipantRecord  # noqa: E402

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
    time_ratio, memory_ratio = merge_ratios()
    print(f"merge scaling (10x records): time x{time_ratio:.1f}, peak memory x{memory_ratio:.1f}  (goal: time 10-15, memory about 10)")
    with ZoomEmulator() as emulator:
        small_s, small_pages, small_joins = fetch(emulator, 300)
        large_s, large_pages, large_joins = fetch(emulator, 3_000)
    for joins, pages in ((small_joins, small_pages), (large_joins, large_pages)):
        print(f"fetch: {joins} joins in {pages} pages; pages / ceil(joins/300) = {pages / -(-joins // 300):.2f}  (goal: 1)")
    print(f"fetch scaling (10x participants over HTTP): time x{large_s / small_s:.1f}  (goal: about 10 or less)")


if __name__ == "__main__":
    main()
