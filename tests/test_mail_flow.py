"""The outbox end to end: engine + real composer + real SMTP transport + aiosmtpd, parsed back."""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from integrations.sandbox.smtp_server import SandboxSmtpServer
from tests.fakes import FakeCalendar, FakeSheets, FakeZoom, SimulatedCrash
from tests.helpers_settings import write_settings
from tests.helpers_smtp import calendar_of, parse, transport_for
from worker.core.clock import FixedClock
from worker.mail.composer import MailComposer
from worker.run.engine import MAIL_DEFER_FIRST, MAIL_DEFER_LIMIT, MAIL_DEFER_MAX, Engine, Integrations
from worker.core.model import Recipient
from worker.core.planner import plan_season
from worker.config.settings import load_settings
from worker.store.state import StateStore
from worker.core.derive import policy, series_info

UTC = timezone.utc


class CrashingTransport:
    """Wraps the real transport; the process 'dies' right after the server accepted message N."""

    def __init__(self, real, crash_after: int | None):
        self.real, self.crash_after, self.count = real, crash_after, 0

    @contextlib.contextmanager
    def connect(self):
        with self.real.connect() as conn:
            outer = self

            class Conn:
                def send(self, message, recipient):
                    conn.send(message, recipient)
                    outer.count += 1
                    if outer.crash_after is not None and outer.count == outer.crash_after:
                        raise SimulatedCrash()

            yield Conn()


class Setup:
    def __init__(self, tmp_path, server, people):
        self.settings = load_settings(write_settings(tmp_path))
        self.sessions = list(plan_season(self.settings).sessions)
        self.db = tmp_path / "state.db"
        self.store = StateStore(self.db)
        self.server, self.people = server, people
        self.zoom, self.clock = FakeZoom(), FixedClock(datetime(2026, 12, 31, 2, tzinfo=UTC))

    def engine(self, crash_after=None):
        io = Integrations(zoom=self.zoom, calendar=FakeCalendar(), sheets=FakeSheets(),
                          mail=CrashingTransport(transport_for(self.server), crash_after),
                          composer=MailComposer(self.settings.mail.templates_dir, series_info(self.settings)))
        return Engine(self.store, io, self.clock, series=series_info(self.settings), policy=policy(self.settings),
                      recipients=lambda s: self.people, batch_size=100)

    def restart(self):
        self.store.close()
        self.store = StateStore(self.db)


@pytest.fixture
def server():
    with SandboxSmtpServer() as s:
        yield s


def test_restart_in_the_middle_of_500_sends_no_duplicate_beyond_the_one_in_flight(tmp_path, server):
    people = [Recipient(f"peserta{i:03d}@example.org", f"Peserta {i}") for i in range(500)]
    world = Setup(tmp_path, server, people)
    with pytest.raises(SimulatedCrash):
        world.engine(crash_after=237).tick(world.sessions)
    world.restart()
    world.engine().tick(world.sessions)
    received = Counter(m.rcpt_tos[0] for m in server.messages)
    assert set(received) == {p.email for p in people}
    assert [a for a, n in received.items() if n > 1] == ["peserta236@example.org"]
    assert sum(received.values()) == 501
    world.engine().tick(world.sessions)
    assert len(server.messages) == 501


def test_invitation_content_change_notice_and_cancellation(tmp_path, server):
    people = [Recipient("ani@example.org", "Ani"), Recipient("budi@example.org", "Budi")]
    world = Setup(tmp_path, server, people)
    world.engine().tick(world.sessions)
    first = [parse(m.data) for m in server.received_by("ani@example.org")]
    assert len(first) == 1
    msg = first[0]
    text = msg.get_body(("plain",)).get_content()
    assert "Kamis, 7 Januari 2027" in text
    # Ani's own registrant link, and for colleagues the registration page; never the public join link
    assert "https://zoom.example/w/" in text and "tk=ani@example.org" in text and "tk=budi" not in text
    assert "https://zoom.example/meeting/register/" in text and "https://zoom.example/j/" not in text
    assert msg.get_body(("html",)) is not None
    cal = calendar_of(msg)
    event = next(c for c in cal.walk("VEVENT"))
    assert str(cal["METHOD"]) == "REQUEST" and int(event["SEQUENCE"]) == 0

    world.sessions[0] = replace(world.sessions[0], topic="Menulis Cerpen untuk Remaja")
    world.clock.set(datetime(2027, 1, 2, tzinfo=UTC))
    world.engine().tick(world.sessions)
    changes = [parse(m.data) for m in server.received_by("ani@example.org")][1:]
    assert len(changes) == 1
    cal = calendar_of(changes[0])
    assert int(next(c for c in cal.walk("VEVENT"))["SEQUENCE"]) == 1
    assert "Menulis Cerpen untuk Remaja" in changes[0]["Subject"]

    world.sessions[0] = replace(world.sessions[0], cancelled=True)
    world.clock.set(datetime(2027, 1, 3, tzinfo=UTC))
    world.engine().tick(world.sessions)
    last = parse(server.received_by("budi@example.org")[-1].data)
    cal = calendar_of(last)
    assert str(cal["METHOD"]) == "CANCEL"
    assert int(next(c for c in cal.walk("VEVENT"))["SEQUENCE"]) == 2
    assert Counter(m.rcpt_tos[0] for m in server.messages) == {"ani@example.org": 3, "budi@example.org": 3}


