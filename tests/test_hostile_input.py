"""Hostile values where they enter: templates, recipient CSVs and sheet rows, Zoom records, headers, reloads."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.helpers_settings import BASE, write_settings
from tests.helpers_smtp import TEMPLATES, compose
from worker.cli import main
from worker.core.attendance import merge_participants
from worker.core.cleaning import clean_email, clean_name, neutralise_formula, safe_link
from worker.core.clock import FixedClock
from worker.core.model import ParticipantRecord, Recipient
from worker.demo import neutralise_csv
from worker.errors import PermanentMailError, TemplateError
from worker.mail.recipients import load_recipients, load_unsubscribed
from worker.mail.render import Renderer, sample_meeting, sample_series, sample_session
from worker.run.engine import TickReport
from worker.run.runner import Runner

SECRET = "zoom-secret-Jangan-Bocor-42"
PAYLOADS = ("{{ lipsum.__globals__['os'].popen('cat .env').read() }}",
            "{{ cycler.__init__.__globals__.os.popen('id').read() }}")


@pytest.fixture
def no_secrets(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(key)


# -- 1. templates ----------------------------------------------------------------------------
def test_the_issue_payloads_in_the_footer_fail_check_with_file_and_line(tmp_path, capsys, no_secrets, monkeypatch):
    path = write_settings(tmp_path)
    footer = tmp_path / "templates" / "_footer.txt.j2"
    lines = footer.read_text(encoding="utf-8").count("\n")
    marker = tmp_path / "ran"
    footer.write_text(footer.read_text(encoding="utf-8") + PAYLOADS[0] + "\n" + PAYLOADS[1] + "\n"
                      + "{{ lipsum.__globals__.os.popen('touch " + str(marker) + "').read() }}\n", encoding="utf-8")
    (tmp_path / ".env").write_text(f"ZOOM_CLIENT_SECRET={SECRET}\n", encoding="utf-8")
    (tmp_path / ".env").chmod(0o600)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--settings", str(path)]) == 2
    out, err = capsys.readouterr()
    assert f"templates/_footer.txt.j2:{lines + 1}: uses the attribute '__globals__'" in err
    assert f"templates/_footer.txt.j2:{lines + 2}: uses the attribute '__init__'" in err
    assert f"templates/_footer.txt.j2:{lines + 2}: uses 'cycler'" in err
    assert SECRET not in out + err and "uid=" not in out + err
    assert not marker.exists()  # check read the template; it never ran it


def test_a_payload_renders_no_secret_into_any_mail(tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    write_settings(tmp_path)
    monkeypatch.setenv("ZOOM_CLIENT_SECRET", SECRET)
    (tmp_path / ".env").write_text(f"ZOOM_CLIENT_SECRET={SECRET}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    series = sample_series()
    session = sample_session(series)
    for payload in PAYLOADS + ("{{ self.__init__ }}", "{{ ''.__class__.__mro__ }}", "{{ namespace() }}",
                               "{{ joiner.__init__.__globals__ }}", "{{ topic|attr('__class__') }}",
                               "{{ '{0.__class__}'.format(topic) }}"):
        (templates / "_footer.txt.j2").write_text(payload + "\n", encoding="utf-8")
        renderer = Renderer(templates)
        with pytest.raises(TemplateError) as caught:
            renderer.render_mail("invitation", session, sample_meeting(), series, Recipient("a@example.org"))
        assert SECRET not in str(caught.value)
        assert renderer.unsafe_problems(), payload


def test_the_shipped_templates_are_safe_and_still_render():
    assert Renderer(TEMPLATES).unsafe_problems() == []
    message = compose("thankyou")
    assert "Budi Santoso" in message.get_body(("plain",)).get_content()


# -- 2. CSV and sheet rows ------------------------------------------------------------------
def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_the_issue_eve_sign_up_subscribes_nobody_else_and_drops_no_row(tmp_path):
    # What a Form export writes for a person who typed `Eve ",victim@example.org,` as their name.
    path = write(tmp_path, "daftar.csv", 'nama,email,grup\n"Eve "",victim@example.org,",eve@example.org,umum\n'
                                         "Budi,budi@example.org,umum\nSiti,siti@example.org,guru\n")
    load = load_recipients([], [path], [], set())
    assert [(r.email, r.name) for r in load.recipients] == [
        ("eve@example.org", 'Eve ",victim@example.org,'), ("budi@example.org", "Budi"),
        ("siti@example.org", "Siti")]
    assert load.problems == []


def test_a_name_with_line_breaks_cannot_smuggle_a_row(tmp_path):
    # A Form name typed as three lines; the export quotes it, and its middle line looks like a row.
    rows = [["nama", "email", "grup"], ["Eve\nx,victim@example.org,umum\ny", "eve@example.org", "umum"],
            ["Budi", "budi@example.org", "umum"]]
    out = __import__("io").StringIO()
    __import__("csv").writer(out).writerows(rows)
    load = load_recipients([], [write(tmp_path, "daftar.csv", out.getvalue())], [], set())
    assert [r.email for r in load.recipients] == ["budi@example.org"]
    assert [p.split(": ")[0] for p in load.problems] == ["daftar.csv:2", "daftar.csv:3", "daftar.csv:4"]


def test_a_row_that_does_not_parse_is_reported_and_skipped_never_merged(tmp_path):
    path = write(tmp_path, "daftar.csv", "nama,email,grup\n"
                                         'Eve ",victim@example.org,\n'  # a bare quote inside a field
                                         '"Ani,ani@example.org,umum\n'  # a quote never closed
                                         "Budi,budi@example.org,umum\n"
                                         "Citra,citra@example.org,umum,extra@example.org\n"  # one cell too many
                                         "Dedi,dedi@example.org,umum\n")
    load = load_recipients([], [path], [], set())
    assert [r.email for r in load.recipients] == ["budi@example.org", "dedi@example.org"]
    assert [p.split(": ")[0] for p in load.problems] == ["daftar.csv:2", "daftar.csv:3", "daftar.csv:5"]
    assert all("row skipped" in p for p in load.problems)


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_any_delimiter_with_standard_quoting(tmp_path, sep):
    text = (f'"nama"{sep}"Alamat email; aktif, ya"{sep}grup\n'
            f'"Siti{sep} S.Pd ""Bu Guru"""{sep}siti@example.org{sep}guru\n'
            f"Budi{sep}budi@example.org{sep}umum\n")
    load = load_recipients([], [write(tmp_path, "daftar.csv", text)], [], set())
    assert load.problems == []
    assert [r.email for r in load.recipients] == ["siti@example.org", "budi@example.org"]
    assert load.recipients[0].name == " ".join(f'Siti{sep} S.Pd "Bu Guru"'.split())


