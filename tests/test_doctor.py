"""`doctor` tries every integration for real (the emulators and aiosmtpd); `send-test` mails one address only."""
from __future__ import annotations

import os

import pytest

from integrations.sandbox.google_server import SERVICE_ACCOUNT_EMAIL, GoogleEmulator
from integrations.sandbox.smtp_server import SandboxSmtpServer
from integrations.sandbox.zoom_server import ZoomEmulator
from tests.helpers_settings import TEMPLATES
from tests.helpers_smtp import parse
from worker.cli import main
from worker.store.state import StateStore

CALENDAR = "webinar@group.calendar.google.com"
SHEET = "doctor-sheet"
SETTINGS = """\
series:
  id: webinar-kamis
  title: Webinar Kamis Perpustakaan
  organizer: Perpustakaan Kota
  weekday: kamis
  start_time: "09:00"
  timezone: Asia/Makassar
  first_date: 2027-01-14
  last_date: 2027-01-21
topics:
  - date: 2027-01-14
    topic: Bedah Buku
  - date: 2027-01-21
    topic: Mendongeng
zoom:
  api_base_url: {zoom_api}
  oauth_url: {zoom_oauth}
  user_id: {host}
  registration: {registration}
google:
  calendar_id: {calendar}
  spreadsheet_id: {sheet}
  credentials_file: {key_file}
  api_endpoint: {google_root}
mail:
  sender_name: Perpustakaan Kota
  sender_address: webinar@perpustakaan.example
  templates_dir: {templates}
  smtp:
    host: 127.0.0.1
    port: {smtp_port}
    security: none
  recipients:
    inline: [ani@example.org, budi@example.org]
    csv_files: [daftar.csv]
worker:
  state_file: state.db
"""


class Sandbox:
    """The three emulators, a key file, a settings file and the environment `doctor` reads."""

    def __init__(self, tmp_path, monkeypatch, zoom, google, smtp):
        self.zoom, self.google, self.smtp = zoom, google, smtp
        key = tmp_path / "service-account.json"
        google.write_service_account_key(key)
        key.chmod(0o600)
        google.share_calendar(CALENDAR)
        google.share_spreadsheet(SHEET, title="Kehadiran")
        (tmp_path / "daftar.csv").write_text("email,name\r\ncici@example.org,Cici\r\n", encoding="utf-8")
        self.path = tmp_path / "settings.yaml"
        self.values = dict(zoom_api=zoom.api_base_url, zoom_oauth=zoom.oauth_url, host=zoom.host_email,
                           registration="true", calendar=CALENDAR, sheet=SHEET, key_file=key,
                           google_root=google.root_url, templates=TEMPLATES, smtp_port=smtp.port)
        self.write()
        for name in list(os.environ):
            if name.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
                monkeypatch.delenv(name)
        for name, value in (("ZOOM_ACCOUNT_ID", zoom.account_id), ("ZOOM_CLIENT_ID", zoom.client_id),
                            ("ZOOM_CLIENT_SECRET", zoom.client_secret), ("SMTP_USERNAME", "webinar"),
                            ("SMTP_PASSWORD", "sandi-smtp")):
            monkeypatch.setenv(name, value)
        self.monkeypatch = monkeypatch

    def write(self, **changes) -> None:
        self.values.update(changes)
        self.path.write_text(SETTINGS.format(**self.values), encoding="utf-8")

    def doctor(self, capsys) -> tuple[int, str]:
        code = main(["doctor", "--settings", str(self.path)])
        return code, capsys.readouterr().out


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    with ZoomEmulator() as zoom, GoogleEmulator() as google, SandboxSmtpServer(login=("webinar", "sandi-smtp")) as smtp:
        yield Sandbox(tmp_path, monkeypatch, zoom, google, smtp)


def test_doctor_passes_against_the_sandbox_and_sends_nothing(sandbox, capsys):
    code, out = sandbox.doctor(capsys)
    assert code == 0, out
    assert "zoom        OK" in out and "host user: host@library.example (Licensed)" in out
    assert "calendar: the service account may change events (role writer)" in out
    assert 'spreadsheet "Kehadiran": the service account can edit it' in out
    assert "SMTP: connected and logged in (no mail sent)" in out
    assert "3 recipients read from every source" in out
    assert out.rstrip().endswith("everything the settings use works")
    assert sandbox.smtp.messages == [] and sandbox.zoom.calls["create_meeting"] == 0
    assert "sandi-smtp" not in out and sandbox.zoom.client_secret not in out


def test_doctor_names_a_wrong_zoom_secret(sandbox, capsys):
    sandbox.monkeypatch.setenv("ZOOM_CLIENT_SECRET", "salah")
    code, out = sandbox.doctor(capsys)
    assert code == 1
    assert "zoom        PROBLEM" in out
    assert "Zoom refused the Server-to-Server OAuth credentials (HTTP 401 Invalid client_id or client_secret)" in out
    assert out.rstrip().endswith("1 integration does not work: zoom")


def test_doctor_names_an_unshared_calendar(sandbox, capsys):
    sandbox.write(calendar="lain@group.calendar.google.com")  # a calendar nobody shared with the service account
    code, out = sandbox.doctor(capsys)
    assert code == 1
    assert "calendar    PROBLEM" in out and "lain@group.calendar.google.com" in out and SERVICE_ACCOUNT_EMAIL in out
    assert out.rstrip().endswith("1 integration does not work: calendar")


def test_doctor_names_a_read_only_sheet(sandbox, capsys):
    sandbox.google.make_spreadsheet_read_only(SHEET)
    code, out = sandbox.doctor(capsys)
    assert code == 1
    assert "sheets      PROBLEM" in out and "403" in out and SHEET in out
    assert out.rstrip().endswith("1 integration does not work: sheets")


def test_doctor_names_a_refused_smtp_login(sandbox, capsys):
    sandbox.monkeypatch.setenv("SMTP_PASSWORD", "sandi-salah")
    code, out = sandbox.doctor(capsys)
    assert code == 1
    assert "mail        PROBLEM" in out and "FAILED: smtp:" in out
    assert "sandi-salah" not in out
    assert out.rstrip().endswith("1 integration does not work: mail")


def test_doctor_says_registration_needs_a_licensed_host(sandbox, capsys):
    sandbox.zoom.host_licensed = False
    code, out = sandbox.doctor(capsys)
    assert code == 1 and "(Basic (unlicensed))" in out and "needs a Licensed host user" in out


def test_send_test_mails_one_address_and_leaves_the_outbox_alone(sandbox, capsys):
    StateStore(sandbox.path.parent / "state.db").close()  # a worker's state file exists
    code = main(["send-test", "tester@perpustakaan.example", "--kind", "reminder", "--date", "2027-01-21",
                 "--settings", str(sandbox.path)])
    out = capsys.readouterr().out
    assert code == 0, out
    (mail,) = sandbox.smtp.messages
    assert list(mail.rcpt_tos) == ["tester@perpustakaan.example"]
    message = parse(mail.data)
    assert str(message["Subject"]).strip().startswith("[UJI COBA] Pengingat: Mendongeng")  # a long one is folded
    with StateStore(sandbox.path.parent / "state.db") as store:
        assert store.mail_counts() == {}  # nothing queued, nothing marked: the outbox is not involved
    assert "sent reminder for 2027-01-21 to tester@perpustakaan.example" in out
