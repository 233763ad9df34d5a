"""The .ics calendar object attached to series mail (iTIP REQUEST or CANCEL).

Built with ``icalendar`` because time zones, escaping and line folding are easy to get
wrong by hand. The UID is stable per session, so a change notice (SEQUENCE+1) or a
cancellation updates the event a calendar already holds instead of adding a second one.

The VTIMEZONE block is the costly part: icalendar derives it from the zone's rules by probing
every hour of the range (about 38 ms; issue 18 measured 69% of composing). It depends only on the
zone and the range, so a :class:`ZoneCache` builds it once and every later message reuses the
bytes, as icalendar's documentation advises for ``Timezone.from_tzinfo``. The rest of a session's
.ics is the same for its recipients but a few lines (:data:`PERSONAL`), which are written
directly (:func:`quick_personal_lines`: icalendar's TEXT escaping, its parameter quoting for a
plain name, its folding) once the first PROBES of a session matched what icalendar writes.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress, vText
from icalendar.parser.string import _escape_char  # icalendar's TEXT escaping: the same escapes, or we are wrong

from worker.core.model import MeetingInfo, Recipient, SeriesInfo, Session

PRODID = "-//webinar-worker//Webinar Kamis//ID"  # identifies the producer to calendar programs
METHODS = ("REQUEST", "CANCEL")  # the iTIP methods series mail uses
TIMEZONE_MARGIN = timedelta(days=400)  # VTIMEZONE rules cover the session +- this, not 1970-2038
PROBES = 2  # recipients whose own lines are written both ways before the direct way is trusted
FOLD_AT = 74  # icalendar starts a new line before the octet that would make 75
PLAIN_CN = re.compile(r"[^\x00-\x1f\x7f\"^,;:\u2019\\\\]*")  # a CN icalendar writes as it is (maybe in quotes)
PERSONAL = ("DTSTAMP", "DESCRIPTION", "LOCATION", "URL", "ATTENDEE")  # event lines that differ per recipient


def event_uid(session: Session) -> str:
    """``webinar-kamis-2027-01-14@webinar-worker``: the same for every mail about one session."""
    return f"{session.series}-{session.key}@webinar-worker"


class IcsCache:
    """What many .ics share, made once: VTIMEZONE blocks per (zone, range), and each session's event lines.

    One per composer (no module state). An event's lines are all the same for a session's recipients
    but DTSTAMP, ATTENDEE, DESCRIPTION, LOCATION and URL (:data:`PERSONAL`); the others are kept as
    bytes after the first .ics of the session and reused.
    """

    def __init__(self) -> None:
        self.blocks: dict[tuple[str, date, date], bytes | None] = {}  # None: icalendar does not know the zone
        self.built = 0  # blocks derived from the zone rules so far
        self.skeletons: dict[tuple, list[bytes | str] | None] = {}  # event key -> chunks; None: not reusable
        self.checked: dict[tuple, int] = {}  # event key -> personal lines written both ways; -1: icalendar's only

    def personal(self, key: tuple, session: Session, meeting: MeetingInfo, description: str,
                 attendee: Recipient | None, stamp: datetime) -> dict[str, bytes]:
        """One recipient's own event lines: written directly once the first PROBES of ``key`` matched icalendar's."""
        checked = self.checked.get(key, 0)
        quick = quick_personal_lines(session, meeting, description, attendee, stamp) if checked >= 0 else None
        if quick is not None and checked >= PROBES:
            return quick
        lines = personal_lines(session, meeting, description, attendee, stamp)
        if quick is not None:
            self.checked[key] = checked + 1 if quick == lines else -1
        return lines

    def block(self, tzid: str, first: date, last: date) -> bytes | None:
        """``BEGIN:VTIMEZONE ... END:VTIMEZONE`` for ``tzid`` over the range, or None for an unknown zone."""
        key = (tzid, first, last)
        if key not in self.blocks:
            try:
                self.blocks[key] = Timezone.from_tzid(tzid, first_date=first, last_date=last).to_ical()
            except ValueError:  # add_missing_timezones skips a zone it cannot find, and so do we
                self.blocks[key] = None
            self.built += 1
        return self.blocks[key]


ZoneCache = IcsCache  # the name the VTIMEZONE cache had first


def build_ics(session: Session, meeting: MeetingInfo, series: SeriesInfo, *, sequence: int, method: str,
              organizer_email: str, description: str = "", attendee: Recipient | None = None,
              stamp: datetime | None = None, zones: IcsCache | None = None) -> bytes:
    """A VCALENDAR with one VEVENT (and its VTIMEZONE) for ``session``, as bytes with CRLF lines.

    ``method`` is ``REQUEST`` (invitation, reminder, change) or ``CANCEL``; ``sequence`` must
    grow with every change; ``stamp`` is DTSTAMP (now when omitted); ``zones`` keeps VTIMEZONE
    blocks and each session's shared event lines between calls (without it each call builds all).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    stamp = stamp or datetime.now(timezone.utc)
    if zones is None:
        return whole_ics(session, meeting, series, sequence=sequence, method=method, organizer_email=organizer_email,
                         description=description, attendee=attendee, stamp=stamp, zones=IcsCache())
    key = (session, series, sequence, method, organizer_email, bool(meeting.join_url), attendee is not None)
    skeleton = zones.skeletons.get(key)
    if skeleton is not None:
        lines = zones.personal(key, session, meeting, description, attendee, stamp)
        return b"".join(c if isinstance(c, bytes) else lines.get(c, b"") for c in skeleton)
    data = whole_ics(session, meeting, series, sequence=sequence, method=method, organizer_email=organizer_email,
                     description=description, attendee=attendee, stamp=stamp, zones=zones)
    if key not in zones.skeletons:
        zones.skeletons[key] = learn_skeleton(data, personal_lines(session, meeting, description, attendee, stamp))
    return data


