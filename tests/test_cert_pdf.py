"""The certificate PDF: names in any script in the text layer, the QR code decoded, the signature block."""
from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageDraw
from pypdf import PdfReader

from worker.core.schema import CertificateSettings, SignatureSettings
from worker.mail.certificate import CertificateHeldError, FontSet, Holder, render_certificate, render_transcript
from worker.mail.render import sample_series, sample_session

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
NUMBER = "007/SERT/WEBINAR/I/2027"
VERIFY = "https://perpustakaan.example/sertifikat/{slug}.html"
FONTS = FontSet()


def png(path: Path, size: tuple[int, int], color: str) -> Path:
    """A small real PNG (a coloured disc) at ``path``."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse((4, 4, size[0] - 4, size[1] - 4), fill=color)
    image.save(path)
    return path


@pytest.fixture
def design(tmp_path: Path) -> CertificateSettings:
    """Settings with a logo, a signature image and a verification URL."""
    return CertificateSettings(
        verify_url=VERIFY, logo=png(tmp_path / "logo.png", (120, 120), "teal"),
        signature=SignatureSettings(place="Makassar", position="Kepala Dinas Perpustakaan", name="Dra. Andi Rahmawati",
                                    nip="19700101 199503 2 001", image=png(tmp_path / "ttd.png", (200, 80), "navy")))


def render(name: str, design: CertificateSettings) -> bytes:
    return render_certificate(TEMPLATES, series=sample_series(), session=sample_session(), attendee_name=name,
                              minutes=80, certificate_id=NUMBER, issued_on=date(2027, 1, 15), design=design,
                              fonts=FONTS)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("name", [
    "نور عيني معروف",  # Arabic script (shaped right to left)
    "Ni Luh Putu Ayu Ṣāliḥah Nurʼaini",  # Latin with the diacritics of transliterated Arabic names
    "Dewi Ayu Lestari 🌸",  # an emoji from the fallback font
])
def test_the_text_layer_holds_the_whole_name(name: str, design: CertificateSettings) -> None:
    pdf = render(name, design)
    text = text_of(pdf)
    assert name in text, f"{name!r} not in the text layer:\n{text}"
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_the_fonts_are_embedded_not_core_fonts(design: CertificateSettings) -> None:
    fonts = set()
    for page in PdfReader(io.BytesIO(render("Ani", design))).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts.add(str(font["/BaseFont"]))
            assert "/DescendantFonts" in font  # a Type0 font with an embedded subset
    assert any("DejaVu" in f for f in fonts), fonts


def test_the_qr_code_decodes_to_the_verification_url(design: CertificateSettings) -> None:
    reader = PdfReader(io.BytesIO(render("Ani Lestari", design)))
    found = [result.text for image in reader.pages[0].images for result in zxingcpp.read_barcodes(image.image)]
    assert found == ["https://perpustakaan.example/sertifikat/007-SERT-WEBINAR-I-2027.html"]


def test_logo_signature_block_hours_and_number_are_on_the_page(design: CertificateSettings) -> None:
    pdf = render("Ani Lestari", design)
    text = text_of(pdf)
    for expected in ("Makassar, 15 Januari 2027", "Kepala Dinas Perpustakaan", "Dra. Andi Rahmawati",
                     "NIP 19700101 199503 2 001", "2 JP (90 menit", NUMBER, "Periksa keaslian"):
        assert expected in text, f"{expected!r} missing:\n{text}"
    assert len(PdfReader(io.BytesIO(pdf)).pages[0].images) == 3  # logo, QR code, signature


def test_without_a_verify_url_there_is_no_qr_and_no_link() -> None:
    pdf = render("Ani Lestari", CertificateSettings())
    assert len(PdfReader(io.BytesIO(pdf)).pages[0].images) == 0
    assert "Periksa keaslian" not in text_of(pdf)


@pytest.mark.parametrize("name, code", [("王小明", "U+738B"), ("Ani \U0001FAE0", "U+1FAE0")])
def test_a_name_no_font_can_draw_is_held_and_logged(name: str, code: str, design: CertificateSettings,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(CertificateHeldError, match=re.escape(code)):
        render(name, design)
    assert any(code in r.getMessage() and NUMBER in r.getMessage() for r in caplog.records)


def test_direction_marks_and_joiners_do_not_hold_a_certificate(design: CertificateSettings) -> None:
    assert "Siti" in text_of(render("\u200fSiti\u200d Rahma\u200e", design))


def test_a_transcript_lists_sessions_and_total_hours(design: CertificateSettings) -> None:
    sessions = [{"date": date(2027, 1, 7), "topic": "Menulis Cerita Pendek", "jp": 2, "number": "001/SERT/WEBINAR/I/2027"},
                {"date": date(2027, 1, 14), "topic": "Bedah Buku", "jp": 3, "number": "004/SERT/WEBINAR/I/2027"}]
    pdf = render_transcript(TEMPLATES, series=sample_series(), design=design, fonts=FONTS, sessions=sessions,
                            holder=Holder("Ani Lestari", "009/TRANSKRIP/WEBINAR/2027", 0, date(2027, 2, 1)))
    text = text_of(pdf)
    for expected in ("TRANSKRIP KEGIATAN", "Ani Lestari", "2 sesi", "5 JP", "7 Januari 2027 — Menulis Cerita Pendek (2 JP",
                     "14 Januari 2027 — Bedah Buku (3 JP", "009/TRANSKRIP/WEBINAR/2027", "Dra. Andi Rahmawati"):
        assert expected in text, f"{expected!r} missing:\n{text}"
    reader = PdfReader(io.BytesIO(pdf))
    found = [r.text for image in reader.pages[0].images for r in zxingcpp.read_barcodes(image.image)]
    assert found == ["https://perpustakaan.example/sertifikat/009-TRANSKRIP-WEBINAR-2027.html"]
