"""PDF e-certificates ("sertifikat") and season transcripts, drawn with fpdf2 from staff-editable templates.

The wording lives in ``templates/certificate.html.j2`` (and ``certificate_transcript.html.j2``):
Jinja2, autoescaped, ``StrictUndefined``, rendered once per ``part`` of the page (``body``,
``signer_top``, ``signer_bottom``, ``verify``). This module places the parts on an A4 landscape
page: the library's logo at the top, the body in the middle, the QR code with the number and the
verification link at the bottom left, and the signature block (place and date, position, the
signature image, name, NIP) at the bottom right.

Fonts: DejaVu Sans (Bitstream Vera licence; Latin with every Indonesian and Vietnamese
diacritic, Arabic, Greek, Cyrillic, Hebrew) with Symbola as fallback for emoji and symbols
("free for any use"), both shipped in ``worker/assets/fonts`` with their licences. fpdf2's text
shaping (HarfBuzz, via ``uharfbuzz``; https://py-pdf.github.io/fpdf2/TextShaping.html, new in
2.7.5) joins Arabic letters and lays out right-to-left runs; ``set_fallback_fonts`` draws what
DejaVu lacks from Symbola (https://py-pdf.github.io/fpdf2/Unicode.html). A
name holding a character neither font can draw is not printed as boxes: the certificate is
held (:class:`CertificateHeldError`, logged) until staff correct the name.
"""
from __future__ import annotations

import io
import logging
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.dates import format_date

from worker.core.certnumber import jp_hours, number_slug, verify_link
from worker.core.model import SeriesInfo, Session
from worker.core.schema import CertificateSettings
from worker.errors import TemplateError
from worker.core.cleaning import clean_name, shown as shown_value
from worker.mail.render import Renderer, format_day

if TYPE_CHECKING:  # pragma: no cover - fpdf (with numpy, fontTools, PIL, cryptography) loads only to draw
    from fpdf import FPDF

log = logging.getLogger(__name__)

FONT_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"
FONT_FAMILY = "dejavu"  # the family the templates are drawn in; <font face="dejavu">
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf",
              "BI": "DejaVuSans-BoldOblique.ttf"}
FALLBACK_FAMILY, FALLBACK_FILE = "symbola", "Symbola.ttf"  # emoji and symbols DejaVu lacks
TEMPLATE = "certificate.html.j2"
TRANSCRIPT_TEMPLATE = "certificate_transcript.html.j2"
PARTS = ("body", "signer_top", "signer_bottom", "verify")
NOT_DRAWN = ("Cc", "Cf", "Zs", "Zl", "Zp")  # controls, direction marks, joiners, spaces: never need a glyph


class CertificateHeldError(TemplateError):
    """A certificate was not drawn because some text holds characters no shipped font has."""


