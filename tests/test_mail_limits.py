"""Mail within the provider's limits (issue 15): quota answers hold the outbox, bounces are suppressed,
a rolling daily cap survives a restart, the most urgent mail goes first.

The engine, the real composer and the real SMTP transport run against the sandbox server, which
behaves like Gmail at its limits; the sandbox and the worker share one fake clock.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from integrations.sandbox.smtp_server import SandboxSmtpServer
from integrations.smtp import BOUNCE, QUOTA_DAILY, QUOTA_RATE, RATE_HOLD_SECONDS, classify
from tests.fakes import FakeCalendar, FakeSheets, FakeZoom
from tests.helpers_settings import write_settings
from tests.helpers_smtp import compose, transport_for
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.derive import policy, series_info
from worker.core.model import Recipient
from worker.core.planner import plan_season
from worker.errors import BouncedAddressError, PermanentMailError, QuotaMailError
from worker.mail.composer import MailComposer
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

UTC = timezone.utc
T0 = datetime(2026, 12, 31, 2, tzinfo=UTC)  # invitations for 2027-01-07 are due (7 days before 09:00 WITA)
FIRST = "webinar-kamis/2027-01-07"
SECOND = "webinar-kamis/2027-01-14"


class World:
    """Settings, state, a fake Zoom and a clock shared with the sandbox SMTP server."""

    def __init__(self, tmp_path, server: SandboxSmtpServer, people, per_day: int = 0):
        self.settings = load_settings(write_settings(tmp_path))
        self.sessions = list(plan_season(self.settings).sessions)
        self.db = tmp_path / "state.db"
        self.store = StateStore(self.db)
        self.server, self.people, self.per_day = server, list(people), per_day
        self.zoom, self.clock = FakeZoom(), FixedClock(T0)
        server.now = lambda: self.clock.now().timestamp()

    def tick(self, at: datetime | None = None) -> None:
        """One tick of a freshly built engine (as ``once`` would), at ``at`` if given."""
        if at is not None:
            self.clock.set(at)
        io = Integrations(zoom=self.zoom, calendar=FakeCalendar(), sheets=FakeSheets(),
                          mail=transport_for(self.server),
                          composer=MailComposer(self.settings.mail.templates_dir, series_info(self.settings)))
        Engine(self.store, io, self.clock, series=series_info(self.settings), policy=policy(self.settings),
               recipients=lambda s: tuple(self.people), batch_size=100, per_day=self.per_day).tick(self.sessions)

    def restart(self) -> None:
        """A new process: the state file reopened."""
        self.store.close()
        self.store = StateStore(self.db)

    def invitations(self, uid: str = FIRST) -> dict[str, int]:
        """Invitation rows of one session by status."""
        return {st: n for (kind, st), n in self.store.mail_counts().get(uid, {}).items() if kind == "invitation"}


@pytest.fixture
def server():
    with SandboxSmtpServer() as s:
        yield s


def people(n: int) -> list[Recipient]:
    return [Recipient(f"peserta{i:02d}@example.org", f"Peserta {i}") for i in range(n)]


# -- the season Done-means describes ---------------------------------------------------------
def test_a_gmail_limit_of_10_and_22_people_holds_instead_of_failing_and_everyone_gets_one(tmp_path, server, caplog):
    server.limit = 10
    world = World(tmp_path, server, people(22))
    with caplog.at_level(logging.WARNING, logger="worker.run.engine"):
        world.tick()
    assert len(server.messages) == 10
    assert server.refusals == ["RCPT 550 5.4.5"]  # one refusal, then the worker stopped knocking
    assert world.invitations() == {"sent": 10, "pending": 12}  # nobody failed for the limit
    until, why = world.store.mail_hold()
    assert until == T0 + timedelta(hours=24) and "5.4.5" in why
    held = [r for r in caplog.records if r.getMessage().startswith("mail held until")]
    assert len(held) == 1 and "2027-01-01T02:00:00" in held[0].getMessage()

    connections = server.connections
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="worker.run.engine"):
        for hours in (1, 6, 23):
            world.tick(T0 + timedelta(hours=hours))
    assert server.connections == connections and server.refusals == ["RCPT 550 5.4.5"]  # no knocking while held
    assert not [r for r in caplog.records if r.getMessage().startswith("mail held")]  # said once per hold

    world.tick(T0 + timedelta(hours=24))  # the window has passed: ten more, then the limit again
    assert len(server.messages) == 20 and server.refusals == ["RCPT 550 5.4.5", "RCPT 550 5.4.5"]
    world.tick(T0 + timedelta(hours=48))
    received = Counter(m.rcpt_tos[0] for m in server.messages)
    assert received == {p.email: 1 for p in world.people}
    assert world.invitations() == {"sent": 22}


def test_a_5_1_1_address_is_failed_and_suppressed_for_the_next_session(tmp_path, server):
    server.refuse.add("peserta01@example.org")
    world = World(tmp_path, server, people(3))
    world.tick()
    assert world.invitations() == {"sent": 2, "failed": 1}
    reason, uid, _ = world.store.suppressed()["peserta01@example.org"]
    assert "5.1.1" in reason and uid == FIRST
    world.tick(datetime(2027, 1, 7, 6, tzinfo=UTC))  # the second session's invitations are due
    assert world.invitations(SECOND) == {"sent": 2, "skipped": 1}
    row = [r for r in world.store.pending_mail(100) if r.email == "peserta01@example.org"]
    assert row == []
    assert [m for m in server.messages if "peserta01@example.org" in m.rcpt_tos] == []


def test_the_daily_cap_holds_across_a_restart(tmp_path, server):
    world = World(tmp_path, server, people(3), per_day=5)
    world.tick()
    assert len(server.messages) == 3
    world.restart()
    world.people = people(9)  # six more people signed up
    world.tick(T0 + timedelta(hours=3))  # the list is read again (every Policy.recipients_refresh, 3 hours)
    assert len(server.messages) == 5  # the cap counts the three sent before the restart
    assert world.store.mail_hold()[0] == T0 + timedelta(hours=24)  # when the first three age out
    world.restart()
    world.tick(T0 + timedelta(hours=4))
    assert len(server.messages) == 5 and server.refusals == []
    world.tick(T0 + timedelta(hours=24))
    assert len(server.messages) == 8  # three freed at T0+24h
    world.tick(T0 + timedelta(hours=27))  # the two sent at T0+3h age out
    assert len(server.messages) == 9
    assert Counter(m.rcpt_tos[0] for m in server.messages) == {p.email: 1 for p in world.people}


def test_a_421_temporary_block_holds_briefly_and_fails_nobody(tmp_path, server):
    server.block = True
    world = World(tmp_path, server, people(4))
    world.tick()
    assert server.refusals == ["MAIL 421 4.7.0"] and server.connections == 1  # no reconnect into a block
    assert world.invitations() == {"pending": 4}
    assert world.store.mail_hold()[0] == T0 + timedelta(seconds=RATE_HOLD_SECONDS)
    server.block = False
    world.tick(T0 + timedelta(minutes=10))
    assert server.messages == []
    world.tick(T0 + timedelta(minutes=15))
    assert world.invitations() == {"sent": 4}


# -- the most urgent first ------------------------------------------------------------------
def test_pending_mail_goes_most_urgent_first(tmp_path):
    with StateStore(tmp_path / "s.db") as store:
        later, nearest, past = "s/2027-01-21", "s/2027-01-14", "s/2027-01-07"
        store.queue_mail(past, "thankyou", 0, [Recipient("t@x.id")], T0)
        store.queue_mail(later, "invitation", 0, [Recipient("i2@x.id")], T0)
        store.queue_mail(nearest, "invitation", 0, [Recipient("i1@x.id")], T0)
        store.queue_mail(later, "reminder", 0, [Recipient("r2@x.id")], T0)
        store.queue_mail(nearest, "reminder", 0, [Recipient("r1@x.id")], T0)
        store.queue_mail(later, "change", 1, [Recipient("c2@x.id")], T0)
        store.queue_mail(nearest, "cancellation", 1, [Recipient("x1@x.id")], T0)
        order = [r.email for r in store.pending_mail(100)]
    assert order == ["x1@x.id", "c2@x.id", "r1@x.id", "r2@x.id", "i1@x.id", "i2@x.id", "t@x.id"]


# -- the transport reads Gmail's answers ---------------------------------------------------------
@pytest.mark.parametrize("code, text, kind", [
    (550, "5.4.5 Daily user sending limit exceeded. - gsmtp", QUOTA_DAILY),
    (550, "5.4.5 Daily user sending quota exceeded.", QUOTA_DAILY),
    (421, "4.7.0 Try again later, closing connection.", QUOTA_RATE),
    (421, "4.7.28 Our system has detected an unusual rate of unsolicited mail", QUOTA_RATE),
    (452, "4.5.3 Your message has too many recipients.", QUOTA_RATE),
    (451, "Rate limit exceeded, try later", QUOTA_RATE),
    (550, "5.1.1 The email account that you tried to reach does not exist.", BOUNCE),
    (553, "5.1.2 We weren't able to find the recipient domain.", BOUNCE),
    (550, "5.2.1 The email account that you tried to reach is disabled.", BOUNCE),
    (550, "No such user here", BOUNCE),
    (552, "5.2.3 Your message exceeded Google's message size limits.", ""),
    (550, "5.7.1 This message violates example.com email policy.", ""),
    (450, "4.2.1 The user you are trying to contact is receiving mail too quickly.", ""),
    (421, "4.3.0 Temporary System Problem. Try again later", ""),
])
def test_classify_reads_gmails_documented_answers(code, text, kind):
    assert classify(code, text) == kind


def test_the_transport_raises_quota_on_rcpt_then_on_mail_from_and_bounce_for_5_1_1(smtp_server):
    smtp_server.limit = 1
    smtp_server.refuse.add("hilang@example.org")
    with transport_for(smtp_server).connect() as conn:
        with pytest.raises(BouncedAddressError) as bounced:
            conn.send(compose(), "hilang@example.org")
        conn.send(compose(), "budi@example.org")
        with pytest.raises(QuotaMailError) as on_rcpt:
            conn.send(compose(), "ani@example.org")
        with pytest.raises(QuotaMailError) as on_mail:
            conn.send(compose(), "ani@example.org")
    assert isinstance(bounced.value, PermanentMailError) and bounced.value.status == 550
    assert on_rcpt.value.daily and on_mail.value.daily and "5.4.5" in str(on_mail.value)
    assert smtp_server.refusals == ["RCPT 550 5.4.5", "MAIL 550 5.4.5"]


# -- plan, check and status ----------------------------------------------------------------------
def limited_settings(tmp_path, per_day: int, people_count: int = 15):
    """BASE with a CSV of ``people_count`` people (plus the two inline) and ``mail.smtp.per_day``."""
    from tests.helpers_settings import BASE

    (tmp_path / "peserta.csv").write_text(
        "email,name\n" + "".join(f"p{i:03d}@example.org,Peserta {i}\n" for i in range(people_count)), encoding="utf-8")
    text = BASE.replace("    security: none\n", f"    security: none\n    per_day: {per_day}\n").replace(
        "  recipients:\n", "  recipients:\n    csv_files: [peserta.csv]\n")
    return write_settings(tmp_path, text)


def test_plan_warns_with_the_day_and_the_numbers_when_a_season_will_not_fit(tmp_path, capsys):
    from worker.cli import main

    path = limited_settings(tmp_path, per_day=20)
    assert main(["plan", "--settings", str(path), "--now", "2027-01-01T08:00+08:00"]) == 0
    out = capsys.readouterr().out.replace("\n  ", " ")  # plan wraps a long warning at 80 columns
    warnings = [line for line in out.splitlines() if line.startswith("warning: mail:")]
    # the reminder for 01-07 (17 people) and the invitations for 01-14, 6.5 hours later, share 24 hours
    assert len(warnings) == 1, warnings
    assert ("about 34 recipients in the 24 hours up to 2027-01-07 (17 reminder for 2027-01-07, "
            "17 invitation for 2027-01-14) but mail.smtp.per_day is 20") in warnings[0]
    assert "mail.invitation_days_before" in warnings[0] and "relay" in warnings[0]

    for roomy in (40, 0):  # a larger account, or no cap: nothing to warn about
        path = limited_settings(tmp_path, per_day=roomy)
        assert main(["plan", "--settings", str(path), "--now", "2027-01-01T08:00+08:00"]) == 0
        assert "warning: mail:" not in capsys.readouterr().out


def test_the_estimate_counts_every_rolling_window_not_calendar_days():
    from worker.core.mailload import Burst, overloads

    at = datetime(2027, 1, 6, 23, tzinfo=UTC)  # 07:00 WITA on 2027-01-07
    found = [Burst(at, "reminder", "2027-01-07", 300), Burst(at + timedelta(hours=23), "invitation", "2027-01-14", 300),
             Burst(at + timedelta(hours=48), "reminder", "2027-01-14", 300)]
    (only,) = overloads(found, 500, "Asia/Makassar")
    assert (only.day.isoformat(), only.recipients, len(only.bursts)) == ("2027-01-08", 600, 2)
    assert overloads(found, 600, "Asia/Makassar") == []


def test_status_and_check_show_the_hold_and_the_suppressed_addresses(tmp_path, capsys, monkeypatch):
    import os

    from worker.cli import main

    for k in list(os.environ):
        if k.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(k)
    path = write_settings(tmp_path)
    with StateStore(tmp_path / "state.db") as store:
        store.suppress("Hilang@Example.org", "smtp: 550 5.1.1 no such user", FIRST, T0)
        store.hold_mail(T0 + timedelta(hours=24), "batas harian akun tercapai: 550 5.4.5")
    # exit 1: no tick has been recorded in this state file, so status also reports it as stale
    assert main(["status", "--settings", str(path), "--now", "2026-12-31T12:00+08:00"]) == 1
    out = capsys.readouterr().out
    assert "mail held until 2027-01-01 10:00 WITA" in out and "5.4.5" in out
    assert "suppressed addresses (1," in out and "hilang@example.org  webinar-kamis/2027-01-07: smtp: 550 5.1.1" in out
    assert main(["status", "--settings", str(path), "--now", "2027-01-01T10:00+08:00"]) == 1  # stale, as above
    assert "mail held" not in capsys.readouterr().out  # the hold has ended
    assert main(["check", "--settings", str(path), "--offline-ok"]) == 0
    assert "suppressed (bounced, no more mail): hilang@example.org" in capsys.readouterr().out