def whole_ics(session: Session, meeting: MeetingInfo, series: SeriesInfo, *, sequence: int, method: str,
              organizer_email: str, description: str, attendee: Recipient | None, stamp: datetime,
              zones: IcsCache) -> bytes:
    """The .ics made whole by icalendar (VTIMEZONE blocks from ``zones``)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add_component(build_event(session, meeting, series, sequence=sequence, method=method,
                                       organizer_email=organizer_email, description=description,
                                       attendee=attendee, stamp=stamp))
    return with_timezones(calendar, zones, session.date - TIMEZONE_MARGIN, session.date + TIMEZONE_MARGIN)


def personal_lines(session: Session, meeting: MeetingInfo, description: str, attendee: Recipient | None,
                   stamp: datetime) -> dict[str, bytes]:
    """One recipient's own event lines (folded, CRLF), by property name, serialised by icalendar itself."""
    event = Event()
    add_personal(event, session, meeting, description, attendee, stamp)
    lines: dict[str, bytes] = {}
    for line in event.content_lines():  # what event.to_ical() joins, before folding
        name = line.split(":", 1)[0].split(";", 1)[0].upper()
        if line and name in PERSONAL:
            lines[name] = lines.get(name, b"") + fold(str(line)) + b"\r\n"
    return lines


def fold(line: str) -> bytes:
    """RFC 5545 folding exactly as icalendar's own, faster: lines of at most 74 octets, a character never cut,
    and an escape (``\\`` or ``^``) kept with the character it escapes.

    icalendar folds character by character; here the UTF-8 bytes are cut in slices of 74, moved back
    to the start of a character. Tests compare the two on many lines, and the first .ics of each
    session is compared whole (:func:`learn_skeleton`).
    """
    data = line.encode("utf-8")
    parts, start, size = [], 0, len(data)
    while size - start > FOLD_AT:
        cut = start + FOLD_AT
        while data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: the character starts earlier
            cut -= 1
        if data[cut - 1] in b"\\^" and cut - 1 > start:
            cut -= 1
        parts.append(data[start:cut])
        start = cut
    parts.append(data[start:])
    return b"\r\n ".join(parts)


