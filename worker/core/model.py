"""Domain values shared by the planner, the engine and the integrations.

Plain frozen dataclasses: no I/O here. Integrations receive and return these,
so the engine never sees a vendor's JSON.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

UTC = timezone.utc


@dataclass(frozen=True, order=True)
class SessionKey:
    """A session's identity: its series and its local date. Stable across edits of topic or time.

    Its text form ``series/2027-01-14`` (:attr:`Session.uid`) is what storage and logs use.
    """

    series: str  # series id, e.g. "webinar-kamis"
    date: date  # local date of the session

    @classmethod
    def parse(cls, text: str) -> "SessionKey":
        """Read the text form ``series/YYYY-MM-DD``; ValueError names what was expected."""
        series, sep, day = text.rpartition("/")
        try:
            return cls(series, date.fromisoformat(day)) if sep and series else cls._bad(text)
        except ValueError:
            return cls._bad(text)

    @staticmethod
    def _bad(text: str) -> "SessionKey":
        raise ValueError(f"{text!r} is not a session uid (expected series/YYYY-MM-DD)")

    @property
    def day(self) -> str:
        """The date as ISO text, the key within the series (e.g. ``2027-01-14``)."""
        return self.date.isoformat()

    def __str__(self) -> str:
        return f"{self.series}/{self.day}"


@dataclass(frozen=True)
class Session:
    """One planned webinar session, as the settings ask for it."""

    series: str  # series id, e.g. "webinar-kamis"
    date: date  # local date of the session; with ``series`` it is the stable key
    start: datetime  # aware datetime in the series' time zone
    duration_minutes: int  # length of the meeting
    timezone: str  # IANA zone name, e.g. "Asia/Makassar"
    topic: str  # title staff typed (<= 200 characters)
    speaker: str = ""  # speaker name(s)
    audience: str = ""  # who it is for, free text shown in mails
    description: str = ""  # longer text shown in mails and the calendar
    groups: tuple[str, ...] = ()  # recipient groups targeted; empty means everyone
    cancelled: bool = False  # True when staff cancelled this date
    recording_url: str = ""  # link to the recording, once staff add it

    @property
    def key(self) -> str:
        """The session key within its series: the ISO date, stable across edits."""
        return self.date.isoformat()

    @property
    def session_key(self) -> SessionKey:
        """Series and date as one value."""
        return SessionKey(self.series, self.date)

    @property
    def uid(self) -> str:
        """Globally stable id for series + session, e.g. ``webinar-kamis/2027-01-14``."""
        return str(self.session_key)

    @property
    def end(self) -> datetime:
        """End time, aware, in the series' zone."""
        return self.start + timedelta(minutes=self.duration_minutes)

    @property
    def start_utc(self) -> datetime:
        """Start time in UTC."""
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """End time in UTC."""
        return self.end.astimezone(UTC)

    def marker(self) -> str:
        """The tag written into the Zoom agenda so a meeting can be found again after a crash."""
        return meeting_marker(self.series, self.key)


def meeting_marker(series: str, key: str) -> str:
    """Marker text for a meeting of ``series`` on session ``key``."""
    return f"[webinar-worker:{series}/{key}]"


def calendar_event_id(series: str, key: str) -> str:
    """Deterministic Google Calendar event id for a session: 32 base32hex characters (``0-9a-v`` only)."""
    digest = hashlib.sha256(f"{series}/{key}".encode()).digest()[:20]
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


@dataclass(frozen=True)
class MeetingSpec:
    """What the worker wants a Zoom meeting to look like."""

    topic: str  # meeting topic (Zoom allows 200 characters)
    start: datetime  # aware start time
    timezone: str  # IANA zone shown to participants
    duration_minutes: int  # scheduled length
    agenda: str  # description; contains the session marker


