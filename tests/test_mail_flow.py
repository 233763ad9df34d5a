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
from worker.clock import FixedClock
from worker.composer import MailComposer
from worker.engine import Engine, Integrations
from worker.model import Recipient
from worker.planner import plan_season
from worker.settings import load_settings
from worker.state import StateStore
from worker.wiring import policy, series_info

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
    assert "Kamis, 7 Januari 2027" in text and "https://zoom.example/j/" in text
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
