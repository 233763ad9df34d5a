"""`webinar-worker plan` and `status` as staff see them in a terminal: 80 columns, dates in order, their language."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.helpers_settings import BASE, write_settings
from worker.cli import main
from worker.store.state import StateStore

SHIPPED = Path(__file__).resolve().parent.parent / "settings.yaml"  # the settings.yaml staff start from
NOW = "2027-01-01T08:00+08:00"
DATED = re.compile(r"^(\d{4}-\d{2}-\d{2})  ")
LONG_TOPIC = ("Literasi Digital untuk Keluarga: Mengenali Berita Bohong, Penipuan Daring dan Cara Melaporkannya "
              "kepada Pihak yang Berwenang di Kota Makassar")


def run(capsys, *argv: str) -> list[str]:
    """The command's stdout as lines; it must exit 0."""
    assert main(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def too_wide(lines: list[str]) -> list[str]:
    return [line for line in lines if len(line) > 80]


@pytest.mark.parametrize("lang, words", [
    ("id", ("Tanggal", "Mulai", "Topik", "Undangan", "Pengingat", "Kehadiran", "sekarang", "dibatalkan", "dilewati")),
    ("en", ("Date", "Start", "Topic", "Invitations", "Reminder", "Attendance", "now", "cancelled", "skipped")),
])
def test_plan_on_the_shipped_settings_fits_80_columns_in_the_chosen_language(capsys, lang, words):
    lines = run(capsys, "--lang", lang, "plan", "--settings", str(SHIPPED), "--now", NOW)
    assert not too_wide(lines), too_wide(lines)
    text = "\n".join(lines)
    for word in words:
        assert word in text, word
    assert "Menulis Cerita Pendek untuk Pemula" in text  # this topic fits whole on its line
    other = "meeting+event" if lang == "id" else "Zoom+kalender"
    assert other.lower() not in text.lower()  # one language, not a mix


def test_plan_lists_every_date_once_in_order_with_skipped_dates_in_their_place(capsys):
    lines = run(capsys, "--lang", "id", "plan", "--settings", str(SHIPPED), "--now", NOW)
    dated = [(m[1], line) for line in lines if (m := DATED.match(line))]
    days = [day for day, _ in dated]
    assert days == sorted(days) and len(days) == len(set(days))
    marks = {day: line for day, line in dated}
    assert "dilewati: Cuti bersama Idulfitri 1448 H" in marks["2027-03-11"]
    assert "dilewati: Libur Hari Raya Nyepi" in marks["2027-03-18"]
    assert days.index("2027-03-04") < days.index("2027-03-11") < days.index("2027-03-18") < days.index("2027-03-25")
    assert "dibatalkan" in marks["2027-02-18"]


def test_plan_moments_are_times_on_the_day_and_named_months_before_it(capsys):
    lines = run(capsys, "--lang", "id", "plan", "--settings", str(SHIPPED), "--now", NOW)
    row = next(line for line in lines if line.startswith("2027-01-21"))
    # created 14 days ahead, invited 7 days ahead, reminded 2 hours ahead, attendance 30 minutes after 10:30
    assert row.split() == ["2027-01-21", "09:00", "90", "7", "Jan", "09:00", "14", "Jan", "09:00", "07:00", "11:00"]
    assert lines[0] == "Webinar Kamis Perpustakaan — waktu Asia/Makassar; sekarang Jum 2027-01-01 08:00"


def test_a_long_topic_is_shortened_in_80_columns_and_whole_with_wide(tmp_path, capsys):
    path = write_settings(tmp_path, BASE.replace("topic: Bedah Buku\n", f"topic: \"{LONG_TOPIC}\"\n"))
    narrow = run(capsys, "--lang", "en", "plan", "--settings", str(path), "--now", NOW)
    assert not too_wide(narrow), too_wide(narrow)
    start = next(i for i, line in enumerate(narrow) if line.startswith("2027-01-14"))
    topic_lines = narrow[start + 1:start + 3]
    assert topic_lines[0].strip().startswith("Literasi Digital untuk Keluarga")
    assert topic_lines[1].endswith("…") and LONG_TOPIC not in " ".join(s.strip() for s in topic_lines)

    wide = run(capsys, "--lang", "en", "plan", "--wide", "--settings", str(path), "--now", NOW)
    row = next(line for line in wide if line.startswith("2027-01-14"))
    assert LONG_TOPIC in row and "2027-01-07 13:30" in row  # the full topic, moments as full dates
    assert [m[1] for line in wide if (m := DATED.match(line))] == [
        "2027-01-07", "2027-01-14", "2027-01-21", "2027-01-28", "2027-02-04"]


def test_status_fits_80_columns_with_a_long_topic_and_a_long_error(tmp_path, capsys):
    path = write_settings(tmp_path, BASE.replace("topic: Bedah Buku\n", f"topic: \"{LONG_TOPIC}\"\n"))
    error = ("zoom: the token request was refused (HTTP 400, invalid_request): Invalid account_id; check "
             "ZOOM_ACCOUNT_ID in /srv/webinar/perpustakaan-kota-makassar/kamis/.env and the app in the Zoom "
             "App Marketplace")
    with StateStore(tmp_path / "state.db") as store:
        store.record_failure("webinar-kamis/2027-01-14", "create_meeting", error,
                             datetime(2026, 12, 28, 1, tzinfo=timezone.utc) + timedelta(minutes=1))
    # no tick has run, so status says STALE and exits 1; the lines are what matter here
    assert main(["--lang", "id", "status", "--settings", str(path), "--now", "2026-12-28T09:00+08:00"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert not too_wide(lines), too_wide(lines)
    text = " ".join(line.strip() for line in lines)
    assert LONG_TOPIC in text and error in text  # wrapped, not cut
    assert "kesalahan terakhir (create_meeting, 1x, dicoba lagi 2026-12-28 09:01)" in text
    assert "belum ada yang dikerjakan" in text and "putaran terakhir" in text

    assert main(["--lang", "en", "status", "--wide", "--settings", str(path), "--now", "2026-12-28T09:00+08:00"]) == 1
    wide = capsys.readouterr().out.splitlines()
    assert any(error in line and "last error (create_meeting" in line for line in wide)
    assert any(line.startswith("2027-01-14  " + LONG_TOPIC) for line in wide)


def test_the_readme_shows_the_plan_table_staff_see(capsys, monkeypatch):
    monkeypatch.delenv("LANG")  # staff's own language: Indonesian, from series.locale
    lines = run(capsys, "plan", "--settings", str(SHIPPED), "--now", NOW)
    readme = (SHIPPED.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("webinar-worker plan --now 2027-01-01T08:00+08:00`):\n\n```text\n", 1)[1].split("\n```", 1)[0]
    assert block.splitlines() == lines, "regenerate README's plan example from the shipped settings.yaml"
