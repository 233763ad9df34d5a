"""The engine's Composer: templates + .ics + message headers (+ certificate for thank-you mail).

Series mail to many people (invitations, reminders, change and cancellation notices) is made the
ordinary way for the first recipient of a session; its shape (worker.mail.wire) then makes the
others from only their own parts: the same bytes, several times faster (issue 18).

The templates, too, are rendered once per session, kind and kind of person (named or not, own
link or not): with an unguessable marker in place of each personal value (``recipient_name``,
``recipient_email``, ``join_url``), which each person's values then replace, HTML-escaped in the
HTML part as autoescape would. A template that transforms a value (``|upper``, ``|truncate``)
changes its marker, and that rendering is not used; the first PROBES people of each are also
rendered the ordinary way and must match, else it stays on the ordinary way.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import date, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable

from markupsafe import escape

from worker.core.certnumber import number_slug
from worker.core.cleaning import NAME_MAX, clean_name
from worker.core.clock import Clock, SystemClock
from worker.core.derive import series_info
from worker.core.mailkinds import MAIL_KINDS, MailKind
from worker.core.model import MeetingInfo, Recipient, SeriesInfo, Session
from worker.core.schema import CertificateSettings, Settings
from worker.errors import TemplateError
from worker.mail.ics import ZoneCache
from worker.mail.messages import ICS_METHODS, build_message, calendar_part, personal_headers
from worker.mail.wire import PreparedMessage, Shape
from worker.mail.render import (EVENT_DESCRIPTION, KINDS, MAIL_PARTS, RenderedMail, Renderer, mail_context,
                                one_line, sample_meeting, sample_previous, sample_recipient, sample_session)

PROBES = 2  # recipients of a session and kind rendered both ways before the quick way is trusted
EDITS_EVERY = 1.0  # seconds between looks at the templates folder for staff's edits
CLEANED_MAX = 4096  # texts remembered by MailComposer.clean
PERSONAL_FIELDS = ("recipient_name", "recipient_email", "join_url")  # template variables that differ per person


@dataclass(frozen=True)
class Person:
    """One recipient's own template values, and the shape that decides which branches a template takes."""

    values: dict  # field of PERSONAL_FIELDS -> its value, as the template would see it
    shape: tuple  # (has a name, an address, a link, the link is their own, how the name looks): rendered apart

    @classmethod
    def of(cls, recipient: Recipient, meeting: MeetingInfo, clean: Callable[[str, int], str]) -> "Person":
        """The values mail_context would give this recipient (``clean``: clean_name, or a memo of it)."""
        name = clean(recipient.name, NAME_MAX)
        own = bool(meeting.registration_url) and meeting.join_url != meeting.registration_url
        # A template may branch on more than the value's presence ({{ recipient_name.split()[0] }} for a
        # first name): people whose names differ in these ways are probed apart, so such a template is caught.
        looks = (" " in name, name.isascii(), any(c in name for c in "<>&\"'"), "&" in meeting.join_url)
        return cls({"recipient_name": name, "recipient_email": recipient.email, "join_url": meeting.join_url},
                   (bool(name), bool(recipient.email), bool(meeting.join_url), own, looks))


