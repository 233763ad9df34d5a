"""Certificate numbers: the format, the Roman month, JP hours, and allocation in the state store."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from tests.helpers_settings import BASE, write_settings
from worker.config.settings import load_settings
from worker.core.certnumber import format_number, jp_hours, month_roman, number_format_problem, number_slug, verify_link
from worker.core.schema import DEFAULT_NUMBER_FORMAT
from worker.errors import SettingsError
from worker.store.state import StateStore

NOW = datetime(2027, 1, 7, 4, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("month, roman", [(1, "I"), (4, "IV"), (9, "IX"), (12, "XII")])
def test_months_are_written_in_roman_numerals(month: int, roman: str) -> None:
    assert month_roman(month) == roman


def test_the_default_format_gives_an_indonesian_office_number() -> None:
    assert format_number(DEFAULT_NUMBER_FORMAT, 7, date(2027, 1, 14), "webinar-kamis") == "007/SERT/WEBINAR/I/2027"
    assert number_slug("007/SERT/WEBINAR/I/2027") == "007-SERT-WEBINAR-I-2027"


@pytest.mark.parametrize("template, complaint", [
    ("{year}/SERT", "must contain {seq}"),
    ("{seq}/{bulan}", "unknown field {bulan}"),
    ("{seq:03d/", "not a valid format"),
    ("{seq:s}", "cannot be filled in"),
    ("{seq}<b>", "without <"),
])
def test_a_bad_number_format_is_refused_with_the_reason(template: str, complaint: str) -> None:
    assert complaint in number_format_problem(template)


@pytest.mark.parametrize("minutes, jp", [(90, 2), (60, 1), (68, 2), (67, 1), (120, 3), (20, 1), (0, 0)])
def test_hours_are_rounded_half_up_to_jp(minutes: int, jp: int) -> None:
    assert jp_hours(minutes, 45) == jp


def test_the_verify_link_encodes_the_number_or_uses_the_slug() -> None:
    assert verify_link("https://p.example/s?n={number}", "007/SERT/I/2027", "007-SERT-I-2027") == \
        "https://p.example/s?n=007%2FSERT%2FI%2F2027"
    assert verify_link("https://p.example/s/{slug}.html", "007/SERT", "007-SERT") == "https://p.example/s/007-SERT.html"
    assert verify_link("", "007/SERT", "007-SERT") == ""


def _issue(store: StateStore, subject: str, email: str, name: str = "Ani"):
    return store.issue_certificate(kind="session", subject=subject, email=email, name=name, title="Topik",
                                   held_on=date(2027, 1, 7), minutes=90, jp=2, now=NOW,
                                   number_for=lambda seq: format_number(DEFAULT_NUMBER_FORMAT, seq, date(2027, 1, 7),
                                                                        "webinar-kamis"))


def test_numbers_run_on_are_unique_and_stable_across_restarts(tmp_path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        first = _issue(store, "webinar-kamis/2027-01-07", "ani@x.org")
        second = _issue(store, "webinar-kamis/2027-01-07", "budi@x.org")
        again = _issue(store, "webinar-kamis/2027-01-07", "ANI@x.org ", name="Other name")
    assert (first.number, second.number) == ("001/SERT/WEBINAR/I/2027", "002/SERT/WEBINAR/I/2027")
    assert again == first  # the same person and session keep their certificate, name and all
    with StateStore(tmp_path / "s.db") as store:
        assert _issue(store, "webinar-kamis/2027-01-07", "ani@x.org").number == first.number
        assert _issue(store, "webinar-kamis/2027-01-14", "ani@x.org").seq == 3
        assert store.certificate("002-SERT-WEBINAR-I-2027") == second
        assert store.certificate("002/SERT/WEBINAR/I/2027") == second


def test_a_number_is_never_reused_even_if_a_row_disappears(tmp_path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        _issue(store, "webinar-kamis/2027-01-07", "ani@x.org")
        _issue(store, "webinar-kamis/2027-01-07", "budi@x.org")
        store._db.execute("DELETE FROM certificates WHERE seq=2")  # e.g. restored from an older copy by hand
        assert _issue(store, "webinar-kamis/2027-01-07", "cici@x.org").seq == 3


def test_the_certificate_section_is_read_and_checked(tmp_path) -> None:
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    text = BASE + """certificate:
  number_format: "{seq:04d}/PERPUS/{month_roman}/{year}"
  verify_url: https://perpustakaan.example/sertifikat/{slug}.html
  minutes_per_jp: 40
  logo: logo.png
  signature:
    place: Makassar
    position: Kepala Dinas
    name: Dra. Andi
    nip: "19700101 199503 2 001"
  corrections:
    ANI@x.org: "  Ani   Lestari "
  revoked: ["0003/PERPUS/I/2027"]
  transcript_min_sessions: 2
"""
    cert = load_settings(write_settings(tmp_path, text)).certificate
    assert cert.number_format == "{seq:04d}/PERPUS/{month_roman}/{year}" and cert.minutes_per_jp == 40
    assert cert.logo == tmp_path / "logo.png" and cert.signature.nip == "19700101 199503 2 001"
    assert cert.correction_for("ani@X.org") == "Ani Lestari" and cert.revoked == ("0003/PERPUS/I/2027",)
    assert cert.transcript_min_sessions == 2


def test_certificate_settings_problems_name_key_and_line(tmp_path) -> None:
    text = BASE + """certificate:
  number_format: "SERT/{year}"
  verify_url: https://perpustakaan.example/sertifikat
  logo: tidak-ada.png
  signature:
    nip: "NIP-123"
  corrections:
    bukan-email: Nama
"""
    with pytest.raises(SettingsError) as caught:
        load_settings(write_settings(tmp_path, text))
    shown = str(caught.value)
    lines = {n + 1: line for n, line in enumerate(text.splitlines())}
    for key, words in (("certificate.number_format", "must contain {seq}"),
                       ("certificate.verify_url", "{number} or {slug}"),
                       ("certificate.logo", "not found"), ("certificate.signature.nip", "digits"),
                       ("certificate.corrections.bukan-email", "not an email address")):
        assert key in shown and words in shown, shown
    line = next(n for n, l in lines.items() if "number_format" in l)
    assert f":{line}" in shown
