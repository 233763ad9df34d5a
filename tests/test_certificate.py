"""E-certificates: a real PDF whose text says who attended, whatever name Zoom reported."""
from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pypdf import PdfReader

from worker.mail.certificate import CertificateHeldError, certificate_filename, render_certificate
from worker.errors import TemplateError
from worker.mail.render import Renderer, sample_meeting, sample_recipient, sample_series, sample_session

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HOSTILE_NAME = '<b>=HYPERLINK("x")</b>'


def pdf_text(pdf: bytes) -> str:
    """The text layer of every page, as a PDF reader (pypdf) extracts it."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def certificate(name: str, template_dir: Path = TEMPLATES, **changes: object) -> bytes:
    """The certificate of ``name`` for the sample session, with ``changes`` applied to the session."""
    session = replace(sample_session(), **changes)
    return render_certificate(template_dir, series=sample_series(), session=session, attendee_name=name,
                              minutes=72, certificate_id="WEBINAR-KAMIS-20270114-0A1B2C3D",
                              issued_on=date(2027, 1, 15))


def test_certificate_is_a_pdf_naming_the_attendee_the_session_and_the_date() -> None:
    pdf = certificate("Ani Lestari")
    text = pdf_text(pdf)
    assert pdf.startswith(b"%PDF")
    for expected in ("SERTIFIKAT", "diberikan kepada", "Ani Lestari", "atas partisipasinya sebagai peserta dalam",
                     "Webinar Kamis Perpustakaan", "Membacakan Buku Cerita untuk Anak Usia Dini",
                     "Kamis, 14 Januari 2027", "Dr. Sari Wulandari, M.Pd.", "WEBINAR-KAMIS-20270114-0A1B2C3D",
                     "Dinas Perpustakaan dan Kearsipan Kota Makassar"):
        assert expected in text, f"{expected!r} not on the certificate; text was:\n{text}"


def test_a_single_digit_day_is_written_as_in_the_mails() -> None:
    day = date(2027, 1, 7)
    start = datetime.combine(day, time(9, 0), ZoneInfo("Asia/Makassar"))
    text = pdf_text(certificate("Ani Lestari", date=day, start=start))
    mail = Renderer(TEMPLATES).render_mail("invitation", replace(sample_session(), date=day, start=start),
                                           sample_meeting(), sample_series(), sample_recipient())

    assert "pada Kamis, 7 Januari 2027" in text, text
    assert "07 Januari" not in text
    assert "Kamis, 7 Januari 2027" in mail.text  # the same words the invitation used


def test_the_page_is_a4_landscape() -> None:
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", certificate("Ani Lestari"))
    assert box is not None
    assert (round(float(box[1])), round(float(box[2]))) == (842, 595)


def test_speaker_line_is_left_out_when_there_is_no_speaker() -> None:
    assert "narasumber" not in pdf_text(certificate("Ani Lestari", speaker=""))


def test_names_outside_latin_1_are_printed_whole() -> None:
    text = pdf_text(certificate("Șerban Nguyễn"))
    assert "Șerban Nguyễn" in text


def test_a_name_no_font_can_draw_holds_the_certificate() -> None:
    with pytest.raises(CertificateHeldError, match=r"U\+738B"):
        certificate("王小明")


def test_typographic_quotes_and_dashes_survive() -> None:
    assert "Anak – “Usia Dini”" in pdf_text(certificate("Ani", topic="Anak – “Usia Dini”"))


def test_a_hostile_name_is_printed_literally_not_interpreted_as_markup() -> None:
    text = pdf_text(certificate(HOSTILE_NAME))
    assert HOSTILE_NAME in text
    assert "=HYPERLINK" not in text.replace(HOSTILE_NAME, "")


def test_a_hostile_topic_is_printed_literally() -> None:
    topic = 'Anak & Buku <i>miring</i> <img src="x">'
    assert topic in pdf_text(certificate("Ani", topic=topic))


def test_a_template_syntax_error_names_the_template_and_line(templates_copy: Path) -> None:
    (templates_copy / "certificate.html.j2").write_text("<p>SERTIFIKAT</p>\n<p>ok</p>\n<p>{% if %}</p>\n",
                                                         encoding="utf-8")
    with pytest.raises(TemplateError, match=r"certificate\.html\.j2:3"):
        certificate("Ani", templates_copy)


def test_an_unknown_variable_names_the_template_and_line(templates_copy: Path) -> None:
    (templates_copy / "certificate.html.j2").write_text("<p>{{ attendee_name }}</p>\n<p>{{ nama_peserta }}</p>\n",
                                                         encoding="utf-8")
    with pytest.raises(TemplateError, match=r"certificate\.html\.j2:2.*nama_peserta"):
        certificate("Ani", templates_copy)


def test_a_missing_template_is_a_template_error(templates_copy: Path) -> None:
    (templates_copy / "certificate.html.j2").unlink()
    with pytest.raises(TemplateError, match=r"certificate\.html\.j2: template not found"):
        certificate("Ani", templates_copy)


@pytest.mark.parametrize("name, expected", [
    ("Ani Lestari", "sertifikat-2027-01-14-ani-lestari.pdf"),
    ("  Dr. Sári  Wulandari, M.Pd. ", "sertifikat-2027-01-14-dr-sari-wulandari-m-pd.pdf"),
    ("../../etc/passwd", "sertifikat-2027-01-14-etc-passwd.pdf"),
    ("王小明", "sertifikat-2027-01-14-peserta.pdf"),
    ("", "sertifikat-2027-01-14-peserta.pdf"),
    ("ani.lestari@example.org", "sertifikat-2027-01-14-ani-lestari-example-org.pdf"),
])
def test_certificate_filenames_are_safe(name: str, expected: str) -> None:
    assert certificate_filename(sample_session(), name) == expected


def test_certificate_filenames_stay_short() -> None:
    filename = certificate_filename(sample_session(), "Siti " * 100)
    assert len(filename) <= 100
    assert re.fullmatch(r"sertifikat-2027-01-14-[a-z0-9-]+\.pdf", filename)
    assert "--" not in filename and "-.pdf" not in filename
