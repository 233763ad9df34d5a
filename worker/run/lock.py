"""One worker per state file: an OS file lock on ``<state_file>.lock``, held for the life of the process.

``fcntl.flock`` is tied to the open file description, so the kernel releases it when the
process ends for any reason (SIGKILL included): a crash never leaves a stale lock behind.
The lock file is never deleted (deleting it would let two processes lock two different
files of the same name); it holds the pid of its current owner, for the message.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from worker.errors import AlreadyRunningError, StateError
from worker.i18n import N_


def lock_path(state_file: Path) -> Path:
    """The lock file beside the state file: ``state.db`` -> ``state.db.lock``."""
    return state_file.with_name(state_file.name + ".lock")


class StateLock:
    """A non-blocking exclusive lock on a state file; ``with StateLock(path):`` or acquire()/release()."""

    def __init__(self, state_file: Path):
        self.state_file = Path(state_file)  # the state file this lock guards
        self.path = lock_path(self.state_file)  # the file that is locked
        self._fd: int | None = None  # open descriptor while held

    def acquire(self) -> "StateLock":
        """Take the lock at once or raise AlreadyRunningError naming the state file and the holder's pid."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(N_("{path}: cannot create the lock file ({problem})"), path=self.path,
                             problem=exc.strerror or exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            if holder:
                raise AlreadyRunningError(N_("another webinar-worker (pid {pid}) is already working on {state} (lock "
                                             "{lock}); this one exits without doing anything"),
                                          pid=holder, state=self.state_file, lock=self.path) from None
            raise AlreadyRunningError(N_("another webinar-worker is already working on {state} (lock {lock}); this "
                                         "one exits without doing anything"), state=self.state_file,
                                      lock=self.path) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Let go of the lock (closing the descriptor releases it); the file stays."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> "StateLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    """The pid the holder wrote, or "" when unreadable."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
