"""`webinar-worker demo` end to end: the real worker over a simulated season against the sandbox."""
from __future__ import annotations

import csv
import re
from email import message_from_bytes, policy

import icalendar
import pytest

from worker import demo
from worker.errors import WorkerError
from worker.core.planner import plan_season
from worker.config.settings import load_settings
from worker.store.state import StateStore


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    summary = demo.Demo(out).run()
    return summary


def held_sessions(summary):
    settings = load_settings(summary.out_dir / "sandbox" / "settings.yaml")
    return [s for s in plan_season(settings).sessions if not s.cancelled]


def expected_attendance(result, session):
    """The people the demo sent into ``session`` (staff included), from its record of the simulation."""
    return result.simulated[session.key]


def test_meetings_and_events(result):
    assert result.meetings_created == 4  # one per session, never twice
    assert result.meetings_live == 3 and result.meetings_deleted == 1
    assert result.events == 3 and result.events_cancelled == 1
    with StateStore(result.out_dir / "sandbox" / "state.db") as store:
        cancelled = store.session("webinar-kamis/2027-01-28")
        assert cancelled.meeting_deleted and cancelled.event_cancelled


def test_mails_per_kind(result):
    everyone, storytelling_groups = len(demo.PEOPLE), sum(1 for p in demo.PEOPLE if p[2] in ("guru-paud", "orang-tua"))
    assert result.mails["invitation"] == 3 * everyone + storytelling_groups
    assert result.mails["reminder"] == 2 * everyone + storytelling_groups  # 28 January was cancelled first
    assert result.mails["change"] == storytelling_groups  # the 21 January topic edit
    assert result.mails["cancellation"] == everyone
    earned = [(s, p) for s in held_sessions(result) for p in expected_attendance(result, s) if p.earns_certificate]
    # every identified attendee who stayed long enough (invitees and walk-ins), exactly once, none else;
    # + 1: Pak Anwar's certificate re-issued under his corrected name (demo.CORRECTION), which later
    # certificates carry too
    assert result.mails["thankyou"] == len(earned) + 1 == result.certificates > 10
    email, corrected = demo.CORRECTION
    names = [corrected if p.email == email and s.start > demo.CORRECT_AT else p.registered_name for s, p in earned]
    assert any(p.email == email and s.start < demo.CORRECT_AT for s, p in earned)  # he had one to correct
    assert sorted(result.certificate_names) == sorted(names + [corrected])
    shown = {p.display_name for s in held_sessions(result) for p in expected_attendance(result, s)}
    assert not shown & set(result.certificate_names)  # no certificate carries a Zoom display name
    assert len(list((result.out_dir / "sertifikat").glob("*.pdf"))) == result.certificates
    assert all(p.read_bytes().startswith(b"%PDF") for p in (result.out_dir / "sertifikat").glob("*.pdf"))


def test_change_notice_carries_the_new_topic_and_sequence(result):
    (path,) = list((result.out_dir / "email").glob("*-2027-01-21-change-siti*.eml"))
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert demo.THIRD_TOPIC_EDITED in message.get_body(("plain",)).get_content()
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    event = icalendar.Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")[0]
    assert int(event["SEQUENCE"]) == 1


