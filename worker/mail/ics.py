"""The .ics calendar object attached to series mail (iTIP REQUEST or CANCEL).

Built with ``icalendar`` because time zones, escaping and line folding are easy to get
wrong by hand. The UID is stable per session, so a change notice (SEQUENCE+1) or a
cancellation updates the event a calendar already holds instead of adding a second one.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from worker.core.model import MeetingInfo, Recipient, SeriesInfo, Session

PRODID = "-//webinar-worker//Webinar Kamis//ID"  # identifies the producer to calendar programs
METHODS = ("REQUEST", "CANCEL")  # the iTIP methods series mail uses
TIMEZONE_MARGIN = timedelta(days=400)  # VTIMEZONE rules cover the session +- this, not 1970-2038


def event_uid(session: Session) -> str:
    """``webinar-kamis-2027-01-14@webinar-worker``: the same for every mail about one session."""
    return f"{session.series}-{session.key}@webinar-worker"


def build_ics(session: Session, meeting: MeetingInfo, series: SeriesInfo, *, sequence: int, method: str,
              organizer_email: str, description: str = "", attendee: Recipient | None = None,
              stamp: datetime | None = None) -> bytes:
    """A VCALENDAR with one VEVENT (and its VTIMEZONE) for ``session``, as bytes with CRLF lines.

    ``method`` is ``REQUEST`` (invitation, reminder, change) or ``CANCEL``; ``sequence`` must
    grow with every change; ``stamp`` is DTSTAMP (now when omitted).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add_component(build_event(session, meeting, series, sequence=sequence, method=method,
                                       organizer_email=organizer_email, description=description,
                                       attendee=attendee, stamp=stamp))
    calendar.add_missing_timezones(first_date=session.date - TIMEZONE_MARGIN,
                                   last_date=session.date + TIMEZONE_MARGIN)
    return calendar.to_ical()


def build_event(session: Session, meeting: MeetingInfo, series: SeriesInfo, *, sequence: int, method: str,
                organizer_email: str, description: str, attendee: Recipient | None,
                stamp: datetime | None) -> Event:
    """The VEVENT: times in the session's zone (with TZID), the join link as LOCATION and URL."""
    zone = ZoneInfo(session.timezone)
    event = Event()
    event.add("uid", event_uid(session))
    event.add("sequence", sequence)
    event.add("dtstamp", (stamp or datetime.now(timezone.utc)).astimezone(timezone.utc))
    event.add("dtstart", session.start.astimezone(zone))
    event.add("dtend", session.end.astimezone(zone))
    event.add("summary", f"{series.title}: {' '.join(session.topic.split())}")
    event.add("description", description or session.description)
    if meeting.join_url:
        event.add("location", meeting.join_url)
        event.add("url", meeting.join_url)
    event.add("organizer", organizer(series, organizer_email))
    if attendee is not None:
        event.add("attendee", attendee_address(attendee))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def organizer(series: SeriesInfo, email: str) -> vCalAddress:
    """ORGANIZER with the sender's display name as CN."""
    address = vCalAddress(f"mailto:{email}")
    if series.sender_name:
        address.params["cn"] = vText(" ".join(series.sender_name.split()))
    return address


def attendee_address(recipient: Recipient) -> vCalAddress:
    """ATTENDEE for the one recipient of this copy; RSVP=FALSE because replies are not collected."""
    address = vCalAddress(f"mailto:{recipient.email}")
    if recipient.name:
        address.params["cn"] = vText(" ".join(recipient.name.split()))
    address.params["role"] = vText("REQ-PARTICIPANT")
    address.params["partstat"] = vText("NEEDS-ACTION")
    address.params["rsvp"] = vText("FALSE")
    return address
