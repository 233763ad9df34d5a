"""Recipient lists: merging sources, validating addresses, unsubscribes and group targeting."""
from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import NotConfiguredError
from worker.core.model import Recipient
from worker.core.cleaning import clean_email as normalise_email
from worker.mail.recipients import load_recipients, load_unsubscribed, select_for_session


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


@pytest.mark.parametrize("raw, expected", [
    ("  Budi@Example.ORG ", "budi@example.org"),
    ("sari.w+webinar@sekolah.sch.id", "sari.w+webinar@sekolah.sch.id"),
    ("mailto:ani@example.org", "ani@example.org"),
    ("budi@", None), ("@example.org", None), ("budi@example", None), ("budi example@x.org", None),
    ("a@b@example.org", None), ("budi@example.org\nBcc: x@y.org", None), ("budi..x@example.org", None),
    ("", None), ("budi@-example.org", None),
])
def test_normalise_email(raw: str, expected: str | None) -> None:
    assert normalise_email(raw) == expected


def test_inline_csv_and_sheet_are_merged_first_one_wins(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "daftar.csv",
                     "email,nama,grup\n"
                     "sari@example.org,Sari,guru-paud\n"
                     "KEPALA@example.org,Nama Lain,lain\n"
                     "dedi@example.org,Dedi,orang-tua\n")
    sheet = [["Timestamp", "Alamat email", "Nama lengkap", "Kelompok"],
             ["2027-01-01", "Dedi@Example.org", "Dedi Dobel", "guru-paud"],
             ["2027-01-02", "eka@example.org", "Eka", "mahasiswa"]]
    inline = [Recipient("kepala@example.org", "Kepala Dinas")]

    load = load_recipients(inline, [csv_file], [sheet], set())

    assert load.problems == []
    assert load.recipients == [
        Recipient("kepala@example.org", "Kepala Dinas", ""),
        Recipient("sari@example.org", "Sari", "guru-paud"),
        Recipient("dedi@example.org", "Dedi", "orang-tua"),
        Recipient("eka@example.org", "Eka", "mahasiswa"),
    ]


def test_invalid_addresses_are_reported_with_file_and_line_and_skipped(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "daftar.csv",
                     "name,email\n"
                     "Ani,ani@example.org\n"
                     "\n"
                     "Budi,budi@\n"
                     "Citra,\n"
                     "Dedi,dedi@example.org\n")
    sheet = [["email", "name"], ["eka@example.org", "Eka"], ["bukan email", "X"]]

    load = load_recipients([], [csv_file], [sheet], set())

    assert [r.email for r in load.recipients] == ["ani@example.org", "dedi@example.org", "eka@example.org"]
    assert load.problems == [
        "daftar.csv:4: 'budi@' is not a valid email address",
        "daftar.csv:5: the email cell is empty",
        "sheet range 1:3: 'bukan email' is not a valid email address",
    ]


def test_a_csv_from_indonesian_excel_with_semicolons_and_bom(tmp_path: Path) -> None:
    csv_file = tmp_path / "ekspor.csv"
    csv_file.write_bytes("\ufeffNama;Email;Grup\r\nRina;rina@example.org;guru-paud\r\n".encode("utf-8"))
    load = load_recipients([], [csv_file], [], set())
    assert load.recipients == [Recipient("rina@example.org", "Rina", "guru-paud")]


def test_a_csv_without_an_email_column_is_one_problem(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "salah.csv", "nama,telepon\nAni,0811\n")
    load = load_recipients([], [csv_file], [], set())
    assert load.recipients == []
    assert load.problems == ["salah.csv:1: no email column in the header row "
                             "(expected a column named 'email'; found: nama, telepon)"]


def test_a_missing_csv_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    load = load_recipients([Recipient("ani@example.org")], [tmp_path / "hilang.csv"], [], set())
    assert [r.email for r in load.recipients] == ["ani@example.org"]
    assert load.problems == [f"{tmp_path / 'hilang.csv'}: file not found"]


