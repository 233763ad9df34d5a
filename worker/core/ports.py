"""The interfaces the reconcile engine drives; real clients and test fakes both satisfy them."""
from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Callable, ContextManager, Protocol, Sequence, runtime_checkable

from worker.core.model import (Attendee, EventSpec, MeetingInfo, MeetingSpec, ParticipantRecord, Recipient,
                               Registrant, Session, SummaryRow)


class Conferencing(Protocol):
    """Creates and maintains meetings and reads attendance (Zoom)."""

    def find_meeting(self, marker: str) -> MeetingInfo | None:
        """Return a meeting whose agenda contains ``marker`` among the host's scheduled ones."""

    def get_meeting(self, meeting_id: str) -> MeetingInfo | None:
        """Return the meeting, or None when it no longer exists."""

    def create_meeting(self, spec: MeetingSpec) -> MeetingInfo:
        """Create a scheduled meeting and return what Zoom made."""

    def update_meeting(self, meeting_id: str, spec: MeetingSpec, previous: MeetingSpec | None) -> None:
        """Change the meeting to match ``spec``, sending only the fields that differ from ``previous``."""

    def delete_meeting(self, meeting_id: str) -> None:
        """Delete the meeting; a meeting that is already gone counts as done."""

    def fetch_participants(self, meeting_id: str, scheduled_start: datetime) -> list[ParticipantRecord] | None:
        """Raw join records of the occurrence nearest ``scheduled_start``, or None while not ready yet."""


class Registration(Protocol):
    """Registers people for a meeting and lists who registered (Zoom registration)."""

    def enable_registration(self, meeting_id: str) -> MeetingInfo:
        """Turn registration on for a meeting made without it; the answer carries its registration page."""

    def register(self, meeting_id: str, people: list[Recipient]) -> list[Registrant]:
        """Register up to 30 people in one call; registering someone again returns the same registrant."""

    def list_registrants(self, meeting_id: str) -> list[Registrant]:
        """Every approved registrant, self-registered people included."""

    def cancel_registrants(self, meeting_id: str, emails: list[str]) -> None:
        """Cancel up to 30 registrations."""


class Calendar(Protocol):
    """Keeps one event per session on a shared calendar (Google Calendar)."""

    def upsert_event(self, event: EventSpec, known: bool = False) -> bool:
        """Create or update the event (``known``: the worker wrote it before); True when a write call was made."""

    def cancel_event(self, event_id: str) -> None:
        """Remove the event; an event that is already gone counts as done."""


class AttendanceSheet(Protocol):
    """Writes attendance where the office head reads it (Google Sheets)."""

    def sync_session(self, tab_title: str, attendees: Sequence[Attendee], summary: SummaryRow,
                     layout: dict | None = None) -> dict | None:
        """Overwrite the session's tab and upsert its summary row (at most two write calls); given the layout
        the last sync returned (None before the first), return the one to keep (None: nothing to keep)."""


class MailConnection(Protocol):
    """An open connection to a mail server."""

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Send one message; raise TemporaryMailError or PermanentMailError on refusal."""


@runtime_checkable
class OverlappingMailConnection(MailConnection, Protocol):
    """A mail connection that can run the caller's work while the server reads a message (issue 18)."""

    def send_meanwhile(self, message: EmailMessage, recipient: str, meanwhile: Callable[[], None]) -> None:
        """:meth:`send`, calling ``meanwhile`` at most once while waiting for the server's answer."""


class MailTransport(Protocol):
    """Opens mail connections (SMTP)."""

    def connect(self) -> ContextManager[MailConnection]:
        """Open one connection for a batch; closed when the context exits."""


class Composer(Protocol):
    """Turns a session and a recipient into a finished mail, and renders the event description."""

    def message(self, kind: str, session: Session, meeting: MeetingInfo, recipient: Recipient, *,
                sequence: int, previous: Session | None = None, extra: dict | None = None) -> EmailMessage:
        """The mail of ``kind`` (a value of worker.core.mailkinds.MailKind) for one recipient.

        ``extra`` carries kind-specific values (for thankyou: the attendee's ``minutes``).
        """

    def event_description(self, session: Session, meeting: MeetingInfo) -> str:
        """The calendar event's description."""
