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
from datetime import datetime

from worker.core.model import MeetingSpec, Recipient, Session, meeting_marker
from worker.core.moments import Moments, Policy, moments
from worker.core.records import AttendanceState, Retry, SessionState
from worker.core.steps import StepKind
from worker.i18n import N_, Text

AGENDA_MAX = 2000  # Zoom's agenda limit
GLOBAL = "*"  # uid of steps that are not about one session
__all__ = ["Desired", "GLOBAL", "Policy", "StateView", "Step", "StepKind", "plan_steps"]


@dataclass(frozen=True)
class Desired:
    """What the settings ask for right now."""

    sessions: tuple[Session, ...]  # planned sessions (cancelled ones included)
    policy: Policy = field(default_factory=Policy)  # lead times
    recipients: dict[str, tuple[Recipient, ...]] | None = None  # per session uid; None = not loaded
    series: str | None = None  # the series planned: state rows of other series are left alone; None = every row


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

    kind: StepKind  # what to do
    uid: str  # session uid, or "*" for global steps
    reason: str  # why, in words, for --dry-run, logs and ``plan``

    @property
    def needs(self) -> str:
        """The integration this step calls ("" for local steps)."""
        return self.kind.needs

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
    """Every step that is due now, in the order to do them (sessions by date, a session's steps by kind)."""
    wanted = {s.session_key: s for s in desired.sessions}
    rows = {row.key: row for row in state.sessions.values()
            if desired.series is None or row.key.series == desired.series}
    steps: list[Step] = []
    for key in sorted(set(wanted) | set(rows), key=lambda k: (k.date, k.series)):
        session = wanted.get(key)
        row = rows.get(key) or SessionState(key=key)
        if session is not None and not session.cancelled:
            recipients = None if desired.recipients is None else desired.recipients.get(session.uid, ())
            found = _active(session, row, desired.policy, recipients, state, now)
        else:
            found = _cancelled(session or row.session(), row, now)
        steps += sorted(found, key=lambda step: step.kind.order)
    expiring = {s.uid for s in steps if s.kind is StepKind.EXPIRE_MAIL}
    sendable = sum(n - (state.pending_before_start.get(u, 0) if u in expiring else 0)
                   for u, n in state.pending_mail.items())
    if sendable > 0:
        steps.append(Step(StepKind.SEND_MAIL, GLOBAL, Text(N_("{count} mail(s) waiting in the outbox"), {"count": sendable})))
    return [s for s in steps if _not_waiting(s, state.retries, now)]


def _not_waiting(step: Step, retries: dict[tuple[str, str], Retry], now: datetime) -> bool:
    retry = retries.get((step.uid, step.kind))
    return retry is None or retry.next_at <= now


def _active(s: Session, row: SessionState, policy: Policy, recipients: tuple[Recipient, ...] | None,
            state: StateView, now: datetime) -> list[Step]:
    steps: list[Step] = []
    when = moments(s, policy)
    has_meeting = bool(row.meeting_id) and not row.meeting_deleted
    before_end = now < when.end
    if before_end and now >= when.meeting_due and not has_meeting:
        return [Step(StepKind.CREATE_MEETING, s.uid,
                     Text(N_("{date} is within {days} days and has no meeting"), {"date": s.key, "days": policy.planning_days}))]
    if has_meeting and before_end and row.meeting_fp != meeting_fingerprint(meeting_spec(s)):
        steps.append(Step(StepKind.UPDATE_MEETING, s.uid, Text(N_("topic, time or description changed"))))
    if has_meeting and before_end and (row.event_fp != event_fingerprint(s, row) or row.event_cancelled):
        steps.append(Step(StepKind.UPSERT_EVENT, s.uid, Text(N_("calendar event missing or out of date"))))
    steps += _mail_steps(s, row, policy, when, recipients, state, now, has_meeting)
    if has_meeting and now >= when.attendance_due:
        if row.attendance_state is AttendanceState.NONE:
            steps.append(Step(StepKind.FETCH_ATTENDANCE, s.uid, Text(N_("the session has ended"))))
        elif row.attendance_state is AttendanceState.STORED:
            steps.append(Step(StepKind.SYNC_SHEET, s.uid, Text(N_("attendance stored, not yet in the sheet"))))
        if policy.followup and row.attendance_state is not AttendanceState.NONE and row.thanked_at is None:
            steps.append(Step(StepKind.QUEUE_THANKYOU, s.uid, Text(N_("thank attendees (with certificate)"))))
    return steps


