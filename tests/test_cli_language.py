"""Every command speaks Indonesian by default and English with ``--lang en`` (or LANG); help is clean;
a reader that closes the pipe early gets no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_process import ROOT, clean_env
from tests.helpers_settings import BASE, write_settings
from worker.cli import main
from worker.demo import DemoSummary, SimulatedPerson, print_summary
from worker.i18n import translator
from worker.store.state import StateStore

NOW = "2027-01-01T08:00+08:00"  # two meetings are due then (the planning window reaches 7 and 14 January)
BROKEN = BASE.replace("port: 2525", "port: abc")  # one problem in the settings


@pytest.fixture(autouse=True)
def reader_without_language(monkeypatch: pytest.MonkeyPatch) -> None:
    """No locale variable and no secrets: what a staff member's fresh terminal (or a server) says is nothing."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """``webinar-worker ARGV`` in this process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def settings(tmp_path: Path) -> str:
    """The test settings (series.locale left at its default, id_ID), as a path string."""
    return str(write_settings(tmp_path))


@pytest.fixture
def with_state(settings: str) -> str:
    """The settings plus an empty state file (no certificate issued yet)."""
    StateStore(Path(settings).parent / "state.db").close()
    return settings


# -- each command, both languages ---------------------------------------------------------------
def test_check_is_indonesian_by_default_and_english_with_lang_en(settings, capsys):
    code, out, _ = run(capsys, "check", "--settings", settings)
    assert code == 1
    assert "benar — 3 sesi, 1 dibatalkan, 1 tanggal dilewati." in out
    assert "belum diatur: zoom: Zoom belum diatur: isi ZOOM_ACCOUNT_ID" in out
    assert "BELUM SIAP: 3 layanan belum diatur: calendar, sheets, zoom." in out
    code, out, _ = run(capsys, "check", "--lang", "en", "--settings", settings)
    assert code == 1
    assert "valid — 3 sessions, 1 cancelled, 1 skipped date." in out
    assert "NOT READY: 3 integrations not configured: calendar, sheets, zoom." in out
    assert "BELUM" not in out


def test_lang_works_before_and_after_the_command(settings, capsys):
    for argv in (("--lang", "en", "check", "--settings", settings), ("check", "--settings", settings, "--lang=en")):
        _, out, _ = run(capsys, *argv)
        assert "NOT READY" in out and "BELUM SIAP" not in out, argv
    _, out, _ = run(capsys, "--lang", "en", "check", "--lang", "id", "--settings", settings)
    assert "BELUM SIAP" in out  # the one nearer the command wins


