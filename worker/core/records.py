"""What the state store holds, as values: session rows, outbox rows, retries, and their text forms.

Pure: the SQLite adapter (:mod:`worker.store.state`) reads and writes these; the planner reads them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from worker.core.model import Session

MAIL_STATUSES = ("pending", "sent", "failed", "skipped")
BEFORE_START_KINDS = ("invitation", "reminder", "change", "cancellation")  # pointless once a session began


@dataclass(frozen=True)
class SessionState:
    """What the worker knows exists for one session (one row of ``sessions``)."""

    uid: str  # "series/2027-01-14"
    series: str  # series id
    key: str  # session key (ISO date)
    snapshot: str = ""  # JSON of the Session last acted on (to render mail for removed sessions)
    meeting_id: str = ""  # Zoom meeting id; "" when none
    meeting_uuid: str = ""  # Zoom meeting UUID
    join_url: str = ""  # join link
    passcode: str = ""  # meeting passcode
    meeting_spec: str = ""  # JSON of the MeetingSpec last pushed
    meeting_fp: str = ""  # fingerprint of the MeetingSpec last pushed
    meeting_deleted: int = 0  # 1 once the meeting was deleted for a cancellation
    event_id: str = ""  # calendar event id once written
    event_fp: str = ""  # fingerprint of the EventSpec last written
    event_cancelled: int = 0  # 1 once the event was removed
    sequence: int = 0  # iCalendar SEQUENCE of the last notice
    notice_fp: str = ""  # content fingerprint announced to recipients
    notice_snapshot: str = ""  # JSON of the Session as last announced (for "what changed")
    invited_at: str = ""  # ISO time invitations were queued
    reminded_at: str = ""  # ISO time reminders were queued
    cancel_noticed_at: str = ""  # ISO time cancellation notices were queued
    note: str = ""  # a human note for ``status`` (e.g. an invitation skipped)
    attendance_state: str = ""  # "", "stored", "synced"
    attendance_at: str = ""  # ISO time attendance was stored
    attendees: int = 0  # number of unique attendees (staff not counted)
    sheet_synced_at: str = ""  # ISO time the sheet was written
    updated_at: str = ""  # ISO time of the last change to this row
    thanked_at: str = ""  # ISO time thank-you mails were queued
    create_started_at: str = ""  # ISO time a meeting create was first sent (a meeting may exist unsaved)
    registration_url: str = ""  # the meeting's public Zoom registration page ("" without registration)

    def session(self) -> Session | None:
        """The Session from the stored snapshot, if any."""
        return session_from_json(self.snapshot) if self.snapshot else None


@dataclass(frozen=True)
class OutboxRow:
    """One mail to one person about one session."""

    id: int  # row id
    uid: str  # session uid
    kind: str  # invitation | reminder | change | cancellation
    round: int  # the notice's SEQUENCE for change and cancellation, else 0
    email: str  # recipient address
    name: str  # recipient name
    status: str  # pending | sent | failed | skipped
    attempts: int  # send attempts so far
    last_error: str  # last refusal, without secrets
    context: str = ""  # for change notices: JSON of the Session as previously announced
    next_at: str = ""  # ISO time before which a deferred row is not tried again; "" = now


@dataclass(frozen=True)
class Retry:
    """A step that failed and when it may run again."""

    uid: str  # session uid ("*" for global steps)
    step: str  # step kind
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
