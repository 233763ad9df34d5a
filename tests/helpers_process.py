"""Running the worker as a user does (a child process) and waiting for what another thread does.

Every wait in the tests goes through :func:`wait_until`, so no polling loop can spin forever: past its
deadline it fails and says what never happened. The deadline is a hang guard, not a time limit on the
code under test: it is far above what the wait takes on a slow machine.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent  # the repository, for PYTHONPATH and cwd of child processes
HANG_GUARD_SECONDS = 60.0  # how long a wait may take before the test fails as hung


def clean_env() -> dict[str, str]:
    """This process's environment without ZOOM_*, SMTP_* and GOOGLE_* variables, with the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "SMTP_", "GOOGLE_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def wait_until(condition: Callable[[], object], what: str, *, seconds: float = HANG_GUARD_SECONDS,
               interval: float = 0.05) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` if it is still false after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds:g} s and still not: {what}"
        time.sleep(interval)
