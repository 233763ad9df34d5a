"""Every port of the engine in one object that answers at once and counts remote calls, for benchmarks.

The benchmarks measure the worker's own cost, so the stand-ins do as little as possible: meetings are
a dict, everything else is only counted. (The tests' fakes in tests/fakes.py have failure switches
and keep what was sent; benchmarks need neither and must not depend on the test suite.)
"""
from __future__ import annotations

import contextlib
from collections import Counter
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Iterator, Sequence

from worker.core.model import Attendee, EventSpec, MeetingInfo, MeetingSpec, Recipient, Session, SummaryRow


class InstantServices:
    """Conferencing, Calendar, AttendanceSheet, MailTransport and Composer at once; ``calls`` counts remote ones."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()  # remote method name -> calls (the Composer is local: not counted)
        self._meetings: dict[str, MeetingSpec] = {}  # meeting id -> what was asked for

    # -- Conferencing
    def find_meeting(self, marker: str) -> MeetingInfo | None:
        """No meeting is ever found: the worker made none before."""
        self.calls["find_meeting"] += 1
        return None

    def get_meeting(self, meeting_id: str) -> MeetingInfo | None:
        """The meeting as created."""
        self.calls["get_meeting"] += 1
        return self._info(meeting_id) if meeting_id in self._meetings else None

    def create_meeting(self, spec: MeetingSpec) -> MeetingInfo:
        """Make the meeting at once."""
        self.calls["create_meeting"] += 1
        meeting_id = str(1000 + len(self._meetings))
        self._meetings[meeting_id] = spec
        return self._info(meeting_id)

    def update_meeting(self, meeting_id: str, spec: MeetingSpec, previous: MeetingSpec | None) -> None:
        """Take the new spec."""
        self.calls["update_meeting"] += 1
        self._meetings[meeting_id] = spec

    def delete_meeting(self, meeting_id: str) -> None:
        """Forget the meeting."""
        self.calls["delete_meeting"] += 1
        self._meetings.pop(meeting_id, None)

    def fetch_attendance(self, meeting_id: str, scheduled_start: datetime) -> list[Attendee] | None:
        """Nobody came."""
        self.calls["fetch_attendance"] += 1
        return []

    def _info(self, meeting_id: str) -> MeetingInfo:
        spec = self._meetings[meeting_id]
        return MeetingInfo(meeting_id=meeting_id, join_url=f"https://zoom.example/j/{meeting_id}", passcode="x1",
                           uuid=f"uuid-{meeting_id}", topic=spec.topic, start=spec.start,
                           duration_minutes=spec.duration_minutes)

    # -- Calendar and AttendanceSheet
    def upsert_event(self, event: EventSpec, known: bool = False) -> bool:
        """Count one write."""
        self.calls["upsert_event"] += 1
        return True

    def cancel_event(self, event_id: str) -> None:
        """Count one write."""
        self.calls["cancel_event"] += 1

    def sync_session(self, tab_title: str, attendees: Sequence[Attendee], summary: SummaryRow,
                     layout: dict | None = None) -> dict | None:
        """Count one write."""
        self.calls["sync_session"] += 1

    # -- MailTransport and its connection
    @contextlib.contextmanager
    def connect(self) -> Iterator["InstantServices"]:
        """One connection per batch; this object is also the connection."""
        self.calls["connect"] += 1
        yield self

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Accept the message."""
        self.calls["send"] += 1

    # -- Composer (local work: not counted)
    def message(self, kind: str, session: Session, meeting: MeetingInfo, recipient: Recipient,
                **options: Any) -> EmailMessage:
        """A minimal mail naming the kind and the topic."""
        msg = EmailMessage()
        msg["To"] = recipient.email
        msg["Subject"] = f"{kind}: {session.topic}"
        msg.set_content(meeting.join_url)
        return msg

    def event_description(self, session: Session, meeting: MeetingInfo) -> str:
        """The topic and the join link."""
        return f"{session.topic}\n{meeting.join_url}"
