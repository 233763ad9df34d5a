"""Mail near the wire's limit (issue 18): what the speed-up must keep, counted where people would notice.

- What a person receives is what they received before the speed-up: the same headers, bodies and .ics,
  byte for byte, apart from the MIME boundaries (random in every message, before and after). The
  golden files in tests/golden_mail/ were written by the composer as it was before the change.
- A tick opens one SMTP connection however many batches and sessions it sends (counted at the server),
  and a connection the server drops is reopened once, with nobody mailed twice.
- The VTIMEZONE block is built once per zone, not once per message (counted at icalendar's seam).
"""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

from tests.helpers_smtp import TEMPLATES
from worker.core.clock import FixedClock
from worker.core.model import MeetingInfo, Recipient, Session
from worker.mail.composer import MailComposer
from worker.mail.render import sample_meeting, sample_previous, sample_series, sample_session

UTC = timezone.utc
GOLDEN = Path(__file__).resolve().parent / "golden_mail"  # messages as the composer made them before issue 18
BOUNDARY = re.compile(rb'boundary="([^"]+)"')
PEOPLE = (Recipient("budi@example.org", "Budi Santoso"),
          Recipient("siti.nurhaliza@example.org", "Siti Nurhaliza Ümmü — Daeng Ngai"),
          Recipient("tanpa.nama@example.org", ""),
          Recipient("panjang@example.org", "Andi Muhammad Fadhlurrahman Syahputra Wijayakusuma Ramadhan Pratama"))


def golden_messages() -> list[tuple[str, EmailMessage]]:
    """Every kind the composer makes, for several people of one session, plus a zone with daylight saving."""
    series = sample_series()
    session = sample_session(series)
    clock = FixedClock(datetime(2027, 1, 10, 3, 4, 5, tzinfo=UTC))
    composer = MailComposer(TEMPLATES, series, clock=clock, certificates=False)
    out: list[tuple[str, EmailMessage]] = []
    for kind, sequence, previous, extra in (("invitation", 0, None, None), ("reminder", 0, None, None),
                                            ("change", 1, sample_previous(session), None),
                                            ("cancellation", 2, None, None), ("thankyou", 0, None, {"minutes": 75})):
        for number, person in enumerate(PEOPLE):
            meeting = personal(sample_meeting(), person) if number % 2 else sample_meeting()
            out.append((f"{kind}-{number}", composer.message(kind, session, meeting, person, sequence=sequence,
                                                             previous=previous, extra=extra)))
    berlin = berlin_session(session)
    out.append(("invitation-berlin", composer.message("invitation", berlin, sample_meeting(), PEOPLE[0], sequence=0)))
    return out


def personal(meeting: MeetingInfo, person: Recipient) -> MeetingInfo:
    """The meeting with this person's own registrant link."""
    return MeetingInfo(meeting.meeting_id, f"https://zoom.us/w/85012345678?tk={person.email}", meeting.passcode,
                       registration_url=meeting.registration_url)


def berlin_session(session: Session) -> Session:
    """The same session in a zone with daylight saving (its VTIMEZONE has STANDARD and DAYLIGHT rules)."""
    from dataclasses import replace
    from zoneinfo import ZoneInfo
    return replace(session, timezone="Europe/Berlin", start=session.start.astimezone(ZoneInfo("Europe/Berlin")))


def normalised(message: EmailMessage) -> bytes:
    """The message as sent, its random MIME boundaries renamed in order of appearance."""
    data = message.as_bytes()
    for number, boundary in enumerate(dict.fromkeys(BOUNDARY.findall(data))):
        data = data.replace(boundary, f"BOUNDARY-{number}".encode())
    return data


def test_every_message_is_byte_for_byte_what_people_got_before() -> None:
    made = golden_messages()
    assert len(made) == 21
    for name, message in made:
        expected = (GOLDEN / f"{name}.eml").read_bytes()
        assert normalised(message) == expected, f"{name} differs from tests/golden_mail/{name}.eml"