def _mail_steps(s: Session, row: SessionState, policy: Policy, when: Moments,
                recipients: tuple[Recipient, ...] | None, state: StateView, now: datetime,
                has_meeting: bool) -> list[Step]:
    if now >= when.start:
        steps = []
        if state.pending_before_start.get(s.uid):
            steps.append(Step(StepKind.EXPIRE_MAIL, s.uid, Text(N_("the session has started; unsent mail is dropped"))))
        if row.invited_at is None and not row.invitations_skipped and row.meeting_id:
            steps.append(Step(StepKind.SKIP_INVITATIONS, s.uid, Text(N_("invitations were never sent before the start"))))
        return steps
    if not has_meeting or now < when.invitations_due:
        return []
    steps = []
    invited = row.invited_at is not None
    if invited and (row.reinstated or (row.notice_fp and row.notice_fp != notice_fingerprint(s))):
        steps.append(Step(StepKind.QUEUE_CHANGE, s.uid, Text(N_("reinstated after a cancellation")) if row.reinstated
                          else Text(N_("topic or time changed after invitations went out"))))
    if policy.registration:
        registering = _registration_steps(s, recipients, state)
        steps += registering
        if any(step.kind is StepKind.REGISTER_INVITEES for step in registering):
            return steps  # invitations carry personal links: they wait until everyone is registered
    if not invited:
        steps.append(Step(StepKind.QUEUE_INVITATIONS, s.uid,
                          Text(N_("invitations are due ({days} days before)"), {"days": policy.invitation_days})))
    elif recipients is not None:
        mailed = state.invited.get(s.uid, frozenset())
        late = [r for r in recipients if r.email not in mailed]
        if late:
            steps.append(Step(StepKind.QUEUE_INVITATIONS, s.uid,
                              Text(N_("{count} recipient(s) added since the invitations"), {"count": len(late)})))
    if invited and row.reminded_at is None and now >= when.reminder_due:
        steps.append(Step(StepKind.QUEUE_REMINDERS, s.uid, Text(N_("reminder is due ({hours} hours before)"), {"hours": policy.reminder_hours})))
    return steps


def _registration_steps(s: Session, recipients: tuple[Recipient, ...] | None, state: StateView) -> list[Step]:
    """Register recipients not yet registered; cancel registrations of people who left the list."""
    if recipients is None:  # not read this tick (dry run, or an unreadable list backing off)
        return []
    registered = state.registered.get(s.uid, frozenset())
    steps = []
    todo = sum(1 for r in recipients if r.email not in registered)
    if todo:
        steps.append(Step(StepKind.REGISTER_INVITEES, s.uid, Text(N_("{count} recipient(s) to register on Zoom"), {"count": todo})))
    gone = registered - {r.email for r in recipients}
    if gone and recipients:  # an empty list is more likely a mistake than everyone leaving
        steps.append(Step(StepKind.CANCEL_REGISTRATIONS, s.uid,
                          Text(N_("{count} registration(s) of people no longer listed"), {"count": len(gone)})))
    return steps


def _cancelled(s: Session | None, row: SessionState, now: datetime) -> list[Step]:
    if s is None or now >= s.start_utc:
        return []  # a past session that left the settings keeps its history
    steps = []
    if (row.meeting_id or row.create_started_at) and not row.meeting_deleted:
        # A create that was sent but never saved may have made a meeting: it is looked up and deleted.
        steps.append(Step(StepKind.DELETE_MEETING, s.uid, Text(N_("session cancelled or removed from settings"))))
    # The event is written right after the meeting, so once a meeting exists an event may exist
    # even when a crash lost its save: cancel by the deterministic id then.
    if (row.event_id or row.meeting_id) and not row.event_cancelled:
        steps.append(Step(StepKind.CANCEL_EVENT, s.uid, Text(N_("session cancelled or removed from settings"))))
    if row.invited_at is not None and row.cancel_noticed_at is None:
        steps.append(Step(StepKind.QUEUE_CANCELLATION, s.uid, Text(N_("tell those invited that it is cancelled"))))
    return steps
