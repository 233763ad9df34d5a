"""The command line as a user runs it: exit codes, messages, the loop stopping on SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from tests.helpers_process import clean_env
from tests.helpers_settings import BASE, write_settings
from worker.cli import main

def test_check_ok(tmp_path, capsys, monkeypatch):
    for k in list(os.environ):
        if k.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(k)
    assert main(["check", "--offline-ok", "--settings", str(write_settings(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "valid — 3 sessions, 1 cancelled, 1 skipped date." in out
    assert "not configured: zoom: Zoom is not configured: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET" in out
    assert "warning: mail" not in out  # a local relay needs no login


def test_check_warns_when_a_remote_smtp_server_has_no_login(tmp_path, capsys, monkeypatch):
    for k in list(os.environ):
        if k.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(k)
    path = write_settings(tmp_path, BASE.replace("host: 127.0.0.1", "host: smtp.gmail.com"))
    assert main(["check", "--offline-ok", "--settings", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: mail: SMTP_USERNAME and SMTP_PASSWORD are not both set; smtp.gmail.com will be used" in out
    monkeypatch.setenv("SMTP_USERNAME", "webinar@perpustakaan.example.go.id")
    monkeypatch.setenv("SMTP_PASSWORD", "app-password")
    assert main(["check", "--offline-ok", "--settings", str(path)]) == 0
    assert "warning: mail" not in capsys.readouterr().out


def test_check_bad_settings_exits_2_with_every_problem(tmp_path, capsys):
    text = BASE.replace("port: 2525", "port: abc").replace("date: 2027-01-21", "date: 2027-02-30")
    assert main(["check", "--settings", str(write_settings(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert 'mail.smtp.port: expected a number from 1 to 65535, got "abc"' in err
    assert "topics[3].date: 2027-02-30 is not a date" in err
    assert "2 problems found; nothing was changed." in err


def test_plan_shows_table(tmp_path, capsys):
    assert main(["plan", "--settings", str(write_settings(tmp_path)), "--now", "2027-01-01T08:00+08:00"]) == 0
    out = capsys.readouterr().out
    assert "2027-01-14  13:30" in out and "cancelled" in out and "2027-01-28  skipped: Libur" in out


def test_bad_now_is_a_usage_error(tmp_path, capsys):
    assert main(["once", "--settings", str(write_settings(tmp_path)), "--now", "tomorrow"]) == 2
    assert "'tomorrow' is not an ISO date-time" in capsys.readouterr().err


def test_once_without_credentials_reports_blocked_and_dry_run_lists(tmp_path, capsys, monkeypatch):
    for k in list(os.environ):
        if k.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(k)
    path = write_settings(tmp_path)
    assert main(["once", "--settings", str(path), "--now", "2026-12-28T08:00+08:00", "--dry-run"]) == 0
    assert "create_meeting" in capsys.readouterr().out
    assert main(["once", "--settings", str(path), "--now", "2026-12-28T08:00+08:00"]) == 0
    out = capsys.readouterr().out
    assert "blocked  create_meeting webinar-kamis/2027-01-07: Zoom is not configured" in out
    assert main(["status", "--settings", str(path), "--now", "2026-12-28T08:00+08:00"]) == 0
    assert "2027-01-07  Menulis Cerita Pendek" in capsys.readouterr().out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_on_sigterm_and_sigint(tmp_path, sig):
    path = write_settings(tmp_path, BASE.replace("  state_file: state.db", "  state_file: state.db\n  tick_seconds: 1"))
    proc = subprocess.Popen([sys.executable, "-m", "worker", "run", "--settings", str(path)], cwd=tmp_path,
                            env=clean_env(), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "running; ticking every 1 s" in line:
                break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(lines) + err
    assert "webinar-worker stopped" in err


def test_run_reloads_edited_settings_and_keeps_last_good(tmp_path):
    from worker.core.clock import FixedClock
    from worker.run.runner import Runner
    from worker.config.settings import load_settings
    from datetime import datetime, timezone
    from worker.run.engine import TickReport

    path = write_settings(tmp_path)
    seen = []

    class Recorder:
        def __init__(self, settings):
            self.settings = settings

        def tick(self, sessions, dry_run=False):
            seen.append([s.topic for s in sessions][0])
            return TickReport()

    runner = Runner(path, Recorder, FixedClock(datetime(2027, 1, 1, tzinfo=timezone.utc)))
    runner.run_once()
    path.write_text(BASE.replace("Menulis Cerita Pendek", "Menulis Cerpen"), encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))
    runner.run_once()
    path.write_text(BASE.replace("port: 2525", "port: abc"), encoding="utf-8")
    os.utime(path, (time.time() + 10, time.time() + 10))
    runner.run_once()
    assert seen == ["Menulis Cerita Pendek", "Menulis Cerpen", "Menulis Cerpen"]
    assert load_settings  # imported for clarity of what is reloaded


def test_check_names_a_misspelt_certificate_variable(tmp_path, capsys):
    path = write_settings(tmp_path)
    cert = tmp_path / "templates" / "certificate.html.j2"
    cert.write_text(cert.read_text(encoding="utf-8").replace("attendee_name", "attendee_nama"), encoding="utf-8")
    assert main(["check", "--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert "certificate.html.j2:" in err and "'attendee_nama' is undefined" in err


def test_report_writes_html_from_stored_attendance(tmp_path, capsys):
    from datetime import datetime, timezone

    from worker.core.model import Attendee
    from worker.core.planner import plan_season
    from worker.config.settings import load_settings
    from worker.core.records import session_to_json
    from worker.store.state import StateStore

    path = write_settings(tmp_path)
    settings = load_settings(path)
    first = plan_season(settings).sessions[0]
    now = datetime(2027, 1, 8, tzinfo=timezone.utc)
    t = first.start_utc
    with StateStore(settings.worker.state_file) as store:
        store.update_session(first.uid, now, snapshot=session_to_json(first))
        store.store_attendance(first.uid, [Attendee("Siti", "siti@example.org", t, t, 80, 2),
                                           Attendee("Budi", "", t, t, 40, 1)], now)
    out_dir = tmp_path / "laporan"
    assert main(["report", "--settings", str(path), "--now", "2027-01-08T08:00+08:00", "--out", str(out_dir)]) == 0
    assert "1 session(s) held, 2 attendance(s)" in capsys.readouterr().out
    html = (out_dir / "laporan-musim.html").read_text(encoding="utf-8")
    assert "Menulis Cerita Pendek" in html and "data:image/png;base64," in html


def test_report_without_state_says_so(tmp_path, capsys):
    assert main(["report", "--settings", str(write_settings(tmp_path)), "--out", str(tmp_path / "r")]) == 1
    assert "no state yet" in capsys.readouterr().out


def test_demo_command_runs_the_sandbox_season_and_lists_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo-output"
    assert main(["demo", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 created, 3 live, 1 deleted" in text
    assert str(out / "laporan" / "laporan-musim.html") in text.replace("\n", "")
    assert (out / "kalender.ics").is_file() and list((out / "sertifikat").glob("*.pdf"))


# -- preview ----------------------------------------------------------------------------
PREVIEW_SUBJECTS = {
    "invitation": "Undangan Webinar Kamis Perpustakaan: Menulis Cerita Pendek - Kamis, 7 Januari 2027",
    "reminder": "Pengingat: Menulis Cerita Pendek - Kamis, 7 Januari 2027, pukul 09.00 WITA",
    "change": "Perubahan topik: Webinar Kamis Perpustakaan - Menulis Cerita Pendek, Kamis, 7 Januari 2027",
    "cancellation": "Dibatalkan: Webinar Kamis Perpustakaan - Menulis Cerita Pendek, Kamis, 7 Januari 2027",
    "thankyou": "Terima kasih telah hadir: Menulis Cerita Pendek - Kamis, 7 Januari 2027",
}
SAMPLE_JOIN_URL = "https://zoom.us/j/85012345678?pwd=contoh"  # what preview shows before a meeting exists


def read_eml(path: Path) -> EmailMessage:
    """A previewed mail as a mail program reads it."""
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage, subtype: str) -> str:
    """The text/plain or text/html body, whitespace collapsed so wrapped lines still match."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return " ".join(part.get_content().split())