class Blanks:
    """A session's four rendered texts cut at the markers that stand for a person's values."""

    def __init__(self, parts: list[list[str]], fields: list[list[str]]):
        self.parts = parts  # per text: the fixed pieces, one more than its fields
        self.fields = fields  # per text: the field between each two pieces

    @classmethod
    def cut(cls, texts: list[str], markers: dict[str, str]) -> "Blanks | None":
        """Subject, text, HTML and event description cut; None when a template changed a marker (``|upper``)."""
        by_marker = {m: f for f, m in markers.items()}
        pattern = re.compile("|".join(re.escape(m) for m in markers.values()))
        parts, fields = [], []
        for text in texts:
            pieces = pattern.split(text)
            found = [by_marker[m] for m in pattern.findall(text)]
            rest = "".join(pieces).casefold()
            if any(m[:8].casefold() in rest or m[-8:].casefold() in rest for m in markers.values()):
                return None  # a marker changed case or was cut short: the template does not use the value as it is
            parts.append(pieces)
            fields.append(found)
        return cls(parts, fields)

    def fill(self, person: Person) -> RenderedMail:
        """The four texts with this person's values: as they are in text, HTML-escaped in the HTML."""
        plain = person.values
        html = {f: str(escape(v)) for f, v in plain.items()}
        texts = []
        for number, (pieces, fields) in enumerate(zip(self.parts, self.fields)):
            values = html if number == 2 else plain
            out = [pieces[0]]
            for field, piece in zip(fields, pieces[1:]):
                out += (values[field], piece)
            texts.append("".join(out))
        return RenderedMail(subject=one_line(texts[0]), text=texts[1].rstrip() + "\n", html=texts[2].rstrip() + "\n",
                            event_description=texts[3].strip() + "\n")


