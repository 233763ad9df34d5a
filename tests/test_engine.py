"""The reconcile engine with in-memory integrations: idempotence, crash recovery, backoff, mail timing."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tests.fakes import SimulatedCrash
from worker.run.engine import Engine, Integrations
from worker.core.model import Attendee, Recipient
from worker.core.reconcile import Policy
from tests.helpers_engine import SERIES, UTC, World  # noqa: F401

@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.store.close()


def test_meetings_and_events_created_within_planning_window(world):
    report = world.at("2026-12-28T00:00+00:00").tick()
    # 2027-01-07 is 10 days ahead, 2027-01-14 is 17 days ahead (outside the 14-day window)
    assert sorted(m["topic"] for m in world.zoom.meetings.values()) == ["Menulis Cerita Pendek"]
    assert len(world.calendar.events) == 1
    assert [s.kind for s in report.done] == ["create_meeting", "upsert_event"]


def test_second_tick_at_same_now_does_nothing(world):
    world.at("2027-01-01T00:00+00:00").tick()
    calls = (list(world.zoom.calls), list(world.calendar.calls), len(world.mail.sent))
    report = world.tick()
    assert report.done == [] and report.failed == []
    assert (world.zoom.calls, world.calendar.calls, len(world.mail.sent)) == calls


def test_crash_between_create_and_save_adopts_on_restart(world):
    world.at("2026-12-28T00:00+00:00")
    world.zoom.crash_after_create = True
    with pytest.raises(SimulatedCrash):
        world.tick()
    world.restart()
    world.tick()
    assert len(world.zoom.meetings) == 1
    assert world.zoom.calls.count("create") == 1
    row = world.store.session("webinar-kamis/2027-01-07")
    assert row.meeting_id == next(iter(world.zoom.meetings))


def test_invitations_once_then_reminder(world):
    world.at("2026-12-31T02:00+00:00").tick()  # 7 days before 2027-01-07 09:00 WITA (01:00 UTC)
    assert sorted(r for r, _ in world.mail.sent) == ["a@example.org", "b@example.org"]
    world.tick()
    world.restart()
    world.tick()
    assert len(world.mail.sent) == 2
    world.at("2027-01-06T23:30+00:00").tick()  # 1.5 hours before
    assert world.mail.kinds() == ["invitation", "invitation", "reminder", "reminder"]


def test_crash_in_the_middle_of_a_batch_resends_nothing_accepted(world):
    world.people = [Recipient(f"p{i}@example.org") for i in range(50)]
    world.at("2026-12-31T02:00+00:00")
    world.mail.crash_after = 20
    with pytest.raises(SimulatedCrash):
        world.tick()
    world.restart()
    world.tick()
    addresses = [r for r, _ in world.mail.sent]
    # the 20th message was accepted but not yet marked: it is the only one that may go twice
    assert len(addresses) == 51 and len(set(addresses)) == 50
    assert addresses.count("p19@example.org") == 2


def test_late_recipient_gets_invitation_only_before_start(world):
    world.at("2026-12-31T02:00+00:00").tick()
    world.people.append(Recipient("late@example.org"))
    world.at("2027-01-02T00:00+00:00").tick()
    assert [r for r, _ in world.mail.sent].count("late@example.org") == 1
    world.people.append(Recipient("toolate@example.org"))
    world.at("2027-01-07T02:00+00:00").tick()  # after the start
    assert "toolate@example.org" not in [r for r, _ in world.mail.sent]


def test_topic_edit_after_invitations_updates_and_sends_change_notice(world):
    world.at("2026-12-31T02:00+00:00").tick()
    world.sessions[0] = replace(world.sessions[0], topic="Menulis Cerpen (baru)")
    report = world.at("2026-12-31T03:00+00:00").tick()
    kinds = [s.kind for s in report.done]
    assert kinds[:3] == ["update_meeting", "upsert_event", "queue_change"]
    assert world.zoom.calls.count("update") == 1 and world.zoom.calls.count("create") == 1
    changes = [m for _, m in world.mail.sent if m["X-Kind"] == "change"]
    assert len(changes) == 2 and {m["X-Sequence"] for m in changes} == {"1"}
    assert changes[0]["X-Previous-Topic"] == "Menulis Cerita Pendek"
    assert world.tick().done == []


def test_cancellation_deletes_cancels_and_notifies(world):
    world.at("2026-12-31T02:00+00:00").tick()
    world.sessions[0] = replace(world.sessions[0], cancelled=True)
    world.at("2027-01-02T00:00+00:00").tick()
    assert not any("2027-01-07" in m["agenda"] for m in world.zoom.meetings.values())
    assert not any(e.private["session"] == "2027-01-07" for e in world.calendar.events.values())
    cancels = [m for _, m in world.mail.sent if m["X-Kind"] == "cancellation"]
    assert len(cancels) == 2 and cancels[0]["X-Sequence"] == "1"
    assert world.tick().done == []


def test_removed_session_is_cancelled_like_a_cancelled_one(world):
    world.at("2026-12-31T02:00+00:00").tick()
    world.sessions = world.sessions[1:]
    world.at("2027-01-02T00:00+00:00").tick()
    assert not any("2027-01-07" in m["agenda"] for m in world.zoom.meetings.values())
    assert [m["X-Kind"] for _, m in world.mail.sent].count("cancellation") == 2


def test_failed_step_backs_off_and_does_not_block_others(world):
    world.zoom.fail_creates = 1
    report = world.at("2027-01-04T00:00+00:00").tick()  # two sessions in the window
    assert len(report.failed) == 1 and report.failed[0][0].uid == "webinar-kamis/2027-01-07"
    assert len(world.zoom.meetings) == 1  # the other session went ahead
    retry = world.store.retries()[("webinar-kamis/2027-01-07", "create_meeting")]
    assert retry.attempts == 1 and retry.next_at == datetime(2027, 1, 4, 0, 1, tzinfo=UTC)
    assert world.tick().done == []  # still backing off: no remote call
    world.at("2027-01-04T00:02+00:00").tick()
    assert len(world.zoom.meetings) == 2 and world.store.retries() == {}


def test_attendance_fetch_waits_then_stores_and_syncs(world):
    world.people = [Recipient("ani@x.org", "Ani Lestari"), Recipient("b@example.org", "B")]
    world.at("2026-12-31T02:00+00:00").tick()
    mid = next(iter(world.zoom.meetings))
    world.at("2027-01-07T03:00+00:00").tick()  # 30 min after the 02:30 end
    assert world.store.retries()[("webinar-kamis/2027-01-07", "fetch_attendance")].last_error.startswith("waiting")
    t = datetime(2027, 1, 7, 1, tzinfo=UTC)
    world.zoom.attendance[mid] = [Attendee("iPhone Ani", "ANI@x.org", t, t + timedelta(minutes=80), 80, 2)]
    world.at("2027-01-07T03:06+00:00").tick()
    assert world.sheets.tabs["2027-01-07"][0].name == "iPhone Ani"  # the sheet shows what Zoom saw
    assert world.sheets.summary["2027-01-07"].invited == 2
    assert world.store.session("webinar-kamis/2027-01-07").attendance_state == "synced"
    thanks = [(r, m) for r, m in world.mail.sent if m["X-Kind"] == "thankyou"]
    assert [r.lower() for r, _ in thanks] == ["ani@x.org"]
    assert [m["X-Name"] for _, m in thanks] == ["Ani Lestari"]  # the certificate uses the registered name
    calls, sent = len(world.zoom.calls), len(world.mail.sent)
    world.tick()
    assert len(world.zoom.calls) == calls and len(world.mail.sent) == sent


def test_no_report_after_give_up_records_zero(world):
    world.at("2026-12-31T02:00+00:00").tick()
    world.at("2027-01-08T03:00+00:00").tick()  # more than 24 hours after the end
    row = world.store.session("webinar-kamis/2027-01-07")
    assert row.attendance_state == "synced" and row.attendees == 0 and "recorded 0" in row.note


def test_missing_integration_is_reported_as_blocked(world):
    world.at("2026-12-28T00:00+00:00")
    io = Integrations(missing={"zoom": "Zoom is not configured: set ZOOM_ACCOUNT_ID"})
    report = Engine(world.store, io, world.clock, series=SERIES, policy=Policy()).tick(world.sessions)
    assert [(s.kind, why) for s, why in report.blocked] == [("create_meeting", "Zoom is not configured: set ZOOM_ACCOUNT_ID")]


def test_a_session_first_seen_30_minutes_before_its_start_still_gets_its_invitations(world):
    world.at("2027-01-07T00:30+00:00").tick()  # the first time the worker sees it: 30 min before
    sent_before_start = [m for m in world.mail.sent]
    world.at("2027-01-07T01:30+00:00").tick()  # after the start
    row = world.store.session("webinar-kamis/2027-01-07")
    assert row.invited_at and sent_before_start  # late, but before the start


def test_worker_first_seeing_a_session_after_its_start_sends_nothing(world):
    world.at("2027-01-07T00:50+00:00").tick(dry_run=False)  # meeting made 10 minutes before the start
    world.mail.sent.clear()
    world.store.update_session("webinar-kamis/2027-01-07", world.clock.now(), invited_at="")  # as if never invited
    world.at("2027-01-07T01:10+00:00").tick()
    row = world.store.session("webinar-kamis/2027-01-07")
    assert world.mail.sent == [] and "already started" in row.note


def test_dry_run_calls_nothing(world):
    report = world.at("2026-12-28T00:00+00:00").tick(dry_run=True)
    assert [s.kind for s in report.planned] == ["create_meeting"]
    assert world.zoom.calls == [] and world.store.sessions() == {}


def test_permanent_refusal_marks_one_address_failed(world):
    world.mail.refuse.add("a@example.org")
    world.at("2026-12-31T02:00+00:00").tick()
    assert [r for r, _ in world.mail.sent] == ["b@example.org"]
    counts = world.store.mail_counts()["webinar-kamis/2027-01-07"]
    assert counts[("invitation", "failed")] == 1 and counts[("invitation", "sent")] == 1
