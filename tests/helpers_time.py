"""Time for clients that take ``sleep`` and ``monotonic`` callables (the Zoom client, the SMTP transport)."""
from __future__ import annotations


class FakeTime:
    """A monotonic clock that moves when told to or when the code under test sleeps; nothing really waits."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Seconds on this clock."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the sleep and move the clock by it; nothing waits."""
        self.sleeps.append(seconds)
        self.now += seconds
