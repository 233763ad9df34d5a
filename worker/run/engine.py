"""Apply the reconcile plan: one step, one save, then plan again.

A step that fails is recorded with a backoff and skipped for the rest of the tick; other
sessions' steps go on. A step whose integration is not configured is reported as blocked.
"""
from __future__ import annotations

import json
import logging
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, TypeVar

from worker.core import reconcile as rc
from worker.core.attendance import Roster, audience, identify, merge_participants, thanked
from worker.core.cleaning import email_problem
from worker.core.clock import Clock
from worker.core.mailkinds import BEFORE_START_KINDS, MailKind, MailStatus, Until
from worker.core.model import (EventSpec, MeetingInfo, MeetingSpec, Recipient, Registrant, SeriesInfo, Session,
                               SessionKey, SummaryRow, calendar_event_id, meeting_marker)
from worker.core.moments import moments
from worker.core.ports import (AttendanceSheet, Calendar, Composer, Conferencing, MailConnection, MailTransport,
                               OverlappingMailConnection)
from worker.core.reconcile import Desired, Policy, StateView, Step, plan_steps
from worker.core.records import (AttendanceState, OutboxRow, SessionState, iso, parse_iso, session_from_json,
                                session_to_json)
from worker.core.steps import StepKind
from worker.crashpoint import crashpoint
from worker.errors import (AccessDeniedError, AuthError, BouncedAddressError, DeferredRecipientError, IntegrationError,
                           NotFoundError, PermanentMailError, QuotaMailError, RateLimitError, RemoteError,
                           StopRequested, TemplateError, TemporaryMailError, WorkerError)
from worker.i18n import N_, Text
from worker.store.state import StateStore

if TYPE_CHECKING:
    from worker.run.certify import CertificateRegistry

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF = timedelta(hours=6)
FIRST_BACKOFF = timedelta(minutes=1)
NOT_READY_FIRST = timedelta(minutes=5)
NOT_READY_MAX = timedelta(hours=2)
MAIL_DEFER_FIRST = timedelta(minutes=15)  # a recipient the server deferred (4xx) is tried again after this...
MAIL_DEFER_MAX = timedelta(hours=6)  # ...doubling up to this
MAIL_DEFER_LIMIT = 12  # deferred this many times (about 2 days): marked failed
MAIL_DAY = timedelta(hours=24)  # the rolling window of mail.smtp.per_day and of the providers' daily limits
MAIL_RATE_HOLD = timedelta(minutes=15)  # a short rate limit that named no time: the outbox waits this long
REGISTER_BATCH = 30  # Zoom registers at most 30 people per batch_registrants call
INVALID_FIELDS = 300  # Zoom's "Validation Failed." code
REGISTRATION_OFF = 3000  # Zoom's "Registration has not been enabled for this meeting" code
# Zoom counts meeting creates and updates against one daily per-user quota.
SHARED_DAILY_QUOTA = {StepKind.CREATE_MEETING: (StepKind.CREATE_MEETING, StepKind.UPDATE_MEETING),
                      StepKind.UPDATE_MEETING: (StepKind.CREATE_MEETING, StepKind.UPDATE_MEETING)}


@dataclass
class Integrations:
    """The outside services the engine may call; None where not configured."""

    zoom: Conferencing | None = None  # meetings and attendance
    calendar: Calendar | None = None  # calendar events
    sheets: AttendanceSheet | None = None  # attendance sheet
    mail: MailTransport | None = None  # SMTP
    composer: Composer | None = None  # renders mail and event descriptions
    missing: dict[str, str] = field(default_factory=dict)  # integration -> why it is not configured

    def get(self, name: str) -> object | None:
        """The integration a step needs, by its name in ``StepKind.needs``."""
        return {"zoom": self.zoom, "calendar": self.calendar, "sheets": self.sheets,
                "mail": self.mail if self.composer else None}.get(name)


@dataclass
class TickReport:
    """What one tick did."""

    done: list[Step] = field(default_factory=list)  # steps that succeeded
    failed: list[tuple[Step, str]] = field(default_factory=list)  # steps that failed, with the error
    blocked: list[tuple[Step, str]] = field(default_factory=list)  # steps whose integration is missing
    waiting: list[Step] = field(default_factory=list)  # attendance reports not ready yet
    planned: list[Step] = field(default_factory=list)  # --dry-run: what would be done first
    refused: list[tuple[Step, str]] = field(default_factory=list)  # failed steps whose credentials were refused
    held: list[tuple[str, datetime, str]] = field(default_factory=list)  # step kinds a daily quota holds: until, why
    stopped: bool = False  # a stop was requested between steps


class _NotReady(Exception):
    """Internal: the attendance report does not exist yet."""


RecipientSource = Callable[[Session], Sequence[Recipient]]


