"""mail.tone (friendly or formal) and series.also_show_zones, as the mails and the WhatsApp pack show them."""
from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from tests.helpers_settings import BASE, write_settings
from worker.cli import main

FORMAL_WITH_ZONES = (BASE.replace("  timezone: Asia/Makassar\n", "  timezone: Asia/Makassar\n"
                                  "  also_show_zones: [Asia/Jakarta]\n")
                     .replace("  sender_name: Perpustakaan\n", "  sender_name: Perpustakaan\n  tone: resmi\n")
                     .replace('    start_time: "13:30"\n', ""))


def preview(tmp_path: Path, capsys, text: str, kind: str = "invitation") -> tuple[str, str, str]:
    """(subject, text body, HTML body) of one previewed mail for 2027-01-14."""
    out = tmp_path / "pratinjau"
    assert main(["preview", "2027-01-14", "--kind", kind, "--settings", str(write_settings(tmp_path, text)),
                 "--out", str(out)]) == 0
    capsys.readouterr()
    message = message_from_bytes((out / f"2027-01-14-{kind}.eml").read_bytes(), policy=policy.default)
    return (str(message["Subject"]), message.get_body(("plain",)).get_content(),
            message.get_body(("html",)).get_content())


def test_formal_tone_greets_yth_and_signs_hormat_kami_with_both_zones(tmp_path, capsys):
    _, text, html = preview(tmp_path, capsys, FORMAL_WITH_ZONES)
    assert text.startswith("Yth. Bapak/Ibu Contoh Peserta,\n\nDengan hormat,\n\n")
    assert "Hormat kami,\nPerpustakaan Kota\n" in text and "Salam hangat" not in text and "Halo" not in text
    assert "Waktu        : 09.00–10.30 WITA / 08.00–09.30 WIB" in text
    assert "Yth. Bapak/Ibu Contoh Peserta," in html and "Hormat kami,<br>Perpustakaan Kota" in html
    assert "09.00–10.30 WITA / 08.00–09.30 WIB" in html


def test_the_reminder_says_the_start_in_both_zones(tmp_path, capsys):
    subject, text, _ = preview(tmp_path, capsys, FORMAL_WITH_ZONES, kind="reminder")
    assert "yang akan dimulai pada Kamis, 14 Januari 2027, pukul 09.00 WITA / 08.00 WIB." in text
    assert text.startswith("Yth. Bapak/Ibu")


def test_the_default_tone_stays_friendly_with_one_zone(tmp_path, capsys):
    _, text, html = preview(tmp_path, capsys, BASE)
    assert text.startswith("Halo, Contoh Peserta,\n\nDengan senang hati")
    assert "Salam hangat,\nPerpustakaan Kota\n" in text and "Yth." not in text and "WIB" not in text
    assert "Halo, Contoh Peserta," in html and "Yth." not in html


def test_english_words_and_zone_abbreviations_are_accepted(tmp_path, capsys):
    text = (BASE.replace("  timezone: Asia/Makassar\n", "  timezone: Asia/Makassar\n"
                         "  also_show_zones: [wib, WIT, WITA, Asia/Pontianak]\n")
            .replace("  sender_name: Perpustakaan\n", "  sender_name: Perpustakaan\n  tone: Formal\n")
            .replace('    start_time: "13:30"\n', ""))
    _, body, _ = preview(tmp_path, capsys, text)
    assert body.startswith("Yth. Bapak/Ibu")
    # WITA is the series' own zone and Pontianak is WIB again: each zone is written once
    assert "Waktu        : 09.00–10.30 WITA / 08.00–09.30 WIB / 10.00–11.30 WIT\n" in body


def test_a_wrong_tone_or_zone_is_named_with_its_line(tmp_path, capsys):
    text = (BASE.replace("  timezone: Asia/Makassar\n", "  timezone: Asia/Makassar\n"
                         "  also_show_zones: [WIB, Asia/Bandung]\n")
            .replace("  sender_name: Perpustakaan\n", "  sender_name: Perpustakaan\n  tone: santai\n"))
    assert main(["check", "--settings", str(write_settings(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert "settings.yaml:10 series.also_show_zones[2]: \"Asia/Bandung\" is not a time zone; expected WIB, WITA, " \
           "WIT or a name like Asia/Jakarta" in err
    assert 'mail.tone: expected ramah (friendly) or resmi (formal), got "santai"' in err


def test_the_whatsapp_pack_shows_both_zones_and_the_formal_tone(tmp_path, capsys):
    settings = write_settings(tmp_path, FORMAL_WITH_ZONES)
    assert main(["share", "2027-01-14", "--settings", str(settings), "--out", str(tmp_path / "wa")]) == 0
    capsys.readouterr()
    pack = (tmp_path / "wa" / "whatsapp-2027-01-14.txt").read_text(encoding="utf-8")
    assert "⏰ 09.00–10.30 WITA / 08.00–09.30 WIB" in pack
    assert "besok Kamis pukul 09.00 WITA / 08.00 WIB" in pack
    assert "Dengan hormat, kami mengundang Bapak/Ibu" in pack and "Hormat kami," in pack