def calendar_parts(message: EmailMessage) -> list[EmailMessage]:
    """The text/calendar attachments."""
    return [p for p in message.walk() if p.get_content_type() == "text/calendar"]


def test_preview_writes_every_mail_of_a_session_as_a_mail_program_shows_it(tmp_path, capsys):
    out = tmp_path / "pratinjau"
    assert main(["preview", "2027-01-07", "--settings", str(write_settings(tmp_path)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"2027-01-07-{kind}.{ext}" for kind in PREVIEW_SUBJECTS for ext in ("eml", "html"))
    for kind, subject in PREVIEW_SUBJECTS.items():
        message = read_eml(out / f"2027-01-07-{kind}.eml")
        assert str(message["Subject"]).lstrip() == subject  # lstrip: see test_mail_render (CPython gh-124452)
        assert subject in printed and f"2027-01-07-{kind}.eml" in printed
        assert str(message["To"]) == "Contoh Peserta <contoh.peserta@example.org>"
        html_file = (out / f"2027-01-07-{kind}.html").read_text(encoding="utf-8")
        assert html_file == message.get_body(("html",)).get_content()
        for text in (text_of(message, "plain"), text_of(message, "html")):
            assert "Kamis, 7 Januari 2027" in text and "07 Januari" not in text, kind
            if kind != "thankyou":
                assert "09.00–10.30 WITA" in text and "Andi" in text, kind
            if kind in ("invitation", "reminder", "change"):
                assert SAMPLE_JOIN_URL in text and "850 1234 5678" in text and "Baca2027" in text, kind
            else:
                assert "zoom.us/j/" not in text, kind

    for kind, method, filename in (("invitation", "REQUEST", "undangan.ics"), ("reminder", "REQUEST", "undangan.ics"),
                                   ("change", "REQUEST", "undangan.ics"), ("cancellation", "CANCEL", "pembatalan.ics")):
        (part,) = calendar_parts(read_eml(out / f"2027-01-07-{kind}.eml"))
        assert (part.get_param("method"), part.get_filename()) == (method, filename), kind
        calendar = Calendar.from_ical(part.get_payload(decode=True))
        event = calendar.walk("VEVENT")[0]
        assert str(calendar["METHOD"]) == method
        assert str(event["UID"]) == "webinar-kamis-2027-01-07@webinar-worker"
        assert event.decoded("DTSTART") == datetime(2027, 1, 7, 9, 0, tzinfo=ZoneInfo("Asia/Makassar"))
        assert str(event["SUMMARY"]) == "Webinar Kamis Perpustakaan: Menulis Cerita Pendek"
        assert event["SEQUENCE"] == (1 if kind == "change" else 0)
        assert (SAMPLE_JOIN_URL in str(event["DESCRIPTION"])) == (method == "REQUEST"), kind

    thanks = read_eml(out / "2027-01-07-thankyou.eml")
    assert calendar_parts(thanks) == []
    assert [p.get_filename() for p in thanks.iter_attachments()] == ["sertifikat-2027-01-07-contoh-peserta.pdf"]
    assert "90 menit" in text_of(thanks, "plain")


def test_preview_of_one_kind_shows_the_stored_meeting(tmp_path, capsys):
    from worker.config.settings import load_settings
    from worker.store.state import StateStore

    path = write_settings(tmp_path)
    with StateStore(load_settings(path).worker.state_file) as store:
        store.update_session("webinar-kamis/2027-01-14", datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")),
                             meeting_id="81234567890", join_url="https://zoom.us/j/81234567890?pwd=asli",
                             passcode="Rahasia1")
    out = tmp_path / "pratinjau"
    assert main(["preview", "2027-01-14", "--kind", "reminder", "--settings", str(path), "--out", str(out)]) == 0
    capsys.readouterr()

    assert sorted(p.name for p in out.iterdir()) == ["2027-01-14-reminder.eml", "2027-01-14-reminder.html"]
    message = read_eml(out / "2027-01-14-reminder.eml")
    assert str(message["Subject"]).lstrip() == "Pengingat: Bedah Buku - Kamis, 14 Januari 2027, pukul 13.30 WITA"
    for text in (text_of(message, "plain"), text_of(message, "html")):
        assert "https://zoom.us/j/81234567890?pwd=asli" in text and "812 3456 7890" in text and "Rahasia1" in text
        assert SAMPLE_JOIN_URL not in text
        assert "yang akan dimulai pada" in text and "ruang tunggu" in text  # zoom.waiting_room is on by default
    (part,) = calendar_parts(message)
    event = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
    assert str(event["LOCATION"]) == "https://zoom.us/j/81234567890?pwd=asli"


def test_preview_follows_the_waiting_room_setting(tmp_path, capsys):
    text = BASE + "zoom:\n  waiting_room: false\n"
    out = tmp_path / "pratinjau"
    assert main(["preview", "2027-01-07", "--kind", "reminder", "--settings", str(write_settings(tmp_path, text)),
                 "--out", str(out)]) == 0
    message = read_eml(out / "2027-01-07-reminder.eml")
    assert "ruang tunggu" not in text_of(message, "plain") and "ruang tunggu" not in text_of(message, "html")


def test_preview_of_a_date_without_a_session_exits_2_and_says_why(tmp_path, capsys):
    path = write_settings(tmp_path)
    out = tmp_path / "pratinjau"
    assert main(["preview", "2027-01-28", "--settings", str(path), "--out", str(out)]) == 2
    assert f"error: 2027-01-28 is not a session in {path} (see `webinar-worker plan`)" in capsys.readouterr().err
    assert main(["preview", "2027-13-01", "--settings", str(path), "--out", str(out)]) == 2
    assert "error: '2027-13-01' is not a date such as 2027-01-14" in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_check_finds_a_mistake_that_only_shows_when_meetings_have_a_waiting_room(tmp_path, capsys):
    path = write_settings(tmp_path)
    reminder = tmp_path / "templates" / "reminder.txt.j2"
    reminder.write_text(reminder.read_text(encoding="utf-8").replace(
        "Anda masuk dari ruang tunggu.", "Anda masuk dari {{ ruang }}."), encoding="utf-8")
    assert main(["check", "--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert "templates/reminder.txt.j2:" in err and "'ruang' is undefined" in err


def test_check_lists_problems_in_the_recipient_csv(tmp_path, capsys, monkeypatch):
    for k in list(os.environ):
        if k.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(k)
    (tmp_path / "daftar.csv").write_text("email,name,group\nani@example.org,Ani,umum\nbudi@,Budi,umum\n",
                                         encoding="utf-8")
    path = write_settings(tmp_path, BASE.replace("      - umum@example.org\n",
                                                 "      - umum@example.org\n    csv_files: [daftar.csv]\n"))
    assert main(["check", "--offline-ok", "--settings", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: recipient list: " in out and "daftar.csv:3" in out and "budi@" in out


def test_check_exits_1_and_says_not_ready_when_an_integration_is_not_configured(tmp_path, capsys, monkeypatch):
    for k in list(os.environ):
        if k.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(k)
    path = write_settings(tmp_path)
    assert main(["check", "--settings", str(path)]) == 1
    out = capsys.readouterr().out
    assert "NOT READY: 3 integrations not configured: calendar, sheets, zoom." in out
    assert "OK" not in out.replace("--offline-ok", "")
    assert main(["check", "--offline-ok", "--settings", str(path)]) == 0
    assert "not configured: calendar, sheets, zoom (accepted by --offline-ok)" in capsys.readouterr().out
