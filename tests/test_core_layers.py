"""The layers made visible: stop requests, the pure core, one series beside another, and rules
that had no test failing when they broke (shared Zoom quota, expiring mail, reinstatement, follow-up off)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from tests.fakes import FakeCalendar, FakeComposer, FakeMail, FakeSheets, FakeZoom
from tests.helpers_settings import BASE, write_settings
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.derive import policy
from worker.core.model import Attendee, Recipient, SeriesInfo
from worker.core.planner import plan_season
from worker.core.reconcile import Policy
from worker.errors import RateLimitError, StopRequested
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

UTC = timezone.utc
SERIES = SeriesInfo("webinar-kamis", "Webinar Kamis", "Perpustakaan", "WA", "id_ID", "Asia/Makassar",
                    "Perpustakaan", "webinar@perpustakaan.example")
PEOPLE = [Recipient("a@example.org", "A"), Recipient("b@example.org", "B")]


class Setup:
    """One settings file, one state file, in-memory integrations; ``engine()`` is a fresh process."""

    def __init__(self, tmp_path, policy: Policy = Policy()):
        self.sessions = list(plan_season(load_settings(write_settings(tmp_path))).sessions)
        self.store = StateStore(tmp_path / "state.db")
        self.zoom, self.calendar, self.sheets, self.mail = FakeZoom(), FakeCalendar(), FakeSheets(), FakeMail()
        self.clock = FixedClock(datetime(2026, 12, 20, tzinfo=UTC))
        self.policy = policy
        self.recipients = lambda session: PEOPLE

    def engine(self, **io) -> Engine:
        parts = dict(zoom=self.zoom, calendar=self.calendar, sheets=self.sheets, mail=self.mail,
                     composer=FakeComposer())
        return Engine(self.store, Integrations(**{**parts, **io}), self.clock, series=SERIES, policy=self.policy,
                      recipients=lambda s: self.recipients(s))

    def tick(self, at: str, **io):
        self.clock.set(datetime.fromisoformat(at))
        return self.engine(**io).tick(self.sessions)


@pytest.fixture
def setup(tmp_path):
    s = Setup(tmp_path)
    yield s
    s.store.close()


# -- stop requests ---------------------------------------------------------------------------

def test_stop_requested_is_not_an_exception_so_no_handler_takes_it_for_a_failure():
    assert issubclass(StopRequested, BaseException) and not issubclass(StopRequested, Exception)


def test_a_stop_inside_a_step_leaves_no_retry_row(setup):
    def stop(spec):
        raise StopRequested("stop during a Retry-After wait")

    setup.zoom.create_meeting = stop
    report = setup.tick("2026-12-28T00:00+00:00")
    assert report.stopped and not report.failed
    assert setup.store.retries() == {}


def test_a_stop_while_reading_the_recipient_list_leaves_no_retry_row(setup):
    setup.tick("2027-01-01T00:00+00:00")  # meeting, event and invitations for 7 January
    assert setup.store.session(setup.sessions[0].uid).invited_at

    def stop(session):
        raise StopRequested("stop during a Google Sheets backoff")

    setup.recipients = stop
    report = setup.tick("2027-01-02T00:00+00:00")
    assert report.stopped and not report.failed
    assert setup.store.retries() == {}


# -- the pure core -----------------------------------------------------------------------------

def test_the_core_imports_no_io_library():
    code = ("import sys, worker.core.reconcile, worker.core.planner, worker.core.moments, worker.core.steps, "
            "worker.core.mailkinds, worker.core.records, worker.core.model\n"
            "banned = ('sqlite3', 'yaml', 'requests', 'smtplib', 'http.client', 'googleapiclient', 'jinja2')\n"
            "print(' '.join(m for m in banned if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# -- one state file, two series ----------------------------------------------------------------

def test_two_series_sharing_one_state_file_leave_each_other_alone(tmp_path):
    kamis = Setup(tmp_path)
    (tmp_path / "sabtu").mkdir()
    sabtu_settings = write_settings(tmp_path / "sabtu", BASE.replace("id: webinar-kamis", "id: webinar-sabtu"))
    sabtu_sessions = list(plan_season(load_settings(sabtu_settings)).sessions)
    sabtu_series = replace(SERIES, series="webinar-sabtu")
    zoom, calendar, mail = kamis.zoom, kamis.calendar, kamis.mail  # one Zoom account, one calendar, one mailbox

    def sabtu_tick(at: str):
        kamis.clock.set(datetime.fromisoformat(at))
        io = Integrations(zoom=zoom, calendar=calendar, sheets=kamis.sheets, mail=mail, composer=FakeComposer())
        return Engine(kamis.store, io, kamis.clock, series=sabtu_series, policy=Policy(),
                      recipients=lambda s: PEOPLE).tick(sabtu_sessions)

    kamis.tick("2027-01-01T00:00+00:00")  # kamis: 7 and 14 January made, invitations for the 7th sent
    sabtu_tick("2027-01-01T00:00+00:00")  # sabtu: the same dates, its own meetings
    assert len(zoom.meetings) == 4 and len(calendar.events) == 4
    sent = len(mail.sent)
    for at in ("2027-01-01T01:00+00:00", "2027-01-02T00:00+00:00"):
        kamis.tick(at)
        sabtu_tick(at)
    assert len(zoom.meetings) == 4 and len(calendar.events) == 4 and "delete" not in zoom.calls
    assert "cancel" not in calendar.calls and "cancellation" not in mail.kinds()
    assert len(mail.sent) == sent
    rows = kamis.store.sessions()
    assert sorted(uid.split("/")[0] for uid in rows) == ["webinar-kamis"] * 2 + ["webinar-sabtu"] * 2
    assert not any(row.meeting_deleted or row.event_cancelled or row.cancel_noticed_at for row in rows.values())
    kamis.store.close()


# -- rules that had no failing test --------------------------------------------------------------

def test_a_daily_limit_on_create_holds_the_update_of_another_session_until_the_reset(setup):
    first, second = setup.sessions[0], setup.sessions[1]
    setup.sessions = [second]
    setup.tick("2027-01-01T00:00+00:00")  # 14 January has its meeting; 7 January is not planned yet
    setup.sessions = [first, replace(second, topic="Bedah Buku (baru)")]
    reset = datetime(2027, 1, 2, tzinfo=UTC)

    def daily_limit(spec):
        setup.zoom.calls.append("create")
        raise RateLimitError("zoom", "429 daily limit for meeting create/update", daily=True,
                             retry_after=(reset - setup.clock.now()).total_seconds())

    setup.zoom.create_meeting = daily_limit
    report = setup.tick("2027-01-01T01:00+00:00")
    assert [(s.kind, s.uid) for s, _ in report.failed][:2] == [("create_meeting", first.uid),
                                                               ("update_meeting", second.uid)]
    assert "update" not in setup.zoom.calls  # the shared quota is spent: no call that must fail
    assert setup.store.retries()[(second.uid, "update_meeting")].next_at == reset
    del setup.zoom.create_meeting
    setup.sessions = [first, replace(second, topic="Bedah Buku (baru)")]
    setup.tick("2027-01-02T00:00+00:00")
    assert setup.zoom.calls.count("update") == 1 and setup.store.retries() == {}


def test_unsent_mail_expires_once_the_session_starts(setup):
    first = setup.sessions[0]
    report = setup.tick("2027-01-01T00:00+00:00", mail=None, missing={"mail": "SMTP is not configured"})
    assert [s.kind for s, _ in report.blocked] == ["send_mail"]  # invitations queued, not sent
    report = setup.tick("2027-01-07T01:05+00:00")  # five minutes after the 09:00 WITA start
    assert "expire_mail" in [s.kind for s in report.done]
    assert setup.mail.sent == [] and setup.mail.connections == 0  # no SMTP connection for dropped mail
    assert setup.store.mail_counts()[first.uid] == {("invitation", "skipped"): 2}


def test_a_session_reinstated_after_its_cancellation_sends_a_change_notice(setup):
    first = setup.sessions[0]
    setup.tick("2027-01-01T00:00+00:00")  # invitations sent
    setup.sessions[0] = replace(first, cancelled=True)
    setup.tick("2027-01-02T00:00+00:00")  # deleted, cancelled, cancellation notices sent (SEQUENCE 1)
    assert setup.mail.kinds().count("cancellation") == 2
    setup.sessions[0] = first  # staff take the cancellation back
    report = setup.tick("2027-01-03T00:00+00:00")
    assert [s.kind for s in report.done][:4] == ["create_meeting", "upsert_event", "queue_change", "send_mail"]
    changes = [m for _, m in setup.mail.sent if m["X-Kind"] == "change"]
    assert sorted(m["To"] for m in changes) == ["a@example.org", "b@example.org"]
    assert {m["X-Sequence"] for m in changes} == {"2"}
    row = setup.store.session(first.uid)
    assert not row.reinstated and row.cancel_noticed_at is None
    assert setup.tick("2027-01-03T01:00+00:00").done == []


def test_followup_disabled_in_the_settings_sends_no_thank_you(tmp_path):
    settings = load_settings(write_settings(tmp_path, BASE + "followup:\n  enabled: false\n"))
    setup = Setup(tmp_path, policy(settings))
    first = setup.sessions[0]
    setup.tick("2027-01-01T00:00+00:00")
    mid = next(iter(setup.zoom.meetings))
    t = first.start_utc
    setup.zoom.attendance[mid] = [Attendee("Ani", "a@example.org", t, t + timedelta(minutes=80), 80, 1)]
    report = setup.tick("2027-01-07T03:00+00:00")
    assert "sync_sheet" in [s.kind for s in report.done]
    assert "thankyou" not in setup.mail.kinds() and setup.store.session(first.uid).thanked_at is None
    setup.store.close()


# -- registries and typed state ------------------------------------------------------------------

def test_every_step_kind_has_a_handler_and_a_missing_one_fails_loudly():
    from worker.core.steps import StepKind
    from worker.errors import WorkerError
    from worker.run.engine import HANDLERS, check_handlers

    assert set(HANDLERS) == set(StepKind)
    partial = {k: v for k, v in HANDLERS.items() if k is not StepKind.SYNC_SHEET}
    with pytest.raises(WorkerError, match="sync_sheet"):
        check_handlers(partial)


def test_registration_steps_are_zoom_kinds_between_the_change_notice_and_the_invitations(setup):
    from worker.core.reconcile import Desired, StateView, plan_steps
    from worker.core.records import SessionState
    from worker.core.steps import StepKind

    order = list(StepKind)
    assert order.index(StepKind.QUEUE_CHANGE) < order.index(StepKind.REGISTER_INVITEES) \
        < order.index(StepKind.CANCEL_REGISTRATIONS) < order.index(StepKind.QUEUE_INVITATIONS)
    assert StepKind.REGISTER_INVITEES.needs == StepKind.CANCEL_REGISTRATIONS.needs == "zoom"
    session = setup.sessions[0]
    now = session.start_utc - timedelta(days=3)
    row = SessionState(key=session.session_key, meeting_id="1", join_url="j", registration_url="r")
    on = Policy(registration=True)

    def kinds(registered: frozenset[str], invited: bool) -> list[str]:
        state = replace(row, invited_at=now if invited else None)
        mailed = frozenset(p.email for p in PEOPLE) if invited else frozenset()
        view = StateView({session.uid: state}, invited={session.uid: mailed},
                         registered={session.uid: registered})
        desired = Desired((session,), on, {session.uid: tuple(PEOPLE)}, series=session.series)
        mail = ("register_invitees", "cancel_registrations", "queue_invitations")
        return [s.kind.value for s in plan_steps(desired, view, now) if s.uid == session.uid and s.kind in mail]

    assert kinds(frozenset(), False) == ["register_invitees"]  # invitations wait for the personal links
    assert kinds(frozenset({"a@example.org"}), False) == ["register_invitees"]
    everyone = frozenset({"a@example.org", "b@example.org"})
    assert kinds(everyone, False) == ["queue_invitations"]
    assert kinds(everyone | {"gone@example.org"}, False) == ["cancel_registrations", "queue_invitations"]
    assert kinds(everyone | {"gone@example.org"}, True) == ["cancel_registrations"]


def test_mail_kind_lists_come_from_the_registry():
    from worker.core.mailkinds import MAIL_KINDS, MailKind
    from worker.mail import messages, render
    from worker.outputs import status

    assert render.KINDS == status.KINDS == MAIL_KINDS == tuple(MailKind)
    assert messages.ICS_METHODS == {"invitation": "REQUEST", "reminder": "REQUEST", "change": "REQUEST",
                                    "cancellation": "CANCEL"}
    assert messages.ics_filename("cancellation") == "pembatalan.ics"
    assert messages.ics_filename("reminder") == "undangan.ics"


def test_session_key_text_form_round_trips_and_bad_text_is_named(setup):
    from datetime import date

    from worker.core.model import SessionKey

    key = SessionKey.parse("webinar-kamis/2027-01-14")
    assert key == SessionKey("webinar-kamis", date(2027, 1, 14)) and str(key) == "webinar-kamis/2027-01-14"
    assert setup.sessions[1].session_key == key and setup.sessions[1].uid == str(key)
    with pytest.raises(ValueError, match="'webinar-kamis/1' is not a session uid"):
        SessionKey.parse("webinar-kamis/1")


def test_a_schema_4_state_file_is_migrated_without_loss(tmp_path):
    import sqlite3

    from worker.core.records import AttendanceState
    from worker.store.state import MIGRATIONS

    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for script in MIGRATIONS[:4]:  # exactly what the worker before migration 5 created
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    skipped = "invitations not sent: the session had already started when the worker reached it"
    db.executemany(
        "INSERT INTO sessions (uid, series, key, meeting_id, meeting_deleted, notice_fp, invited_at, note, "
        "attendance_state, attendance_at, attendees, thanked_at, create_started_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [("s/2027-01-07", "s", "2027-01-07", "85012345678", 0, "", "", skipped, "synced",
          "2027-01-07T03:00:00+00:00", 3, "", "2026-12-24T00:00:00+00:00", "2027-01-07T03:00:00+00:00"),
         ("s/2027-01-14", "s", "2027-01-14", "85012345679", 0, "reinstated", "2027-01-07T00:00:00+00:00", "",
          "", "", 0, "", "", "2027-01-08T00:00:00+00:00"),
         ("s/2027-01-21", "s", "2027-01-21", "85012345680", 0, "abcdef0123456789", "2027-01-14T00:00:00+00:00",
          "no recipients configured", "", "", 0, "", "", "2027-01-14T00:00:00+00:00")])
    db.execute("INSERT INTO outbox (uid, kind, round, email, name, status, queued_at, next_at) VALUES "
               "('s/2027-01-14', 'change', 2, 'a@x.id', 'A', 'pending', '2027-01-08T00:00:00+00:00', "
               "'2027-01-08T00:15:00+00:00')")
    db.execute("INSERT INTO retries VALUES ('s/2027-01-21', 'upsert_event', 2, '2027-01-14T00:02:00+00:00', 'boom')")
    db.execute("INSERT INTO attendance VALUES ('s/2027-01-07', 'b@x.id', 'Budi', 'b@x.id', '2027-01-07T01:00:00+00:00', "
               "'2027-01-07T02:00:00+00:00', 60, 1)")
    db.commit()
    db.close()
    with StateStore(tmp_path / "state.db") as store:
        assert store.schema_version() == len(MIGRATIONS) == 10  # 5 certificates, 6 outbox claim, 7 registrants, 8 flags, 9 mail limits, 10 sheet layouts
        rows = store.sessions()
        first, second, third = rows["s/2027-01-07"], rows["s/2027-01-14"], rows["s/2027-01-21"]
        assert first.invitations_skipped and first.note == skipped and first.invited_at is None
        assert first.attendance_state is AttendanceState.SYNCED and first.attendees == 3
        assert first.create_started_at == datetime(2026, 12, 24, tzinfo=UTC) and first.thanked_at is None
        assert second.reinstated and second.notice_fp == "" and not second.invitations_skipped
        assert second.invited_at == datetime(2027, 1, 7, tzinfo=UTC)
        assert not third.reinstated and not third.invitations_skipped  # a note after the invitations is only a note
        assert third.notice_fp == "abcdef0123456789" and third.note == "no recipients configured"
        assert [r.registration_url for r in (first, second, third)] == ["", "", ""]
        [mail] = store.pending_mail(10)
        assert (mail.kind, mail.round, mail.status, mail.next_at) == ("change", 2, "pending",
                                                                     datetime(2027, 1, 8, 0, 15, tzinfo=UTC))
        assert mail.claimed_by == "" and mail.claimed_at is None
        assert store.certificates() == [] and store.registrants("s/2027-01-14") == []
        assert [(a.email, a.identified, a.staff) for a in store.attendance("s/2027-01-07")] == [("b@x.id", False, False)]
        retry = store.retries()[("s/2027-01-21", "upsert_event")]
        assert retry.attempts == 2 and retry.next_at == datetime(2027, 1, 14, 0, 2, tzinfo=UTC)


def test_each_series_sends_only_its_own_outbox(tmp_path):
    kamis = Setup(tmp_path)
    (tmp_path / "sabtu").mkdir()
    sabtu_settings = write_settings(tmp_path / "sabtu", BASE.replace("id: webinar-kamis", "id: webinar-sabtu"))
    sabtu_sessions = list(plan_season(load_settings(sabtu_settings)).sessions)
    sabtu_series = replace(SERIES, series="webinar-sabtu", title="Webinar Sabtu")
    kamis.clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    io = Integrations(zoom=kamis.zoom, calendar=kamis.calendar, composer=FakeComposer(),
                      missing={"mail": "SMTP is not configured"})  # sabtu's SMTP login is missing
    report = Engine(kamis.store, io, kamis.clock, series=sabtu_series, policy=Policy(),
                    recipients=lambda s: PEOPLE).tick(sabtu_sessions)
    assert [s.kind for s, _ in report.blocked] == ["send_mail"]
    kamis.tick("2027-01-01T00:05+00:00")
    sabtu_uid = sabtu_sessions[0].uid
    assert sorted(r for r, _ in kamis.mail.sent) == ["a@example.org", "b@example.org"]  # kamis's, in kamis's name
    assert kamis.store.mail_counts()[sabtu_uid] == {("invitation", "pending"): 2}
    assert kamis.tick("2027-01-01T00:10+00:00").done == []  # sabtu's waiting mail is no work for kamis
    kamis.store.close()
