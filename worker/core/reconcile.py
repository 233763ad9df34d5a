"""Compare what the settings want with what the state says exists, and list what to do.

Pure: ``plan_steps(desired, state, now)`` reads no file, calls no service and no clock.
The engine (worker.run.engine) applies the first step, saves, and plans again, so every
step's precondition is checked against fresh state and a crash at any point is
recovered by the next plan.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from worker.core.model import MeetingSpec, Recipient, Session, meeting_marker
from worker.core.records import Retry, SessionState

AGENDA_MAX = 2000  # Zoom's agenda limit

# Step kinds, in the order they are done for one session.
CREATE_MEETING = "create_meeting"
UPDATE_MEETING = "update_meeting"
UPSERT_EVENT = "upsert_event"
QUEUE_CHANGE = "queue_change"
REGISTER_INVITEES = "register_invitees"
CANCEL_REGISTRATIONS = "cancel_registrations"
QUEUE_INVITATIONS = "queue_invitations"
QUEUE_REMINDERS = "queue_reminders"
DELETE_MEETING = "delete_meeting"
CANCEL_EVENT = "cancel_event"
QUEUE_CANCELLATION = "queue_cancellation"
SKIP_INVITATIONS = "skip_invitations"
EXPIRE_MAIL = "expire_mail"
SEND_MAIL = "send_mail"
FETCH_ATTENDANCE = "fetch_attendance"
SYNC_SHEET = "sync_sheet"
QUEUE_THANKYOU = "queue_thankyou"

NEEDS = {  # which integration a step calls; "" = local only
    CREATE_MEETING: "zoom", UPDATE_MEETING: "zoom", DELETE_MEETING: "zoom", FETCH_ATTENDANCE: "zoom",
    UPSERT_EVENT: "calendar", CANCEL_EVENT: "calendar", SYNC_SHEET: "sheets", SEND_MAIL: "mail",
    REGISTER_INVITEES: "zoom", CANCEL_REGISTRATIONS: "zoom",
}
GLOBAL = "*"  # uid of steps that are not about one session


@dataclass(frozen=True)
class Policy:
    """The lead times that decide when things happen."""

    planning_days: int = 14  # create meeting and event this many days ahead
    invitation_days: int = 7  # queue invitations this many days ahead
    reminder_hours: int = 2  # queue reminders this many hours ahead
    attendance_delay_minutes: int = 30  # fetch attendance this long after the end
    attendance_give_up_hours: int = 24  # then stop waiting for the report
    followup: bool = True  # thank-you mail to attendees after the session
    registration: bool = False  # register invitees on Zoom (personal links) before inviting them


@dataclass(frozen=True)
class Desired:
    """What the settings ask for right now."""

    sessions: tuple[Session, ...]  # planned sessions (cancelled ones included)
    policy: Policy = field(default_factory=Policy)  # lead times
    recipients: dict[str, tuple[Recipient, ...]] | None = None  # per session uid; None = not loaded


@dataclass(frozen=True)
class StateView:
    """What the state store says, read once per plan."""

    sessions: dict[str, SessionState]  # by uid
    retries: dict[tuple[str, str], Retry] = field(default_factory=dict)  # failed steps waiting
    invited: dict[str, frozenset[str]] = field(default_factory=dict)  # uid -> invited addresses
    pending_mail: dict[str, int] = field(default_factory=dict)  # uid -> pending outbox rows (all kinds)
    pending_before_start: dict[str, int] = field(default_factory=dict)  # uid -> pending rows useless after start
    registered: dict[str, frozenset[str]] = field(default_factory=dict)  # uid -> addresses registered on Zoom


@dataclass(frozen=True)
class Step:
    """One thing to do: a remote call plus the state row that records it, or a local change."""

    kind: str  # one of the step kinds above
    uid: str  # session uid, or "*" for global steps
    reason: str  # why, in words, for --dry-run, logs and ``plan``

    @property
    def needs(self) -> str:
        """The integration this step calls ("" for local steps)."""
        return NEEDS.get(self.kind, "")

    def __str__(self) -> str:
        return f"{self.kind:<19} {self.uid:<28} {self.reason}"


def fingerprint(value: object) -> str:
    """A short stable hash of a JSON-able value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def meeting_spec(session: Session) -> MeetingSpec:
    """The Zoom meeting a session should have; the agenda ends with the recovery marker."""
    marker = meeting_marker(session.series, session.key)
    room = AGENDA_MAX - len(marker) - 2
    text = session.description.strip()
    agenda = (text[:room].rstrip() + "\n\n" if text else "") + marker
    return MeetingSpec(topic=session.topic, start=session.start, timezone=session.timezone,
                       duration_minutes=session.duration_minutes, agenda=agenda)


