"""``webinar-worker share DATE``: the WhatsApp pack as staff paste it into a group."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from tests.helpers_settings import BASE, write_settings
from worker.cli import main
from worker.config.settings import load_settings
from worker.core.model import Registrant
from worker.store.state import StateStore

UID = "webinar-kamis/2027-01-14"
REGISTRATION = "https://zoom.us/meeting/register/tJ-umum"
PERSONAL = "https://zoom.us/w/81234567890?tk=PRIBADI-siti"
GENERAL_JOIN = "https://zoom.us/j/81234567890?pwd=umum"
TITLES = ("Announcement (a week before)", "Reminder (the day before)", "On the day (before the start)",
          "Thank-you (after the session)")


def store_meeting(settings_path: Path, *, registration_url: str = REGISTRATION) -> None:
    """The state the worker leaves after creating the meeting and registering one invitee."""
    now = datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC"))
    with StateStore(load_settings(settings_path).worker.state_file) as store:
        store.update_session(UID, now, meeting_id="81234567890", join_url=GENERAL_JOIN, passcode="Rahasia1",
                             registration_url=registration_url)
        store.save_registrants(UID, [Registrant("siti@example.org", "Siti", "r1", PERSONAL)], now)


def messages_of(pack: str) -> list[tuple[str, str, str]]:
    """(heading, message, wa.me link) for each message of a pack as printed."""
    found = re.findall(r"^=== \d\. (.+?) ===\n(.*?)\n---\n.+?\n(https://wa\.me/\S+)$", pack, re.M | re.S)
    return [(heading, text, link) for heading, text, link in found]


def run_share(tmp_path: Path, capsys, settings: Path, *extra: str) -> tuple[int, str, str, Path]:
    out = tmp_path / "wa"
    code = main(["share", "2027-01-14", "--settings", str(settings), "--out", str(out), *extra])
    printed = capsys.readouterr()
    return code, printed.out, printed.err, out / "whatsapp-2027-01-14.txt"


def test_share_writes_four_messages_whose_wa_me_links_open_the_same_text(tmp_path, capsys):
    settings = write_settings(tmp_path, BASE.replace("    speaker: Rahmat\n", "    speaker: Rahmat\n"
                                                     "    recording_url: https://youtu.be/rekaman-14\n"))
    store_meeting(settings)

    code, out, err, file = run_share(tmp_path, capsys, settings)

    assert code == 0 and err == ""
    pack = file.read_text(encoding="utf-8")
    assert pack in out  # printed as written
    messages = messages_of(pack)
    assert [heading.split(" — ")[0] for heading, _, _ in messages] == list(TITLES)
    assert [heading.split(" — ")[1] for heading, _, _ in messages] == [
        "post on Kamis, 7 Januari 2027", "post on Rabu, 13 Januari 2027", "post on Kamis, 14 Januari 2027",
        "post on Kamis, 14 Januari 2027"]
    for _, text, link in messages:
        parts = urlsplit(link)
        assert (parts.scheme, parts.netloc, parts.path) == ("https", "wa.me", "/")
        assert parts.query.startswith("text=") and unquote(parts.query[len("text="):]) == text
        assert "<" not in text and len(text) < 1000
    announcement, day_before, on_the_day, thanks = (text for _, text, _ in messages)
    assert "*Bedah Buku*" in announcement and "Kamis, 14 Januari 2027" in announcement
    assert "13.30–15.00 WITA" in announcement and "Narasumber: Rahmat" in announcement
    for text in (announcement, day_before, on_the_day):
        assert REGISTRATION in text
    assert "besok Kamis pukul 13.30 WITA" in day_before
    assert "https://youtu.be/rekaman-14" in thanks and "Kode sandi" not in pack
    assert PERSONAL not in pack and "PRIBADI" not in unquote(pack)  # never a registrant's own link
    assert GENERAL_JOIN not in pack  # with registration on, people sign up first


def test_share_in_indonesian_with_the_meeting_join_link_when_registration_is_off(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LANG")
    settings = write_settings(tmp_path)
    store_meeting(settings, registration_url="")

    code, out, _, file = run_share(tmp_path, capsys, settings)

    assert code == 0
    pack = file.read_text(encoding="utf-8")
    assert pack.startswith("Pesan WhatsApp: Webinar Kamis Perpustakaan, Kamis, 14 Januari 2027")
    assert "=== 2. Pengingat (H-1) — kirim Rabu, 13 Januari 2027 ===" in pack
    assert "Buka di WhatsApp:" in pack and "ditulis: " in out
    announcement = messages_of(pack)[0][1]
    assert f"Gabung ke Zoom:\n{GENERAL_JOIN}" in announcement
    assert "ID Rapat: 812 3456 7890" in announcement and "Kode sandi: Rahasia1" in announcement
    thanks = messages_of(pack)[3][1]
    assert "Rekaman" not in thanks  # no recording_url for this date: the line is left out
    assert PERSONAL not in pack


def test_share_before_the_meeting_exists_says_the_link_will_follow(tmp_path, capsys):
    settings = write_settings(tmp_path)

    code, _, err, file = run_share(tmp_path, capsys, settings)

    assert code == 0
    assert "warning: no Zoom meeting exists yet for 2027-01-14; the messages say the link will follow" in err
    pack = file.read_text(encoding="utf-8")
    assert "Note: the Zoom meeting does not exist yet" in pack
    for _, text, _ in messages_of(pack)[:3]:
        assert "Tautan Zoom akan kami bagikan menjelang acara." in text and "zoom.us" not in text


def test_hostile_topic_text_cannot_break_the_whatsapp_layout(tmp_path, capsys):
    hostile = "Bedah *Buku* _Anak_ <b>~Seru~</b> ```kode``` " + "panjang " * 18
    text = BASE.replace("    topic: Bedah Buku\n", f"    topic: \"{hostile.strip()}\"\n").replace(
        "    speaker: Rahmat\n", "    speaker: \"Rahmat *Hidayat*\"\n    description: \"Baris satu\\nBaris *dua*\\n\\n"
        + "isi " * 200 + "\"\n")
    settings = write_settings(tmp_path, text)
    store_meeting(settings)

    code, _, _, file = run_share(tmp_path, capsys, settings)

    assert code == 0
    messages = messages_of(file.read_text(encoding="utf-8"))
    assert len(messages) == 4
    announcement = messages[0][1]
    topic_line = next(line for line in announcement.splitlines() if "Bedah" in line)
    assert topic_line.startswith("*Bedah Buku Anak <b>Seru</b> kode panjang") and topic_line.endswith("*")
    assert topic_line.count("*") == 2  # the topic's own asterisks cannot end the bold early
    assert "Narasumber: Rahmat Hidayat" in announcement
    assert "Baris satu Baris dua isi" in announcement  # the description is one line, shortened
    for _, message, _ in messages:
        assert len(message) < 1000


def test_share_of_a_cancelled_or_unknown_date_exits_2(tmp_path, capsys):
    settings = write_settings(tmp_path)
    assert main(["share", "2027-02-04", "--settings", str(settings), "--out", str(tmp_path / "wa")]) == 2
    assert "2027-02-04 is cancelled" in capsys.readouterr().err
    assert main(["share", "2027-01-15", "--settings", str(settings), "--out", str(tmp_path / "wa")]) == 2
    assert "2027-01-15 is not a session" in capsys.readouterr().err
    assert not (tmp_path / "wa").exists()
