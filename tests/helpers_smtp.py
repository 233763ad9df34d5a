"""Shared pieces for the mail tests: the project's templates, sample data, a transport to the sandbox SMTP server."""
from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from icalendar import Calendar

from integrations.sandbox.smtp_server import SandboxSmtpServer
from integrations.smtp import SmtpConfig, SmtpTransport
from worker.mail.messages import build_message
from worker.core.model import MeetingInfo, Recipient, SeriesInfo, Session
from worker.mail.render import Renderer, sample_meeting, sample_series, sample_session

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"  # the templates staff edit


def transport_for(server: SandboxSmtpServer, **options) -> SmtpTransport:
    """A transport to the sandbox server: no TLS, EHLO as localhost (no DNS lookup)."""
    sleep = options.pop("sleep", None)
    clock = options.pop("clock", None)
    config = SmtpConfig(host=server.host, port=server.port, security="none", local_hostname="localhost", **options)
    kwargs = {k: v for k, v in (("sleep", sleep), ("clock", clock)) if v is not None}
    return SmtpTransport(config, **kwargs)


def compose(kind: str = "invitation", recipient: Recipient | None = None, *, session: Session | None = None,
            meeting: MeetingInfo | None = None, series: SeriesInfo | None = None, sequence: int = 0,
            previous: Session | None = None, templates: Path = TEMPLATES) -> EmailMessage:
    """A finished message built the way the composer builds it."""
    series = series or sample_series()
    session = session or sample_session(series)
    meeting = meeting or sample_meeting()
    recipient = recipient or Recipient("budi@example.org", "Budi Santoso")
    rendered = Renderer(templates).render_mail(kind, session, meeting, series, recipient, previous)
    return build_message(kind, rendered, session, meeting, series, recipient, sequence=sequence,
                         message_domain="perpustakaan.example.go.id")


def parse(data: bytes) -> EmailMessage:
    """A message parsed back from the wire."""
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def calendar_of(message: EmailMessage) -> Calendar:
    """The .ics attachment parsed with icalendar."""
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, f"expected one text/calendar part, got {len(parts)}"
    return Calendar.from_ical(parts[0].get_payload(decode=True))


def body(message: EmailMessage, subtype: str) -> str:
    """The text or HTML body."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} body"
    return part.get_content()


def moved(session: Session, hours: int) -> Session:
    """The same session, ``hours`` later."""
    return replace(session, start=session.start + timedelta(hours=hours))
