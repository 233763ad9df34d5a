"""Registration in the engine with in-memory integrations: batches, crash recovery, late sign-ups, unsubscribes."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from tests.fakes import FakeZoom, SimulatedCrash
from tests.helpers_engine import SERIES, World
from worker.core.model import Attendee, Recipient
from worker.core.reconcile import Policy
from worker.run.engine import Engine, Integrations
from tests.fakes import FakeComposer

UTC = timezone.utc
FIRST = "webinar-kamis/2027-01-07"


class CrashingZoom(FakeZoom):
    """Zoom that registers the people, then the process dies before the worker saves the answer."""

    def __init__(self):
        super().__init__()
        self.crash_after_register = False

    def register(self, meeting_id, people):
        made = super().register(meeting_id, people)
        if self.crash_after_register:
            self.crash_after_register = False
            raise SimulatedCrash()
        return made


class RegWorld(World):
    """The engine world with registration on and a list of ``n`` people."""

    def __init__(self, tmp_path, n: int):
        super().__init__(tmp_path, [Recipient(f"orang{i:02d}@example.org", f"Orang {i:02d}") for i in range(n)])
        self.zoom = CrashingZoom()

    def engine(self, **kw) -> Engine:
        io = Integrations(zoom=self.zoom, calendar=self.calendar, sheets=self.sheets, mail=self.mail,
                          composer=FakeComposer())
        return Engine(self.store, io, self.clock, series=SERIES, policy=Policy(registration=True),
                      recipients=lambda s: self.people, **kw)

    def invited(self, uid: str = FIRST) -> dict[str, str]:
        """Address -> the join link in the invitation that was sent."""
        return {r: m.get_content().splitlines()[1] for r, m in self.mail.sent
                if m["X-Kind"] == "invitation" and m["Subject"].endswith(self.session(uid).topic)}

    def session(self, uid: str):
        return next(s for s in self.sessions if s.uid == uid)


@pytest.fixture
def world(tmp_path):
    w = RegWorld(tmp_path, 65)
    yield w
    w.store.close()


def test_everyone_is_registered_in_batches_of_30_before_any_invitation(world):
    world.at("2026-12-31T02:00+00:00").tick()  # invitations for 7 January are due
    assert world.zoom.calls.count("register") == 3  # 30 + 30 + 5
    links = world.invited()
    assert len(links) == 65
    for email, link in links.items():
        assert link == world.zoom.registrants[world.store.session(FIRST).meeting_id][email].join_url
    assert world.calendar.events  # the calendar shows the registration page, not a personal link
    for event in world.calendar.events.values():
        assert "/meeting/register/" in event.location and "/w/" not in event.location + event.description
    world.zoom.calls.clear()
    world.tick()
    assert "register" not in world.zoom.calls  # a second tick registers nobody


def test_a_crash_between_register_and_save_registers_nobody_twice(world):
    world.at("2026-12-31T02:00+00:00")
    world.zoom.crash_after_register = True
    with pytest.raises(SimulatedCrash):
        world.tick()
    assert not world.mail.sent and not world.store.registrants(FIRST)
    world.restart()
    world.tick()
    meeting = world.store.session(FIRST).meeting_id
    assert len(world.zoom.registrants[meeting]) == 65 and len(world.store.registrants(FIRST)) == 65
    assert len(world.invited()) == 65


def test_a_late_sign_up_is_registered_then_invited_with_one_call(world):
    world.at("2026-12-31T02:00+00:00").tick()
    world.zoom.calls.clear()
    world.people.append(Recipient("telat@example.org", "Telat"))
    world.at("2027-01-02T02:00+00:00").tick()
    assert world.zoom.calls.count("register") == 1
    assert world.invited()["telat@example.org"].startswith("https://zoom.example/w/")


def test_an_unsubscribe_cancels_the_registration_for_future_sessions(world):
    world.at("2026-12-31T02:00+00:00").tick()
    meeting = world.store.session(FIRST).meeting_id
    world.people = [p for p in world.people if p.email != "orang07@example.org"]  # unsubscribed
    world.at("2027-01-02T02:00+00:00").tick()
    assert "orang07@example.org" not in world.zoom.registrants[meeting]
    assert "orang07@example.org" not in {r.email for r in world.store.registrants(FIRST)}
    world.zoom.calls.clear()
    world.tick()
    assert "cancel_registrants" not in world.zoom.calls and "register" not in world.zoom.calls


def test_a_changed_session_keeps_its_registrants_and_the_change_notice_keeps_personal_links(world):
    world.at("2026-12-31T02:00+00:00").tick()
    before = {r.email: r.join_url for r in world.store.registrants(FIRST)}
    world.sessions[0] = replace(world.sessions[0], topic="Topik Baru")
    world.zoom.calls.clear()
    world.at("2027-01-02T02:00+00:00").tick()
    assert "update" in world.zoom.calls and "register" not in world.zoom.calls
    assert {r.email: r.join_url for r in world.store.registrants(FIRST)} == before
    changes = {r: m.get_content().splitlines()[1] for r, m in world.mail.sent if m["X-Kind"] == "change"}
    assert changes == before


def test_attendance_is_tied_by_registrant_id_and_only_identified_audience_is_thanked(world):
    world.at("2026-12-31T02:00+00:00").tick()
    meeting = world.store.session(FIRST).meeting_id
    regs = world.zoom.registrants[meeting]
    t = datetime(2027, 1, 7, 1, 0, tzinfo=UTC)
    world.zoom.attendance[meeting] = [
        Attendee("iPhone 3", "orang03@example.org", t, t + timedelta(minutes=60), 60, 1,
                 registrant_id=regs["orang03@example.org"].registrant_id),
        Attendee("Keluarga 4", "orang04@example.org", t, t + timedelta(minutes=10), 10, 1,
                 registrant_id=regs["orang04@example.org"].registrant_id),  # too short
        Attendee("Peserta 08", "", t, t + timedelta(minutes=80), 80, 1),  # a guest
        Attendee("Operator", "op@perpustakaan.example", t, t + timedelta(minutes=90), 90, 1, internal=True)]
    world.at("2027-01-07T03:10+00:00").tick()
    thanks = {r: m["X-Name"] for r, m in world.mail.sent if m["X-Kind"] == "thankyou"}
    assert thanks == {"orang03@example.org": "Orang 03"}
    summary = world.sheets.summary["2027-01-07"]
    assert (summary.attended, summary.identified, summary.guests, summary.registered) == (3, 2, 1, 65)
    rows = {a.name: a for a in world.sheets.tabs["2027-01-07"]}
    assert rows["Operator"].staff and rows["iPhone 3"].registered_name == "Orang 03"


def test_a_meeting_made_before_registration_was_on_gets_it_turned_on_then_people_registered(world):
    world.zoom.registration = False  # the meeting was made by a worker without registration
    world.at("2026-12-25T02:00+00:00").tick()
    assert not world.store.session(FIRST).registration_url
    world.at("2026-12-31T02:00+00:00").tick()
    assert world.zoom.calls.count("enable_registration") == 1
    assert world.store.session(FIRST).registration_url.endswith("/meeting/register/" + world.store.session(FIRST).meeting_id)
    assert len(world.invited()) == 65
    event = next(iter(world.calendar.events.values()))
    assert "/meeting/register/" in event.location  # the calendar is brought up to date too


def test_a_person_left_out_of_zooms_answer_is_registered_later_without_holding_a_retry_loop(world):
    real = world.zoom.register
    world.zoom.register = lambda mid, people: [r for r in real(mid, people) if r.email != "orang05@example.org"]
    report = world.at("2026-12-31T02:00+00:00").tick()
    assert [s.kind for s, _ in report.failed] == ["register_invitees"] and not world.mail.sent
    assert len(world.store.registrants(FIRST)) == 64  # everyone Zoom answered for is kept
    world.zoom.register = real
    world.at("2026-12-31T03:00+00:00").tick()
    assert len(world.invited()) == 65


def test_without_registration_only_shown_e_mails_and_unique_names_are_thanked(tmp_path):
    world = World(tmp_path, [Recipient("dewi@example.org", "Dewi Lestari"), Recipient("budi@example.org", "Budi"),
                             Recipient("budi2@example.org", "budi")])
    world.zoom.registration = False
    world.at("2026-12-31T02:00+00:00").tick()
    meeting = world.store.session(FIRST).meeting_id
    assert "register" not in world.zoom.calls
    assert all("/meeting/register/" not in m.get_content() for _, m in world.mail.sent)
    t = datetime(2027, 1, 7, 1, 0, tzinfo=UTC)
    world.zoom.attendance[meeting] = [
        Attendee("Ibu Dewi Lestari", "", t, t + timedelta(minutes=60), 60, 1),  # one listed name: identified
        Attendee("Budi", "", t, t + timedelta(minutes=60), 60, 1),  # two listed people are "Budi": a guest
        Attendee("Host", "host@perpustakaan.example", t, t + timedelta(minutes=90), 90, 1, internal=True)]
    world.at("2027-01-07T03:10+00:00").tick()
    thanks = {r: m["X-Name"] for r, m in world.mail.sent if m["X-Kind"] == "thankyou"}
    assert thanks == {"dewi@example.org": "Dewi Lestari"}
    summary = world.sheets.summary["2027-01-07"]
    assert (summary.attended, summary.identified, summary.guests, summary.registered) == (2, 1, 1, 0)
