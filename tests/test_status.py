"""`webinar-worker status`: what staff read about each session."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.helpers_settings import write_settings
from worker.config.settings import load_settings
from worker.store.state import StateStore
from worker.outputs.status import render_status

UTC = timezone.utc


def test_a_session_whose_first_step_failed_shows_the_error(tmp_path):
    settings = load_settings(write_settings(tmp_path))
    now = datetime(2026, 12, 28, tzinfo=UTC)
    with StateStore(tmp_path / "state.db") as store:
        store.record_failure("webinar-kamis/2027-01-07", "create_meeting",
                             "zoom: the token request was refused (HTTP 400, invalid_request): Invalid account_id; "
                             "check ZOOM_ACCOUNT_ID", now + timedelta(minutes=1))
        text = render_status(settings, store, now)
    block = next(b for b in text.split("\n\n") if b.startswith("2027-01-07"))
    assert "nothing done yet" in block
    assert "last error (create_meeting, 1x, next try 2026-12-28 08:01): zoom: the token request was refused" in block
    assert "check ZOOM_ACCOUNT_ID" in block