def test_unsubscribed_addresses_are_removed_whatever_their_case(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "daftar.csv", "email\nani@example.org\nBudi@Example.org\n")
    load = load_recipients([Recipient("citra@example.org")], [csv_file], [], {"BUDI@example.org ", "citra@example.org"})
    assert [r.email for r in load.recipients] == ["ani@example.org"]


def test_load_unsubscribed_reads_plain_lists_csv_files_and_sheets(tmp_path: Path) -> None:
    plain = write(tmp_path / "berhenti.txt", "# diminta lewat WhatsApp\nAni@Example.org\n\n budi@example.org \n")
    table = write(tmp_path / "berhenti.csv", "tanggal,email\n2027-01-02,citra@example.org\n")
    sheet = [["Email address", "Alasan"], ["dedi@example.org", "pindah"]]

    assert load_unsubscribed([plain, table], [sheet]) == {
        "ani@example.org", "budi@example.org", "citra@example.org", "dedi@example.org"}


def test_a_missing_unsubscribe_file_stops_mail(tmp_path: Path) -> None:
    with pytest.raises(NotConfiguredError, match="unsubscribe list not found"):
        load_unsubscribed([tmp_path / "berhenti.txt"], [])


def test_group_targeting() -> None:
    everyone = [Recipient("a@example.org", group="guru-paud"), Recipient("b@example.org", group="Orang-Tua"),
                Recipient("c@example.org"), Recipient("d@example.org", group="guru-paud; mahasiswa")]

    assert select_for_session(everyone, ()) == everyone
    assert [r.email for r in select_for_session(everyone, ("guru-paud",))] == ["a@example.org", "d@example.org"]
    assert [r.email for r in select_for_session(everyone, ("orang-tua", "mahasiswa"))] == [
        "b@example.org", "d@example.org"]


# -- Google Form exports (Indonesian and English interface) ------------------------
FORM_EXPORT = ("Stempel waktu;Alamat email;Nama Lengkap (sesuai sertifikat);Instansi\r\n"
               "2027/01/02 10.00.00;siti@example.org;Siti Aminah, S.Pd.;TK Pertiwi\r\n"
               "2027/01/02 10.05.00;bukan-email;Orang Iseng;-\r\n"
               "2027/01/02 10.07.00;\"dedi@example.org\";\"Dedi \"\"Guru\"\" Kurniawan\";SD 3\r\n")


def test_an_indonesian_form_export_is_read_with_the_certificate_name(tmp_path: Path) -> None:
    load = load_recipients([], [write(tmp_path / "respons.csv", FORM_EXPORT)], [], set())

    assert load.recipients == [Recipient("siti@example.org", "Siti Aminah, S.Pd.", "TK Pertiwi"),
                               Recipient("dedi@example.org", 'Dedi "Guru" Kurniawan', "SD 3")]
    assert load.problems == ["respons.csv:3: 'bukan-email' is not a valid email address"]  # one bad row, not all
    (taken,) = load.columns
    assert (taken.email, taken.name, taken.group) == ("Alamat email", "Nama Lengkap (sesuai sertifikat)", "Instansi")
    assert (taken.email_index, taken.name_index, taken.group_index) == (1, 2, 3)


@pytest.mark.parametrize("header, email, name, group", [
    (["Timestamp", "Email Address", "Nama", "Nama Lengkap beserta gelar", "Nama Instansi", "Kategori peserta"],
     "Email Address", "Nama Lengkap beserta gelar", "Kategori peserta"),
    (["Stempel waktu", "Email", "Alamat Email", "NAMA LENGKAP", "Asal instansi"],
     "Alamat Email", "NAMA LENGKAP", "Asal instansi"),  # the address Google collects beats an "Email" question
    (["No", "Nama sekolah", "Surel", "Nama", "Status"], "Surel", "Nama", "Status"),
    (["E-mail", "Nama Lengkap (beserta gelar)*", "Kelompok", "Instansi"], "E-mail",
     "Nama Lengkap (beserta gelar)*", "Kelompok"),
    (["email", "name", "group"], "email", "name", "group"),
])
def test_the_usual_form_headers_are_recognised(tmp_path: Path, header, email, name, group) -> None:
    row = ["2027", "x@example.org", "Ani", "Ani S.Pd.", "TK", "guru-paud"][:len(header)]
    text = ";".join(header) + "\n" + ";".join(row) + "\n"
    load = load_recipients([], [write(tmp_path / "f.csv", text)], [], set())
    (taken,) = load.columns
    assert (taken.email, taken.name, taken.group) == (email, name, group)


