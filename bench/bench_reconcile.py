"""Benchmark: how planning cost grows with the season, and what a quiet tick costs.

Reported as ratios measured in one run (machines are noisy), never as absolute limits:
- scaling: plan_steps time for 10x the sessions / time for 1x (goal: about 10, i.e. linear);
- quiet tick: a tick with nothing due / a tick that creates a season's meetings (goal: far below 1),
  and the number of remote calls a quiet tick makes (goal: 0).

Run: python bench/bench_reconcile.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stubs import InstantServices  # noqa: E402
from worker.core.clock import FixedClock  # noqa: E402
from worker.run.engine import Engine, Integrations  # noqa: E402
from worker.core.model import Recipient, SeriesInfo, Session  # noqa: E402
from worker.core.planner import local_start  # noqa: E402
from worker.core.reconcile import Desired, Policy, StateView, plan_steps  # noqa: E402
from worker.store.state import StateStore  # noqa: E402

UTC = timezone.utc
SERIES = SeriesInfo("bench", "Bench", "Lib", "", "id_ID", "Asia/Makassar", "Lib", "lib@example.org")


def season(weeks: int) -> tuple[Session, ...]:
    first = date(2027, 1, 7)
    return tuple(Session("bench", first + timedelta(weeks=i), local_start(first + timedelta(weeks=i),
                                                                           datetime.min.time().replace(hour=9),
                                                                           "Asia/Makassar"),
                         90, "Asia/Makassar", f"Topik {i}") for i in range(weeks))


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    small, large = season(52), season(520)
    t_small = best_of(lambda: plan_steps(Desired(small, Policy()), StateView({}), now))
    t_large = best_of(lambda: plan_steps(Desired(large, Policy()), StateView({}), now))
    print(f"plan scaling 520/52 sessions: {t_large / t_small:.1f}x (goal ~10x, linear)")

    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "s.db")
        services = InstantServices()
        io = Integrations(zoom=services, calendar=services, sheets=services, mail=services, composer=services)
        clock = FixedClock(datetime(2027, 1, 1, tzinfo=UTC))
        engine = Engine(store, io, clock, series=SERIES, policy=Policy(planning_days=400),
                        recipients=lambda s: [Recipient("a@example.org")])
        sessions = season(52)
        start = time.perf_counter()
        engine.tick(sessions)
        busy = time.perf_counter() - start
        calls_before = sum(services.calls.values())
        quiet = best_of(lambda: engine.tick(sessions))
        print(f"quiet tick / busy tick (52 sessions): {quiet / busy:.3f} (goal << 1)")
        print(f"remote calls made by a quiet tick: {sum(services.calls.values()) - calls_before} (goal 0)")
        store.close()


if __name__ == "__main__":
    main()