def test_lang_from_the_environment(settings, capsys, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert "NOT READY" in run(capsys, "check", "--settings", settings)[1]
    monkeypatch.setenv("LANG", "C.UTF-8")  # a server's locale says nothing about the reader: Indonesian
    assert "BELUM SIAP" in run(capsys, "check", "--settings", settings)[1]
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert "BELUM SIAP" in run(capsys, "check", "--lang", "id", "--settings", settings)[1]  # the flag wins


def test_an_unknown_lang_is_refused_in_the_readers_words(settings, capsys):
    code, _, err = run(capsys, "check", "--settings", settings, "--lang", "fr")
    assert code == 2 and "kesalahan: --lang 'fr': pilih salah satu dari id, en" in err


def test_settings_problems_are_counted_in_the_chosen_language(tmp_path, capsys):
    path = str(write_settings(tmp_path, BROKEN))
    for command in ("check", "plan", "status", "report"):
        code, _, err = run(capsys, command, "--settings", path)
        assert code == 2 and "Ada 1 masalah; tidak ada yang diubah." in err, command
        code, _, err = run(capsys, command, "--settings", path, "--lang", "en")
        assert code == 2 and "1 problem found; nothing was changed." in err, command


def test_a_bad_now_is_named_in_the_chosen_language(settings, capsys):
    code, _, err = run(capsys, "plan", "--settings", settings, "--now", "besok")
    assert code == 2 and "kesalahan: 'besok' bukan tanggal dan jam seperti 2027-01-14T08:00+08:00" in err
    code, _, err = run(capsys, "plan", "--settings", settings, "--now", "tomorrow", "--lang", "en")
    assert code == 2 and "error: 'tomorrow' is not an ISO date-time such as 2027-01-14T08:00+08:00" in err


def test_doctor_says_what_does_not_work(settings, capsys):
    code, out, _ = run(capsys, "doctor", "--settings", settings)
    assert code == 1
    assert "zoom        MASALAH" in out and "recipients  BERES" in out
    assert "2 penerima terbaca dari semua sumber" in out and "layanan belum berfungsi: zoom" in out
    code, out, _ = run(capsys, "doctor", "--settings", settings, "--lang", "en")
    assert "zoom        PROBLEM" in out and "2 recipients read from every source" in out
    assert "integrations do not work: zoom" in out


def test_once_dry_run_counts_the_due_steps(settings, capsys):
    code, out, _ = run(capsys, "once", "--dry-run", "--settings", settings, "--now", NOW)
    assert code == 0 and "(2 langkah sudah waktunya; langkah berikutnya menyusul setelah ini selesai)" in out
    assert "hari ke depan dan belum punya rapat Zoom" in out and "has no meeting" not in out  # each step's reason
    code, out, _ = run(capsys, "once", "--dry-run", "--settings", settings, "--now", NOW, "--lang", "en")
    assert code == 0 and "(2 steps due; later steps follow once these are done)" in out
    assert "days and has no meeting" in out


def test_status_and_report_without_a_state_file(settings, capsys, monkeypatch):
    _, out, _ = run(capsys, "status", "--settings", settings)
    assert "belum ada berkas state" in out and "jalankan `webinar-worker once` dulu" in out
    _, out, _ = run(capsys, "report", "--settings", settings)
    assert "belum ada berkas state" in out and "belum ada yang bisa dilaporkan" in out
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    _, out, _ = run(capsys, "status", "--settings", settings)
    assert "no state yet" in out and "run `webinar-worker once` first" in out


def test_a_second_worker_is_told_in_the_chosen_language(settings, capsys):
    from worker.run.lock import StateLock

    lock = StateLock(Path(settings).parent / "state.db").acquire()
    try:
        code, _, err = run(capsys, "once", "--settings", settings, "--now", NOW)
        assert code == 3 and f"kesalahan: webinar-worker lain (pid {os.getpid()}) sedang bekerja dengan" in err
        code, _, err = run(capsys, "once", "--settings", settings, "--now", NOW, "--lang", "en")
        assert code == 3 and f"error: another webinar-worker (pid {os.getpid()}) is already working on" in err
    finally:
        lock.release()


def test_preview_of_a_date_that_is_not_a_session(settings, capsys):
    code, _, err = run(capsys, "preview", "2027-01-28", "--settings", settings)
    assert code == 2 and "kesalahan: 2027-01-28 bukan tanggal sesi di" in err
    code, _, err = run(capsys, "preview", "2027-13-01", "--settings", settings, "--lang", "en")
    assert code == 2 and "error: '2027-13-01' is not a date such as 2027-01-14" in err


def test_verify_publish_verify_and_transcript(with_state, tmp_path, capsys):
    code, out, _ = run(capsys, "verify", "999/SERT/WEBINAR/I/2027", "--settings", with_state)
    assert code == 1 and "TIDAK DITEMUKAN — worker ini tidak pernah menerbitkan sertifikat" in out
    code, out, _ = run(capsys, "verify", "999/SERT/WEBINAR/I/2027", "--settings", with_state, "--lang", "en")
    assert code == 1 and "NOT FOUND — no certificate with this number was issued by this worker" in out
    site = str(tmp_path / "situs")
    assert "(0 halaman sertifikat)" in run(capsys, "publish-verify", "--settings", with_state, "--out", site)[1]
    assert "(0 certificate pages)" in run(capsys, "publish-verify", "--settings", with_state, "--out", site,
                                          "--lang", "en")[1]
    out_dir = str(tmp_path / "transkrip")
    assert "0 transkrip ditulis ke" in run(capsys, "transcript", "--settings", with_state, "--out", out_dir)[1]
    assert "0 transcripts written to" in run(capsys, "transcript", "--settings", with_state, "--out", out_dir,
                                             "--lang", "en")[1]


def test_init_says_what_it_wrote_and_what_comes_next(tmp_path, capsys):
    code, out, _ = run(capsys, "init", str(tmp_path / "baru"))
    assert code == 0 and "ditulis " in out and "berikutnya: sunting" in out and "ALAMAT@ANDA" in out
    code, out, _ = run(capsys, "init", str(tmp_path / "baru"), "--lang", "en")
    assert code == 0 and "(exists)" in out and "next: edit" in out and "YOUR@ADDRESS" in out


def test_send_test_refuses_a_bad_address_in_the_readers_words(settings, capsys):
    code, _, err = run(capsys, "send-test", "bukan-alamat", "--settings", settings)
    assert code == 2 and "kesalahan: 'bukan-alamat' bukan alamat email" in err
    code, _, err = run(capsys, "send-test", "bukan-alamat", "--settings", settings, "--lang", "en")
    assert code == 2 and "error: 'bukan-alamat' is not an email address" in err


def test_the_demo_summary_is_indonesian_by_default(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--quiet", "--out", str(tmp_path / "demo"))
    assert code == 0
    assert "demo webinar-worker — hasil" in out and "Rapat Zoom" in out and "dihapus (sesi yang dibatalkan)" in out
    assert "undangan" in out and "pengingat" in out and "tamu" in out and "putaran selama 5 minggu simulasi" in out


def test_the_demo_summary_in_english(capsys):
    summary = DemoSummary(out_dir=Path("demo-output"), meetings_created=4, meetings_live=3, meetings_deleted=1,
                          events=3, events_cancelled=1, tabs=["Ringkasan", "2027-01-07"], charts=1,
                          identified={"2027-01-07": 10}, guests={"2027-01-07": 6}, ticks=869, seconds=12.3,
                          simulated={"2027-01-07": [SimulatedPerson("iPhone Siti", "Siti", "s@x.org", "invitee", 80)]},
                          paths={"report": Path("demo-output/laporan/laporan-musim.html")})
    summary.mails.update(invitation=34, reminder=24)
    print_summary(summary, translator("en"))
    out = capsys.readouterr().out
    assert "webinar-worker demo — results" in out and "4 created, 3 live, 1 deleted (cancelled session)" in out
    assert "invitation 34, reminder 24" in out and "10 of 16 (guests 6)" in out and "2 tabs" in out
    assert "869 ticks over 5 simulated weeks in 12.3 s" in out and "report" in out


# -- help --------------------------------------------------------------------------------------
def test_top_level_help_is_clean_and_in_the_chosen_language(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert out.startswith("cara pakai: webinar-worker")
    assert "pilihan:" in out and "perintah:" in out and "tampilkan bantuan ini lalu keluar" in out
    assert "Menjalankan webinar mingguan perpustakaan" in out and "periksa settings.yaml dan templat" in out
    assert "``" not in out and "usage:" not in out and "show this help" not in out
    code, out, _ = run(capsys, "--help", "--lang", "en")
    assert code == 0 and out.startswith("usage: webinar-worker")
    assert "options:" in out and "show this help message and exit" in out and "``" not in out
    assert "Runs a library's weekly webinar series" in out


def test_a_command_help_and_a_usage_mistake(capsys):
    code, out, _ = run(capsys, "check", "-h")
    assert code == 0 and out.startswith("cara pakai: webinar-worker check")
    assert "--settings BERKAS" in out and "berkas pengaturan (bawaan: ./settings.yaml)" in out
    code, out, _ = run(capsys, "--lang=en", "check", "-h")
    assert "--settings FILE" in out and "settings file (default: ./settings.yaml)" in out
    code, _, err = run(capsys, "send-test")
    assert code == 2 and "webinar-worker send-test: kesalahan: ini belum diisi: ALAMAT" in err
    code, _, err = run(capsys, "frob", "--lang", "en")
    assert code == 2 and "error: COMMAND: 'frob' is not one of the choices" in err


# -- a closed pipe -----------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [("plan", "--now", NOW), ("status",), ("--help",)])
def test_a_reader_that_closes_early_gets_no_traceback(settings, argv):
    """As ``webinar-worker plan | head -0``: the reader is gone before the first line is written."""
    child = subprocess.Popen([sys.executable, "-m", "worker", *argv, *(() if argv == ("--help",) else
                                                                         ("--settings", settings))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=clean_env())
    child.stdout.close()  # long before the interpreter has started: every write meets a closed pipe
    err = child.stderr.read().decode()
    code = child.wait()
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert code == 0, err


# -- what staff read in `once`, `status` and alert mail: the vendors' errors in their words ----------------
def test_the_vendor_errors_keep_english_as_text_and_read_indonesian_when_shown():
    import smtplib

    import httplib2
    import requests
    from googleapiclient.errors import HttpError

    from integrations.google_auth import CALENDAR_SERVICE, translate_error
    from integrations.smtp import SmtpConfig, smtp_error
    from integrations.zoom import zoom_error

    indonesian, english = translator("id"), translator("en")
    refused = smtp_error(smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
                         SmtpConfig(host="smtp.example.org", password="rahasia"))
    assert str(refused) == english.error(refused) == ("smtp: smtp.example.org:587 refused the login (535 5.7.8 bad "
                                                      "credentials); check SMTP_USERNAME and SMTP_PASSWORD")
    assert indonesian.error(refused) == ("smtp: smtp.example.org:587 menolak login (535 5.7.8 bad credentials); "
                                         "periksa SMTP_USERNAME dan SMTP_PASSWORD")
    answer = requests.Response()
    answer.status_code, answer._content = 401, b'{"code": 124, "message": "Invalid access token."}'
    token = zoom_error(answer, "create meeting", "meeting:write:meeting:admin", lambda text: text)
    assert indonesian.error(token).startswith("zoom: create meeting gagal: HTTP 401 code 124: Invalid access token.; "
                                              "Zoom juga menolak token akses yang baru: periksa ZOOM_ACCOUNT_ID")
    content = b'{"error": {"code": 403, "message": "Forbidden", "errors": [{"reason": "forbidden"}]}}'
    unshared = translate_error(HttpError(httplib2.Response({"status": 403}), content), CALENDAR_SERVICE,
                               share_with="robot@project.iam.gserviceaccount.com", target="kalender perpustakaan")
    assert indonesian.error(unshared) == ('google-calendar: akses ditolak: Forbidden (HTTP 403, forbidden); bagikan '
                                          'kalender perpustakaan kepada robot@project.iam.gserviceaccount.com dengan '
                                          'izin "Make changes to events"')
    assert str(unshared).endswith('share kalender perpustakaan with robot@project.iam.gserviceaccount.com with '
                                  '"Make changes to events"')
