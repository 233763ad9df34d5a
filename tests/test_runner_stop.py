"""`webinar-worker run` stops promptly even while a client waits out a server's Retry-After."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from integrations.sandbox.zoom_server import ZoomEmulator
from tests.helpers_settings import BASE, write_settings
from tests.test_cli import clean_env


def test_sigterm_during_a_retry_after_wait_ends_the_wait_and_the_process(tmp_path):
    with ZoomEmulator() as zoom:
        zoom.fail_next("token", 429, times=5, retry_after=30)  # every token request: "come back in 30 s"
        text = BASE.replace("  state_file: state.db\n", "  state_file: state.db\n  planning_days: 90\n")
        text += f"zoom:\n  api_base_url: {zoom.api_base_url}\n  oauth_url: {zoom.oauth_url}\n"
        path = write_settings(tmp_path, text)
        env = clean_env(tmp_path) | {"ZOOM_ACCOUNT_ID": zoom.account_id, "ZOOM_CLIENT_ID": zoom.client_id,
                                     "ZOOM_CLIENT_SECRET": zoom.client_secret}
        proc = subprocess.Popen([sys.executable, "-m", "worker", "run", "--settings", str(path)], cwd=tmp_path,
                                env=env, stderr=subprocess.PIPE, text=True)
        try:
            while zoom.calls["token"] == 0 and proc.poll() is None:  # the worker is now inside its wait
                time.sleep(0.05)
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
