"""`webinar-worker run` stops promptly even while a client waits out a server's Retry-After."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from integrations.sandbox.zoom_server import ZoomEmulator
from tests.helpers_process import clean_env, wait_until
from tests.helpers_settings import BASE, write_settings


def test_sigterm_during_a_retry_after_wait_ends_the_wait_and_the_process(tmp_path):
    with ZoomEmulator() as zoom:
        zoom.fail_next("token", 429, times=5, retry_after=30)  # every token request: "come back in 30 s"
        text = BASE.replace("  state_file: state.db\n", "  state_file: state.db\n  planning_days: 90\n")
        text += f"zoom:\n  api_base_url: {zoom.api_base_url}\n  oauth_url: {zoom.oauth_url}\n"
        path = write_settings(tmp_path, text)
        env = clean_env() | {"ZOOM_ACCOUNT_ID": zoom.account_id, "ZOOM_CLIENT_ID": zoom.client_id,
                                     "ZOOM_CLIENT_SECRET": zoom.client_secret}
        proc = subprocess.Popen([sys.executable, "-m", "worker", "run", "--settings", str(path)], cwd=tmp_path,
                                env=env, stderr=subprocess.PIPE, text=True)
        try:
            # once the token request is answered with Retry-After, the worker is inside its wait
            wait_until(lambda: zoom.calls["token"] > 0 or proc.poll() is not None, "the worker asked for a token")
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)  # a hang guard only; without the fix the wait is 5 x 30 s
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "interrupted by a stop; it runs again on the next start" in err
        assert "webinar-worker stopped" in err
        assert zoom.calls["token"] == 1 and zoom.calls["create_meeting"] == 0  # the wait was cut, not sat out
    assert "sandbox-secret" not in err and zoom.client_secret not in err


def test_an_edited_tick_interval_takes_effect_and_a_state_file_change_asks_for_a_restart(tmp_path, caplog):
    import logging
    import threading
    from datetime import datetime, timezone

    from worker.core.clock import FixedClock
    from worker.run.engine import TickReport
    from worker.run.runner import Runner

    path = write_settings(tmp_path, BASE.replace("  state_file: state.db\n", "  state_file: state.db\n  tick_seconds: 1\n"))
    ticks = []

    class Recorder:
        def __init__(self, settings):
            self.settings = settings

        def tick(self, sessions, dry_run=False):
            ticks.append(self.settings.worker.tick_seconds)
            return TickReport()

    caplog.set_level(logging.INFO, logger="worker.run.runner")
    runner = Runner(path, Recorder, FixedClock(datetime(2027, 1, 1, tzinfo=timezone.utc)))
    thread = threading.Thread(target=runner.run_forever, kwargs={"install_signals": False})
    thread.start()
    try:
        wait_until(lambda: ticks, "the runner ticked once")
        edited = BASE.replace("  state_file: state.db\n", "  state_file: other.db\n  tick_seconds: 2\n")
        path.write_text(edited, encoding="utf-8")
        import os
        os.utime(path, (time.time() + 5, time.time() + 5))
        wait_until(lambda: any("now ticking every 2 s" in r.getMessage() for r in caplog.records),
                   "the runner logged the new tick interval")
    finally:
        runner.stop()
        thread.join(timeout=60)
    assert not thread.is_alive() and ticks[-1] == 2
    assert any("worker.state_file changed: it takes effect when the worker is restarted (still" in r.getMessage()
               for r in caplog.records)