class MailComposer:
    """Renders every kind of mail for the engine from the templates folder."""

    def __init__(self, template_dir: Path, series: SeriesInfo, *, certificates: bool = True,
                 clock: Clock | None = None, waiting_room: bool = True,
                 design: CertificateSettings | None = None, draw_apart: bool = False,
                 monotonic: Callable[[], float] = time.monotonic):
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
        self._fonts: object | None = None  # the certificate fonts, loaded with the first certificate
        self.zones = ZoneCache()  # VTIMEZONE blocks, built once per zone and range (issue 18: most of composing)
        self.shapes: dict[tuple[str, str, int], Shape | None] = {}  # (kind, session, sequence) -> shared parts
        self.contexts: dict[tuple, list | None] = {}  # session, kind, kind of person -> [Blanks, people checked]
        self.draw_apart = draw_apart  # draw certificates in a helper process (the long-running worker stays small)
        self._drawer: Any = None  # the CertificateDrawer, made at the first certificate (fpdf loads only then)
        self.monotonic = monotonic  # how often the templates folder is looked at (not the mail's time: that is clock)
        self.edits: tuple[float, tuple] = (float("-inf"), ())  # (when looked, the templates' names, sizes and times)
        self.cleaned: dict[tuple[str, int], str] = {}  # (text, limit) -> clean_name's answer
        self.markers = {field: f"Zq{secrets.token_hex(8)}X{n}" for n, field in enumerate(PERSONAL_FIELDS)}  # unguessable

    def message(self, kind: str, session: Session, meeting: MeetingInfo, recipient: Recipient, *,
                sequence: int, previous: Session | None = None, extra: dict | None = None) -> EmailMessage:
        """One finished message for one recipient."""
        if kind in MAIL_KINDS and MailKind(kind).certificate:
            return self._thankyou(session, meeting, recipient, extra or {})
        rendered = self._render(kind, session, meeting, recipient, previous)
        moment = self.clock.now().astimezone(timezone.utc)
        shape = self.shapes.get((kind, session.uid, sequence))
        if shape is not None:  # the session's shared parts are made: only this person's are made now
            wire = shape.fill(personal_headers(kind, rendered, session, recipient, sequence=sequence,
                                               message_domain=self.domain, date=moment, clean=self.clean),
                              [rendered.text, rendered.html,
                               calendar_part(kind, rendered, session, meeting, self.series, recipient,
                                             sequence=sequence, date=moment, zones=self.zones) or b""])
            if wire is not None:
                return PreparedMessage(wire, shape.sender)
        message = build_message(kind, rendered, session, meeting, self.series, recipient,
                                sequence=sequence, message_domain=self.domain, date=moment, zones=self.zones)
        if (kind, session.uid, sequence) not in self.shapes and kind in ICS_METHODS:
            self.shapes[(kind, session.uid, sequence)] = Shape.learn(message)  # None: always the ordinary way
        return message

    def _render(self, kind: str, session: Session, meeting: MeetingInfo, recipient: Recipient,
                previous: Session | None) -> RenderedMail:
        """The rendered parts: the session's templates rendered once, only the person's own values filled in.

        The first PROBES recipients of each session, kind and kind of person are also rendered the
        ordinary way and must match; any difference and that one always renders the ordinary way.
        """
        extra = self.meeting_values()
        person = Person.of(recipient, meeting, self.clean)
        self.forget_if_edited()
        key = (kind, session, replace(meeting, join_url=""), previous, replace(recipient, email="", name=""),
               tuple(sorted(extra.items())), person.shape)
        entry = self.contexts.get(key, [])
        if entry is None:
            return self.renderer.render_mail(kind, session, meeting, self.series, recipient, previous, extra=extra)
        if not entry:
            entry = self.contexts[key] = [self._blanks(kind, session, meeting, recipient, previous, extra,
                                                       person), 0]
        if entry[0] is None:  # a template changes a person's value: it cannot be filled in
            self.contexts[key] = None
            return self.renderer.render_mail(kind, session, meeting, self.series, recipient, previous, extra=extra)
        quick = entry[0].fill(person)
        if entry[1] >= PROBES:
            return quick
        full = self.renderer.render_mail(kind, session, meeting, self.series, recipient, previous, extra=extra)
        if quick != full:  # rendering learnt something new about people: stay on the ordinary way
            self.contexts[key] = None
            return full
        entry[1] += 1
        return full

    def release(self) -> None:
        """After a batch of certificates: end the drawing process or drop the font tables, and free the memory."""
        if self._drawer is not None:
            self._drawer.release()

    def _blanks(self, kind: str, session: Session, meeting: MeetingInfo, recipient: Recipient,
                previous: Session | None, extra: dict, person: "Person") -> "Blanks | None":
        """The session's mail of ``kind`` rendered once with a marker in place of each personal value."""
        context = mail_context(kind, session, meeting, self.series, recipient, previous, extra)
        context.update({field: self.markers[field] for field in PERSONAL_FIELDS},
                       personal_link=person.shape[3])
        texts = [self.renderer.render(f"{kind}.subject.txt.j2", context), self.renderer.render(f"{kind}.txt.j2", context),
                 self.renderer.render(f"{kind}.html.j2", context), self.renderer.render(EVENT_DESCRIPTION, context)]
        return Blanks.cut(texts, self.markers)

    def forget_if_edited(self) -> None:
        """Drop the rendered templates when staff edited one (looked at once a second at most).

        Jinja2 reloads an edited template on its next render; what was rendered once per session
        must follow within a second too, as the ordinary way would, without a look per message.
        """
        now = self.monotonic()
        if now - self.edits[0] < EDITS_EVERY:
            return
        seen = template_stamps(self.template_dir)
        if seen != self.edits[1]:
            self.contexts.clear()
        self.edits = (now, seen)

    def clean(self, text: str, limit: int) -> str:
        """``clean_name(text, limit)``, remembered: a batch cleans the same subject and names again and again."""
        key = (text, limit)
        cleaned = self.cleaned.get(key)
        if cleaned is None:
            if len(self.cleaned) >= CLEANED_MAX:  # a long-running worker must not grow without end
                self.cleaned.clear()
            cleaned = self.cleaned[key] = clean_name(text, limit)
        return cleaned

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
                                sequence=0, message_domain=self.domain, date=self.clock.now(),
                                zones=self.zones)
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


def template_stamps(folder: Path) -> tuple:
    """(name, size, modification time) of each template in ``folder``: changes when staff edit one."""
    stamps = []
    for path in folder.rglob("*.j2"):
        try:
            info = path.stat()
        except OSError:  # removed while we looked: the next look sees the folder as it is then
            continue
        stamps.append((path.name, info.st_size, info.st_mtime_ns))
    return tuple(sorted(stamps))


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