def quick_personal_lines(session: Session, meeting: MeetingInfo, description: str, attendee: Recipient | None,
                         stamp: datetime) -> dict[str, bytes] | None:
    """:func:`personal_lines` written directly (RFC 5545 TEXT escaping, parameter quoting, folding), or None
    for a name whose parameter needs more than plain quoting (then icalendar writes it)."""
    lines = {"DTSTAMP": b"DTSTAMP:" + stamp.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ").encode() + b"\r\n",
             "DESCRIPTION": fold("DESCRIPTION:" + _escape_char(description or session.description)) + b"\r\n"}
    if meeting.join_url:
        lines["LOCATION"] = fold("LOCATION:" + _escape_char(meeting.join_url)) + b"\r\n"
        lines["URL"] = fold("URL:" + meeting.join_url) + b"\r\n"
    if attendee is not None:
        params = "PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=FALSE"
        if attendee.name:
            name = " ".join(attendee.name.split())
            if not PLAIN_CN.fullmatch(name):
                return None
            params = (f'CN="{name}";' if " " in name or "'" in name else f"CN={name};") + params
        lines["ATTENDEE"] = fold(f"ATTENDEE;{params}:mailto:{attendee.email}") + b"\r\n"
    return lines


def learn_skeleton(data: bytes, personal: dict[str, bytes]) -> list[bytes | str] | None:
    """``data`` cut into shared bytes and the places of the personal lines; None unless it rebuilds ``data``."""
    chunks: list[bytes | str] = []
    in_event = False
    for name, line in logical_lines(data):
        in_event = (in_event or line.startswith(b"BEGIN:VEVENT\r\n")) and not line.startswith(b"END:VEVENT\r\n")
        if in_event and name in PERSONAL:
            if not chunks or chunks[-1] != name:
                chunks.append(name)
        elif chunks and isinstance(chunks[-1], bytes):
            chunks[-1] += line
        else:
            chunks.append(line)
    rebuilt = b"".join(c if isinstance(c, bytes) else personal.get(c, b"") for c in chunks)
    return chunks if rebuilt == data and len(set(c for c in chunks if isinstance(c, str))) == \
        sum(1 for c in chunks if isinstance(c, str)) else None


def logical_lines(data: bytes) -> list[tuple[str, bytes]]:
    """(property name, the line with its folded continuations and CRLF) for each content line of ``data``."""
    out: list[tuple[str, bytes]] = []
    for physical in data.split(b"\r\n")[:-1]:
        if physical.startswith(b" ") and out:
            name, line = out[-1]
            out[-1] = (name, line + physical + b"\r\n")
        else:
            name = physical.split(b":", 1)[0].split(b";", 1)[0].decode("ascii", "replace").upper()
            out.append((name, physical + b"\r\n"))
    return out


def with_timezones(calendar: Calendar, zones: IcsCache, first: date, last: date) -> bytes:
    """``calendar.to_ical()`` with the VTIMEZONE blocks it needs, first among its components.

    The same bytes as ``add_missing_timezones`` followed by ``to_ical`` (which insert them before the
    VEVENT), but each block comes from the cache instead of being derived again.
    """
    blocks = [b for tzid in calendar.get_missing_tzids() if (b := zones.block(tzid, first, last)) is not None]
    data = calendar.to_ical()
    if not blocks:
        return data
    at = data.index(b"\r\nBEGIN:VEVENT\r\n") + 2
    return data[:at] + b"".join(block for block in blocks) + data[at:]


def build_event(session: Session, meeting: MeetingInfo, series: SeriesInfo, *, sequence: int, method: str,
                organizer_email: str, description: str, attendee: Recipient | None,
                stamp: datetime | None) -> Event:
    """The VEVENT: times in the session's zone (with TZID), the join link as LOCATION and URL."""
    zone = ZoneInfo(session.timezone)
    event = Event()
    event.add("uid", event_uid(session))
    event.add("sequence", sequence)
    event.add("dtstart", session.start.astimezone(zone))
    event.add("dtend", session.end.astimezone(zone))
    event.add("summary", f"{series.title}: {' '.join(session.topic.split())}")
    event.add("organizer", organizer(series, organizer_email))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    add_personal(event, session, meeting, description, attendee, stamp)  # icalendar writes properties sorted
    return event


def add_personal(event: Event, session: Session, meeting: MeetingInfo, description: str,
                 attendee: Recipient | None, stamp: datetime | None) -> None:
    """The properties that differ between recipients (:data:`PERSONAL`): the stamp, their link, their name."""
    event.add("dtstamp", (stamp or datetime.now(timezone.utc)).astimezone(timezone.utc))
    event.add("description", description or session.description)
    if meeting.join_url:
        event.add("location", meeting.join_url)
        event.add("url", meeting.join_url)
    if attendee is not None:
        event.add("attendee", attendee_address(attendee))


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
