"""A meeting whose create was answered but never saved is still deleted when its session is cancelled."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from tests.fakes import SimulatedCrash
from tests.helpers_worlds import CrashAfterCreate, ZoomWorld

UTC = timezone.utc


@pytest.fixture
def world(tmp_path, zoom):
    w = ZoomWorld(tmp_path, zoom)
    yield w
    w.store.close()


def test_cancelling_after_a_crash_between_create_and_save_deletes_the_orphan(world):
    world.clock.set(datetime(2026, 12, 20, tzinfo=UTC))  # only 7 January is in the 21-day window
    with pytest.raises(SimulatedCrash):
        world.tick(zoom=CrashAfterCreate(world.zoom))
    row = world.store.session(world.sessions[0].uid)
    assert row.create_started_at and not row.meeting_id  # Zoom made it; the state only knows it was asked
    world.restart()
    world.sessions[0] = replace(world.sessions[0], cancelled=True)  # staff cancel before the next tick
    world.tick()
    assert world.emulator.meetings == {} and len(world.emulator.deleted) == 1
    assert world.store.session(world.sessions[0].uid).meeting_deleted == 1
    world.emulator.reset_calls()
    world.tick()
    assert world.emulator.calls["list_meetings"] == 0 and world.emulator.calls["delete_meeting"] == 0


def test_cancelling_a_session_whose_create_was_refused_looks_once_and_deletes_nothing(world):
    world.clock.set(datetime(2026, 12, 20, tzinfo=UTC))
    world.emulator.fail_next("create_meeting", 400, times=1)
    world.tick()
    assert world.emulator.meetings == {}
    world.sessions[0] = replace(world.sessions[0], cancelled=True)
    world.emulator.reset_calls()
    world.tick()
    assert world.emulator.calls["list_meetings"] >= 1 and world.emulator.calls["delete_meeting"] == 0
    assert world.store.session(world.sessions[0].uid).meeting_deleted == 1