def test_a_quote_in_the_unsubscribe_list_still_stops_mail(tmp_path):
    unsub = write(tmp_path, "berhenti.csv", 'email,alasan\n'
                                            'ani@example.org,"terlalu ""sering"""\n'
                                            '"budi@example.org,tidak tertarik\n'  # broken quote: still blocked
                                            'citra@example.org,"pindah; kota"\n')
    blocked = load_unsubscribed([unsub], [])
    assert {"ani@example.org", "budi@example.org", "citra@example.org"} <= blocked
    people = write(tmp_path, "daftar.csv", "email\nani@example.org\nbudi@example.org\ncitra@example.org\n"
                                           "dedi@example.org\n")
    assert [r.email for r in load_recipients([], [people], [], blocked).recipients] == ["dedi@example.org"]


def test_sheet_rows_are_validated_cell_by_cell():
    rows = [["Timestamp", "Nama", "Alamat email"],
            ["1", "Ani", "ani@example.org"],
            ["2", ["not", "text"], "x@example.org"],
            ["3", "Budi", "budi@example.org\r\nBcc: all@example.org"],
            ["4", "\u202eCitra\u0000" + "x" * 10_000, "citra@example.org"],
            "not a row",
            ["5", "Dedi", "dedi@example.org"]]
    load = load_recipients([], [], [rows], set(), sheet_labels=["Formulir!A:C"])
    assert [r.email for r in load.recipients] == ["ani@example.org", "citra@example.org", "dedi@example.org"]
    citra = load.recipients[1]
    assert len(citra.name) == 200 and citra.name.startswith("Citra") and "\u202e" not in citra.name
    assert [p.split(": ")[0] for p in load.problems] == ["Formulir!A:C:3", "Formulir!A:C:4", "Formulir!A:C:6"]


