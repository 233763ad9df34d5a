"""The real Zoom client driven by the engine and the CLI, against the Zoom emulator over 127.0.0.1."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from integrations.sandbox.zoom_server import ZoomEmulator
from tests.fakes import SimulatedCrash
from tests.helpers_process import wait_until
from tests.helpers_settings import BASE, write_settings
from tests.helpers_worlds import CrashAfterCreate, ZoomWorld, zoom_client, zoom_settings
from tests.helpers_zoom import SPEC
from worker.cli import main
from worker.errors import RemoteError, TransientError

UTC = timezone.utc


@pytest.fixture
def world(tmp_path, zoom):
    w = ZoomWorld(tmp_path, zoom)
    yield w
    w.store.close()


def zoom_env(monkeypatch, emulator: ZoomEmulator) -> None:
    monkeypatch.setenv("ZOOM_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("ZOOM_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("ZOOM_CLIENT_SECRET", emulator.client_secret)
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "SMTP_USERNAME", "SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_once_creates_meetings_in_window_and_second_once_creates_none(tmp_path, zoom, monkeypatch, capsys):
    """The issue's "done means": `once` against the emulator creates, a second `once` does not."""
    zoom_env(monkeypatch, zoom)
    text = BASE.replace("  state_file: state.db\n", "  state_file: state.db\n  planning_days: 20\n")
    path = write_settings(tmp_path, zoom_settings(zoom, text))
    now = "2026-12-31T08:00+08:00"  # 20-day window: 7 and 14 January; no invitation is due yet
    assert main(["once", "--settings", str(path), "--now", now]) == 0
    out = capsys.readouterr().out
    assert out.count("done     create_meeting") == 2
    assert zoom.calls["create_meeting"] == 2
    topics = sorted(m["topic"] for m in zoom.meetings.values())
    assert topics == ["Bedah Buku", "Menulis Cerita Pendek"]
    assert "blocked  upsert_event" in out  # Google is not configured in this test, and says so
    zoom.reset_calls()
    assert main(["once", "--settings", str(path), "--now", now]) == 0
    assert zoom.calls["create_meeting"] == 0 and zoom.calls["patch_meeting"] == 0
    assert len(zoom.meetings) == 2


def test_season_created_once_then_topic_edit_patches_and_cancel_deletes(world):
    world.clock.set(datetime(2027, 1, 6, tzinfo=UTC))  # window covers 7, 14 and 21 January
    world.tick()
    assert world.emulator.calls["create_meeting"] == 3 and len(world.emulator.meetings) == 3
    world.emulator.reset_calls()
    world.tick()
    assert sum(world.emulator.calls.values()) == 0  # a quiet tick makes no remote call at all

    world.sessions[1] = replace(world.sessions[1], topic="Bedah Buku: Laskar Pelangi")
    world.tick()
    assert world.emulator.calls["create_meeting"] == 0 and world.emulator.calls["patch_meeting"] == 1
    row = world.store.session(world.sessions[1].uid)
    assert world.emulator.meetings[int(row.meeting_id)]["topic"] == "Bedah Buku: Laskar Pelangi" \
        if int(row.meeting_id) in world.emulator.meetings \
        else world.emulator.meetings[row.meeting_id]["topic"] == "Bedah Buku: Laskar Pelangi"

    world.sessions[2] = replace(world.sessions[2], cancelled=True)
    world.tick()
    assert world.emulator.calls["delete_meeting"] == 1
    assert len(world.emulator.meetings) == 2 and len(world.emulator.deleted) == 1


def test_crash_after_create_adopts_on_restart(world):
    world.clock.set(datetime(2026, 12, 20, tzinfo=UTC))  # only 7 January is in the 21-day window
    with pytest.raises(SimulatedCrash):
        world.tick(zoom=CrashAfterCreate(world.zoom))
    assert len(world.emulator.meetings) == 1
    assert world.store.session(world.sessions[0].uid) is None or not world.store.session(world.sessions[0].uid).meeting_id
    world.restart()
    world.tick()
    assert len(world.emulator.meetings) == 1 and world.emulator.calls["create_meeting"] == 1
    (meeting_id, meeting), = world.emulator.meetings.items()
    assert world.store.session(world.sessions[0].uid).meeting_id == str(meeting_id)
    assert world.store.session(world.sessions[0].uid).passcode == meeting["password"]


def held_first_session(world):
    """The first session's meeting, created and then ended in the emulator: (session, state row)."""
    world.clock.set(datetime(2026, 12, 25, tzinfo=UTC))
    world.tick()
    session = world.sessions[0]
    row = world.store.session(session.uid)
    world.emulator.end_meeting(row.meeting_id, started_at=session.start_utc, ended_at=session.end_utc)
    return session, row