@dataclass(frozen=True)
class MeetingInfo:
    """What exists on Zoom for a session."""

    meeting_id: str  # numeric meeting id, as a string
    join_url: str  # link attendees use
    passcode: str = ""  # meeting passcode ("" when none)
    uuid: str = ""  # UUID of the scheduled instance, when known
    topic: str = ""  # topic as Zoom has it
    start: datetime | None = None  # start as Zoom has it (aware), when known
    duration_minutes: int | None = None  # duration as Zoom has it
    registration_url: str = ""  # public registration page; "" when the meeting has no registration


@dataclass(frozen=True)
class Registrant:
    """One person registered for one meeting: their personal link is theirs alone."""

    email: str  # the address registered (as Zoom has it)
    name: str  # the name registered (first and last name joined)
    registrant_id: str  # Zoom's registrant id; participant records carry it
    join_url: str = ""  # the person's own join link ("" when Zoom did not list it)


@dataclass(frozen=True)
class ParticipantRecord:
    """One join of one person, as a participant report lists it."""

    name: str  # display name typed by the participant
    email: str  # may be ""
    participant_id: str  # Zoom's participant user id or id, may be ""
    join_time: datetime  # aware UTC
    leave_time: datetime  # aware UTC
    duration_seconds: int  # seconds in this stay
    registrant_id: str = ""  # set when the person joined through their personal registrant link
    internal: bool = False  # a user of the host's Zoom account (Zoom's ``internal_user``)


@dataclass(frozen=True)
class Attendee:
    """One person's attendance at a session, rejoins merged."""

    name: str  # display name (first seen)
    email: str  # lower-cased, may be ""
    first_join: datetime  # aware UTC
    last_leave: datetime  # aware UTC
    minutes: int  # total minutes over all stays, rounded
    joins: int  # number of stays merged into this row
    registrant_id: str = ""  # Zoom registrant id, when the person joined through their personal link
    registered_name: str = ""  # the name the person registered or is listed with; "" when unknown
    identified: bool = False  # tied to a known person (registrant, internal e-mail, unique list name)
    staff: bool = False  # host or staff: shown, not counted as audience, no certificate
    internal: bool = False  # a user of the host's Zoom account


@dataclass(frozen=True)
class EventSpec:
    """What the worker wants a Google Calendar event to look like."""

    event_id: str  # deterministic id from :func:`calendar_event_id`
    summary: str  # event title
    description: str  # rendered from templates/
    start: datetime  # aware
    end: datetime  # aware
    timezone: str  # IANA zone
    location: str = ""  # the join URL
    private: dict[str, str] = field(default_factory=dict)  # extendedProperties.private


@dataclass(frozen=True)
class SummaryRow:
    """One session's line on the season summary tab."""

    date: date  # session date
    topic: str  # topic
    speaker: str  # speaker
    invited: int  # people invitations were sent to
    attended: int  # unique attendees (staff not counted)
    average_minutes: float  # mean minutes per attendee, 0 when nobody came
    registered: int = 0  # people registered on Zoom (invitees and self-registered)
    identified: int = 0  # attendees tied to a known person
    guests: int = 0  # attendees nobody could be tied to


@dataclass(frozen=True)
class Recipient:
    """A person on a mailing list."""

    email: str  # normalised (lower-case, trimmed)
    name: str = ""  # display name, may be ""
    group: str = ""  # group used for per-session targeting, may be ""


@dataclass(frozen=True)
class SeriesInfo:
    """Who sends the series' mail and how it is shown: what templates need besides the session."""

    series: str  # series id, e.g. "webinar-kamis"
    title: str  # "Webinar Kamis Perpustakaan"
    organizer: str  # the library's name
    contact: str  # contact line shown in mails (phone, WhatsApp, address)
    locale: str  # babel locale for dates, e.g. "id_ID"
    timezone: str  # IANA zone of the series
    sender_name: str  # From display name
    sender_address: str  # From address
    reply_to: str = ""  # Reply-To address, may be ""
    unsubscribe_url: str = ""  # mailto: or https: link for List-Unsubscribe, may be ""
    tone: str = "ramah"  # mail.tone: "ramah" (friendly) or "resmi" (formal); templates read it as `tone`
    also_zones: tuple[str, ...] = ()  # series.also_show_zones: other IANA zones the time is also written in
