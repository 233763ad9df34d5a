"""In-memory stand-ins for the integrations, for engine tests (the real clients have their own tests)."""
from __future__ import annotations

import contextlib
from datetime import datetime
from email.message import EmailMessage
from typing import Iterator, Sequence

from worker.errors import PermanentMailError, TransientError
from worker.core.model import (Attendee, EventSpec, MeetingInfo, MeetingSpec, ParticipantRecord, Recipient,
                               Registrant, Session, SummaryRow)


class SimulatedCrash(BaseException):
    """Stands for the process being killed: not an Exception, so nothing catches it."""


class FakeZoom:
    """Meetings in a dict; counts calls; can crash right after a create."""

    def __init__(self):
        self.meetings: dict[str, dict] = {}
        self.calls: list[str] = []
        self.crash_after_create = False
        self.fail_creates = 0
        self.attendance: dict[str, list[Attendee] | None] = {}
        self.registrants: dict[str, dict[str, Registrant]] = {}  # meeting id -> lower e-mail -> registrant
        self.registration = True  # new meetings have registration on (approval_type 0)
        self._next = 1000

    def find_meeting(self, marker: str) -> MeetingInfo | None:
        self.calls.append("find")
        for mid, m in self.meetings.items():
            if marker in m["agenda"]:
                return self._info(mid)
        return None

    def get_meeting(self, meeting_id: str) -> MeetingInfo | None:
        self.calls.append("get")
        return self._info(meeting_id) if meeting_id in self.meetings else None

    def create_meeting(self, spec: MeetingSpec) -> MeetingInfo:
        self.calls.append("create")
        if self.fail_creates:
            self.fail_creates -= 1
            raise TransientError("zoom", "503 Service Unavailable", status=503)
        self._next += 1
        mid = str(self._next)
        self.meetings[mid] = {"topic": spec.topic, "start": spec.start, "duration": spec.duration_minutes,
                              "agenda": spec.agenda, "registration": self.registration}
        if self.crash_after_create:
            self.crash_after_create = False
            raise SimulatedCrash()
        return self._info(mid)

    def update_meeting(self, meeting_id: str, spec: MeetingSpec, previous: MeetingSpec | None) -> None:
        self.calls.append("update")
        self.meetings[meeting_id].update(topic=spec.topic, start=spec.start, duration=spec.duration_minutes,
                                         agenda=spec.agenda)

    def delete_meeting(self, meeting_id: str) -> None:
        self.calls.append("delete")
        self.meetings.pop(meeting_id, None)

    def fetch_participants(self, meeting_id: str, scheduled_start: datetime) -> list[ParticipantRecord] | None:
        """``attendance`` rows as join records (one stay each, their minutes long), as Zoom lists them."""
        self.calls.append("attendance")
        rows = self.attendance.get(meeting_id)
        if rows is None:
            return None
        return [ParticipantRecord(a.name, a.email, "", a.first_join, a.last_leave, a.minutes * 60,
                                  registrant_id=a.registrant_id, internal=a.internal)
                for a in rows]

    def register(self, meeting_id: str, people: list[Recipient]) -> list[Registrant]:
        """Zoom's batch registration: at most 30, the same e-mail gets the same registrant."""
        assert 1 <= len(people) <= 30, len(people)
        self.calls.append("register")
        book = self.registrants.setdefault(meeting_id, {})
        for p in people:
            book.setdefault(p.email.lower(), Registrant(p.email, p.name, f"r-{meeting_id}-{p.email}",
                                                        f"https://zoom.example/w/{meeting_id}?tk={p.email}"))
        return [book[p.email.lower()] for p in people]

    def enable_registration(self, meeting_id: str) -> MeetingInfo:
        self.calls.append("enable_registration")
        self.meetings[meeting_id]["registration"] = True
        return self._info(meeting_id)

    def list_registrants(self, meeting_id: str) -> list[Registrant]:
        self.calls.append("list_registrants")
        return list(self.registrants.get(meeting_id, {}).values())

    def cancel_registrants(self, meeting_id: str, emails: list[str]) -> None:
        self.calls.append("cancel_registrants")
        for email in emails:
            self.registrants.get(meeting_id, {}).pop(email.lower(), None)

    def _info(self, mid: str) -> MeetingInfo:
        m = self.meetings[mid]
        return MeetingInfo(meeting_id=mid, join_url=f"https://zoom.example/j/{mid}", passcode="abc123",
                           uuid=f"uuid-{mid}", topic=m["topic"], start=m["start"], duration_minutes=m["duration"],
                           registration_url=f"https://zoom.example/meeting/register/{mid}"
                           if m.get("registration", self.registration) else "")


class FakeCalendar:
    """Events in a dict."""

    def __init__(self):
        self.events: dict[str, EventSpec] = {}
        self.calls: list[str] = []

    def upsert_event(self, event: EventSpec, known: bool = False) -> bool:
        self.calls.append("upsert")
        self.events[event.event_id] = event
        return True

    def cancel_event(self, event_id: str) -> None:
        self.calls.append("cancel")
        self.events.pop(event_id, None)


class FakeSheets:
    """Tabs and summary rows in dicts."""

    def __init__(self):
        self.tabs: dict[str, list[Attendee]] = {}
        self.summary: dict[str, SummaryRow] = {}
        self.calls: list[str] = []

    def sync_session(self, tab_title: str, attendees: Sequence[Attendee], summary: SummaryRow,
                     layout: dict | None = None) -> dict | None:
        self.calls.append("sync")
        self.tabs[tab_title] = list(attendees)
        self.summary[tab_title] = summary


class FakeMail:
    """Collects (recipient, message); can refuse some addresses or crash after N sends."""

    def __init__(self):
        self.sent: list[tuple[str, EmailMessage]] = []
        self.refuse: set[str] = set()
        self.crash_after: int | None = None
        self.connections = 0

    @contextlib.contextmanager
    def connect(self) -> Iterator["FakeMail"]:
        self.connections += 1
        yield self

    def send(self, message: EmailMessage, recipient: str) -> None:
        if recipient in self.refuse:
            raise PermanentMailError("smtp", f"550 no such user <{recipient}>", status=550)
        self.sent.append((recipient, message))
        if self.crash_after is not None and len(self.sent) >= self.crash_after:
            self.crash_after = None
            raise SimulatedCrash()

    def kinds(self) -> list[str]:
        return [m["X-Kind"] for _, m in self.sent]


class FakeComposer:
    """Minimal messages that record kind and sequence in headers."""

    def message(self, kind: str, session: Session, meeting: MeetingInfo, recipient: Recipient, *,
                sequence: int, previous: Session | None = None, extra: dict | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["To"] = recipient.email
        msg["Subject"] = f"{kind}: {session.topic}"
        msg["X-Kind"] = kind
        msg["X-Sequence"] = str(sequence)
        msg["X-Previous-Topic"] = previous.topic if previous else ""
        msg["X-Name"] = recipient.name
        msg.set_content(f"{session.topic}\n{meeting.join_url}\n")
        return msg

    def event_description(self, session: Session, meeting: MeetingInfo) -> str:
        return f"{session.topic}\n{meeting.join_url}"