class FontSet:
    """The shipped fonts and which characters they can draw (the tables are read once per instance)."""

    def __init__(self, folder: Path = FONT_DIR):
        self.folder = Path(folder)  # where the .ttf files are
        self._covered: set[int] | None = None  # code points some font maps, read on first use
        self._main: set[int] = set()  # code points DejaVu Sans maps

    def covered(self) -> set[int]:
        """Every code point DejaVu Sans or the fallback can draw."""
        if self._covered is None:
            self._main = self._cmap(FONT_FILES[""])
            self._covered = self._main | self._cmap(FALLBACK_FILE)
        return self._covered

    def needs_fallback(self, text: str) -> bool:
        """True when ``text`` has a character DejaVu Sans lacks (so Symbola must be embedded too)."""
        self.covered()
        return any(ord(c) not in self._main and unicodedata.category(c) not in NOT_DRAWN for c in text)

    def _cmap(self, name: str) -> set[int]:
        from fontTools.ttLib import TTFont

        return set(TTFont(self.folder / name, lazy=True).getBestCmap())

    def missing(self, text: str) -> list[str]:
        """Characters of ``text`` no font can draw, each once, in order."""
        if text.isascii() and text.isprintable():  # DejaVu Sans has all of printable ASCII: no font table to read
            return []
        covered = self.covered()
        gaps: list[str] = []
        for char in text:
            if ord(char) in covered or unicodedata.category(char) in NOT_DRAWN or char in gaps:
                continue
            gaps.append(char)
        return gaps

    def add_to(self, pdf: FPDF, html: str) -> None:
        """Register on ``pdf`` the fonts ``html`` needs, with HarfBuzz shaping.

        Reading a TrueType font costs a few hundred milliseconds, so the italic styles and the
        emoji fallback are registered only when the rendered text uses them.
        """
        italic = re.search(r"<\s*(i|em)\b", html, re.I) is not None
        for style, name in FONT_FILES.items():
            if italic or "I" not in style:
                pdf.add_font(FONT_FAMILY, style, str(self.folder / name))
        if self.needs_fallback(html):
            pdf.add_font(FALLBACK_FAMILY, "", str(self.folder / FALLBACK_FILE))
            pdf.set_fallback_fonts([FALLBACK_FAMILY], exact_match=False)
        pdf.set_text_shaping(True)


FRAME_COLOR = (15, 118, 110)  # the mails' teal, #0f766e


def new_page() -> FPDF:
    """An A4 landscape FPDF with one page carrying the certificate's double frame.

    fpdf is imported here, not at the top: it pulls in numpy, fontTools, PIL and cryptography
    (tens of MiB), which only the step that draws a certificate needs - never ``check``.
    The page never breaks (auto page break is off), so the frame is drawn once.
    """
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_draw_color(*FRAME_COLOR)
    pdf.set_line_width(1.6)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    pdf.set_line_width(0.4)
    pdf.rect(14, 14, pdf.w - 28, pdf.h - 28)
    return pdf


@dataclass(frozen=True)
class Holder:
    """Who a certificate is for and what it certifies (one session, or a season for a transcript)."""

    name: str  # the registered (or corrected) name, as it is printed
    number: str  # the running number, e.g. 007/SERT/WEBINAR/I/2027
    minutes: int  # minutes the person attended (a transcript: 0)
    issued_on: date  # date of issue, in the signature block


def printable_name(name: str) -> str:
    """The attendee's name as it can be printed: one line, no control or bidi characters, capped, never empty."""
    shown = " ".join(clean_name(name).split())
    if not shown.strip(" .-_'\""):
        log.warning("Attendee name %s has no printable characters; certificate says 'Peserta'", shown_value(name))
        return "Peserta"
    return shown


def certificate_context(*, series: SeriesInfo, session: Session, attendee_name: str, minutes: int,
                        certificate_id: str, issued_on: date,
                        design: CertificateSettings | None = None) -> dict[str, Any]:
    """The variables ``certificate.html.j2`` may use (``part`` is added per part of the page).

    ``date_text`` is written as in the mails (``Kamis, 7 Januari 2027``, no leading zero);
    ``jp`` is the session's length in "jam pelajaran" (``certificate.minutes_per_jp``).
    """
    design = design or CertificateSettings()
    return {**_common(series, certificate_id, issued_on, design),
            "session": session, "attendee_name": printable_name(attendee_name), "minutes": minutes,
            "date_text": format_day(session.date, series.locale or "id_ID"),
            "jp": jp_hours(session.duration_minutes, design.minutes_per_jp)}


def _common(series: SeriesInfo, number: str, issued_on: date, design: CertificateSettings) -> dict[str, Any]:
    locale = series.locale or "id_ID"
    return {"series": series, "certificate_id": number, "number": number, "issued_on": issued_on,
            "issued_text": format_date(issued_on, format="long", locale=locale),
            "verify_url": verify_link(design.verify_url, number, number_slug(number)),
            "signature": design.signature, "minutes_per_jp": design.minutes_per_jp}