def test_sheets_tabs_rows_and_formula_name_as_text(result):
    sessions = held_sessions(result)
    assert sorted(t for t in result.tabs if re.fullmatch(r"\d{4}-\d\d-\d\d", t)) == [s.key for s in sessions]
    assert "Ringkasan" in result.tabs and result.charts == 1
    assert result.rows["Ringkasan"] == len(sessions)
    for session in sessions:
        people = expected_attendance(result, session)
        staff = sum(1 for p in people if p.role == "staff")
        assert result.rows[session.key] == len(people)  # staff are shown in the tab...
        assert staff == 2 and result.attendance[session.key] == len(people) - staff  # ...not counted
        assert result.identified[session.key] == sum(1 for p in people if p.role in ("invitee", "walk-in"))
        assert result.guests[session.key] == sum(1 for p in people if p.role == "guest")
    with open(result.out_dir / "spreadsheet" / "2027-01-14.csv", encoding="utf-8", newline="") as f:
        names = [row[1] for row in csv.reader(f)]  # column B: the Zoom display name
    assert "'" + demo.FORMULA_NAME in names and demo.FORMULA_NAME not in names  # OWASP: shown as text
    html = (result.out_dir / "spreadsheet" / "spreadsheet.html").read_text(encoding="utf-8")
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)" in html or "=HYPERLINK(&#34;http://x&#34;" in html


def test_calendar_export_and_report(result):
    calendar = icalendar.Calendar.from_ical((result.out_dir / "kalender.ics").read_bytes())
    assert len(calendar.walk("VEVENT")) == 4
    report = (result.out_dir / "laporan" / "laporan-musim.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in report
    for session in held_sessions(result):
        assert session.topic in report


def test_refuses_to_wipe_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(WorkerError, match="not empty and was not made by the demo"):
        demo.Demo(tmp_path).run()
    assert (tmp_path / "precious.txt").read_text(encoding="utf-8") == "keep me"


def test_report_numbers_match_the_stored_attendance(result):
    from tests.helpers_report import tile

    with StateStore(result.out_dir / "sandbox" / "state.db") as store:
        people = {uid: store.attendance(uid) for uid in store.sessions()}
    attended = [a for rows in people.values() for a in rows if not a.staff]
    keys = [a.email or a.name.lower() for a in attended]
    report = (result.out_dir / "laporan" / "laporan-musim.html").read_text(encoding="utf-8")
    assert tile(report, "Sesi terlaksana") == "3"
    assert tile(report, "Total kehadiran") == str(len(attended))
    assert tile(report, "Jumlah peserta (tanpa ganda)") == str(len(set(keys)))
    assert tile(report, "Hadir lebih dari sekali") == str(sum(1 for k in set(keys) if keys.count(k) >= 2))


def test_status_shows_attendance_and_follow_up_per_session(result):
    from worker.outputs.status import render_status

    settings = load_settings(result.out_dir / "sandbox" / "settings.yaml")
    with StateStore(settings.worker.state_file) as store:
        text = render_status(settings, store, demo.END)
    blocks = {b.splitlines()[0][:10]: b for b in text.split("\n\n")[1:]}
    assert f"attendance: {result.attendance['2027-01-07']} people, in the sheet" in blocks["2027-01-07"]
    assert "thankyou: " in blocks["2027-01-07"] and " sent" in blocks["2027-01-07"]
    assert "attendance: not fetched (cancelled)" in blocks["2027-01-28"]
    assert "cancellation: 10 sent" in blocks["2027-01-28"]


def test_no_secret_token_or_key_in_anything_the_demo_leaves_behind(result):
    import json

    key_file = result.out_dir / "sandbox" / "service-account.json"
    key_lines = json.loads(key_file.read_text(encoding="utf-8"))["private_key"].splitlines()[1:-1]
    secrets = [b"sandbox-secret", b"PRIVATE KEY", b"sbx.", b"ya29.", key_lines[5].encode()]
    checked = 0
    for path in result.out_dir.rglob("*"):
        if not path.is_file() or path == key_file:
            continue
        data = path.read_bytes()
        checked += 1
        for secret in secrets:
            assert secret not in data, f"{secret!r} found in {path}"
    assert checked > 40 and (result.out_dir / "sandbox" / "worker.log").stat().st_size > 0


def test_a_whatsapp_file_per_held_session_with_the_public_registration_link(result):
    with StateStore(result.out_dir / "sandbox" / "state.db") as store:
        for session in held_sessions(result):
            pack = (result.paths["whatsapp"] / f"whatsapp-{session.key}.txt").read_text(encoding="utf-8")
            state = store.session(session.uid)
            assert pack.count("https://wa.me/?text=") == 4 and state.registration_url in pack
            assert not any(r.join_url in pack for r in store.registrants(session.uid) if r.join_url)
    assert sorted(p.name for p in result.paths["whatsapp"].iterdir()) == [
        f"whatsapp-{s.key}.txt" for s in held_sessions(result)]
