"""systemd Type=notify and watchdog over a real Unix datagram socket; log lines with an ISO time and JSON logs."""
from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timezone

from tests.helpers_process import clean_env, wait_until
from tests.helpers_settings import BASE, write_settings
from worker.core.clock import FixedClock
from worker.run.engine import TickReport
from worker.run.notify import Notifier
from worker.run.runner import Runner
from worker.store.health import HEARTBEAT_KEY


def _listen(tmp_path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    return sock


def _received(sock: socket.socket, count: int) -> list[str]:
    got: list[str] = []
    sock.setblocking(False)

    def more() -> bool:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            pass
        return len(got) >= count

    wait_until(more, f"{count} datagram(s) on the notify socket")
    return got


def test_the_notifier_sends_datagrams_and_pings_the_watchdog_every_half_interval(tmp_path):
    now = [100.0]
    with _listen(tmp_path) as sock:
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "10000000"},
                            monotonic=lambda: now[0])
        assert notifier.watchdog == 5.0
        assert notifier.ready("ticking every 60 s")
        assert notifier.ping() and not notifier.ping()  # the second comes too soon
        now[0] += 5.0
        assert notifier.ping()
        assert _received(sock, 3) == ["READY=1\nSTATUS=ticking every 60 s", "WATCHDOG=1", "WATCHDOG=1"]


def test_without_notify_socket_nothing_is_sent_and_a_watchdog_for_another_pid_is_ignored():
    assert Notifier({}).ready() is False
    other = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert other.watchdog is None and other.ping() is False


def test_run_forever_says_ready_pings_and_says_stopping(tmp_path):
    path = write_settings(tmp_path)

    class Engine:
        def __init__(self, settings):
            self.settings = settings

        def tick(self, sessions, dry_run=False):
            return TickReport()

    with _listen(tmp_path) as sock:
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "2"})
        runner = Runner(path, Engine, FixedClock(datetime(2027, 1, 1, tzinfo=timezone.utc)), notifier=notifier)
        thread = threading.Thread(target=runner.run_forever, kwargs={"install_signals": False})
        thread.start()
        try:
            got = _received(sock, 3)
        finally:
            runner.stop()
            thread.join()
        got += _received(sock, 1)
        while True:  # the rest of what it sent, up to STOPPING=1
            if got[-1] == "STOPPING=1":
                break
            got += _received(sock, 1)
        assert "READY=1\nSTATUS=ticking every 60 s" in got and "WATCHDOG=1" in got
        assert got.index("READY=1\nSTATUS=ticking every 60 s") < len(got) - 1 and got[-1] == "STOPPING=1"


def _ticked(folder) -> bool:
    """A heartbeat is in the child's state file (read-only: the child may still be creating the schema)."""
    if not (folder / "state.db").exists():
        return False
    try:
        with sqlite3.connect(f"file:{folder / 'state.db'}?mode=ro", uri=True) as db:
            return db.execute("SELECT 1 FROM meta WHERE key=?", (HEARTBEAT_KEY,)).fetchone() is not None
    except sqlite3.Error:  # not created yet, or locked for a moment
        return False


def test_run_logs_an_iso_time_with_offset_and_json_lines_on_request(tmp_path):
    for fmt in ("text", "json"):
        folder = tmp_path / fmt
        folder.mkdir()
        path = write_settings(folder, BASE)
        proc = subprocess.Popen([sys.executable, "-m", "worker", "run", "--settings", str(path), "--log-format", fmt],
                                cwd=folder, env=clean_env() | {"TZ": "Asia/Makassar"}, stderr=subprocess.PIPE,
                                text=True)
        try:
            wait_until(lambda: proc.poll() is not None or _ticked(folder), "the worker completed a tick")
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)  # a hang guard only
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        first = err.splitlines()[0]
        if fmt == "text":
            stamp = first.split(" ")[0]
            assert stamp.endswith("+08:00"), first
            assert datetime.fromisoformat(stamp).utcoffset().total_seconds() == 8 * 3600
        else:
            entry = json.loads(first)
            assert entry["time"].endswith("+08:00") and entry["level"] and entry["logger"] and entry["message"]
            assert all(json.loads(line) for line in err.splitlines())
