"""The Verifikasi tab written by the real Sheets client to the Google emulator over 127.0.0.1."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from integrations.google_auth import GoogleConfig, build_sheets_service, load_credentials
from integrations.google_sheets import GoogleSheets
from integrations.sandbox.google_server import GoogleEmulator
from worker.core.certnumber import format_number
from worker.core.model import SeriesInfo
from worker.core.schema import DEFAULT_NUMBER_FORMAT, CertificateSettings
from worker.run.certify import CertificateRegistry
from worker.store.state import StateStore

SHEET = "sheet-kehadiran"
SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
SERIES = SeriesInfo("webinar-kamis", "Webinar Kamis", "Perpustakaan", "WA", "id_ID", "Asia/Makassar",
                    "Perpustakaan", "webinar@perpustakaan.example")
FORMULA = '=IMPORTXML("http://x","//a")'
NOW = datetime(2027, 1, 7, 4, tzinfo=timezone.utc)


@pytest.fixture
def google():
    with GoogleEmulator() as emulator:
        emulator.share_spreadsheet(SHEET, title="Kehadiran")
        yield emulator
        assert emulator.pending_faults() == {}, f"faults queued but never answered: {emulator.pending_faults()}"


@pytest.fixture
def sheets(google: GoogleEmulator, tmp_path) -> GoogleSheets:
    key = tmp_path / "service-account.json"
    email = google.write_service_account_key(key)
    config = GoogleConfig(credentials_file=str(key), calendar_id="", spreadsheet_id=SHEET,
                          api_endpoint=google.root_url)
    return GoogleSheets(build_sheets_service(config, load_credentials(config, SCOPES)), SHEET,
                        service_account_email=email, num_retries=0, timezone="Asia/Makassar")


def issue(store: StateStore, email: str, name: str) -> None:
    store.issue_certificate(kind="session", subject="webinar-kamis/2027-01-07", email=email, name=name, title="Topik",
                            held_on=date(2027, 1, 7), minutes=90, jp=2, now=NOW,
                            number_for=lambda seq: format_number(DEFAULT_NUMBER_FORMAT, seq, date(2027, 1, 7), "w"))


def test_the_tab_is_added_written_raw_and_shrinks_with_the_list(google: GoogleEmulator, sheets: GoogleSheets) -> None:
    rows = [["Nomor", "Nama", "Topik", "Tanggal", "JP", "Status"],
            ["001/SERT/WEBINAR/I/2027", FORMULA, "Topik", "2027-01-07", 2, "Sah"],
            ["002/SERT/WEBINAR/I/2027", "Budi", "Topik", "2027-01-07", 2, "Sah"]]
    sheets.write_verification("Verifikasi", rows)
    assert "Verifikasi" in google.sheet_titles(SHEET)
    values = google.sheet_values(SHEET, "Verifikasi")
    assert values[1][1] == FORMULA  # stored as typed text (RAW), never run as a formula
    sheets.write_verification("Verifikasi", rows[:2])
    shown = google.sheet_values(SHEET, "Verifikasi")
    assert [r[0] for r in shown if r and r[0]] == ["Nomor", "001/SERT/WEBINAR/I/2027"]  # the old third row is blanked


def test_a_failed_write_backs_off_and_is_retried_after_the_wait(google: GoogleEmulator, sheets: GoogleSheets,
                                                                tmp_path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        issue(store, "ani@x.org", "Ani")
        registry = CertificateRegistry(store, CertificateSettings(), SERIES, sheets)
        google.fail_next("values.batchUpdate", 500)
        assert registry.sync_tab(NOW) is False
        assert store.retries()[("*", "verify_tab")].attempts == 1
        assert registry.sync_tab(NOW + timedelta(minutes=5)) is False  # still waiting: no call
        assert registry.sync_tab(NOW + timedelta(minutes=16)) is True
        assert store.retries() == {}
        assert google.sheet_values(SHEET, "Verifikasi")[1][:2] == ["001/SERT/WEBINAR/I/2027", "Ani"]
        calls = google.writes()
        assert registry.sync_tab(NOW + timedelta(minutes=17)) is False  # nothing changed: no write
        assert google.writes() == calls
