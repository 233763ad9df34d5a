"""PDF e-certificates ("sertifikat") for attendees, drawn with fpdf2 from a staff-editable template.

The wording and layout live in ``templates/certificate.html.j2`` (Jinja2, autoescaped,
``StrictUndefined``); fpdf2's ``write_html`` draws the rendered HTML on an A4 landscape page
whose frame is drawn here. Autoescaping is what keeps a name such as ``<b>x</b>`` literal text:
fpdf2's HTML parser turns ``&lt;b&gt;`` back into the characters, never into a tag.

fpdf2's built-in fonts cover Windows-1252 only, and a system TTF cannot be counted on in CI or
on the library's PC, so text outside that set degrades: letters lose accents the fonts lack
(``Ș`` becomes ``S``) and what has no Latin form is dropped.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from datetime import date
from pathlib import Path

from babel.dates import format_date
from fpdf import FPDF

from worker.core.model import SeriesInfo, Session
from worker.errors import TemplateError
from worker.core.cleaning import clean_name, shown as shown_value
from worker.mail.render import Renderer, format_day

log = logging.getLogger(__name__)


class CertificatePage(FPDF):
    """An A4 landscape FPDF whose every page carries the certificate's double frame."""

    FRAME_COLOR = (15, 118, 110)  # the mails' teal, #0f766e

    def header(self) -> None:
        """Draw a thick outer and a thin inner frame (fpdf2 calls this on each new page)."""
        self.set_draw_color(*self.FRAME_COLOR)
        self.set_line_width(1.6)
        self.rect(10, 10, self.w - 20, self.h - 20)
        self.set_line_width(0.4)
        self.rect(14, 14, self.w - 28, self.h - 28)


def core_font_text(text: str) -> str:
    """``text`` reduced to what fpdf2's built-in fonts can draw (Windows-1252).

    Each character that does not fit is replaced by its NFKD decomposition minus what still
    does not fit (combining marks, scripts with no Latin form).
    """
    kept = []
    for char in text:
        if fits_core_font(char):
            kept.append(char)
            continue
        kept.extend(c for c in unicodedata.normalize("NFKD", char)
                    if fits_core_font(c) and not unicodedata.combining(c))
    return "".join(kept)


def fits_core_font(char: str) -> bool:
    """True when fpdf2's built-in fonts can draw ``char``."""
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(name: str) -> str:
    """The attendee's name as it can be printed: one line, no control or bidi characters, capped, never empty."""
    shown = " ".join(core_font_text(clean_name(name)).split())
    if not shown.strip(" .-_'\""):
        log.warning("Attendee name %s has no printable characters; certificate says 'Peserta'", shown_value(name))
        return "Peserta"
    return shown


def certificate_context(*, series: SeriesInfo, session: Session, attendee_name: str, minutes: int,
                        certificate_id: str, issued_on: date) -> dict[str, object]:
    """The variables ``certificate.html.j2`` may use.

    ``date_text`` is written as in the mails (``Kamis, 7 Januari 2027``, no leading zero).
    """
    locale = series.locale or "id_ID"
    return {
        "series": series, "session": session, "attendee_name": printable_name(attendee_name),
        "minutes": minutes, "certificate_id": certificate_id, "issued_on": issued_on,
        "date_text": format_day(session.date, locale),
        "issued_text": format_date(issued_on, format="long", locale=locale),
    }


def render_certificate(template_dir: Path, *, series: SeriesInfo, session: Session, attendee_name: str,
                       minutes: int, certificate_id: str, issued_on: date) -> bytes:
    """One attendee's certificate as PDF bytes, from ``template_dir/certificate.html.j2``."""
    renderer = Renderer(Path(template_dir))
    context = certificate_context(series=series, session=session, attendee_name=attendee_name,
                                  minutes=minutes, certificate_id=certificate_id, issued_on=issued_on)
    html = core_font_text(renderer.render("certificate.html.j2", context))
    return draw_pdf(html, renderer.shown("certificate.html.j2"), title=f"Sertifikat {series.title}")


def draw_pdf(html: str, shown_name: str, *, title: str) -> bytes:
    """Draw rendered certificate HTML on an A4 landscape page; errors name the template."""
    pdf = CertificatePage(orientation="landscape", format="A4")
    pdf.core_fonts_encoding = "windows-1252"  # curly quotes and dashes, not only latin-1
    pdf.set_title(core_font_text(title))
    pdf.set_margins(28, 32, 28)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.set_text_color(31, 41, 55)
    try:
        pdf.write_html(html, warn_on_tags_not_matching=False)
        return bytes(pdf.output())
    except Exception as exc:  # staff-edited HTML can trip fpdf2 in many ways; say which file
        raise TemplateError(f"{shown_name}: cannot be drawn as PDF: {exc}") from exc


def certificate_filename(session: Session, attendee_name: str) -> str:
    """A safe attachment name: ``sertifikat-2027-01-14-ani-lestari.pdf``."""
    ascii_name = unicodedata.normalize("NFKD", attendee_name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")
    return f"sertifikat-{session.date.isoformat()}-{slug or 'peserta'}.pdf"