def test_refused_address_is_marked_failed_and_the_rest_delivered(tmp_path, server):
    people = [Recipient(f"p{i}@example.org") for i in range(5)]
    server.refuse.add("p2@example.org")
    world = Setup(tmp_path, server, people)
    world.engine().tick(world.sessions)
    assert sorted(m.rcpt_tos[0] for m in server.messages) == ["p0@example.org", "p1@example.org",
                                                               "p3@example.org", "p4@example.org"]
    counts = world.store.mail_counts()["webinar-kamis/2027-01-07"]
    assert counts == {("invitation", "sent"): 4, ("invitation", "failed"): 1}


def test_a_deferred_address_waits_alone_and_everyone_else_is_delivered(tmp_path, server):
    people = [Recipient(f"p{i}@example.org") for i in range(5)]
    server.defer.add("p0@example.org")  # the first row of the outbox, every time
    world = Setup(tmp_path, server, people)
    world.engine().tick(world.sessions)
    assert sorted(m.rcpt_tos[0] for m in server.messages) == [f"p{i}@example.org" for i in range(1, 5)]
    [row] = world.store.pending_mail(10)
    assert row.email == "p0@example.org" and "450" in row.last_error
    assert row.next_at > datetime(2026, 12, 31, 2, tzinfo=timezone.utc)
    server.messages.clear()
    world.engine().tick(world.sessions)  # deferred: not tried again yet, so no connection is opened
    assert server.messages == [] and len(world.store.pending_mail(10)) == 1
    server.defer.clear()
    world.clock.set(world.clock.now() + (MAIL_DEFER_FIRST * 2))
    world.engine().tick(world.sessions)
    assert [m.rcpt_tos[0] for m in server.messages] == ["p0@example.org"]
    assert world.store.mail_counts()["webinar-kamis/2027-01-07"] == {("invitation", "sent"): 5}


def test_an_address_deferred_for_days_is_marked_failed_not_retried_forever(tmp_path, server):
    server.defer.add("p0@example.org")
    world = Setup(tmp_path, server, [Recipient("p0@example.org")])
    for _ in range(MAIL_DEFER_LIMIT + 2):
        world.engine().tick(world.sessions)
        world.clock.set(world.clock.now() + MAIL_DEFER_MAX)
    counts = world.store.mail_counts()["webinar-kamis/2027-01-07"]
    assert counts == {("invitation", "failed"): 1}


def test_unsubscribing_after_the_invitation_stops_every_later_mail(tmp_path, server):
    people = [Recipient("ani@example.org"), Recipient("budi@example.org")]
    world = Setup(tmp_path, server, people)
    unsubscribed: set[str] = set()
    engine = world.engine()
    engine.unsubscribed = lambda: frozenset(unsubscribed)
    engine.tick(world.sessions)
    assert sorted(m.rcpt_tos[0] for m in server.messages) == ["ani@example.org", "budi@example.org"]
    unsubscribed.add("budi@example.org")
    server.messages.clear()
    world.sessions[0] = replace(world.sessions[0], topic="Topik baru")  # a change notice is due
    world.clock.set(world.sessions[0].start_utc.replace(hour=0))  # and the reminder
    engine.tick(world.sessions)
    kinds = Counter((m.rcpt_tos[0], parse(m.data)["X-Webinar-Kind"]) for m in server.messages)
    assert kinds == {("ani@example.org", "change"): 1, ("ani@example.org", "reminder"): 1}
    skipped = world.store.mail_counts()["webinar-kamis/2027-01-07"]
    assert skipped[("change", "skipped")] == 1 and skipped[("reminder", "skipped")] == 1


def test_an_unreadable_recipient_list_does_not_stop_the_other_work(tmp_path, server):
    from worker.errors import NotConfiguredError

    world = Setup(tmp_path, server, [Recipient("ani@example.org")])
    world.engine().tick(world.sessions)  # invitations went out
    engine = world.engine()

    def broken(session):
        raise NotConfiguredError("unsubscribe.txt: unsubscribe list not found")

    engine.recipients = broken
    world.clock.set(datetime(2027, 1, 7, 0, 30, tzinfo=UTC))  # reminders due for the 7th
    report = engine.tick(world.sessions)
    assert any(s.kind == "queue_reminders" for s in report.done)
    assert "unsubscribe list not found" in world.store.retries()[("webinar-kamis/2027-01-07",
                                                                   "queue_invitations")].last_error