def test_attendance_of_700_people_with_rejoins_is_merged(world):
    session, row = held_first_session(world)
    expected = world.emulator.simulate_attendance(row.meeting_id, 700, rejoin_every=4, seed=7,
                                                  extra_names=['=HYPERLINK("http://x","y")'])
    world.clock.set(session.end_utc + timedelta(minutes=31))
    world.tick()
    stored = world.store.attendance(session.uid)
    assert len(stored) == len(expected) >= 700
    assert sum(a.joins for a in stored) == sum(e.joins for e in expected) > len(expected)
    got = {a.name: (a.email, a.first_join, a.last_leave, a.minutes, a.joins) for a in stored}
    assert len(got) == len(stored)  # the simulated names are unique, so a name identifies a person
    for e in expected:  # person by person, so a failure names who came out wrong
        assert got.get(e.name) == (e.email, e.first_join, e.last_leave, e.minutes, e.joins), e
    pages = world.emulator.calls["report_participants"]
    assert pages == -(-sum(e.joins for e in expected) // 300)  # every page, 300 at a time
    assert any(a.name == '=HYPERLINK("http://x","y")' for a in stored)


def test_attendance_not_ready_waits_then_arrives(world):
    session, row = held_first_session(world)
    world.emulator.simulate_attendance(row.meeting_id, 20, seed=1)
    world.emulator.not_ready_calls(1)
    world.clock.set(session.end_utc + timedelta(minutes=31))
    report = world.tick()
    assert [s.kind for s in report.waiting] == ["fetch_attendance"] and not report.failed
    assert world.store.attendance(session.uid) == []
    world.clock.set(session.end_utc + timedelta(hours=1))
    world.tick()
    assert len(world.store.attendance(session.uid)) == 20


def assert_one_meeting_per_session(world, count: int) -> None:
    """Exactly one Zoom meeting per session in the window, each stored against the session it carries."""
    meetings = world.emulator.meetings
    assert len(meetings) == count, sorted(m["topic"] for m in meetings.values())
    rows = [world.store.session(s.uid) for s in world.sessions[:count]]
    assert all(r and r.meeting_id for r in rows)
    for session, row in zip(world.sessions, rows):
        meeting = meetings[int(row.meeting_id)]
        assert session.marker() in meeting["agenda"] and row.passcode == meeting["password"]
    assert not world.store.retries()


def test_fault_storm_ends_with_everything_done_once(world):
    world.zoom = zoom_client(world.emulator, clock=world.clock, timeout=1.0)  # roomy: a busy CI machine is slow
    world.clock.set(datetime(2027, 1, 6, tzinfo=UTC))
    world.emulator.fail_next("*", 429, times=6, retry_after=1)
    world.emulator.fail_next("create_meeting", 503, times=5)
    world.emulator.fail_after_commit("create_meeting", 500)  # made, but the answer is an error
    world.emulator.fail_after_commit("create_meeting", "drop")  # made, but no answer at all
    world.emulator.fail_after_commit("create_meeting", "slow", seconds=2.5)  # made, answered after the timeout
    world.emulator.fail_after_commit("get_meeting", 503, times=2)
    for minute in range(0, 240, 10):  # ticks over four hours; failed steps come back after their backoff
        world.clock.set(datetime(2027, 1, 6, tzinfo=UTC) + timedelta(minutes=minute))
        world.tick()
    topics = sorted(m["topic"] for m in world.emulator.meetings.values())
    assert topics == ["Bedah Buku", "Mendongeng", "Menulis Cerita Pendek"]
    assert_one_meeting_per_session(world, 3)


@pytest.mark.parametrize("fault", [500, 503, 504, "drop", "slow"])
def test_a_create_whose_answer_is_lost_is_adopted_not_made_again(world, fault):
    """Zoom makes the meeting but the answer is lost; the next tick finds it by its marker."""
    world.zoom = zoom_client(world.emulator, clock=world.clock, timeout=1.0)
    world.clock.set(datetime(2027, 1, 6, tzinfo=UTC))  # 7, 14 and 21 January
    world.emulator.fail_after_commit("create_meeting", fault, times=3, seconds=2.5)
    first = world.tick()
    assert len(world.emulator.meetings) == 3 and world.emulator.calls["create_meeting"] == 3  # one create each
    assert [s.kind for s, _ in first.failed] == ["create_meeting"] * 3
    assert all("not resent" in why for _, why in first.failed)
    for minute in (2, 5, 10):
        world.clock.set(datetime(2027, 1, 6, tzinfo=UTC) + timedelta(minutes=minute))
        world.tick()
    assert world.emulator.calls["create_meeting"] == 3  # adopted, never made again
    assert_one_meeting_per_session(world, 3)


def test_a_create_slower_than_the_timeout_makes_one_meeting_not_one_per_attempt(zoom):
    """Zoom makes every create it gets, however late it answers: the client must send it only once."""
    slow = zoom_client(zoom, timeout=1.0)
    slow.find_meeting("[nothing]")  # the token is fetched while Zoom is still fast
    zoom.delay_seconds = 2.5
    with pytest.raises(TransientError, match=r"timed out \(not resent"):
        slow.create_meeting(SPEC)
    assert zoom.calls["create_meeting"] == 1
    wait_until(lambda: zoom.meetings, "the create that timed out landed at Zoom")  # after the client gave up
    assert len(zoom.meetings) == 1


def test_a_topic_zoom_refuses_names_the_field(zoom):
    with pytest.raises(RemoteError) as caught:
        zoom_client(zoom).create_meeting(replace(SPEC, topic="Literasi " * 30))
    assert "HTTP 400 code 300: Validation Failed. (topic: Topic can be at most 200 characters.)" in str(caught.value)
    assert not zoom.meetings


def test_daily_limit_is_not_retried_in_a_loop(world):
    world.clock.set(datetime(2027, 1, 6, tzinfo=UTC))
    world.emulator.fail_next("create_meeting", 429, times=10, daily=True)
    report = world.tick()
    assert world.emulator.calls["create_meeting"] == 1  # one call, then wait for 00:00 UTC
    assert report.failed and "daily" in report.failed[0][1].lower()
    retry = next(iter(world.store.retries().values()))
    assert retry.next_at.hour == 0 and retry.next_at.minute == 0
