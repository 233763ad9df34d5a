"""Finished email messages: headers, text and HTML bodies, and the .ics invitation.

Structure: multipart/mixed holding multipart/alternative (text/plain, text/html) and a
``text/calendar; method=...`` attachment (``undangan.ics``, or ``pembatalan.ics`` for a
cancellation, whose event carries no join link: the meeting is gone). Addresses go through
``email.headerregistry.Address`` and every header value is collapsed to one line first,
so a name or topic staff typed cannot add a header; names are cleaned of control and bidi
characters and capped, and the subject is capped, so no header line passes SMTP's 998-octet
limit (RFC 5322 section 2.1.1) once folded. An address that is not valid (a CR/LF from a
Zoom report, say) raises PermanentMailError for that one mail. The Message-ID is derived from
(session, kind, sequence, recipient): a retried send carries the same id, which lets
receiving servers and people spot a duplicate.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Callable

from worker.core.cleaning import NAME_MAX, clean_email, clean_name, email_problem, shown
from worker.core.mailkinds import ICS_KINDS, MAIL_KINDS, MailKind
from worker.core.model import MeetingInfo, Recipient, SeriesInfo, Session
from worker.errors import PermanentMailError
from worker.mail.ics import ZoneCache, build_ics
from worker.mail.render import RenderedMail, one_line

ICS_METHODS = ICS_KINDS  # kinds that carry an .ics, and its METHOD: the registry in worker.core.mailkinds
ICS_FILENAME = "undangan.ics"  # attachment name recipients see when the registry names none
DEFAULT_DOMAIN = "webinar-worker.local"  # Message-ID domain when none is known
SUBJECT_MAX = 250  # characters kept of a subject (folded lines stay far below 998 octets)


def build_message(kind: str, rendered: RenderedMail, session: Session, meeting: MeetingInfo, series: SeriesInfo,
                  recipient: Recipient, *, sequence: int, message_domain: str,
                  date: datetime | None = None, zones: ZoneCache | None = None) -> EmailMessage:
    """One message for one recipient; ``date`` (default now) is the Date header and the .ics DTSTAMP.

    ``zones`` keeps the .ics VTIMEZONE blocks from one message to the next (see worker.mail.ics).
    """
    moment = (date or datetime.now(timezone.utc)).astimezone(timezone.utc)
    message = EmailMessage()
    set_headers(message, kind, rendered, session, series, recipient, sequence=sequence,
                message_domain=message_domain, date=moment)
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    ics = calendar_part(kind, rendered, session, meeting, series, recipient, sequence=sequence, date=moment,
                        zones=zones)
    if ics is not None:
        attach_ics(message, ics, ICS_METHODS[kind], ics_filename(kind))
    return message


def calendar_part(kind: str, rendered: RenderedMail, session: Session, meeting: MeetingInfo, series: SeriesInfo,
                  recipient: Recipient, *, sequence: int, date: datetime,
                  zones: ZoneCache | None = None) -> bytes | None:
    """The .ics of one recipient's message, or None for a kind that carries none."""
    method = ICS_METHODS.get(kind)
    if not method:
        return None
    if method == "CANCEL":  # the meeting was deleted: no LOCATION or URL pointing at it
        meeting = replace(meeting, join_url="")
    return build_ics(session, meeting, series, sequence=sequence, method=method,
                     organizer_email=series.sender_address, description=rendered.event_description,
                     attendee=recipient, stamp=date, zones=zones)


def ics_filename(kind: str) -> str:
    """The .ics attachment's name for mail ``kind``: ``pembatalan.ics`` for a cancellation, else ``undangan.ics``."""
    return (MailKind(kind).ics_filename if kind in MAIL_KINDS else "") or ICS_FILENAME


def set_headers(message: EmailMessage, kind: str, rendered: RenderedMail, session: Session, series: SeriesInfo,
                recipient: Recipient, *, sequence: int, message_domain: str, date: datetime) -> None:
    """From, To, Subject, Reply-To, Date, Message-ID and the List-* headers."""
    personal = personal_headers(kind, rendered, session, recipient, sequence=sequence,
                                message_domain=message_domain, date=date)
    message["From"] = address(series.sender_name, series.sender_address)
    message["To"] = personal["to"]
    if series.reply_to:
        message["Reply-To"] = address("", series.reply_to)
    message["Subject"] = personal["subject"]
    message["Date"] = personal["date"]
    message["Message-ID"] = personal["message-id"]
    message["List-Id"] = list_id(series, message_domain)
    for name, value in unsubscribe_headers(series.unsubscribe_url).items():
        message[name] = value
    message["Content-Language"] = (series.locale or "id").split("_")[0]
    message["X-Webinar-Session"] = session.uid  # lets staff filter and the demo sort mail; no personal data
    message["X-Webinar-Kind"] = kind


def personal_headers(kind: str, rendered: RenderedMail, session: Session, recipient: Recipient, *, sequence: int,
                     message_domain: str, date: datetime,
                     clean: Callable[[str, int], str] = clean_name) -> dict[str, object]:
    """The headers that differ between recipients of one session's mail, by lower-case name (worker.mail.wire).

    ``clean`` is :func:`clean_name` or a memo of it (the subject is the same for a whole batch).
    """
    return {"to": address(recipient.name, recipient.email, clean), "subject": clean(rendered.subject, SUBJECT_MAX),
            "date": format_datetime(date),
            "message-id": message_id(session, kind, sequence, recipient.email, message_domain)}


def address(name: str, email: str, clean: Callable[[str, int], str] = clean_name) -> Address:
    """A header address; the display name is cleaned to one capped line so it cannot start a new header.

    Raises PermanentMailError when ``email`` is not a valid address (no mail can reach it).
    """
    cleaned = clean_email(email)
    if cleaned is None:
        raise PermanentMailError("mail", f"{shown(email)} {email_problem(email)}; not sent")
    username, _, domain = cleaned.rpartition("@")
    return Address(display_name=clean(name, NAME_MAX), username=username, domain=domain)


def message_id(session: Session, kind: str, sequence: int, email: str, domain: str) -> str:
    """``<32 hex digits@domain>``, the same for the same (session, kind, sequence, recipient)."""
    key = "|".join((session.uid, kind, str(sequence), email.strip().lower()))
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{clean_domain(domain)}>"


def list_id(series: SeriesInfo, domain: str) -> str:
    """``Webinar Kamis <webinar-kamis.domain>``: lets mail programs file and filter the series."""
    return f"{clean_name(series.title).replace('<', '').replace('>', '')} <{series.series}.{clean_domain(domain)}>"


def clean_domain(domain: str) -> str:
    """A domain usable inside ``<...@domain>``: no spaces, brackets or at-signs."""
    cleaned = "".join(ch for ch in domain.strip().lower() if ch.isalnum() or ch in ".-")
    return cleaned.strip(".") or DEFAULT_DOMAIN


def unsubscribe_headers(url: str) -> dict[str, str]:
    """List-Unsubscribe for a mailto: or https: link; List-Unsubscribe-Post (one click) for https."""
    url = one_line(url)
    if not url:
        return {}
    headers = {"List-Unsubscribe": f"<{url}>"}
    if url.lower().startswith("https://"):
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def attach_ics(message: EmailMessage, ics: bytes, method: str, filename: str = ICS_FILENAME) -> None:
    """Attach the calendar object as ``text/calendar; method=...`` so mail programs offer to add it."""
    message.make_mixed()
    message.add_attachment(ics, maintype="text", subtype="calendar", filename=filename,
                           params={"method": method, "charset": "utf-8"})
