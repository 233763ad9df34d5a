"""`webinar-worker demo` certificates: design, QR code, numbers, verification pages and tab, a correction."""
from __future__ import annotations

import csv
import io
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import zxingcpp
from pypdf import PdfReader

from worker import demo
from worker.store.state import StateStore

NUMBER = re.compile(r"\d{3}/SERT/WEBINAR/I/2027")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return demo.Demo(tmp_path_factory.mktemp("demo") / "demo-output").run()


def certificates(result) -> dict[Path, PdfReader]:
    return {p: PdfReader(p) for p in sorted((result.out_dir / "sertifikat").glob("*.pdf"))}


def text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def test_every_certificate_has_logo_signature_hours_number_and_a_qr_to_its_page(result) -> None:
    readers = certificates(result)
    assert len(readers) == result.certificates > 0
    for path, reader in readers.items():
        page_text = text(reader)
        [number] = set(NUMBER.findall(page_text))
        for expected in ("Makassar, ", "Kepala Dinas Perpustakaan", "Dra. Hj. Andi Rahmawati, M.Si.",
                         "NIP 19700101 199503 2 001", "2 JP (90 menit"):
            assert expected in page_text, f"{path.name}: {expected!r} missing"
        images = reader.pages[0].images
        assert len(images) == 3, path.name  # logo, QR code, signature
        decoded = [r.text for image in images for r in zxingcpp.read_barcodes(image.image)]
        slug = number.replace("/", "-")
        assert decoded == [f"https://perpustakaan.example/sertifikat/{slug}.html"], path.name
        assert (result.out_dir / "verifikasi" / f"{slug}.html").is_file()


def test_names_in_arabic_script_with_diacritics_and_with_emoji_are_in_the_text_layer(result) -> None:
    all_text = "\n".join(text(r) for r in certificates(result).values())
    for name in ("محمد إلهام", "Fitri Amālia Ṣāliḥah", "Budi Santoso 🌟"):
        assert name in all_text, name


def test_the_corrected_name_is_reissued_once_with_the_same_number(result) -> None:
    email, corrected = demo.CORRECTION
    mails = [message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted((result.out_dir / "email").glob("*-thankyou-pak.anwar.eml"))]
    first_session = [m for m in mails if str(m["X-Webinar-Session"]).endswith("2027-01-07")]
    assert len(first_session) == 2  # the first thank-you, then exactly one re-issue
    numbers, names = [], []
    for message in first_session:
        part = next(message.iter_attachments())
        page = text(PdfReader(io.BytesIO(part.get_content())))
        numbers.append(NUMBER.findall(page)[0])
        names.append(corrected in page)
    assert numbers[0] == numbers[1] and names == [False, True]


def test_the_verification_tab_and_pages_list_every_number_without_email(result) -> None:
    with StateStore(result.out_dir / "sandbox" / "state.db") as store:
        every_number = [c.number for c in store.certificates()]
        every_slug = [c.slug for c in store.certificates()]
    assert any("TRANSKRIP" in n for n in every_number)
    assert "Verifikasi" in result.tabs
    with open(result.out_dir / "spreadsheet" / "Verifikasi.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Nomor", "Nama", "Topik", "Tanggal", "JP", "Status"]
    assert [r[0] for r in rows[1:]] == every_number  # session certificates and transcripts
    assert not any("@" in cell for row in rows for cell in row)
    site = result.out_dir / "verifikasi"
    assert sorted(p.stem for p in site.glob("*.html")) == sorted(every_slug + ["index"])
    assert not any("@example.org" in p.read_text(encoding="utf-8") for p in site.glob("*.html"))


def test_transcripts_for_people_with_two_or_more_sessions(result) -> None:
    assert result.transcripts > 0
    for path in (result.out_dir / "sertifikat" / "transkrip").glob("*.pdf"):
        page_text = text(PdfReader(path))
        assert "TRANSKRIP KEGIATAN" in page_text and re.search(r"total \d+ JP", page_text)