def test_columns_named_in_settings_win_over_the_usual_headers(tmp_path: Path) -> None:
    from worker.core.schema import RecipientColumns

    text = "Email,Nama,Panggilan,Sekolah\nani@example.org,Ani Lestari,Bu Ani,TK Melati\n"
    load = load_recipients([], [write(tmp_path / "f.csv", text)], [], set(),
                           columns=RecipientColumns(name="panggilan", group="SEKOLAH"))
    assert load.recipients == [Recipient("ani@example.org", "Bu Ani", "TK Melati")]


def test_check_says_which_column_it_took_and_warns_when_there_is_no_name(tmp_path, capsys, monkeypatch) -> None:
    from tests.helpers_settings import BASE, write_settings
    from worker.cli import main

    monkeypatch.delenv("LANG")  # staff read Indonesian
    write(tmp_path / "respons.csv", FORM_EXPORT)
    write(tmp_path / "tanpa-nama.csv", "No,E-mail\n1,a@example.org\n")
    path = write_settings(tmp_path, BASE.replace("      - umum@example.org\n", "      - umum@example.org\n"
                                                 "    csv_files: [respons.csv, tanpa-nama.csv]\n"))
    main(["check", "--offline-ok", "--settings", str(path)])
    out = capsys.readouterr().out
    assert ("daftar penerima respons.csv:\n"
            "  kolom email: 'Alamat email' (kolom B)\n"
            "  kolom nama: 'Nama Lengkap (sesuai sertifikat)' (kolom C)\n"
            "  kolom kelompok: 'Instansi' (kolom D)\n") in out
    assert "daftar penerima tanpa-nama.csv:\n  kolom email: 'E-mail' (kolom B)\n" in out
    assert "peringatan: tanpa-nama.csv: kolom nama tidak ditemukan, jadi email akan menyapa 'Sahabat Perpustakaan'" in out


def test_the_invitation_greets_the_name_from_an_indonesian_form(tmp_path: Path) -> None:
    from tests.helpers_settings import BASE, write_settings
    from worker.config.settings import load_settings
    from worker.core.clock import SystemClock
    from worker.core.derive import series_info
    from worker.mail.composer import MailComposer
    from worker.mail.render import sample_meeting
    from worker.core.planner import plan_season
    from worker.run.engine import Integrations
    from worker.run.wiring import RecipientLists

    write(tmp_path / "respons.csv", FORM_EXPORT)
    settings = load_settings(write_settings(tmp_path, BASE.replace(
        "      - umum@example.org\n", "      - umum@example.org\n    csv_files: [respons.csv]\n")))
    listed = RecipientLists(settings, Integrations(), SystemClock()).load(sheets=False).recipients
    siti = next(r for r in listed if r.email == "siti@example.org")
    session = next(s for s in plan_season(settings).sessions if s.key == "2027-01-14")
    message = MailComposer(settings.mail.templates_dir, series_info(settings)).message(
        "invitation", session, sample_meeting(), siti, sequence=0)
    assert str(message["To"]) == '"Siti Aminah, S.Pd." <siti@example.org>'
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Halo, Siti Aminah, S.Pd.,\n")


def test_an_unsubscribe_list_whose_first_line_is_an_address_blocks_it_too(tmp_path: Path) -> None:
    # "email@..." reads like a header word; it is an address, and the person asked to stop
    path = write(tmp_path / "berhenti.txt", "email@example.org\nbudi@example.org\n")
    assert load_unsubscribed([path], []) == {"email@example.org", "budi@example.org"}