class Engine:
    """Runs reconcile ticks against a state store and a set of integrations."""

    def __init__(self, store: StateStore, integrations: Integrations, clock: Clock, *,
                 series: SeriesInfo, policy: Policy, recipients: RecipientSource | None = None,
                 batch_size: int = 100, should_stop: Callable[[], bool] = lambda: False,
                 max_steps: int = 10_000, min_minutes: int = 30,
                 unsubscribed: Callable[[], frozenset[str]] | None = None, staff: frozenset[str] = frozenset(),
                 certificates: "CertificateRegistry | None" = None, per_day: int = 0):
        self.store = store  # SQLite state
        self.io = integrations  # outside services
        self.clock = clock  # source of "now"
        self.series = series  # names and addresses for mail and events
        self.policy = policy  # lead times
        self.recipients = recipients  # session -> who to invite; None = nobody configured
        self.batch_size = batch_size  # outbox rows per send step (the tick's one SMTP connection serves them all)
        self.should_stop = should_stop  # checked between steps (SIGTERM)
        self.max_steps = max_steps  # safety bound on steps per tick
        self.min_minutes = min_minutes  # thank-you mail only to those who stayed this long
        self.unsubscribed = unsubscribed  # addresses that must get no mail at all; checked when sending
        self.certificates = certificates  # certificate numbers, name corrections, the Verifikasi tab; None = off
        self.staff = frozenset(e.lower() for e in staff)  # staff addresses: shown in attendance, no certificate
        self.per_day = per_day  # recipients in any 24 hours (mail.smtp.per_day); 0 = no cap of our own
        self._people: dict[str, tuple[Recipient, ...]] = {}  # recipients read this tick, by session uid
        self._held: dict[str, tuple[datetime, str]] = {}  # step kind -> (until, why) after a daily limit, this tick
        self._links: dict[str, dict[str, str]] = {}  # uid -> address -> personal join link, read this tick
        self._reading: bool | None = None  # this tick reads the recipient lists; None = not decided yet
        self._mail_stack: ExitStack | None = None  # holds the tick's one mail connection open (issue 18)
        self._mail_conn: MailConnection | None = None  # that connection, opened with the tick's first message

    # -- the loop ------------------------------------------------------------
    def tick(self, sessions: Sequence[Session], dry_run: bool = False) -> TickReport:
        """Plan and apply until nothing is due, a stop is requested or the step bound is hit."""
        try:
            return self._tick(sessions, dry_run)
        finally:
            self._close_mail()  # one SMTP connection per tick, however many batches and sessions it sent

    def _tick(self, sessions: Sequence[Session], dry_run: bool) -> TickReport:
        now = self.clock.now()
        report = TickReport()
        self._people = {}
        self._held = {}
        self._links = {}
        self._reading = None
        wanted = {s.uid: s for s in sessions}
        skip: set[tuple[str, str]] = set()
        try:
            for _ in range(self.max_steps):
                steps = [s for s in self.plan(sessions, now, dry_run=dry_run) if (s.uid, s.kind) not in skip]
                if dry_run:
                    report.planned = steps
                    return report
                if not steps:
                    break
                if self.should_stop():
                    report.stopped = True
                    break
                step = steps[0]
                if not self._run(step, wanted, now, report):
                    skip.add((step.uid, step.kind))
        except StopRequested:  # e.g. during a wait while reading a recipient list: nothing is recorded
            log.info("tick interrupted by a stop; it goes on at the next start")
            report.stopped = True
        if self.certificates is not None and not report.stopped:  # re-issues are mailed on the next tick
            self._certificate_tick(now)
        report.held = [(kind, until, why) for kind, (until, why) in self._held.items()]  # for the operator's alert
        release = getattr(self.io.composer, "release", None)
        if release is not None:  # the certificates drawn this tick: their memory goes back before the idle wait
            release()
        return report

    def plan(self, sessions: Sequence[Session], now: datetime, dry_run: bool = False) -> list[Step]:
        """The steps due now, from fresh state (a dry run reads no recipient list, so it calls nothing)."""
        view = self.view(now)
        recipients = None if dry_run else self._recipients(sessions, view, now)
        return plan_steps(Desired(tuple(sessions), self.policy, recipients, series=self.series.series), view, now)

    def view(self, now: datetime) -> StateView:
        """Read the state the planner needs (mail deferred past ``now`` does not count as waiting)."""
        counts = self._ours(self.store.mail_counts())
        held_until, _ = self.store.mail_hold()
        pending = {} if held_until is not None and held_until > now else self._ours(self.store.due_mail_counts(now))
        early = {uid: n for uid, c in counts.items()
                 if (n := sum(v for (k, st), v in c.items() if st == MailStatus.PENDING and k in BEFORE_START_KINDS))}
        return StateView(self.store.sessions(), self.store.retries(), self.store.mailed_emails(MailKind.INVITATION),
                         pending, early,
                         registered=self.store.registered_emails() if self.policy.registration else {})

    def _ours(self, by_uid: dict[str, T]) -> dict[str, T]:
        """The entries of this engine's series (a state file may hold other series' outbox rows too)."""
        return {uid: v for uid, v in by_uid.items() if SessionKey.parse(uid).series == self.series.series}

    def _recipients(self, sessions: Sequence[Session], view: StateView, now: datetime) -> dict[str, tuple[Recipient, ...]] | None:
        """Recipients per session, loaded only for sessions inside their invitation window."""
        due = [s for s in sessions if not s.cancelled and s.start_utc > now
               and now >= moments(s, self.policy).invitations_due
               and (row := view.sessions.get(s.uid)) is not None and row.meeting_id
               and (row.invited_at or self.policy.registration)  # registration comes before the invitations
               and not ((r := view.retries.get((s.uid, StepKind.QUEUE_INVITATIONS))) and r.next_at > now)]
        if self.recipients is None or not due or not self._read_recipients_now(due, view, now):
            return None
        people: dict[str, tuple[Recipient, ...]] = {}
        for s in due:
            try:
                people[s.uid] = self._people_for(s)
            except WorkerError as exc:  # the list is unreadable: late sign-ups back off; nothing else waits
                self._failed(Step(StepKind.QUEUE_INVITATIONS, s.uid, "recipient list unreadable"), exc, now)
        return people

    def _read_recipients_now(self, due: Sequence[Session], view: StateView, now: datetime) -> bool:
        """Whether this tick reads the recipient lists (decided once per tick, so every plan agrees).

        Read when an invitation window opens (a due session not invited yet: its first invitations and
        registrations need the list), else at most every ``policy.recipients_refresh`` while some session
        can still take a late sign-up (``due`` is not empty). A list in Google Sheets (a Form's answers)
        is a remote read, so quiet ticks in between make no call.
        """
        if self._reading is None:
            key = f"recipients_read_at:{self.series.series}"
            opening = any((row := view.sessions.get(s.uid)) is None or row.invited_at is None for s in due)
            last = self.store.meta_value(key)
            stale = not last or now - parse_iso(last) >= self.policy.recipients_refresh or parse_iso(last) > now
            self._reading = opening or stale
            if self._reading:
                self.store.set_meta_value(key, iso(now))
        return self._reading

    def _people_for(self, session: Session) -> tuple[Recipient, ...]:
        """Recipients of a session, read at most once per tick."""
        if session.uid not in self._people and self.recipients is not None:
            self._people[session.uid] = tuple(self.recipients(session))
        return self._people.get(session.uid, ())

    def _run(self, step: Step, wanted: dict[str, Session], now: datetime, report: TickReport) -> bool:
        """Apply one step; False when it must not be tried again this tick."""
        if step.needs and self.io.get(step.needs) is None:
            why = self.io.missing.get(step.needs, f"{step.needs} is not configured")
            report.blocked.append((step, why))
            return False
        if step.kind in self._held:  # a daily quota ran out this tick: do not call again until it resets
            until, why = self._held[step.kind]
            self.store.record_failure(step.uid, step.kind, why, until)
            report.failed.append((step, why))
            return False
        try:
            HANDLERS[step.kind](self, step, wanted, now)
        except StopRequested:
            log.info("%s for %s interrupted by a stop; it runs again on the next start", step.kind, step.uid)
            report.stopped = True
            return False
        except _NotReady:
            self._wait_for_report(step, now)
            report.waiting.append(step)
            return False
        except (IntegrationError, TemplateError) as exc:
            self._failed(step, exc, now)
            report.failed.append((step, Text.of(exc)))  # a str that `once` can still show in the reader's language
            if isinstance(exc, (AuthError, AccessDeniedError)):  # for the operator's alert (worker.run.alerts)
                report.refused.append((step, exc.service))
            return False
        except WorkerError as exc:
            self._failed(step, exc, now)
            report.failed.append((step, Text.of(exc)))
            return False
        except Exception as exc:  # a bug or an unforeseen answer: keep the other steps going, retry later
            log.exception("%s for %s failed unexpectedly", step.kind, step.uid)
            self._failed(step, exc, now)
            report.failed.append((step, f"unexpected error: {type(exc).__name__}: {exc}"))
            return False
        if self.store.clear_failure(step.uid, step.kind):
            log.info("%s for %s recovered", step.kind, step.uid)
        report.done.append(step)
        log.info("done: %s", step)
        return True

    def _failed(self, step: Step, exc: Exception, now: datetime) -> None:
        previous = self.store.retries().get((step.uid, step.kind))
        attempts = previous.attempts if previous else 0
        delay = doubling(FIRST_BACKOFF, attempts, MAX_BACKOFF)
        if isinstance(exc, IntegrationError) and exc.retry_after is not None:
            delay = max(delay, timedelta(seconds=exc.retry_after)) if not isinstance(exc, RateLimitError) \
                else timedelta(seconds=exc.retry_after)
        retry = self.store.record_failure(step.uid, step.kind, str(exc), now + delay)
        if isinstance(exc, RateLimitError) and exc.daily:
            for kind in SHARED_DAILY_QUOTA.get(step.kind, (step.kind,)):
                self._held[kind] = (now + delay, str(exc))
        if retry.attempts == 1:
            log.error("%s for %s failed, will retry at %s: %s", step.kind, step.uid, iso(retry.next_at), exc)
        else:
            log.debug("%s for %s failed again (%d): %s", step.kind, step.uid, retry.attempts, exc)

    def _wait_for_report(self, step: Step, now: datetime) -> None:
        previous = self.store.retries().get((step.uid, step.kind))
        attempts = previous.attempts if previous else 0
        delay = doubling(NOT_READY_FIRST, attempts, NOT_READY_MAX)
        self.store.record_failure(step.uid, step.kind, "waiting: Zoom has no attendance report yet", now + delay)
        log.info("attendance for %s not ready yet; next look at %s", step.uid, iso(now + delay))

    # -- helpers -------------------------------------------------------------
    def _row(self, uid: str) -> SessionState:
        row = self.store.session(uid)
        return row or SessionState(key=SessionKey.parse(uid))

    def _meeting(self, row: SessionState) -> MeetingInfo:
        """The stored meeting; its registration page only while registration is on (mails then say so)."""
        return MeetingInfo(meeting_id=row.meeting_id, join_url=row.join_url, passcode=row.passcode,
                           uuid=row.meeting_uuid,
                           registration_url=row.registration_url if self.policy.registration else "")

    def _public_meeting(self, row: SessionState) -> MeetingInfo:
        """The meeting as anyone may see it: with registration, its join link is the registration page."""
        meeting = self._meeting(row)
        if self.policy.registration and row.registration_url:
            return replace(meeting, join_url=row.registration_url)
        return meeting

    def _personal_meeting(self, row: SessionState, email: str) -> MeetingInfo:
        """The meeting as one person's mail shows it: their own join link, else the registration page."""
        if not self.policy.registration:
            return self._meeting(row)
        mine = self._links.get(row.uid)
        if mine is None:
            mine = self._links[row.uid] = {r.email: r.join_url for r in self.store.registrants(row.uid)}
        link = mine.get(email.lower()) or row.registration_url or row.join_url
        return replace(self._meeting(row), join_url=link)

    def _session(self, uid: str, wanted: dict[str, Session]) -> Session:
        if uid in wanted:
            return wanted[uid]
        session = self._row(uid).session()
        if session is None:
            raise WorkerError(N_("{session}: no record of this session's details"), session=uid)
        return session

    # -- meetings ------------------------------------------------------------
    def _do_create_meeting(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        session = wanted[step.uid]
        row = self._row(step.uid)
        spec = rc.meeting_spec(session)
        zoom = self.io.zoom
        assert zoom is not None
        # A lookup (list + get) only when a create was sent before and its answer never saved: the
        # marker "create attempted" is written before every create and cleared with the answer.
        info = zoom.find_meeting(session.marker()) if row.create_started_at is not None else None
        pushed_fp = rc.meeting_fingerprint(spec)
        if info is not None:
            log.info("adopting Zoom meeting %s for %s (made before a restart)", info.meeting_id, step.uid)
            same = info.topic == spec.topic and info.duration_minutes == spec.duration_minutes \
                and info.start is not None and info.start == spec.start
            pushed_fp = pushed_fp if same else ""
        else:
            # From now on a meeting may exist that the state does not know: saved before the call.
            self.store.update_session(step.uid, now, create_started_at=now, snapshot=session_to_json(session))
            crashpoint("create_meeting.before_call")
            info = zoom.create_meeting(spec)
            crashpoint("create_meeting.after_call")
        changes: dict[str, object] = dict(
            meeting_id=info.meeting_id, meeting_uuid=info.uuid, join_url=info.join_url, passcode=info.passcode,
            registration_url=info.registration_url,
            meeting_spec=_spec_json(spec) if pushed_fp else "", meeting_fp=pushed_fp, meeting_deleted=False,
            snapshot=session_to_json(session), create_started_at=None)  # the answer is saved: no lookup next time
        if row.meeting_deleted and row.invited_at is not None:  # reinstated after a cancellation: tell people again
            changes.update(cancel_noticed_at=None, reinstated=True)
        self.store.update_session(step.uid, now, **changes)

    def _do_update_meeting(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        session = wanted[step.uid]
        row = self._row(step.uid)
        spec = rc.meeting_spec(session)
        previous = _spec_from_json(row.meeting_spec) if row.meeting_spec else None
        assert self.io.zoom is not None
        try:
            self.io.zoom.update_meeting(row.meeting_id, spec, previous)
            crashpoint("update_meeting.after_call")
        except NotFoundError:
            log.warning("Zoom meeting %s for %s was deleted outside the worker; making a new one",
                        row.meeting_id, step.uid)
            self.store.update_session(step.uid, now, meeting_id="", meeting_uuid="", meeting_fp="", meeting_spec="")
            return
        self.store.update_session(step.uid, now, meeting_spec=_spec_json(spec), meeting_fp=rc.meeting_fingerprint(spec),
                                  snapshot=session_to_json(session))

    def _do_delete_meeting(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        row = self._row(step.uid)
        assert self.io.zoom is not None
        meeting_id = row.meeting_id
        if not meeting_id:  # the create's answer was lost: find the meeting by its marker, if it was made
            key = SessionKey.parse(step.uid)
            found = self.io.zoom.find_meeting(meeting_marker(key.series, key.day))
            meeting_id = found.meeting_id if found else ""
        if meeting_id:
            self.io.zoom.delete_meeting(meeting_id)
            crashpoint("delete_meeting.after_call")
        self.store.update_session(step.uid, now, meeting_deleted=True)

    # -- calendar ------------------------------------------------------------
    def _do_upsert_event(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        session = wanted[step.uid]
        row = self._row(step.uid)
        assert self.io.calendar is not None and self.io.composer is not None
        # The shared calendar is public: it carries the registration page, never a personal link.
        public = self._public_meeting(row)
        event = EventSpec(
            event_id=calendar_event_id(session.series, session.key),
            summary=f"{self.series.title}: {session.topic}",
            description=self.io.composer.event_description(session, public),
            start=session.start, end=session.end, timezone=session.timezone, location=public.join_url,
            private={"series": session.series, "session": session.key, "meeting_id": row.meeting_id})
        # The id is in the state once the worker wrote the event: then an edit is one patch.
        self.io.calendar.upsert_event(event, known=bool(row.event_id))
        crashpoint("upsert_event.after_call")
        self.store.update_session(step.uid, now, event_id=event.event_id, event_fp=rc.event_fingerprint(session, row),
                                  event_cancelled=False)

    def _do_cancel_event(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        row = self._row(step.uid)
        assert self.io.calendar is not None
        self.io.calendar.cancel_event(row.event_id or calendar_event_id(row.key.series, row.key.day))
        crashpoint("cancel_event.after_call")
        self.store.update_session(step.uid, now, event_cancelled=True)

    # -- mail ------------------------------------------------------------------
    def _do_queue_invitations(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        session = wanted[step.uid]
        row = self._row(step.uid)
        people = self._people_for(session)
        if self.policy.registration:  # nobody is invited before they have a personal link (or Zoom refused them)
            handled = self.store.registered_emails().get(step.uid, frozenset())
            people = tuple(p for p in people if p.email in handled)
        changes: dict[str, object] = {}
        if row.invited_at is None:
            snap = session_to_json(session)
            changes = dict(invited_at=now, notice_fp=rc.notice_fingerprint(session), notice_snapshot=snap,
                           snapshot=snap, note="" if people else "no recipients configured")
        added = self.store.queue_mail(step.uid, MailKind.INVITATION, 0, people, now, changes)
        crashpoint("queue_invitations.after_queue")
        log.info("queued %d invitation(s) for %s", added, step.uid)

    # -- registration ------------------------------------------------------------
    def _do_register_invitees(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        """Register the session's recipients not registered yet, 30 a call, saving after each call.

        A crash between a call and its save costs nothing: Zoom gives the same registrant for the same
        e-mail, so the next tick's call returns the same links. A batch Zoom refuses as invalid (one
        bad address) is retried one person at a time, and a person Zoom refuses is recorded as refused:
        their invitation carries the registration page instead of a personal link.
        """
        session = wanted[step.uid]
        row = self._row(step.uid)
        zoom = self.io.zoom
        assert zoom is not None
        if not row.registration_url:  # made before registration was turned on: turn it on first
            info = zoom.enable_registration(row.meeting_id)  # type: ignore[attr-defined]
            row = self.store.update_session(step.uid, now, registration_url=info.registration_url)
        done = self.store.registered_emails().get(step.uid, frozenset())
        todo = [p for p in self._people_for(session) if p.email not in done]
        for start in range(0, len(todo), REGISTER_BATCH):
            batch = todo[start:start + REGISTER_BATCH]
            try:
                made = zoom.register(row.meeting_id, batch)  # type: ignore[attr-defined]
            except RemoteError as exc:
                if exc.code != INVALID_FIELDS or len(batch) == 1:
                    raise
                made = self._register_one_by_one(step.uid, row.meeting_id, batch, now)
            crashpoint("register_invitees.after_call")
            self.store.save_registrants(step.uid, made, now)
        handled = self.store.registered_emails().get(step.uid, frozenset())
        missing = [p.email for p in todo if p.email not in handled]
        if missing:  # backs off like any failure; the next try registers only these
            raise WorkerError(N_("{session}: Zoom's answers left out {missing} of the {count} people registered "
                                 "(e.g. {example}); they are registered again later"), session=step.uid,
                              missing=len(missing), count=len(todo), example=missing[0])
        log.info("registered %d recipient(s) of %s on Zoom", len(todo), step.uid)

    def _register_one_by_one(self, uid: str, meeting_id: str, batch: list[Recipient],
                             now: datetime) -> list[Registrant]:
        made: list[Registrant] = []
        for person in batch:
            try:
                made += self.io.zoom.register(meeting_id, [person])  # type: ignore[union-attr]
            except RemoteError as exc:
                if exc.code != INVALID_FIELDS:
                    raise
                log.warning("%s: Zoom refused to register %s (%s); they are invited with the registration page",
                            uid, person.email, exc)
                self.store.save_registrants(uid, [Registrant(person.email, person.name, "", "")], now,
                                            status="refused")
        return made

    def _do_cancel_registrations(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        """Cancel the registrations of people no longer on the list (unsubscribed or removed)."""
        session = wanted[step.uid]
        row = self._row(step.uid)
        listed = {p.email for p in self._people_for(session)}
        approved = {r.email for r in self.store.registrants(step.uid)}
        handled = self.store.registered_emails().get(step.uid, frozenset())
        gone = sorted(handled - listed)
        to_cancel = [e for e in gone if e in approved]
        for start in range(0, len(to_cancel), REGISTER_BATCH):
            chunk = to_cancel[start:start + REGISTER_BATCH]
            self.io.zoom.cancel_registrants(row.meeting_id, chunk)  # type: ignore[union-attr]
            self.store.set_registrant_status(step.uid, chunk, "cancelled", now)
        self.store.set_registrant_status(step.uid, [e for e in gone if e not in approved], "cancelled", now)
        log.info("cancelled %d Zoom registration(s) for %s", len(to_cancel), step.uid)

    def _do_queue_change(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        session = wanted[step.uid]
        row = self._row(step.uid)
        sequence = row.sequence + 1
        people = self.store.mailed(step.uid, MailKind.INVITATION, (MailStatus.SENT,))
        snap = session_to_json(session)
        added = self.store.queue_mail(
            step.uid, MailKind.CHANGE, sequence, people, now,
            dict(sequence=sequence, notice_fp=rc.notice_fingerprint(session), notice_snapshot=snap, snapshot=snap,
                 reinstated=False),
            context=row.notice_snapshot)
        crashpoint("queue_change.after_queue")
        log.info("queued %d change notice(s) for %s (SEQUENCE %d)", added, step.uid, sequence)

    def _do_queue_reminders(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        people = self.store.mailed(step.uid, MailKind.INVITATION, (MailStatus.SENT,))
        added = self.store.queue_mail(step.uid, MailKind.REMINDER, 0, people, now, dict(reminded_at=now))
        crashpoint("queue_reminders.after_queue")
        log.info("queued %d reminder(s) for %s", added, step.uid)

    def _do_queue_cancellation(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        row = self._row(step.uid)
        sequence = row.sequence + 1
        people = self.store.mailed(step.uid, MailKind.INVITATION, (MailStatus.SENT,))
        added = self.store.queue_mail(step.uid, MailKind.CANCELLATION, sequence, people, now,
                                      dict(sequence=sequence, cancel_noticed_at=now), skip_pending=True)
        crashpoint("queue_cancellation.after_queue")
        log.info("queued %d cancellation notice(s) for %s", added, step.uid)

    def _do_skip_invitations(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        note = "invitations not sent: the session had already started when the worker reached it"
        log.warning("%s: %s", step.uid, note)
        self.store.update_session(step.uid, now, note=note, invitations_skipped=True)

    def _do_expire_mail(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        dropped = self.store.skip_pending(step.uid, "session already started")
        log.warning("%s: %d unsent mail(s) dropped because the session has started", step.uid, dropped)

    def _do_send_mail(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        budget = self._mail_budget(now)
        if budget <= 0:
            return
        rows = self.store.pending_mail(min(self.batch_size, budget), now=now, series=self.series.series)
        assert self.io.mail is not None and self.io.composer is not None
        unsubscribed = self.unsubscribed() if self.unsubscribed is not None and rows else frozenset()
        suppressed = frozenset(self.store.suppressed()) if rows else frozenset()
        sent = failed = deferred = 0
        overlaps: dict[int, bool] = {}  # id of a connection -> whether it runs work during a send (asked once)
        for row, message, compose_next in self._composed(rows, wanted, unsubscribed, now, suppressed):
            if self.should_stop():
                break
            conn = self._mail_connection()  # before the claim: a server that cannot be reached claims nothing
            if not self.store.claim_mail(row.id, self.clock.now()):  # another process has it, or sent it
                continue
            crashpoint("send_mail.after_claim")
            try:
                overlapping = overlaps.get(id(conn))
                if overlapping is None:
                    overlapping = overlaps[id(conn)] = isinstance(conn, OverlappingMailConnection)
                if overlapping:
                    conn.send_meanwhile(message, row.email, compose_next)  # type: ignore[attr-defined]
                else:
                    conn.send(message, row.email)
            except QuotaMailError as exc:  # about the account, not this person: hold everything, fail nobody
                self.store.unclaim_mail(row.id, str(exc))
                self._hold_mail(exc, self.clock.now())
                log.info("mail batch: %d sent, %d refused, %d deferred, then held", sent, failed, deferred)
                return
            except BouncedAddressError as exc:  # the address does not exist: failed, and never mailed again
                self.store.mark_mail(row.id, "failed", self.clock.now(), str(exc))
                self.store.suppress(row.email, str(exc), row.uid, self.clock.now())
                log.warning("%s: %s bounced and is suppressed: %s", row.uid, row.email, exc)
                failed += 1
                continue
            except PermanentMailError as exc:
                self.store.mark_mail(row.id, "failed", self.clock.now(), str(exc))
                failed += 1
                continue
            except DeferredRecipientError as exc:  # only this mail waits
                self._defer(row, exc)
                deferred += 1
                continue
            except TemporaryMailError as exc:
                self.store.mark_mail(row.id, "pending", self.clock.now(), str(exc))
                self._close_mail()  # the server failed even after a reconnect: a later batch starts afresh
                log.info("mail batch: %d sent, %d refused, %d deferred, then the server failed: %s",
                         sent, failed, deferred, exc)
                raise
            except BaseException:  # a stop or a bug: the row goes back to pending, never stays claimed
                self.store.mark_mail(row.id, "pending", self.clock.now(), "interrupted while sending")
                raise
            crashpoint("send_mail.after_accept")
            self.store.mark_mail(row.id, "sent", self.clock.now())
            crashpoint("send_mail.after_mark")
            sent += 1
        log.info("mail batch: %d sent, %d refused for good, %d deferred", sent, failed, deferred)

    def _mail_connection(self) -> MailConnection:
        """The tick's one mail connection: opened with its first message, reused by every later batch.

        The transport reconnects by itself when the server drops the line; the connection is closed
        (QUIT) when the tick ends, by :meth:`tick`.
        """
        if self._mail_conn is None:
            assert self.io.mail is not None
            stack = ExitStack()
            self._mail_conn = stack.enter_context(self.io.mail.connect())
            self._mail_stack = stack
        return self._mail_conn

    def _close_mail(self) -> None:
        """Close the tick's mail connection, if one was opened (QUIT; a dead line is simply dropped)."""
        stack, self._mail_stack, self._mail_conn = self._mail_stack, None, None
        if stack is not None:
            stack.close()

    def _mail_budget(self, now: datetime) -> int:
        """How many recipients may be mailed now under mail.smtp.per_day; at 0 the outbox is held until one frees."""
        if self.per_day <= 0:
            return self.batch_size
        sent = self.store.sent_since(now - MAIL_DAY)
        budget = self.per_day - len(sent)
        if budget <= 0:
            until = sent[len(sent) - self.per_day] + MAIL_DAY
            self._hold(until, f"batas harian mail.smtp.per_day tercapai ({len(sent)} dari {self.per_day} "
                              "penerima dalam 24 jam)")
        return budget

    def _hold_mail(self, exc: QuotaMailError, now: datetime) -> None:
        """Hold the outbox after a provider's limit answer: a rate limit briefly, a daily limit until sends age out."""
        if not exc.daily:
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after else MAIL_RATE_HOLD
            self._hold(now + wait, f"server membatasi pengiriman: {exc}")
            return
        sent = self.store.sent_since(now - MAIL_DAY)
        if self.per_day and len(sent) >= self.per_day:
            until = sent[len(sent) - self.per_day] + MAIL_DAY
        else:
            until = sent[0] + MAIL_DAY if sent else now + MAIL_DAY
        self._hold(max(until, now + timedelta(minutes=1)), f"batas harian akun tercapai: {exc}")

    def _hold(self, until: datetime, reason: str) -> None:
        """Record the outbox hold and say so once, at WARNING, with the time it ends."""
        self.store.hold_mail(until, reason)
        log.warning("mail held until %s (%d pending, none failed): %s", iso(until),
                    sum(self.store.due_mail_counts(until).values()), reason)

    def _composed(self, rows: list[OutboxRow], wanted: dict[str, Session], unsubscribed: frozenset[str],
                  now: datetime, suppressed: frozenset[str]
                  ) -> Iterator[tuple[OutboxRow, EmailMessage, Callable[[], None]]]:
        """Each row that has a message, in order, with its message and what composes the next one.

        The sender calls the third item while the SMTP server reads the message (issue 18: that wait
        is the longest of a send), so the next message is ready when the answer comes. Composing is
        pure and everything here runs on the engine's thread, in order: the next row is checked and
        composed, never claimed, before this one is marked. When the sender does not call it, the
        next one is composed after.
        """
        states: dict[str, SessionState] = {}  # this batch's session rows, each read once
        queued = iter(rows)
        made: deque[tuple[OutboxRow, EmailMessage | Exception]] = deque()  # at most one, composed ahead

        def compose_next() -> None:
            if made:
                return
            for row in queued:
                try:
                    job = self._prepare(row, wanted, unsubscribed, now, suppressed, states)
                    if job is None:
                        continue
                    made.append((row, job()))
                except Exception as exc:  # noqa: BLE001 - sorted (or raised) below, after the message in flight is marked
                    made.append((row, exc))
                return

        compose_next()
        while made:
            row, result = made.popleft()
            if isinstance(result, Exception):
                self._unbuildable(row, result)
            else:
                yield row, result, compose_next
            compose_next()

    def _prepare(self, row: OutboxRow, wanted: dict[str, Session], unsubscribed: frozenset[str],
                 now: datetime, suppressed: frozenset[str] = frozenset(),
                 states: dict[str, SessionState] | None = None) -> Callable[[], EmailMessage] | None:
        """What makes the message for one row, or None when the row was skipped, failed or deferred instead.

        Whatever goes wrong here (an address with CR/LF from Zoom, a template error, a session
        with no record) touches this row only: the rest of the batch and later ticks go on.
        """
        try:
            session = self._session(row.uid, wanted)
            if row.kind.until is Until.START and self.clock.now() >= session.start_utc:
                self.store.mark_mail(row.id, "skipped", now, "session already started")
                return None
            if row.email.lower() in unsubscribed:
                self.store.mark_mail(row.id, "skipped", now, "unsubscribed")
                return None
            if row.email.lower() in suppressed:
                self.store.mark_mail(row.id, "skipped", now, "suppressed: the address bounced earlier")
                return None
            if (problem := email_problem(row.email)) is not None:  # the envelope address too, not only the header
                raise PermanentMailError("smtp", N_("invalid recipient address {address}: {problem}"),
                                         params={"address": repr(row.email), "problem": problem})
            return self._compose(row, session, states if states is not None else {})
        except Exception as exc:  # noqa: BLE001 - _unbuildable re-raises what is not about this row
            self._unbuildable(row, exc)
        return None

    def _unbuildable(self, row: OutboxRow, exc: Exception) -> None:
        """A row whose message cannot be made: deferred for a template staff can fix, else failed; bugs go on up."""
        if isinstance(exc, TemplateError):  # staff can fix a template: try this one again later
            self._defer(row, exc)
        elif isinstance(exc, (PermanentMailError, ValueError, TypeError, LookupError, WorkerError)):
            log.error("mail %d to %r for %s cannot be built, marked failed: %s", row.id, row.email, row.uid, exc)
            self.store.mark_mail(row.id, "failed", self.clock.now(), f"cannot build the message: {exc}")
        else:
            raise exc

    def _compose(self, row: OutboxRow, session: Session,
                 states: dict[str, SessionState]) -> Callable[[], EmailMessage]:
        """The composer's call for one outbox row, its stored parts read now (on the engine's thread)."""
        assert self.io.composer is not None
        state = states.get(row.uid)
        if state is None:
            state = states[row.uid] = self._row(row.uid)
        sequence = row.round if row.kind.own_sequence else state.sequence
        context = json.loads(row.context) if row.context else {}
        previous = session_from_json(row.context) if row.kind is MailKind.CHANGE and row.context else None
        extra = context if row.kind is MailKind.THANKYOU else {}
        return partial(self.io.composer.message, row.kind, session, self._personal_meeting(state, row.email),
                       Recipient(row.email, row.name), sequence=sequence, previous=previous, extra=extra)

    def _defer(self, row: OutboxRow, exc: Exception) -> None:
        """Try this one mail again later (doubling waits); after MAIL_DEFER_LIMIT tries it has failed."""
        now = self.clock.now()
        if row.attempts + 1 >= MAIL_DEFER_LIMIT:
            self.store.mark_mail(row.id, "failed", now, f"deferred {row.attempts + 1} times: {exc}")
            return
        wait = doubling(MAIL_DEFER_FIRST, row.attempts, MAIL_DEFER_MAX)
        self.store.mark_mail(row.id, "pending", now, str(exc), next_at=now + wait)
        if isinstance(exc, TemplateError):
            log.error("mail to %s for %s could not be rendered (will retry): %s", row.email, row.uid, exc)

    # -- attendance ------------------------------------------------------------
    def _do_fetch_attendance(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        session = wanted[step.uid]
        row = self._row(step.uid)
        assert self.io.zoom is not None
        records = self.io.zoom.fetch_participants(row.meeting_id, session.start_utc)
        crashpoint("fetch_attendance.after_fetch")
        if records is None:
            if now < moments(session, self.policy).attendance_give_up:
                raise _NotReady()
            records = []
            self.store.update_session(step.uid, now, note=f"Zoom gave no attendance report within "
                                                         f"{self.policy.attendance_give_up_hours} hours; recorded 0")
        if self.policy.registration:  # people who registered themselves on the public page are only known to Zoom
            ours = {r.email.lower() for r in self.store.registrants(step.uid, ("approved", "cancelled", "refused"))}
            try:
                listed = self.io.zoom.list_registrants(row.meeting_id)  # type: ignore[attr-defined]
            except RemoteError as exc:  # a meeting made before registration was turned on has no registrants
                if exc.code != REGISTRATION_OFF:
                    raise
                listed = []
            self.store.save_registrants(step.uid, [r for r in listed if r.email.lower() not in ours], now, status="self")
        registrants = tuple(self.store.registrants(step.uid, ("approved", "cancelled", "self")))
        invited = tuple(self.store.mailed(step.uid, MailKind.INVITATION, (MailStatus.SENT,)))
        roster = Roster(registrants=registrants, listed=invited, staff=self.staff,
                        match_names=not self.policy.registration)
        attendees = identify(merge_participants(records), roster)
        self.store.store_attendance(step.uid, attendees, now)
        crashpoint("fetch_attendance.after_store")
        counted = audience(attendees)
        log.info("stored attendance for %s: %d people (%d identified, %d guests, %d staff)", step.uid, len(counted),
                 sum(a.identified for a in counted), sum(not a.identified for a in counted),
                 len(attendees) - len(counted))

    def _do_queue_thankyou(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        added = 0
        # Only identified people, never staff, and the certificate carries the name they registered
        # with: a Zoom display name ("iPhone Budi") never goes on a certificate. A person without a
        # registered name gets the mail addressed by e-mail only (an empty name).
        # One transaction for the session (numbers, outbox rows and thanked_at): a kill part-way
        # leaves nothing, and the step runs again whole.
        with self.store.transaction():
            for person in thanked(self.store.attendance(step.uid), self.min_minutes):
                name = person.registered_name
                context: dict[str, object] = {"minutes": person.minutes}
                if self.certificates is not None:  # the running number (and a corrected name) live in the state
                    name, context = self.certificates.issue(self._session(step.uid, wanted), person.email, name,
                                                            person.minutes, now)
                added += self.store.queue_mail(step.uid, MailKind.THANKYOU, 0, [Recipient(person.email, name)], now,
                                               context=json.dumps(context))
                crashpoint("queue_thankyou.after_one")
            self.store.update_session(step.uid, now, thanked_at=now)
        log.info("queued %d thank-you mail(s) for %s", added, step.uid)

    def _certificate_tick(self, now: datetime) -> None:
        """Name corrections and the Verifikasi tab; a failure here never stops the tick."""
        assert self.certificates is not None
        try:
            self.certificates.tick(now)
        except WorkerError as exc:
            log.error("certificates: %s", exc)

    def _registered_count(self, uid: str) -> int:
        """People registered for the session: by the worker or on Zoom's page (0 without registration)."""
        return len(self.store.registrants(uid, ("approved", "self"))) if self.policy.registration else 0

    def _do_sync_sheet(self, step: Step, wanted: dict[str, Session], now: datetime) -> None:
        session = wanted[step.uid]
        attendees = self.store.attendance(step.uid)
        counted = audience(attendees)
        counts = self.store.mail_counts().get(step.uid, {})
        invited = counts.get((MailKind.INVITATION, MailStatus.SENT), 0)
        average = round(sum(a.minutes for a in counted) / len(counted), 1) if counted else 0.0
        identified = sum(1 for a in counted if a.identified)
        summary = SummaryRow(date=session.date, topic=session.topic, speaker=session.speaker, invited=invited,
                             attended=len(counted), average_minutes=average,
                             registered=self._registered_count(step.uid), identified=identified,
                             guests=len(counted) - identified)
        assert self.io.sheets is not None
        # The spreadsheet's tabs and the summary's rows as the last sync left them (None before the first):
        # with them a sync is its two writes and no read; the client re-reads when the sheet changed under it.
        where = str(getattr(self.io.sheets, "layout_key", "") or "")
        layout = self.store.sheet_layout(where) if where else None
        layout = self.io.sheets.sync_session(session.key, attendees, summary, layout=layout)
        crashpoint("sync_sheet.after_call")
        if where and isinstance(layout, dict):
            self.store.save_sheet_layout(where, layout, now)
        self.store.update_session(step.uid, now, attendance_state=AttendanceState.SYNCED, sheet_synced_at=now)


Handler = Callable[[Engine, Step, dict[str, Session], datetime], None]
HANDLERS: dict[StepKind, Handler] = {  # what the engine does for each step kind
    StepKind.CREATE_MEETING: Engine._do_create_meeting,
    StepKind.UPDATE_MEETING: Engine._do_update_meeting,
    StepKind.UPSERT_EVENT: Engine._do_upsert_event,
    StepKind.DELETE_MEETING: Engine._do_delete_meeting,
    StepKind.CANCEL_EVENT: Engine._do_cancel_event,
    StepKind.QUEUE_CHANGE: Engine._do_queue_change,
    StepKind.REGISTER_INVITEES: Engine._do_register_invitees,
    StepKind.CANCEL_REGISTRATIONS: Engine._do_cancel_registrations,
    StepKind.QUEUE_INVITATIONS: Engine._do_queue_invitations,
    StepKind.QUEUE_REMINDERS: Engine._do_queue_reminders,
    StepKind.QUEUE_CANCELLATION: Engine._do_queue_cancellation,
    StepKind.EXPIRE_MAIL: Engine._do_expire_mail,
    StepKind.SKIP_INVITATIONS: Engine._do_skip_invitations,
    StepKind.FETCH_ATTENDANCE: Engine._do_fetch_attendance,
    StepKind.SYNC_SHEET: Engine._do_sync_sheet,
    StepKind.QUEUE_THANKYOU: Engine._do_queue_thankyou,
    StepKind.SEND_MAIL: Engine._do_send_mail,
}


def check_handlers(handlers: dict[StepKind, Handler]) -> None:
    """Fail loudly when a step kind has no handler (checked when this module is imported)."""
    missing = [kind.value for kind in StepKind if kind not in handlers]
    if missing:
        raise WorkerError(f"step kind(s) without an engine handler: {', '.join(missing)}")


check_handlers(HANDLERS)


def doubling(first: timedelta, attempts: int, cap: timedelta) -> timedelta:
    """``first`` doubled once per earlier attempt, at most ``cap`` (the exponent is bounded so it cannot overflow)."""
    return min(first * (2 ** min(attempts, 16)), cap)


def _spec_json(spec: MeetingSpec) -> str:
    return json.dumps({"topic": spec.topic, "start": spec.start.isoformat(), "timezone": spec.timezone,
                       "duration_minutes": spec.duration_minutes, "agenda": spec.agenda}, ensure_ascii=False)


def _spec_from_json(text: str) -> MeetingSpec:
    d = json.loads(text)
    return MeetingSpec(topic=d["topic"], start=datetime.fromisoformat(d["start"]), timezone=d["timezone"],
                       duration_minutes=d["duration_minutes"], agenda=d["agenda"])