def meeting_fingerprint(spec: MeetingSpec) -> str:
    """Fingerprint of what was pushed to Zoom."""
    return fingerprint([spec.topic, spec.start.isoformat(), spec.timezone, spec.duration_minutes, spec.agenda])


def notice_fingerprint(session: Session) -> str:
    """Fingerprint of what people were told: topic and time. A change of these means a change notice."""
    return fingerprint([session.topic, session.start_utc.isoformat(), session.duration_minutes])


def event_fingerprint(session: Session, state: SessionState) -> str:
    """Fingerprint of the calendar event's content."""
    return fingerprint([session.topic, session.speaker, session.audience, session.description,
                        session.start_utc.isoformat(), session.duration_minutes, session.timezone,
                        state.meeting_id, state.join_url, state.passcode, state.registration_url])


def plan_steps(desired: Desired, state: StateView, now: datetime) -> list[Step]:
    """Every step that is due now, in the order to do them (sessions by date)."""
    wanted = {s.uid: s for s in desired.sessions}
    uids = sorted(set(wanted) | set(state.sessions), key=lambda u: (u.partition("/")[2], u))
    steps: list[Step] = []
    for uid in uids:
        session = wanted.get(uid)
        row = state.sessions.get(uid) or SessionState(uid=uid, series=uid.partition("/")[0],
                                                      key=uid.partition("/")[2])
        if session is not None and not session.cancelled:
            recipients = None if desired.recipients is None else desired.recipients.get(uid, ())
            steps += _active(session, row, desired.policy, recipients, state, now)
        else:
            steps += _cancelled(session or row.session(), row, now)
    expiring = {s.uid for s in steps if s.kind == EXPIRE_MAIL}
    sendable = sum(n - (state.pending_before_start.get(u, 0) if u in expiring else 0)
                   for u, n in state.pending_mail.items())
    if sendable > 0:
        steps.append(Step(SEND_MAIL, GLOBAL, f"{sendable} mail(s) waiting in the outbox"))
    return [s for s in steps if _not_waiting(s, state.retries, now)]


def _not_waiting(step: Step, retries: dict[tuple[str, str], Retry], now: datetime) -> bool:
    retry = retries.get((step.uid, step.kind))
    return retry is None or retry.next_at <= now


def _active(s: Session, row: SessionState, policy: Policy, recipients: tuple[Recipient, ...] | None,
            state: StateView, now: datetime) -> list[Step]:
    steps: list[Step] = []
    has_meeting = bool(row.meeting_id) and not row.meeting_deleted
    before_end = now < s.end_utc
    before_start = now < s.start_utc
    if before_end and now >= s.start_utc - timedelta(days=policy.planning_days) and not has_meeting:
        return [Step(CREATE_MEETING, s.uid, f"{s.key} is within {policy.planning_days} days and has no meeting")]
    if has_meeting and before_end and row.meeting_fp != meeting_fingerprint(meeting_spec(s)):
        steps.append(Step(UPDATE_MEETING, s.uid, "topic, time or description changed"))
    if has_meeting and before_end and (row.event_fp != event_fingerprint(s, row) or row.event_cancelled):
        steps.append(Step(UPSERT_EVENT, s.uid, "calendar event missing or out of date"))
    steps += _mail_steps(s, row, policy, recipients, state, now, has_meeting, before_start)
    if has_meeting and now >= s.end_utc + timedelta(minutes=policy.attendance_delay_minutes):
        if row.attendance_state == "":
            steps.append(Step(FETCH_ATTENDANCE, s.uid, "the session has ended"))
        elif row.attendance_state == "stored":
            steps.append(Step(SYNC_SHEET, s.uid, "attendance stored, not yet in the sheet"))
        if policy.followup and row.attendance_state in ("stored", "synced") and not row.thanked_at:
            steps.append(Step(QUEUE_THANKYOU, s.uid, "thank attendees (with certificate)"))
    return steps