def render_certificate(template_dir: Path, *, series: SeriesInfo, session: Session, attendee_name: str,
                       minutes: int, certificate_id: str, issued_on: date,
                       design: CertificateSettings | None = None, fonts: FontSet | None = None) -> bytes:
    """One attendee's certificate as PDF bytes, from ``template_dir/certificate.html.j2``.

    Raises :class:`CertificateHeldError` when the name, topic or speaker cannot be drawn.
    """
    fonts = fonts or FontSet()
    context = certificate_context(series=series, session=session, attendee_name=attendee_name, minutes=minutes,
                                  certificate_id=certificate_id, issued_on=issued_on, design=design)
    check_drawable(fonts, certificate_id, {"name": context["attendee_name"], "topic": session.topic,
                                           "speaker": session.speaker, "series title": series.title})
    return draw(Renderer(Path(template_dir)), TEMPLATE, context, design or CertificateSettings(), fonts,
                title=f"Sertifikat {series.title}")


def render_transcript(template_dir: Path, *, series: SeriesInfo, holder: Holder, sessions: list[dict[str, Any]],
                      design: CertificateSettings | None = None, fonts: FontSet | None = None) -> bytes:
    """One person's season transcript: every session with its date and JP, and the total.

    ``sessions`` are dicts with ``date`` (a date), ``topic``, ``jp`` and ``number`` (that
    session's certificate number).
    """
    fonts = fonts or FontSet()
    design = design or CertificateSettings()
    context = _transcript_context(series, holder, sessions, design)
    check_drawable(fonts, holder.number, {"name": context["attendee_name"],
                                          **{f"topic of {s['date']}": s["topic"] for s in sessions}})
    return draw(Renderer(Path(template_dir)), TRANSCRIPT_TEMPLATE, context, design, fonts,
                title=f"Transkrip {series.title}")


def _transcript_context(series: SeriesInfo, holder: Holder, sessions: list[dict[str, Any]],
                        design: CertificateSettings) -> dict[str, Any]:
    """The variables ``certificate_transcript.html.j2`` may use."""
    locale = series.locale or "id_ID"
    rows = [{**s, "date_text": format_date(s["date"], "d MMMM y", locale=locale)} for s in sessions]
    return {**_common(series, holder.number, holder.issued_on, design),
            "attendee_name": printable_name(holder.name), "sessions": rows,
            "total_jp": sum(int(s["jp"]) for s in sessions), "session_count": len(sessions)}


def template_problems(template_dir: Path, *, series: SeriesInfo, session: Session, design: CertificateSettings,
                      fonts: FontSet, issued_on: date, layout: bool = False) -> list[str]:
    """What would stop the sample certificate and transcript from being drawn, one line per problem.

    Without ``layout`` (what ``check`` does) every part of both templates is rendered with sample
    data, the sample texts are checked against the fonts' tables and the logo and signature images
    are read - without loading fpdf. With ``layout`` (``check --certificate``) both pages are
    also laid out as PDF, which finds HTML that fpdf2 cannot place.
    """
    number, transcript_number = "001/SERT/CONTOH/I/2027", "002/TRANSKRIP/CONTOH/2027"
    holder = Holder("Contoh Peserta", transcript_number, 0, issued_on)
    rows = [{"date": session.date, "topic": session.topic, "jp": 2, "number": number}]
    problems: list[str] = []
    if layout:
        jobs = [lambda: render_certificate(template_dir, series=series, session=session, attendee_name=holder.name,
                                           minutes=75, certificate_id=number, issued_on=issued_on, design=design,
                                           fonts=fonts),
                lambda: render_transcript(template_dir, series=series, design=design, fonts=fonts, holder=holder,
                                          sessions=rows)]
    else:
        renderer = Renderer(Path(template_dir))
        context = certificate_context(series=series, session=session, attendee_name=holder.name, minutes=75,
                                      certificate_id=number, issued_on=issued_on, design=design)
        transcript = _transcript_context(series, holder, rows, design)
        jobs = [lambda: check_drawable(fonts, number, {"name": holder.name, "topic": session.topic,
                                                       "speaker": session.speaker, "series title": series.title}),
                lambda: _render_parts(renderer, TEMPLATE, context),
                lambda: _render_parts(renderer, TRANSCRIPT_TEMPLATE, transcript),
                lambda: _read_images(design)]
    for job in jobs:
        try:
            job()
        except TemplateError as exc:
            problems.append(str(exc))
    return problems


