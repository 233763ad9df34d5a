"""An overall time limit for each remote call a step makes.

Each HTTP request already has its own timeout, but a client retries: a Zoom that never
answers held one step for about 170 s (five 30 s token timeouts plus backoff). A
:class:`StepDeadline` is started when the engine calls a client method (through
:class:`Deadlined`); while it runs, every request's timeout is cut to the time left
(:class:`DeadlineSession`) and every wait between retries ends the call with a
TransientError once the time is up (:meth:`StepDeadline.guard_sleep`). The engine then
records the failure and backs off like any other.
"""
from __future__ import annotations

import functools
import time
from typing import Any, Callable

import requests

from worker.errors import TransientError


class StepDeadline:
    """The time budget of the client call in progress (None when no call is running)."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic):
        self.seconds = seconds  # budget of one call: worker.step_timeout_seconds
        self.monotonic = monotonic  # elapsed-time source (injected in tests)
        self._ends: float | None = None  # monotonic() at which the running call's time is up
        self._depth = 0  # nested client calls share the outermost budget

    def __enter__(self) -> "StepDeadline":
        if self._depth == 0:
            self._ends = self.monotonic() + self.seconds
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._ends = None

    def remaining(self) -> float | None:
        """Seconds left for the running call, or None when none is running."""
        return None if self._ends is None else self._ends - self.monotonic()

    def expired(self, service: str) -> TransientError:
        """The error that ends a call whose time is up."""
        return TransientError(service, f"no answer within the step deadline of {self.seconds:g} s "
                                       f"(worker.step_timeout_seconds); will retry later")

    def guard_sleep(self, sleep: Callable[[float], None], service: str) -> Callable[[float], None]:
        """``sleep`` that raises instead of waiting past the deadline."""

        def guarded(seconds: float) -> None:
            left = self.remaining()
            if left is not None and seconds >= left:
                raise self.expired(service)
            sleep(seconds)

        return guarded


class DeadlineSession(requests.Session):
    """A requests session whose timeouts never reach past the running call's deadline."""

    def __init__(self, deadline: StepDeadline):
        super().__init__()
        self.deadline = deadline  # shared with the Deadlined wrapper around the client

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """As requests does, with ``timeout`` cut to the time left (ConnectTimeout when none is)."""
        left = self.deadline.remaining()
        if left is not None:
            if left <= 0:
                raise requests.ConnectTimeout(f"step deadline of {self.deadline.seconds:g} s passed before {method}")
            timeout = kwargs.get("timeout")
            kwargs["timeout"] = left if timeout is None else min(_total(timeout), left)
        return super().request(method, url, *args, **kwargs)


def _total(timeout: Any) -> float:
    """A requests timeout (a number or a (connect, read) pair) as one number."""
    return max(timeout) if isinstance(timeout, tuple) else float(timeout)


class Deadlined:
    """Wraps a client so that each public method call runs under the deadline."""

    def __init__(self, client: Any, deadline: StepDeadline):
        self._client = client  # the real client
        self._deadline = deadline  # started for each call

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if name.startswith("_") or not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._deadline:
                return value(*args, **kwargs)

        return call
