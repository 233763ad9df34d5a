"""What the worker leaves on disk: a private state file (and WAL files), and nothing at all after a dry run."""
from __future__ import annotations

import os
import stat
from datetime import datetime, timezone

from tests.helpers_settings import BASE, write_settings
from worker.cli import main
from worker.core.model import Recipient
from worker.store.state import StateStore


def mode(path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_state_file_and_its_wal_files_are_created_0600_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with StateStore(tmp_path / "data" / "state.db") as store:
            store.queue_mail("webinar-kamis/2027-01-07", "invitation", 0, [Recipient("ani@example.org")],
                             datetime(2027, 1, 1, tzinfo=timezone.utc))
            files = sorted(p.name for p in (tmp_path / "data").iterdir())
            assert files == ["state.db", "state.db-shm", "state.db-wal"]
            assert {mode(tmp_path / "data" / f) for f in files} == {"0o600"}
    finally:
        os.umask(old)
    assert os.umask(old) == old  # the store put the process umask back


def test_an_existing_world_readable_state_file_is_made_private(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    os.chmod(path, 0o644)
    StateStore(path).close()
    assert mode(path) == "0o600"


def test_dry_run_without_a_state_file_creates_nothing_and_still_prints_the_plan(tmp_path, capsys, monkeypatch):
    for k in list(os.environ):
        if k.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(k)
    path = write_settings(tmp_path, BASE.replace("state_file: state.db", "state_file: var/lib/worker/state.db"))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["once", "--settings", str(path), "--now", "2026-12-28T08:00+08:00", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "create_meeting" in out and "webinar-kamis/2027-01-07" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no state file, no lock file, no folder
    assert not (tmp_path / "var").exists()