def _render_parts(renderer: Renderer, template: str, context: dict[str, Any]) -> dict[str, str]:
    """Each part of ``template`` rendered as HTML (a TemplateError names the template and line)."""
    return {part: renderer.render(template, {**context, "part": part}) for part in PARTS}


def _read_images(design: CertificateSettings) -> None:
    """Read the logo and signature images as drawing would, without decoding them."""
    for what, image in (("certificate.logo", design.logo), ("certificate.signature.image", design.signature.image)):
        if image is None:
            continue
        try:
            head = Path(image).read_bytes()[:16]
        except OSError as exc:
            raise TemplateError(f"{what}: {image} cannot be read: {exc.strerror or exc}") from exc
        if not head:
            raise TemplateError(f"{what}: {image} is an empty file")


def check_drawable(fonts: FontSet, number: str, texts: dict[str, str]) -> None:
    """Hold the certificate (raise, and log once here) when some text has characters no font draws."""
    for what, text in texts.items():
        gaps = fonts.missing(text)
        if gaps:
            shown = ", ".join(f"U+{ord(c):04X}" for c in gaps[:5])
            message = (f"certificate {number} held: the {what} {text!r} has characters no certificate font can "
                       f"draw ({shown}); correct it in certificate.corrections")
            log.error("%s", message)
            raise CertificateHeldError(message)


def draw(renderer: Renderer, template: str, context: dict[str, Any], design: CertificateSettings, fonts: FontSet,
         *, title: str) -> bytes:
    """Render each part of ``template`` and place it on an A4 landscape page; errors name the template."""
    parts = _render_parts(renderer, template, context)
    shown = renderer.shown(template)
    pdf = new_page()
    try:
        fonts.add_to(pdf, "".join(parts.values()) + title)
        pdf.set_title(title)
        pdf.set_text_color(31, 41, 55)
        top = _logo(pdf, design.logo)
        _html(pdf, parts["body"], x=28, y=top, width=pdf.w - 56, size=14)
        if pdf.y > 150:
            log.warning("%s: the body reaches %.0f mm down the page and may touch the signature block", shown, pdf.y)
        _qr(pdf, context["verify_url"], x=24, y=150, size=34)
        _html(pdf, parts["verify"], x=62, y=156, width=92, size=9, align_left=True)
        _signature(pdf, parts["signer_top"], parts["signer_bottom"], design)
        return bytes(pdf.output())
    except (OSError, ValueError) as exc:  # an unreadable logo or signature image
        raise TemplateError(f"{shown}: cannot be drawn as PDF: {exc}") from exc
    except Exception as exc:  # staff-edited HTML can trip fpdf2 in many ways; say which file
        raise TemplateError(f"{shown}: cannot be drawn as PDF: {exc}") from exc


def _html(pdf: FPDF, html: str, *, x: float, y: float, width: float, size: float, align_left: bool = False) -> None:
    """Write rendered HTML inside the column [x, x + width] from ``y`` down."""
    if not html.strip():
        return
    pdf.set_left_margin(x)
    pdf.set_right_margin(pdf.w - x - width)
    pdf.set_xy(x, y)
    pdf.set_font(FONT_FAMILY, size=size)
    pdf.write_html(html, font_family=FONT_FAMILY, warn_on_tags_not_matching=False)


def _logo(pdf: FPDF, logo: Path | None) -> float:
    """Draw the logo centred at the top; the y where the body starts."""
    if logo is None:
        return 24
    pdf.image(str(logo), x="C", y=18, h=22)
    return 42


