"""YAML syntax mistakes staff make, reported on the line where they are, in plain Indonesian.

The corpus in ``tests/hostile/yaml_mistakes/`` is the shipped settings.yaml with one line
broken per file; MANIFEST.tsv gives the line of the mistake (not where the parser noticed
it), a phrase of the Indonesian sentence and the line as it should be written. ``check``
must name that line, quote it with a caret under the spot, say what to type, use no parser
words, and keep the parser's own text for ``--verbose``. Applying the suggestion must make
the file readable again: a suggestion that does not fix anything fails here.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from worker.cli import main
from worker.config.yamlmistakes import BREAKS
from worker.config.yamlsource import LOADER, load_yaml
from worker.errors import SettingsError
from worker.i18n import translator

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "hostile" / "yaml_mistakes"
JARGON = ("scalar", "mapping", "block end", "token", "expected <", "found character", "simple key",
          "could not find", "did not find", "indicator", "YAML reader", "Pesan asli")  # parser words, and --verbose's


def manifest() -> list[tuple[str, int, str, str]]:
    """(file, line of the mistake, Indonesian phrase, suggested line or "") for every corpus file."""
    rows = []
    for row in (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines():
        if row and not row.startswith("#"):
            name, line, phrase, suggestion = row.split("\t")
            rows.append((name, int(line), phrase, "" if suggestion == "-" else suggestion))
    return rows


CASES = manifest()
IDS = [name for name, *_ in CASES]


def first_problem(text: str, loader: type = LOADER):
    with pytest.raises(SettingsError) as caught:
        load_yaml(text, "settings.yaml", loader)
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


def test_the_corpus_has_at_least_15_mistakes_each_one_line_off_the_shipped_file():
    shipped = (ROOT / "settings.yaml").read_text(encoding="utf-8").splitlines()
    assert {p.name for p in CORPUS.glob("*.yaml")} == set(IDS)
    assert len(CASES) >= 15
    for name, line, *_ in CASES:
        broken = (CORPUS / name).read_text(encoding="utf-8").splitlines()
        changed = [n for n, (a, b) in enumerate(zip(shipped, broken), 1) if a != b]
        assert changed and changed[0] in (line, line - 1, line + 1), (name, changed[:3])
        load_yaml("\n".join(shipped), "settings.yaml")  # the shipped file itself reads


@pytest.mark.parametrize("name,line,phrase,suggestion", CASES, ids=IDS)
def test_check_names_the_line_in_plain_indonesian_with_caret_and_fix(name, line, phrase, suggestion, tmp_path,
                                                                      capsys, monkeypatch):
    monkeypatch.delenv("LANG")
    path = tmp_path / name
    path.write_bytes((CORPUS / name).read_bytes())
    assert main(["check", "--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    head = err.splitlines()[0]
    assert head.startswith(f"{name} baris {line}: "), err
    assert phrase in head, err
    for word in JARGON:
        assert word.lower() not in err.lower(), f"parser word {word!r} in:\n{err}"
    written = BREAKS.split((CORPUS / name).read_text(encoding="utf-8"))[line - 1]
    quoted, caret = err.splitlines()[1:3]
    shown = "".join("→" if c == "\t" else c if c.isprintable() else "?" for c in written)
    assert quoted == f"  {line} | {shown}", err
    assert re.fullmatch(rf"  {' ' * len(str(line))} \| *\^", caret), err
    if suggestion:
        assert f"  Tulis seperti ini:\n  {line} | {suggestion}\n" in err, err


@pytest.mark.parametrize("name,line,phrase,suggestion", CASES, ids=IDS)
def test_the_suggested_line_makes_the_file_readable(name, line, phrase, suggestion):
    lines = BREAKS.split((CORPUS / name).read_text(encoding="utf-8"))
    if suggestion:
        lines[line - 1] = suggestion
    else:
        del lines[line - 1]  # a line to remove (the --- that splits the file)
    load_yaml("\n".join(lines), "settings.yaml")


@pytest.mark.parametrize("name", IDS)
def test_libyaml_and_pure_python_parsers_give_the_same_diagnosis(name):
    text = (CORPUS / name).read_text(encoding="utf-8")
    fast, slow = first_problem(text, LOADER), first_problem(text, yaml.SafeLoader)
    assert (fast.line, fast.column, fast.message, dict(fast.params), fast.suggestion) == \
           (slow.line, slow.column, slow.message, dict(slow.params), slow.suggestion)


def test_the_caret_sits_under_the_spot_in_the_quoted_line():
    problem = first_problem((CORPUS / "colon-missing.yaml").read_text(encoding="utf-8"))
    text = translator("id").problem(problem)
    assert text.splitlines()[:5] == [
        "settings.yaml baris 50: titik dua (:) setelah 'speaker' tidak ada; tulis titik dua tepat setelah nama itu",
        "  50 |     speaker Dr. Rahmat Hidayat (dosen sastra)",
        "     |            ^",
        "  Tulis seperti ini:",
        "  50 |     speaker: Dr. Rahmat Hidayat (dosen sastra)",
    ]


def test_an_unclosed_quote_is_reported_where_it_opened_not_where_the_parser_stopped():
    problem = first_problem((CORPUS / "quote-unclosed.yaml").read_text(encoding="utf-8"))
    assert (problem.line, problem.column) == (49, 12)
    assert "line 55" in problem.detail  # where PyYAML noticed it


def test_verbose_adds_the_parsers_own_words_in_english(tmp_path, capsys):
    path = tmp_path / "settings.yaml"
    path.write_bytes((CORPUS / "colon-missing.yaml").read_bytes())
    assert main(["check", "--lang", "en", "--settings", str(path)]) == 2
    plain = capsys.readouterr().err
    assert plain.startswith("settings.yaml:50: the colon (:) after 'speaker' is missing")
    assert "Write it like this:\n  50 |     speaker: Dr. Rahmat" in plain
    assert "could not find expected ':'" not in plain
    assert main(["check", "--lang", "en", "--verbose", "--settings", str(path)]) == 2
    verbose = capsys.readouterr().err
    assert "What the YAML reader said: while scanning a simple key (line 50, column 5); " \
           "could not find expected ':' (line 51, column 5)" in verbose


def test_a_very_long_line_is_cut_around_the_caret(tmp_path):
    text = "series:\n  title: " + "x" * 300 + ": y\n"
    problem = first_problem(text)
    quoted, caret = problem.quoted()
    assert len(quoted) < 120 and "…" in quoted
    assert quoted[caret.index("^")] == ":"


def test_checker_problems_are_plain_indonesian_by_default_and_english_with_lang_en(tmp_path, capsys, monkeypatch):
    text = ((ROOT / "settings.yaml").read_text(encoding="utf-8")
            .replace("  weekday: kamis ", "  weekday: kamus ").replace("  - date: 2027-01-14", "  - date: 2027-02-30")
            .replace("    port: 587", "    port: abc").replace("    cancelled: true ", "    cancelled: mungkin ")
            .replace("    speaker: Fatimah Azzahra (penyair)", "    speker: Fatimah Azzahra (penyair)"))
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.delenv("LANG")
    assert main(["check", "--settings", str(path)]) == 2
    assert capsys.readouterr().err.split("\n\n")[0].splitlines() == [
        'settings.yaml baris 21, series.weekday: seharusnya nama hari, misalnya kamis atau thursday, tertulis "kamus"',
        "settings.yaml baris 48, topics[2].date: tanggal 2027-02-30 tidak ada di kalender",
        "settings.yaml baris 69, topics[5].speker: kunci 'speker' tidak dikenal; mungkin maksudnya 'speaker'?",
        'settings.yaml baris 84, topics[7].cancelled: seharusnya true atau false, tertulis "mungkin"',
        'settings.yaml baris 151, mail.smtp.port: seharusnya angka dari 1 sampai 65535, tertulis "abc"',
    ]
    assert main(["check", "--lang", "en", "--settings", str(path)]) == 2
    assert capsys.readouterr().err.split("\n\n")[0].splitlines() == [
        'settings.yaml:21 series.weekday: expected a day name such as thursday or kamis, got "kamus"',
        "settings.yaml:48 topics[2].date: 2027-02-30 is not a date",
        "settings.yaml:69 topics[5].speker: unknown key 'speker'; did you mean 'speaker'?",
        'settings.yaml:84 topics[7].cancelled: expected true or false, got "mungkin"',
        'settings.yaml:151 mail.smtp.port: expected a number from 1 to 65535, got "abc"',
    ]


def test_words_inside_a_message_are_translated_too(tmp_path, capsys, monkeypatch):
    text = (ROOT / "settings.yaml").read_text(encoding="utf-8").replace("  - date: 2027-01-14", "  - date: 2027-01-15")
    path = tmp_path / "settings.yaml"
    text = text.replace("  title: Webinar Kamis Perpustakaan", "  title: [a, b]").replace('"{seq:03d}/SERT', '"X/SERT')
    path.write_text(text, encoding="utf-8")
    monkeypatch.delenv("LANG")
    assert main(["check", "--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert "series.title: seharusnya teks, tertulis sebuah daftar" in err
    assert "topics[2].date: 2027-01-15 jatuh pada hari Jumat, bukan Kamis (series.weekday)" in err
    assert "certificate.number_format: harus memuat {seq} (nomor urut)" in err


def test_a_windows_file_with_bom_and_crlf_gives_the_same_line_and_quote(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LANG")
    text = (CORPUS / "quote-unclosed.yaml").read_text(encoding="utf-8").replace("\n", "\r\n")
    path = tmp_path / "settings.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert main(["check", "--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("settings.yaml baris 49: tanda kutip \" di awal isian ini tidak pernah ditutup")
    assert '  49 |     topic: "Bedah Buku: Laskar Pelangi\n' in err and "?" not in err.split("\n\n")[0]
