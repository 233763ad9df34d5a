"""One worker per state file: the lock, two real workers started together, and the outbox claim without the lock."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers_season import Season, at, expected_mail
from tests.helpers_settings import BASE, write_settings
from worker.cli import EXIT_LOCKED, main
from worker.errors import AlreadyRunningError
from worker.run.lock import StateLock, lock_path

ROOT = Path(__file__).resolve().parent.parent
# A worker process whose state-file lock does nothing: only the outbox claim stands between two senders.
NO_LOCK = """\
import sys
import worker.cli as cli

class NoLock:
    def __init__(self, state_file):
        pass

    def acquire(self):
        return self

    def release(self):
        pass

cli.StateLock = NoLock
sys.exit(cli.main(sys.argv[1:]))
"""


def wait_for_exit(procs: list[subprocess.Popen], seconds: float = 120) -> subprocess.Popen:
    """The first of ``procs`` to exit (the loop has a deadline)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                return proc
        time.sleep(0.05)
    raise AssertionError("no worker process exited within the deadline")


def test_a_second_lock_on_the_same_state_file_is_refused_naming_the_file_and_the_holder(tmp_path):
    state = tmp_path / "data" / "state.db"
    with StateLock(state) as first:
        assert first.held and lock_path(state) == tmp_path / "data" / "state.db.lock"
        with pytest.raises(AlreadyRunningError) as err:
            StateLock(state).acquire()
        assert str(state) in str(err.value) and f"(pid {os.getpid()})" in str(err.value)
        assert oct(lock_path(state).stat().st_mode & 0o777) == "0o600"
    with StateLock(state) as again:  # released: the next worker gets it
        assert again.held
    assert not state.exists()  # the lock never creates the state file itself


def test_once_exits_3_while_another_worker_holds_the_lock_and_read_only_commands_still_work(tmp_path, capsys,
                                                                                           monkeypatch):
    for k in list(os.environ):
        if k.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(k)
    path = write_settings(tmp_path)
    state = tmp_path / "state.db"
    now = ["--now", "2026-12-28T08:00+08:00"]
    with StateLock(state):
        assert main(["once", "--settings", str(path), *now]) == EXIT_LOCKED
        err = capsys.readouterr().err
        assert f"another webinar-worker (pid {os.getpid()}) is already working on {state}" in err
        assert not state.exists()  # it did nothing at all
        assert main(["once", "--settings", str(path), *now, "--dry-run"]) == 0
        assert "create_meeting" in capsys.readouterr().out
        assert main(["plan", "--settings", str(path), *now]) == 0
        assert main(["status", "--settings", str(path), *now]) == 0
        assert "no state yet" in capsys.readouterr().out
    assert main(["once", "--settings", str(path), *now]) == 0  # the lock is free again


def test_two_once_processes_started_together_make_one_meeting_and_send_each_mail_once(tmp_path):
    with Season(tmp_path) as season:
        gate = threading.Event()
        season.smtp.hold = lambda: not gate.is_set()  # whoever gets the lock waits at its first mail, holding it
        now = at("2026-12-31 10:00")
        procs = [subprocess.Popen(season.command(now), env=season.env(), cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            loser = wait_for_exit(procs)
            gate.set()
            winner = next(p for p in procs if p is not loser)
            out, err = winner.communicate(timeout=120)
            loser_err = loser.stderr.read()
        finally:
            gate.set()
            for p in procs:
                if p.poll() is None:
                    p.kill()
        assert loser.returncode == EXIT_LOCKED, loser_err
        assert f"is already working on {season.state_file.resolve()}" in loser_err
        assert f"(pid {winner.pid})" in loser_err
        assert winner.returncode == 0, out + err
        assert season.zoom.calls["create_meeting"] == 2  # 7 and 14 January, once each
        assert [len(season.meetings_for(k)) for k in ("2027-01-07", "2027-01-14")] == [1, 1]
        delivered = season.delivered()
        assert set(delivered) == {m for m in expected_mail() if m[:2] == ("2027-01-07", "invitation")}
        assert set(delivered.values()) == {1}


def test_a_second_run_exits_3_while_the_first_runs(tmp_path):
    path = write_settings(tmp_path, BASE.replace("  state_file: state.db", "  state_file: state.db\n  tick_seconds: 1"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "SMTP_", "GOOGLE_"))}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "worker", "run", "--settings", str(path)]
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = first.stderr.readline()
            if not line or "running; ticking every 1 s" in line:
                break
        second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == EXIT_LOCKED, second.stderr
    assert f"another webinar-worker (pid {first.pid}) is already working on" in second.stderr
    assert first.returncode == 0


def test_without_the_lock_the_outbox_claim_alone_sends_each_mail_once(tmp_path):
    with Season(tmp_path) as season:
        now = at("2026-12-31 10:00")
        # A worker dies right after claiming its first mail: that claim must be released, and sent once.
        assert season.once(now, crashpoint="send_mail.after_claim").killed
        before = len(season.smtp.messages)
        opened = season.smtp.connections
        season.smtp.hold = lambda: season.smtp.connections < opened + 2  # both workers hold the same pending list
        command = [sys.executable, "-c", NO_LOCK, *season.command(now)[3:]]
        procs = [subprocess.Popen(command, env=season.env(), cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            results = [p.communicate(timeout=120) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        assert [p.returncode for p in procs] == [0, 0], results
        assert before == 0
        # Both reached the outbox together: the first held its first mail until the second had read the
        # pending rows and connected, so rows 2 to 6 were in both lists and only the claim kept them apart.
        assert season.smtp.connections == opened + 2
        delivered = season.delivered()
        assert set(delivered) == {m for m in expected_mail() if m[:2] == ("2027-01-07", "invitation")}
        assert set(delivered.values()) == {1}, delivered
