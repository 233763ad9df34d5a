"""The engine's Composer: templates + .ics + message headers (+ certificate for thank-you mail)."""
from __future__ import annotations

import hashlib
from datetime import date
from email.message import EmailMessage
from pathlib import Path

from worker.core.clock import Clock, SystemClock
from worker.core.derive import series_info
from worker.core.model import MeetingInfo, Recipient, SeriesInfo, Session
from worker.core.schema import Settings
from worker.errors import TemplateError
from worker.mail.messages import build_message
from worker.mail.render import (KINDS, MAIL_PARTS, Renderer, mail_context, sample_meeting, sample_previous,
                                sample_recipient, sample_session)

ICS_METHOD = {"invitation": "REQUEST", "reminder": "REQUEST", "change": "REQUEST", "cancellation": "CANCEL"}


class MailComposer:
    """Renders every kind of mail for the engine from the templates folder."""

    def __init__(self, template_dir: Path, series: SeriesInfo, *, certificates: bool = True,
                 clock: Clock | None = None, waiting_room: bool = True):
        if not Path(template_dir).is_dir():
            raise TemplateError(f"{template_dir}: templates folder not found (mail.templates_dir)")
        self.template_dir = Path(template_dir)  # staff-editable templates
        self.series = series  # sender and series names
        self.certificates = certificates  # attach a PDF certificate to thank-you mail
        self.renderer = Renderer(self.template_dir)  # Jinja2 environment
        self.domain = (series.sender_address.rpartition("@")[2] or "webinar-worker.local")  # Message-ID domain
        self.clock = clock or SystemClock()  # Date header and .ics DTSTAMP
        self.waiting_room = waiting_room  # meetings use Zoom's waiting room (zoom.waiting_room): mails may say so

    def message(self, kind: str, session: Session, meeting: MeetingInfo, recipient: Recipient, *,
                sequence: int, previous: Session | None = None, extra: dict | None = None) -> EmailMessage:
        """One finished message for one recipient."""
        if kind == "thankyou":
            return self._thankyou(session, meeting, recipient, int((extra or {}).get("minutes", 0)))
        rendered = self.renderer.render_mail(kind, session, meeting, self.series, recipient, previous,
                                             extra=self.meeting_values())
        message = build_message(kind, rendered, session, meeting, self.series, recipient,
                                sequence=sequence, message_domain=self.domain, date=self.clock.now())
        return message

    def meeting_values(self) -> dict[str, object]:
        """Template variables about how meetings are set up: ``waiting_room`` (True or False)."""
        return {"waiting_room": self.waiting_room}

    def event_description(self, session: Session, meeting: MeetingInfo) -> str:
        """The calendar event's description from ``event_description.txt.j2``."""
        return self.renderer.render_event_description(session, meeting, self.series)

    def _thankyou(self, session: Session, meeting: MeetingInfo, recipient: Recipient, minutes: int) -> EmailMessage:
        rendered = self.renderer.render_mail("thankyou", session, meeting, self.series, recipient, None,
                                             extra={**self.meeting_values(), "minutes": minutes,
                                                    "certificate": self.certificates})
        message = build_message("thankyou", rendered, session, meeting, self.series, recipient,
                                sequence=0, message_domain=self.domain, date=self.clock.now())
        if self.certificates:
            from worker.mail.certificate import certificate_filename, render_certificate

            pdf = render_certificate(self.template_dir, series=self.series, session=session,
                                     attendee_name=recipient.name or recipient.email, minutes=minutes,
                                     certificate_id=certificate_id(session, recipient), issued_on=session.date)
            message.add_attachment(pdf, maintype="application", subtype="pdf",
                                   filename=certificate_filename(session, recipient.name or recipient.email))
        return message


def certificate_id(session: Session, recipient: Recipient) -> str:
    """A short, stable certificate number for one attendee of one session."""
    digest = hashlib.sha256(f"{session.uid}|{recipient.email}".encode()).hexdigest()[:8].upper()
    return f"{session.series.upper()}-{session.date:%Y%m%d}-{digest}"


def check_templates(settings: Settings) -> list[str]:
    """Render every template with sample data; each problem names the template and line."""
    folder = settings.mail.templates_dir
    if not folder.is_dir():
        return [f"{folder}: templates folder not found (mail.templates_dir)"]
    try:
        unsafe = Renderer(folder).unsafe_problems()  # found in the syntax tree; nothing below runs them
        if unsafe:
            return unsafe
        problems = list(Renderer(folder).check_templates(series_info(settings)))
    except TemplateError as exc:
        return [str(exc)]
    problems.extend(p for p in _waiting_room_problems(folder, settings) if p not in problems)
    if settings.followup.enabled and settings.followup.certificate:
        problems.extend(_certificate_problems(folder, settings))
    return problems


def _waiting_room_problems(folder: Path, settings: Settings) -> list[str]:
    """Render the mail templates once more with ``waiting_room`` True, as the composer may.

    The sample renders leave it unset, so a mistake inside ``{% if waiting_room %}`` would
    otherwise only show up in the first real reminder.
    """
    series = series_info(settings)
    renderer, session = Renderer(folder), sample_session(series)
    problems: list[str] = []
    for kind in KINDS:
        context = mail_context(kind, session, sample_meeting(), series, sample_recipient(),
                               sample_previous(session) if kind == "change" else None,
                               {"waiting_room": True, "minutes": 75})
        for part in MAIL_PARTS:
            problem = renderer.check_one(f"{kind}.{part}.j2", context)
            if problem and problem not in problems:
                problems.append(problem)
    return problems


def _certificate_problems(folder: Path, settings: Settings) -> list[str]:
    """Render the certificate template once with sample data (it is only used when certificates are on)."""
    from worker.mail.certificate import render_certificate
    series = series_info(settings)
    try:
        render_certificate(folder, series=series, session=sample_session(series), attendee_name="Contoh Peserta",
                           minutes=75, certificate_id="CONTOH-0001", issued_on=sample_date())
    except TemplateError as exc:
        return [str(exc)]
    return []


def sample_date() -> date:
    """The date used for sample renders."""
    return date(2027, 1, 14)