def test_unreadable_lists_are_problems_naming_the_file(tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    load = load_recipients([], [folder, Path("/dev/zero")], [], set())
    assert load.recipients == []
    assert any(str(folder) in p and "folder" in p for p in load.unreadable)
    assert any("/dev/zero: is larger than" in p for p in load.unreadable)
    with pytest.raises(Exception) as caught:
        load_unsubscribed([folder], [])
    assert str(folder) in str(caught.value) and "unsubscribe_files" in str(caught.value)


# -- 3. cleaning and Zoom records --------------------------------------------------------------
@pytest.mark.parametrize("raw", ["a@example.org\r\nBcc: x@example.org", "a b@example.org", "a@@example.org",
                                 "a@example", "a@-example.org", "x" * 65 + "@example.org",
                                 "a@" + "b" * 250 + ".org", "", "a@exam\u202eple.org"])
def test_invalid_addresses(raw):
    assert clean_email(raw) is None


def test_names_are_cleaned_and_capped():
    assert clean_name("Siti\r\nBcc: x@example.org\u202e\u2066\x85\x9b") == "Siti Bcc: x@example.org"
    assert len(clean_name("😀" * 10_000)) == 200
    assert clean_name("  ☕ Budi   <b>  ") == "☕ Budi <b>"


def test_zoom_names_and_emails_are_cleaned_in_the_merge():
    t = datetime(2027, 1, 14, 1, 0, tzinfo=timezone.utc)
    records = [ParticipantRecord("Eve\r\nBcc: x@example.org", "eve@example.org\r\nBcc: x@example.org", "",
                                 t, t + timedelta(minutes=50), 3000),
               ParticipantRecord("\u202e" + "A" * 10_000, "Good@Example.org", "p1", t, t + timedelta(minutes=40), 2400)]
    people = merge_participants(records)
    assert [(p.name[:10], p.email) for p in people] == [("A" * 10, "good@example.org"),
                                                        ("Eve Bcc: x", "")]
    assert all(len(p.name) <= 200 and "\r" not in p.name for p in people)


def test_links_and_formula_cells():
    assert safe_link("https://example.org/a?b=1") and not safe_link("javascript:alert(1)")
    assert not safe_link("https://example.org/a\r\nX: y") and not safe_link("data:text/html,x")
    assert safe_link("mailto:a@example.org", ("mailto", "https")) and not safe_link("mailto:a@example.org")
    assert [neutralise_formula(v) for v in ("=1+1", "+cmd|x", "-2", "@SUM(A1)", "\tx", "\rx", "Budi")] == [
        "'=1+1", "'+cmd|x", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "Budi"]


def test_demo_csv_export_is_neutralised(tmp_path):
    path = tmp_path / "tab.csv"
    path.write_text('Nama,Menit\n"=HYPERLINK(""http://x"",""y"")",50\n+cmd|x,3\n@SUM(A1),1\nBudi,4\n',
                    encoding="utf-8")
    neutralise_csv(path)
    assert path.read_text(encoding="utf-8").splitlines() == [
        "Nama,Menit", '"\'=HYPERLINK(""http://x"",""y"")",50', "'+cmd|x,3", "'@SUM(A1),1", "Budi,4"]


# -- 4. headers ------------------------------------------------------------------------------
def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if b"\r\n" in data else data.split(b"\n\n", 1)[0].split(b"\n")


def test_a_10000_character_name_keeps_every_header_line_under_998():
    name = "Budi " + "Santoso" * 1500 + "\r\nBcc: all@example.org"
    series = sample_series()
    session = sample_session(series)
    session = session.__class__(**{**session.__dict__, "topic": "T" * 10_000})
    message = compose("invitation", Recipient("budi@example.org", name), session=session)
    data = message.as_bytes()
    assert max(len(line) for line in header_lines(data)) <= 998
    parsed = message_from_bytes(data, policy=policy.default)
    assert parsed["Bcc"] is None and len(parsed["To"].addresses) == 1
    assert parsed["To"].addresses[0].addr_spec == "budi@example.org"


def test_an_address_with_a_line_break_fails_only_its_own_mail():
    with pytest.raises(PermanentMailError):
        compose("thankyou", Recipient("eve@example.org\r\nBcc: x@example.org", "Eve"))


# -- 5. reload keeps the last good settings whatever the edit raises -----------------------------
def test_reload_keeps_the_last_good_settings_whatever_the_edit_raises(tmp_path):
    path = write_settings(tmp_path)
    seen: list[str] = []

    class Engine:
        def __init__(self, settings):
            if "Meledak" in settings.series.title:
                raise RuntimeError("an engine that cannot be built for this edit")
            self.settings = settings

        def tick(self, sessions, dry_run=False):
            seen.append(self.settings.series.title)
            return TickReport()

    runner = Runner(path, Engine, FixedClock(datetime(2027, 1, 1, tzinfo=timezone.utc)))
    runner.run_once()
    edits = [BASE.replace("Webinar Kamis Perpustakaan", "Meledak"),  # the engine raises RuntimeError
             BASE.replace("groups: [guru-paud]", "groups: " + "[" * 2000 + "]" * 2000),  # RecursionError before
             BASE.replace("last_date: 2027-02-04", "last_date: 9999-12-30"),  # OverflowError before
             BASE.replace("  timezone: Asia/Makassar\n", "  timezone: Asia/Makassar\n  locale: Indonesia\n")]
    for number, text in enumerate(edits, 1):
        path.write_text(text, encoding="utf-8")
        os.utime(path, (time.time() + 5 * number, time.time() + 5 * number))
        runner.run_once()
    assert seen == ["Webinar Kamis Perpustakaan"] * (1 + len(edits))


# -- settings defaults are declared once, in worker.core.schema ---------------------------------
def test_a_minimal_settings_file_gets_exactly_the_dataclass_defaults(tmp_path):
    from worker.config.settings import load_settings
    from worker.core.schema import (AttendanceSettings, FollowupSettings, GoogleSettings, MailSettings,
                                    SeriesSettings, SmtpSettings, WorkerSettings, ZoomSettings)

    path = write_settings(tmp_path, "series:\n  id: webinar-kamis\n  title: Webinar\n  first_date: 2027-01-07\n"
                                    "  last_date: 2027-01-14\ntopics:\n  - date: 2027-01-07\n    topic: Satu\n")
    s = load_settings(path)
    defaults = SeriesSettings(id="webinar-kamis", title="Webinar")
    for name in ("organizer", "contact", "weekday", "start_time", "duration_minutes", "timezone", "locale"):
        assert getattr(s.series, name) == getattr(defaults, name), name
    assert s.zoom == ZoomSettings() and s.attendance == AttendanceSettings() and s.followup == FollowupSettings()
    assert s.google == GoogleSettings() and s.mail.smtp == SmtpSettings()
    mail = MailSettings()
    assert (s.mail.invitation_days_before, s.mail.reminder_hours_before, s.mail.batch_size) == (
        mail.invitation_days_before, mail.reminder_hours_before, mail.batch_size)
    assert s.mail.templates_dir == tmp_path / mail.templates_dir
    worker = WorkerSettings()
    assert (s.worker.tick_seconds, s.worker.planning_days, s.worker.log_level) == (
        worker.tick_seconds, worker.planning_days, worker.log_level)
    assert s.worker.state_file == tmp_path / worker.state_file
    assert s.topics[0].cancelled is False and s.topics[0].duration_minutes is None


# -- the CSV reader against any text a spreadsheet may write -------------------------------------
from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

from worker.mail.recipients import split_rows  # noqa: E402

CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


LINE_BREAKY = st.lists(st.sampled_from(["\n", "\r\n", "\r", '"', ",", ";", "\t", "x", "victim@example.org"]),
                      max_size=8).map("".join)


@hsettings(max_examples=200, deadline=None)
@given(st.sampled_from([",", ";", "\t"]),
       st.lists(st.lists(CELL | LINE_BREAKY, min_size=3, max_size=3), min_size=1, max_size=8))
def test_rows_written_by_the_csv_module_come_back_one_per_line_or_are_refused(sep, rows):
    import csv as csv_module
    import io as io_module

    header = ["nama", "email", "grup"]
    out = io_module.StringIO()
    csv_module.writer(out, delimiter=sep, lineterminator="\r\n").writerows([header] + rows)
    parsed = dict(split_rows(out.getvalue()))
    assert parsed[1] == header
    line = 2
    for row in rows:
        spans = 1 + sum(c.count("\r\n") + c.replace("\r\n", "").count("\r") + c.replace("\r\n", "").count("\n")
                        for c in row)
        got = [parsed.get(n) for n in range(line, line + spans)]
        if spans == 1 and "\x00" not in "".join(row):
            assert got[0] == row  # read back exactly, whatever quotes and separators it holds
        elif "\x00" not in "".join(row):
            assert all(not isinstance(g, list) for g in got), (row, got)  # refused whole, never merged
        else:
            assert row not in got
        line += spans
