"""Health: the heartbeat, `status` exit codes and --json, and `run` starting on the last good settings."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

from tests.helpers_process import clean_env, wait_until
from tests.helpers_settings import BASE, write_settings
from tests.helpers_smtp import parse
from worker.cli import main
from worker.store.health import GOOD_SETTINGS_KEY, read_heartbeat
from worker.store.state import StateStore

BROKEN = BASE.replace("  weekday: kamis", "  weekday: caturday")
OPERATOR = "it@perpustakaan.example"


def test_status_exits_1_for_a_stale_heartbeat_and_0_for_a_fresh_one(tmp_path, capsys):
    path = write_settings(tmp_path)
    assert main(["once", "--settings", str(path), "--now", "2026-12-01T09:00+08:00"]) == 0
    capsys.readouterr()
    assert main(["status", "--settings", str(path), "--now", "2026-12-01T09:02+08:00"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("last tick: 2026-12-01 09:00:00 WITA (2 min ago): idle\n  0 done, 0 failed, 0 blocked\n")
    assert "STALE" not in out
    assert main(["status", "--settings", str(path), "--now", "2026-12-01T10:00+08:00"]) == 1
    out = capsys.readouterr().out
    assert "STALE: no tick completed in the last 5 min" in out
    assert main(["status", "--settings", str(path), "--json", "--now", "2026-12-01T10:00+08:00"]) == 1
    health = json.loads(capsys.readouterr().out)
    assert health["healthy"] is False and health["age_seconds"] == 3600 and health["stale_after_seconds"] == 300
    assert health["last_tick"]["outcome"] == "idle" and health["last_tick"]["at"] == "2026-12-01T01:00:00+00:00"


def test_status_json_without_a_state_file_is_unhealthy(tmp_path, capsys):
    path = write_settings(tmp_path)
    assert main(["status", "--settings", str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"healthy": False, "reason": "no state file yet"}


def test_run_with_a_broken_file_and_no_good_copy_ever_exits_2(tmp_path):
    path = write_settings(tmp_path, BROKEN)
    done = subprocess.run([sys.executable, "-m", "worker", "run", "--settings", str(path)], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "series.weekday" in done.stderr


def test_a_restart_with_a_broken_file_keeps_serving_from_the_last_good_settings(tmp_path, smtp_server, capsys):
    good = (BASE.replace("    port: 2525", f"    port: {smtp_server.port}")
            .replace("  state_file: state.db", f"  state_file: state.db\n  alert_to: [{OPERATOR}]"))
    path = write_settings(tmp_path, good)
    assert main(["once", "--settings", str(path), "--now", "2026-12-01T09:00+08:00"]) == 0  # a good copy is kept
    with StateStore(tmp_path / "state.db") as store:
        assert json.loads(store.meta_value(GOOD_SETTINGS_KEY))["text"] == good
    path.write_text(good.replace("  weekday: kamis", "  weekday: caturday"), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "worker", "run", "--settings", str(path)], cwd=tmp_path,
                            env=clean_env(), stderr=subprocess.PIPE, text=True)
    try:
        def broken_noted() -> bool:
            with StateStore(tmp_path / "state.db") as store:
                beat = read_heartbeat(store)
            return proc.poll() is not None or bool(beat and beat.settings_problem)

        wait_until(broken_noted, "the running worker recorded a tick on the last good settings")
        wait_until(lambda: proc.poll() is not None or len(smtp_server.received_by(OPERATOR)) >= 2,
                   "the alert and the recovery mail arrived")
        capsys.readouterr()
        assert main(["status", "--settings", str(path)]) == 0
        out = capsys.readouterr().out
        assert "SETTINGS FILE BROKEN: the worker runs on the last good settings" in out
        assert "series.weekday" in out and "Webinar Kamis Perpustakaan" in out
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)  # a hang guard only
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "running on the last good settings kept in" in err
    # the last tick (once --now, two days ago) is stale as well: one digest at start, then the stale one clears
    digest, cleared = [parse(m.data) for m in smtp_server.received_by(OPERATOR)]
    assert digest["Subject"] == "[Webinar Kamis Perpustakaan] PERINGATAN: 2 masalah"
    body = digest.get_body(("plain",)).get_content()
    assert "Suntingan settings.yaml ditolak" in body and "settings.yaml baris 6" in body and "tick" in body
    assert cleared["Subject"] == ("[Webinar Kamis Perpustakaan] Pulih: Worker tidak menyelesaikan satu tick pun "
                                  "dalam waktu lama")
