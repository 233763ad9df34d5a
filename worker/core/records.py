"""What the state store holds, as values: session rows, outbox rows, retries, and their text forms.

Pure: the SQLite adapter (:mod:`worker.store.state`) reads and writes these; the planner reads them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

from worker.core.mailkinds import MailKind, MailStatus
from worker.core.model import Session, SessionKey

MAIL_STATUSES = tuple(s.value for s in MailStatus if s is not MailStatus.SENDING)  # what a send may end in


class AttendanceState(StrEnum):
    """How far a session's attendance got."""

    NONE = ""  # not fetched yet
    STORED = "stored"  # Zoom's report is in the state file
    SYNCED = "synced"  # and written to the sheet


@dataclass(frozen=True)
class SessionState:
    """What the worker knows exists for one session (one row of ``sessions``); times are aware UTC or None."""

    key: SessionKey  # series and date
    snapshot: str = ""  # JSON of the Session last acted on (to render mail for removed sessions)
    meeting_id: str = ""  # Zoom meeting id; "" when none
    meeting_uuid: str = ""  # Zoom meeting UUID
    join_url: str = ""  # join link
    passcode: str = ""  # meeting passcode
    meeting_spec: str = ""  # JSON of the MeetingSpec last pushed
    meeting_fp: str = ""  # fingerprint of the MeetingSpec last pushed
    meeting_deleted: bool = False  # the meeting was deleted for a cancellation
    event_id: str = ""  # calendar event id once written
    event_fp: str = ""  # fingerprint of the EventSpec last written
    event_cancelled: bool = False  # the event was removed
    sequence: int = 0  # iCalendar SEQUENCE of the last notice
    notice_fp: str = ""  # content fingerprint announced to recipients
    notice_snapshot: str = ""  # JSON of the Session as last announced (for "what changed")
    invited_at: datetime | None = None  # invitations were queued
    reminded_at: datetime | None = None  # reminders were queued
    cancel_noticed_at: datetime | None = None  # cancellation notices were queued
    note: str = ""  # a human note for ``status`` only (e.g. why invitations were skipped); never a flag
    invitations_skipped: bool = False  # the session started before invitations went out: they never will
    reinstated: bool = False  # cancelled after the invitations, then put back: a change notice is owed
    attendance_state: AttendanceState = AttendanceState.NONE  # how far attendance got
    attendance_at: datetime | None = None  # attendance was stored
    attendees: int = 0  # number of unique attendees (staff not counted)
    sheet_synced_at: datetime | None = None  # the sheet was written
    updated_at: datetime | None = None  # the last change to this row
    thanked_at: datetime | None = None  # thank-you mails were queued
    create_started_at: datetime | None = None  # a meeting create was first sent (a meeting may exist unsaved)
    registration_url: str = ""  # the meeting's public Zoom registration page ("" without registration)

    @property
    def uid(self) -> str:
        """The session's text id, ``series/YYYY-MM-DD``."""
        return str(self.key)

    @property
    def series(self) -> str:
        """The series id."""
        return self.key.series

    def session(self) -> Session | None:
        """The Session from the stored snapshot, if any."""
        return session_from_json(self.snapshot) if self.snapshot else None


@dataclass(frozen=True)
class OutboxRow:
    """One mail to one person about one session."""

    id: int  # row id
    uid: str  # session uid
    kind: MailKind  # which mail
    round: int  # the notice's SEQUENCE for kinds with their own SEQUENCE, else 0
    email: str  # recipient address
    name: str  # recipient name
    status: MailStatus  # where it stands
    attempts: int  # send attempts so far
    last_error: str  # last refusal, without secrets
    context: str = ""  # change notices: JSON of the Session as previously announced; thank-you: minutes
    next_at: datetime | None = None  # a deferred row is not tried again before this; None = now
    claimed_by: str = ""  # "pid@host" of the process sending it (status 'sending'); "" when unclaimed
    claimed_at: datetime | None = None  # when it was claimed; None when never claimed


@dataclass(frozen=True)
class Retry:
    """A step that failed and when it may run again."""

    uid: str  # session uid ("*" for global steps)
    step: str  # step kind (a StepKind value)
    attempts: int  # failures in a row
    next_at: datetime  # not before this moment (UTC)
    last_error: str  # the error's message


def iso(moment: datetime) -> str:
    """An aware datetime as ISO-8601 in UTC."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """Parse what :func:`iso` wrote."""
    return datetime.fromisoformat(text)


def session_to_json(session: Session) -> str:
    """Serialise a Session for the ``snapshot`` column."""
    return json.dumps({
        "series": session.series, "date": session.date.isoformat(), "start": session.start.isoformat(),
        "duration_minutes": session.duration_minutes, "timezone": session.timezone, "topic": session.topic,
        "speaker": session.speaker, "audience": session.audience, "description": session.description,
        "groups": list(session.groups), "cancelled": session.cancelled, "recording_url": session.recording_url,
    }, ensure_ascii=False, sort_keys=True)


def session_from_json(text: str) -> Session:
    """Rebuild a Session from :func:`session_to_json` output."""
    d = json.loads(text)
    start = datetime.fromisoformat(d["start"]).astimezone(ZoneInfo(d["timezone"]))
    return Session(series=d["series"], date=date.fromisoformat(d["date"]), start=start,
                   duration_minutes=d["duration_minutes"], timezone=d["timezone"], topic=d["topic"],
                   speaker=d["speaker"], audience=d["audience"], description=d["description"],
                   groups=tuple(d["groups"]), cancelled=d["cancelled"], recording_url=d["recording_url"])