def _mail_steps(s: Session, row: SessionState, policy: Policy, recipients: tuple[Recipient, ...] | None,
                state: StateView, now: datetime, has_meeting: bool, before_start: bool) -> list[Step]:
    if not before_start:
        steps = []
        if state.pending_before_start.get(s.uid):
            steps.append(Step(EXPIRE_MAIL, s.uid, "the session has started; unsent mail is dropped"))
        if not row.invited_at and not row.note and row.meeting_id:
            steps.append(Step(SKIP_INVITATIONS, s.uid, "invitations were never sent before the start"))
        return steps
    if not has_meeting or now < s.start_utc - timedelta(days=policy.invitation_days):
        return []
    steps = []
    if row.invited_at and row.notice_fp and row.notice_fp != notice_fingerprint(s):
        steps.append(Step(QUEUE_CHANGE, s.uid, "topic or time changed after invitations went out"))
    if policy.registration:
        registering = _registration_steps(s, recipients, state)
        steps += registering
        if any(step.kind == REGISTER_INVITEES for step in registering):
            return steps  # invitations carry personal links: they wait until everyone is registered
    if not row.invited_at:
        steps.append(Step(QUEUE_INVITATIONS, s.uid, f"invitations are due ({policy.invitation_days} days before)"))
    elif recipients is not None:
        invited = state.invited.get(s.uid, frozenset())
        late = [r for r in recipients if r.email not in invited]
        if late:
            steps.append(Step(QUEUE_INVITATIONS, s.uid, f"{len(late)} recipient(s) added since the invitations"))
    if row.invited_at and not row.reminded_at and now >= s.start_utc - timedelta(hours=policy.reminder_hours):
        steps.append(Step(QUEUE_REMINDERS, s.uid, f"reminder is due ({policy.reminder_hours} hours before)"))
    return steps


def _registration_steps(s: Session, recipients: tuple[Recipient, ...] | None, state: StateView) -> list[Step]:
    """Register recipients not yet registered; cancel registrations of people who left the list."""
    if recipients is None:  # not read this tick (dry run, or an unreadable list backing off)
        return []
    registered = state.registered.get(s.uid, frozenset())
    steps = []
    todo = sum(1 for r in recipients if r.email not in registered)
    if todo:
        steps.append(Step(REGISTER_INVITEES, s.uid, f"{todo} recipient(s) to register on Zoom"))
    gone = registered - {r.email for r in recipients}
    if gone and recipients:  # an empty list is more likely a mistake than everyone leaving
        steps.append(Step(CANCEL_REGISTRATIONS, s.uid, f"{len(gone)} registration(s) of people no longer listed"))
    return steps


def _cancelled(s: Session | None, row: SessionState, now: datetime) -> list[Step]:
    if s is None or now >= s.start_utc:
        return []  # a past session that left the settings keeps its history
    steps = []
    if (row.meeting_id or row.create_started_at) and not row.meeting_deleted:
        # A create that was sent but never saved may have made a meeting: it is looked up and deleted.
        steps.append(Step(DELETE_MEETING, s.uid, "session cancelled or removed from settings"))
    # The event is written right after the meeting, so once a meeting exists an event may exist
    # even when a crash lost its save: cancel by the deterministic id then.
    if (row.event_id or row.meeting_id) and not row.event_cancelled:
        steps.append(Step(CANCEL_EVENT, s.uid, "session cancelled or removed from settings"))
    if row.invited_at and not row.cancel_noticed_at:
        steps.append(Step(QUEUE_CANCELLATION, s.uid, "tell those invited that it is cancelled"))
    return steps
