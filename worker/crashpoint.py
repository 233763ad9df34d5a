"""A test-only hook that kills the process at a named point, to prove crash recovery.

``WEBINAR_WORKER_CRASHPOINT=name`` (or ``name:n``) is read once, when this module is first
imported. ``crashpoint("name")`` then sends SIGKILL to its own process the first (or n-th)
time the point is reached, so nothing after it runs: no ``finally``, no commit, no QUIT.
Without the variable every call is a cheap no-op. Used by tests/test_crash_*.py only.

The armed point lives at module level on purpose: a hook threaded through every constructor
would put test plumbing into every signature, and it is set once per process from the
environment, never changed.
"""
from __future__ import annotations

import os
import signal

ENV_VAR = "WEBINAR_WORKER_CRASHPOINT"


class _Armed:
    """The point to crash at and how many times it has been passed."""

    def __init__(self, spec: str):
        name, _, nth = spec.strip().partition(":")
        self.name = name  # the crash point's name; "" = disarmed
        self.nth = int(nth) if nth.strip() else 1  # kill on this pass (1 = the first)
        self.passes = 0  # times the point was reached so far

    def reached(self, name: str) -> bool:
        """Count one pass of ``name``; True when this is the pass to crash on."""
        if not self.name or name != self.name:
            return False
        self.passes += 1
        return self.passes == self.nth


_ARMED = _Armed(os.environ.get(ENV_VAR, ""))


def crashpoint(name: str) -> None:
    """Kill this process with SIGKILL here when ``WEBINAR_WORKER_CRASHPOINT`` names this point (test-only)."""
    if _ARMED.name and _ARMED.reached(name):
        os.kill(os.getpid(), signal.SIGKILL)