def _qr(pdf: FPDF, url: str, *, x: float, y: float, size: float) -> None:
    """The verification URL as a QR code (a PNG image; error correction M)."""
    if not url:
        return
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    buffer.seek(0)
    pdf.image(buffer, x=x, y=y, w=size, h=size)


def _signature(pdf: FPDF, top: str, bottom: str, design: CertificateSettings) -> None:
    """Place and date, position, the signature image (or room to sign), name and NIP, bottom right."""
    x, width = 170.0, 105.0
    _html(pdf, top, x=x, y=146, width=width, size=11)
    image_y = max(pdf.y + 1, 160)
    if design.signature.image is not None:
        pdf.image(str(design.signature.image), x=x + width / 2 - 20, y=image_y, h=16)
    _html(pdf, bottom, x=x, y=image_y + 17, width=width, size=11)


class CertificateDrawer:
    """Draws the thank-you mails' certificates: in this process, or (``apart``) in a helper process.

    Drawing loads fpdf with numpy, fontTools and PIL, and each page leaves buffers behind: tens
    of MiB the long-running worker would keep while it idles (issue 18). ``apart`` draws in one
    helper process, started at the first certificate and ended by :meth:`release` (after each
    tick), so the worker itself never loads the PDF library. In-process drawing keeps the font
    tables between certificates and returns the freed heap on :meth:`release`.
    """

    def __init__(self, *, apart: bool = False):
        self.apart = apart  # draw in a helper process
        self._fonts: FontSet | None = None  # in-process: the font tables, read at the first certificate
        self._pool: Any = None  # apart: the helper process's executor, while a batch lasts
        self._drew = False  # something was drawn since the last release()

    def certificate(self, template_dir: Path, **values: Any) -> bytes:
        """:func:`render_certificate`'s PDF for these keyword values (errors are the same TemplateErrors)."""
        self._drew = True
        if not self.apart:
            if self._fonts is None:
                self._fonts = FontSet()
            return render_certificate(template_dir, fonts=self._fonts, **values)
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: a fresh interpreter, not a copy of this one (threads, sockets and the state file's lock)
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_follow_parent, initargs=(os.getpid(),))
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._pool.submit(_draw_apart, Path(template_dir), values).result()
        except BrokenProcessPool as exc:
            self._pool = None
            raise TemplateError(f"the certificate could not be drawn: the drawing process ended ({exc})") from exc

    def release(self) -> None:
        """End the helper process, drop the font tables and give freed memory back (after a batch)."""
        if not self._drew:
            return
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._fonts, self._drew = None, False
        release_memory()


def _follow_parent(parent: int) -> None:
    """In the helper process: exit as soon as the worker is gone (killed, say), never outlive it.

    The helper holds both ends of its task queue, so it would not notice on its own; orphaned, it
    would keep the worker's stdout and stderr open (a supervisor or a caller reading them would
    wait forever). A daemon thread compares the parent's pid twice a second.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def _draw_apart(template_dir: Path, values: dict[str, Any]) -> bytes:
    """In the helper process: one certificate (its own font tables; ASCII names need none)."""
    return render_certificate(template_dir, **values)


def release_memory() -> None:
    """Collect what drawing left behind and return the freed heap to the system (glibc ``malloc_trim``).

    A drawn page leaves fonts, images and fpdf's buffers for the collector, and glibc keeps the
    freed memory mapped; the long-running worker would otherwise idle at its peak size. Where
    ``malloc_trim`` does not exist (musl, macOS) only the collection runs.
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)


def certificate_filename(session: Session, attendee_name: str) -> str:
    """A safe attachment name: ``sertifikat-2027-01-14-ani-lestari.pdf``."""
    ascii_name = unicodedata.normalize("NFKD", attendee_name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")
    return f"sertifikat-{session.date.isoformat()}-{slug or 'peserta'}.pdf"
