"""The engine's Composer: templates + .ics + message headers (+ certificate for thank-you mail)."""
from __future__ import annotations

import hashlib
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from worker.core.certnumber import number_slug
from worker.core.clock import Clock, SystemClock
from worker.core.derive import series_info
from worker.core.mailkinds import MAIL_KINDS, MailKind
from worker.core.model import MeetingInfo, Recipient, SeriesInfo, Session
from worker.core.schema import CertificateSettings, Settings
from worker.errors import TemplateError
from worker.mail.messages import build_message
from worker.mail.render import (KINDS, MAIL_PARTS, Renderer, mail_context, sample_meeting, sample_previous,
                                sample_recipient, sample_session)


class MailComposer:
    """Renders every kind of mail for the engine from the templates folder."""

    def __init__(self, template_dir: Path, series: SeriesInfo, *, certificates: bool = True,
                 clock: Clock | None = None, waiting_room: bool = True,
                 design: CertificateSettings | None = None, draw_apart: bool = False):
        if not Path(template_dir).is_dir():
            raise TemplateError(f"{template_dir}: templates folder not found (mail.templates_dir)")
        self.template_dir = Path(template_dir)  # staff-editable templates
        self.series = series  # sender and series names
        self.certificates = certificates  # attach a PDF certificate to thank-you mail
        self.renderer = Renderer(self.template_dir)  # Jinja2 environment
        self.domain = (series.sender_address.rpartition("@")[2] or "webinar-worker.local")  # Message-ID domain
        self.clock = clock or SystemClock()  # Date header and .ics DTSTAMP
        self.waiting_room = waiting_room  # meetings use Zoom's waiting room (zoom.waiting_room): mails may say so
        self.design = design or CertificateSettings()  # logo, signature, JP, verification URL (certificate.*)
        self.draw_apart = draw_apart  # draw certificates in a helper process (the long-running worker stays small)
        self._drawer: Any = None  # the CertificateDrawer, made at the first certificate (fpdf loads only then)

    def message(self, kind: str, session: Session, meeting: MeetingInfo, recipient: Recipient, *,
                sequence: int, previous: Session | None = None, extra: dict | None = None) -> EmailMessage:
        """One finished message for one recipient."""
        if kind in MAIL_KINDS and MailKind(kind).certificate:
            return self._thankyou(session, meeting, recipient, extra or {})
        rendered = self.renderer.render_mail(kind, session, meeting, self.series, recipient, previous,
                                             extra=self.meeting_values())
        message = build_message(kind, rendered, session, meeting, self.series, recipient,
                                sequence=sequence, message_domain=self.domain, date=self.clock.now())
        return message

    def release(self) -> None:
        """After a batch of certificates: end the drawing process or drop the font tables, and free the memory."""
        if self._drawer is not None:
            self._drawer.release()

    def meeting_values(self) -> dict[str, object]:
        """Template variables about how meetings are set up: ``waiting_room`` (True or False)."""
        return {"waiting_room": self.waiting_room}

    def event_description(self, session: Session, meeting: MeetingInfo) -> str:
        """The calendar event's description from ``event_description.txt.j2``."""
        return self.renderer.render_event_description(session, meeting, self.series)

    def _thankyou(self, session: Session, meeting: MeetingInfo, recipient: Recipient,
                  extra: dict) -> EmailMessage:
        """The thank-you mail; with certificates on, the PDF under the number the engine allocated.

        ``extra`` is the outbox row's context: ``minutes``, and from the certificate registry
        ``certificate_number``, ``issued_on`` and ``corrected`` (a re-issue after a name
        correction). Rows queued before numbering existed fall back to the old hashed id.
        """
        minutes = int(extra.get("minutes", 0))
        number = str(extra.get("certificate_number") or certificate_id(session, recipient))
        rendered = self.renderer.render_mail(MailKind.THANKYOU, session, meeting, self.series, recipient, None,
                                             extra={**self.meeting_values(), "minutes": minutes,
                                                    "certificate": self.certificates,
                                                    "certificate_number": number if self.certificates else "",
                                                    "corrected": bool(extra.get("corrected"))})
        message = build_message(MailKind.THANKYOU, rendered, session, meeting, self.series, recipient,
                                sequence=0, message_domain=self.domain, date=self.clock.now())
        if extra.get("corrected"):  # a new Message-ID: the re-issue is a second mail, not a duplicate of the first
            del message["Message-ID"]
            message["Message-ID"] = f"<{number_slug(number)}.koreksi-{int(extra['corrected'])}@{self.domain}>"
        if self.certificates:
            from worker.mail.certificate import CertificateDrawer, certificate_filename

            if self._drawer is None:
                self._drawer = CertificateDrawer(apart=self.draw_apart)
            issued = extra.get("issued_on")
            pdf = self._drawer.certificate(self.template_dir, series=self.series, session=session,
                                           attendee_name=recipient.name or recipient.email, minutes=minutes,
                                           certificate_id=number, design=self.design,
                                           issued_on=date.fromisoformat(issued) if issued else session.date)
            message.add_attachment(pdf, maintype="application", subtype="pdf",
                                   filename=certificate_filename(session, recipient.name or recipient.email))
        return message


def certificate_id(session: Session, recipient: Recipient) -> str:
    """A short, stable certificate number for one attendee of one session."""
    digest = hashlib.sha256(f"{session.uid}|{recipient.email}".encode()).hexdigest()[:8].upper()
    return f"{session.series.upper()}-{session.date:%Y%m%d}-{digest}"


def check_templates(settings: Settings, *, draw_certificate: bool = False) -> list[str]:
    """Render every template with sample data; each problem names the template and line.

    ``draw_certificate`` also lays the sample certificate out as PDF (loading fpdf); without it
    the certificate templates, fonts and images are checked without drawing."""
    folder = settings.mail.templates_dir
    if not folder.is_dir():
        return [f"{folder}: templates folder not found (mail.templates_dir)"]
    try:
        renderer = Renderer(folder)  # one environment: each template is compiled once for all the checks
        unsafe = renderer.unsafe_problems()  # found in the syntax tree; nothing below runs them
        if unsafe:
            return unsafe
        problems = list(renderer.check_templates(series_info(settings)))
    except TemplateError as exc:
        return [str(exc)]
    problems.extend(p for p in _waiting_room_problems(renderer, settings) if p not in problems)
    if settings.followup.enabled and settings.followup.certificate:
        problems.extend(_certificate_problems(folder, settings, draw_certificate))
    return problems


def _waiting_room_problems(renderer: Renderer, settings: Settings) -> list[str]:
    """Render the mail templates once more with ``waiting_room`` True, as the composer may.

    The sample renders leave it unset, so a mistake inside ``{% if waiting_room %}`` would
    otherwise only show up in the first real reminder.
    """
    series = series_info(settings)
    session = sample_session(series)
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


def _certificate_problems(folder: Path, settings: Settings, layout: bool) -> list[str]:
    """The sample certificate and transcript's problems (they are only used when certificates are on)."""
    from worker.mail.certificate import FontSet, template_problems

    series = series_info(settings)
    return template_problems(folder, series=series, session=sample_session(series), design=settings.certificate,
                             fonts=FontSet(), issued_on=sample_date(), layout=layout)


def sample_date() -> date:
    """The date used for sample renders."""
    return date(2027, 1, 14)
