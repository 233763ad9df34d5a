"""Templates, .ics and message building: what a recipient's mail program will see."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timezone
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.helpers_smtp import TEMPLATES, body, calendar_of, compose, moved, parse
from worker.core.clock import FixedClock
from worker.mail.composer import MailComposer
from worker.errors import TemplateError
from worker.mail.ics import build_ics, event_uid
from worker.mail.messages import build_message, message_id, set_headers
from worker.core.model import Recipient
from worker.mail.render import (Renderer, format_meeting_id, format_when, sample_meeting, sample_recipient,
                           sample_series, sample_session)

HOSTILE_TOPIC = 'Anak & Buku <script>alert("x")</script> \'kutip\'\nBcc: korban@example.org'


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(TEMPLATES)


# -- dates and ids -----------------------------------------------------------------
@pytest.mark.parametrize("zone, expected", [
    ("Asia/Makassar", "Kamis, 14 Januari 2027, pukul 09.00 WITA"),
    ("Asia/Jakarta", "Kamis, 14 Januari 2027, pukul 09.00 WIB"),
    ("Asia/Pontianak", "Kamis, 14 Januari 2027, pukul 09.00 WIB"),
    ("Asia/Jayapura", "Kamis, 14 Januari 2027, pukul 09.00 WIT"),
    ("UTC", "Kamis, 14 Januari 2027, pukul 09.00 UTC"),
    ("Asia/Kolkata", "Kamis, 14 Januari 2027, pukul 09.00 UTC+05.30"),
])
def test_format_when_names_the_zone_as_people_there_say_it(zone: str, expected: str) -> None:
    moment = datetime(2027, 1, 14, 9, 0, tzinfo=ZoneInfo(zone))
    assert format_when(moment.astimezone(timezone.utc), zone, "id_ID") == expected


def test_format_when_follows_daylight_saving() -> None:
    summer = datetime(2027, 7, 15, 7, 0, tzinfo=timezone.utc)
    winter = datetime(2027, 1, 14, 8, 0, tzinfo=timezone.utc)
    assert format_when(summer, "Europe/Amsterdam") == "Kamis, 15 Juli 2027, pukul 09.00 UTC+2"
    assert format_when(winter, "Europe/Amsterdam") == "Kamis, 14 Januari 2027, pukul 09.00 UTC+1"


@pytest.mark.parametrize("raw, shown", [("85012345678", "850 1234 5678"), ("8501234567", "850 123 4567"),
                                        ("850123456", "850 123 456"), ("abc", "abc")])
def test_meeting_ids_are_grouped_like_zoom_shows_them(raw: str, shown: str) -> None:
    assert format_meeting_id(raw) == shown


# -- the invitation ------------------------------------------------------------------
def test_invitation_has_everything_a_participant_needs(renderer: Renderer) -> None:
    series, session, meeting = sample_series(), sample_session(), sample_meeting()
    mail = renderer.render_mail("invitation", session, meeting, series, sample_recipient())

    assert mail.subject == ("Undangan Webinar Kamis Perpustakaan: Membacakan Buku Cerita untuk Anak Usia Dini"
                            " - Kamis, 14 Januari 2027")
    for text in (mail.text, mail.html):
        for expected in ("Kamis, 14 Januari 2027", "09.00–10.30 WITA", "Dr. Sari Wulandari, M.Pd.",
                         "Guru PAUD, orang tua, dan masyarakat umum", "850 1234 5678", "Baca2027",
                         "Contoh Peserta", series.contact, "Berhenti berlangganan"):
            assert expected in text, f"{expected!r} missing"
    assert "https://zoom.us/j/85012345678?pwd=contoh" in mail.text
    assert 'href="https://zoom.us/j/85012345678?pwd=contoh"' in mail.html


def test_html_is_one_self_contained_column(renderer: Renderer) -> None:
    html = renderer.render_mail("invitation", sample_session(), sample_meeting(), sample_series(),
                                sample_recipient()).html
    assert "max-width:600px" in html
    assert 'name="viewport"' in html
    for external in ("<img", "<link", "<script", "src=", "@import", "<style"):
        assert external not in html, f"HTML mail should not use {external}"


def test_a_recipient_without_a_name_is_greeted_warmly(renderer: Renderer) -> None:
    mail = renderer.render_mail("reminder", sample_session(), sample_meeting(), sample_series(),
                                Recipient("anon@example.org"))
    assert mail.text.startswith("Halo, Sahabat Perpustakaan,")


def test_event_description_has_the_join_details(renderer: Renderer) -> None:
    text = renderer.render_event_description(sample_session(), sample_meeting(), sample_series())
    assert "https://zoom.us/j/85012345678?pwd=contoh" in text
    assert "ID Rapat: 850 1234 5678" in text
    assert "Kode sandi: Baca2027" in text


# -- hostile input -----------------------------------------------------------------------
def test_a_hostile_topic_is_escaped_in_html_and_the_subject_stays_one_line(renderer: Renderer) -> None:
    session = replace(sample_session(), topic=HOSTILE_TOPIC, description="Baris 1\n<b>tebal</b> & co")
    mail = renderer.render_mail("invitation", session, sample_meeting(), sample_series(), sample_recipient())

    assert "<script>" not in mail.html and "<b>tebal</b>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html
    assert "Anak &amp; Buku" in mail.html and "&#39;kutip&#39;" in mail.html
    assert "Baris 1<br>" in mail.html
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert "<script>" in mail.text  # plain text is shown as text, not interpreted

    message = compose(session=session)
    wire = bytes(message)
    parsed = parse(wire)
    assert parsed["Bcc"] is None
    assert "\n" not in str(parsed["Subject"])
    assert str(parsed["Subject"]).startswith('Undangan Webinar Kamis Perpustakaan: Anak & Buku <script>')


def test_a_recipient_name_cannot_inject_a_header() -> None:
    recipient = Recipient("budi@example.org", 'Budi "Jahil"\r\nBcc: x@y.example\r\nX-Evil: 1')
    parsed = parse(bytes(compose(recipient=recipient)))

    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert parsed["To"].addresses[0].addr_spec == "budi@example.org"
    assert "\n" not in parsed["To"].addresses[0].display_name


# -- template problems are found before mail goes out -------------------------------------
def test_the_shipped_templates_pass_the_check(renderer: Renderer) -> None:
    assert renderer.check_templates(sample_series()) == []


def test_a_misspelt_variable_is_reported_with_template_and_line(templates_copy: Path) -> None:
    path = templates_copy / "invitation.html.j2"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = next(i for i, text in enumerate(lines, start=1) if "{{ m.greeting() }}" in text)
    lines[line - 1] = "<p>{{ topik }}</p>\n"
    path.write_text("".join(lines), encoding="utf-8")

    problems = Renderer(templates_copy).check_templates()

    assert problems == [f"templates/invitation.html.j2:{line}: 'topik' is undefined"]


def test_a_mistake_inside_a_shared_macro_names_that_file(templates_copy: Path) -> None:
    path = templates_copy / "_macros.html.j2"
    text = path.read_text(encoding="utf-8").replace("{{ meeting_id }}", "{{ meeting_nomor }}")
    path.write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), start=1) if "meeting_nomor" in t)

    problems = Renderer(templates_copy).check_templates()

    assert problems == [f"templates/_macros.html.j2:{line}: 'meeting_nomor' is undefined"]


def test_a_syntax_error_is_reported_with_its_line(templates_copy: Path) -> None:
    (templates_copy / "reminder.txt.j2").write_text("Halo\n\n{% if speaker %}tanpa akhir\n", encoding="utf-8")

    problems = Renderer(templates_copy).check_templates()

    assert len(problems) == 1
    assert problems[0].startswith("templates/reminder.txt.j2:")
    assert "endif" in problems[0]


def test_a_missing_template_is_reported(templates_copy: Path) -> None:
    (templates_copy / "cancellation.subject.txt.j2").unlink()
    assert Renderer(templates_copy).check_templates() == ["templates/cancellation.subject.txt.j2: template not found"]


def test_rendering_a_broken_template_raises_template_error(templates_copy: Path) -> None:
    (templates_copy / "invitation.subject.txt.j2").write_text("Undangan {{ judul }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"templates/invitation\.subject\.txt\.j2:1: 'judul' is undefined"):
        Renderer(templates_copy).render_mail("invitation", sample_session(), sample_meeting(), sample_series(),
                                             sample_recipient())


def test_a_missing_templates_folder_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="templates folder not found"):
        Renderer(tmp_path / "nowhere")


# -- the message and its .ics ---------------------------------------------------------------
def test_message_structure_and_headers() -> None:
    message = compose("invitation")
    parsed = parse(bytes(message))

    assert parsed.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar"]
    ics_part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert ics_part.get_param("method") == "REQUEST"
    assert ics_part.get_filename() == "undangan.ics"
    assert str(parsed["From"]) == "Perpustakaan Kota Makassar <webinar@perpustakaan.example.go.id>"
    assert str(parsed["To"]) == "Budi Santoso <budi@example.org>"
    assert str(parsed["Reply-To"]) == "layanan@perpustakaan.example.go.id"
    assert parsed["List-Unsubscribe"] == "<mailto:layanan@perpustakaan.example.go.id?subject=berhenti>"
    assert parsed["List-Unsubscribe-Post"] is None  # mailto: has no one-click
    assert parsed["Date"] is not None


def test_message_id_is_deterministic_per_session_kind_sequence_and_recipient() -> None:
    session = sample_session()
    first = compose("invitation")["Message-ID"]
    assert first == compose("invitation")["Message-ID"]
    assert first == message_id(session, "invitation", 0, "BUDI@example.org", "perpustakaan.example.go.id")
    assert first != compose("reminder")["Message-ID"]
    assert first != compose("invitation", Recipient("sari@example.org"))["Message-ID"]
    assert first != compose("invitation", sequence=1)["Message-ID"]
    assert first.endswith("@perpustakaan.example.go.id>")


def test_https_unsubscribe_offers_one_click() -> None:
    series = replace(sample_series(), unsubscribe_url="https://perpustakaan.example.go.id/berhenti")
    parsed = parse(bytes(compose(series=series)))
    assert parsed["List-Unsubscribe"] == "<https://perpustakaan.example.go.id/berhenti>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_invitation_ics_has_a_stable_uid_and_the_series_zone() -> None:
    calendar = calendar_of(parse(bytes(compose("invitation"))))
    event = calendar.walk("VEVENT")[0]

    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == "webinar-kamis-2027-01-14@webinar-worker" == event_uid(sample_session())
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTART") == datetime(2027, 1, 14, 9, 0, tzinfo=ZoneInfo("Asia/Makassar"))
    assert event["DTSTART"].params["TZID"] == "Asia/Makassar"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Asia/Makassar"]
    assert str(event["LOCATION"]) == "https://zoom.us/j/85012345678?pwd=contoh"
    assert str(event["ORGANIZER"]) == "mailto:webinar@perpustakaan.example.go.id"
    assert "Kode sandi: Baca2027" in str(event["DESCRIPTION"])


def test_ics_for_a_zone_with_daylight_saving_carries_both_rules() -> None:
    series = replace(sample_series(), timezone="Europe/Amsterdam")
    day = date(2027, 7, 15)
    session = replace(sample_session(series), date=day, timezone="Europe/Amsterdam",
                      start=datetime.combine(day, time(9), ZoneInfo("Europe/Amsterdam")))
    calendar = calendar_of(parse(bytes(compose(session=session, series=series))))

    zone = calendar.walk("VTIMEZONE")[0]
    assert {c.name for c in zone.subcomponents} == {"STANDARD", "DAYLIGHT"}
    assert calendar.walk("VEVENT")[0].decoded("DTSTART").utcoffset().total_seconds() == 2 * 3600


def test_reminder_is_a_request_with_the_same_sequence() -> None:
    calendar = calendar_of(parse(bytes(compose("reminder", sequence=0))))
    assert calendar["METHOD"] == "REQUEST"
    assert calendar.walk("VEVENT")[0]["SEQUENCE"] == 0


def test_change_notice_has_sequence_1_and_shows_old_and_new_time() -> None:
    session = sample_session()
    previous = moved(session, -1)
    message = compose("change", session=session, previous=previous, sequence=1)
    parsed = parse(bytes(message))
    event = calendar_of(parsed).walk("VEVENT")[0]

    assert event["SEQUENCE"] == 1
    assert str(event["UID"]) == event_uid(session)
    assert calendar_of(parsed)["METHOD"] == "REQUEST"
    assert str(parsed["Subject"]).startswith("Perubahan jadwal: ")
    for text in (body(parsed, "plain"), body(parsed, "html")):
        assert "Kamis, 14 Januari 2027, pukul 08.00 WITA" in text  # before
        assert "Kamis, 14 Januari 2027, pukul 09.00 WITA" in text  # now
        assert "Mohon maaf" in text


def test_change_notice_for_a_new_topic_shows_both_topics() -> None:
    session = sample_session()
    previous = replace(session, topic="Topik Lama")
    parsed = parse(bytes(compose("change", session=session, previous=previous, sequence=2)))
    text = body(parsed, "plain")
    assert "Sebelumnya: Topik Lama" in text and f"Menjadi   : {session.topic}" in text
    assert "WAKTU" not in text
    assert str(parsed["Subject"]).startswith("Perubahan topik: ")


def test_cancellation_cancels_the_event_and_apologises() -> None:
    parsed = parse(bytes(compose("cancellation", sequence=3)))
    calendar = calendar_of(parsed)
    event = calendar.walk("VEVENT")[0]

    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 3
    assert next(p for p in parsed.walk() if p.get_content_type() == "text/calendar").get_param("method") == "CANCEL"
    assert str(parsed["Subject"]).startswith("Dibatalkan: ")
    text = body(parsed, "plain")
    assert "DIBATALKAN" in text and "mohon maaf" in text.lower()


def test_thank_you_mail_has_no_calendar_part_and_shows_minutes(renderer: Renderer) -> None:
    series, session, meeting, recipient = sample_series(), sample_session(), sample_meeting(), sample_recipient()
    rendered = renderer.render_mail("thankyou", session, meeting, series, recipient, extra={"minutes": 72})
    message = build_message("thankyou", rendered, session, meeting, series, recipient, sequence=0,
                            message_domain="perpustakaan.example.go.id")
    assert "text/calendar" not in [p.get_content_type() for p in message.walk()]
    assert "72 menit" in body(message, "plain")


def test_build_ics_refuses_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="REQUEST, CANCEL"):
        build_ics(sample_session(), sample_meeting(), sample_series(), sequence=0, method="PUBLISH",
                  organizer_email="a@example.org")


def test_the_cancellation_ics_is_named_as_a_cancellation_and_has_no_join_link() -> None:
    parsed = parse(bytes(compose("cancellation", sequence=3)))
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    event = calendar_of(parsed).walk("VEVENT")[0]
    description = str(event["DESCRIPTION"])

    assert part.get_filename() == "pembatalan.ics"
    for text in (body(parsed, "plain"), body(parsed, "html")):
        assert "(pembatalan.ics)" in text and "undangan.ics" not in text  # the mail names the file it carries
        assert "zoom.us/j/" not in text and "Gabung ke Zoom" not in text
    assert "Gabung ke Zoom" not in description and "zoom.us/j/" not in description
    assert "Kode sandi" not in description and "ID Rapat" not in description
    assert "DIBATALKAN" in description and sample_session().topic in description
    assert "LOCATION" not in event and "URL" not in event  # nothing points at the deleted meeting


def test_other_mails_keep_the_invitation_ics_with_the_join_link() -> None:
    for kind, sequence in (("invitation", 0), ("reminder", 0), ("change", 1)):
        parsed = parse(bytes(compose(kind, sequence=sequence)))
        part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
        assert part.get_filename() == "undangan.ics", kind
        assert "Gabung ke Zoom (tautan pribadi Anda): https://zoom.us/j/85012345678?pwd=contoh" in str(
            calendar_of(parsed).walk("VEVENT")[0]["DESCRIPTION"]), kind


# -- subjects survive the trip through a mail server -----------------------------------------
WORDS = "Membaca Nyaring Bersama Anak Usia Dini di Rumah dan di Sekolah Tanpa Gawai Setiap Hari"


def long_subject_cases() -> list[tuple[str, str]]:
    """(series title, topic) pairs of many lengths, so header folding falls at every spot of a subject."""
    title = sample_series().title
    by_topic = [(title, WORDS[:n].strip()) for n in range(20, len(WORDS) + 1, 2)]
    by_title = [(f"{title} {WORDS[:n].strip()}", "Bedah Buku") for n in range(0, 48, 2)]
    return by_topic + by_title


@pytest.mark.parametrize("kind", ["invitation", "reminder", "change", "cancellation", "thankyou"])
def test_a_long_subject_reads_back_exactly_with_single_spaces(kind: str) -> None:
    renderer, recipient = Renderer(TEMPLATES), sample_recipient()
    for title, topic in long_subject_cases():
        series = replace(sample_series(), title=title)
        session = replace(sample_session(series), topic=topic)
        previous = moved(session, -1) if kind == "change" else None
        rendered = renderer.render_mail(kind, session, sample_meeting(), series, recipient, previous,
                                        extra={"minutes": 75})
        message = EmailMessage()  # the headers exactly as build_message writes them; the body does not matter
        set_headers(message, kind, rendered, session, series, recipient, sequence=0,
                    message_domain="perpustakaan.example.go.id", date=datetime(2027, 1, 7, tzinfo=timezone.utc))
        message.set_content(rendered.text)
        # Python before 3.12.8/3.13.1 reads a header folded right after "Subject:" with one leading
        # space (CPython gh-124452, a parser bug mail programs do not share), hence the lstrip.
        shown = str(parse(bytes(message))["Subject"]).lstrip(" ")
        assert shown == rendered.subject, f"{len(rendered.subject)} characters"
        assert "  " not in shown and topic in shown and "Kamis, 14 Januari 2027" in shown
    whole = parse(bytes(compose(kind, session=session, series=series, previous=previous)))  # the longest, sent whole
    assert str(whole["Subject"]).lstrip(" ") == rendered.subject


# -- wording ------------------------------------------------------------------------------------
def composer(waiting_room: bool) -> MailComposer:
    """The engine's composer over the project's templates, without certificates."""
    return MailComposer(TEMPLATES, sample_series(), certificates=False, waiting_room=waiting_room,
                        clock=FixedClock(datetime(2027, 1, 14, 0, 0, tzinfo=timezone.utc)))


def reminder_texts(waiting_room: bool) -> tuple[str, str]:
    """The plain and HTML text of the reminder the composer sends."""
    message = composer(waiting_room).message("reminder", sample_session(), sample_meeting(), sample_recipient(),
                                             sequence=0)
    return body(message, "plain"), body(message, "html")


def test_the_reminder_says_when_the_session_starts_with_pada() -> None:
    plain, html = reminder_texts(True)
    assert "yang akan dimulai pada Kamis, 14 Januari 2027, pukul 09.00 WITA." in " ".join(plain.split())
    assert "yang akan dimulai pada <strong>Kamis, 14 Januari 2027, pukul 09.00 WITA</strong>." in html


def test_the_reminder_mentions_the_waiting_room_only_when_meetings_have_one() -> None:
    with_room, without_room = reminder_texts(True), reminder_texts(False)
    for text in with_room:
        assert "panitia akan mempersilakan Anda masuk dari ruang tunggu" in " ".join(text.split())
    for text in without_room:
        assert "ruang tunggu" not in text
        assert "Bergabunglah 5" in text and "agar bisa memeriksa suara dan gambar" in " ".join(text.split())


def test_no_mail_calls_the_host_tuan_rumah() -> None:
    session = sample_session()
    for kind in ("invitation", "reminder", "change", "cancellation", "thankyou"):
        for waiting_room in (True, False):
            message = composer(waiting_room).message(kind, session, sample_meeting(), sample_recipient(),
                                                     sequence=0, previous=moved(session, -1), extra={"minutes": 75})
            for subtype in ("plain", "html"):
                assert "tuan rumah" not in body(message, subtype).lower(), (kind, subtype)


def test_a_misspelt_variable_in_a_branch_the_sample_never_takes_is_still_found(templates_copy: Path) -> None:
    path = templates_copy / "change.txt.j2"
    text = path.read_text(encoding="utf-8")
    assert "{% if speaker_changed %}" in text  # the sample change only moves the time
    lines = text.splitlines(keepends=True)
    line = next(i for i, t in enumerate(lines, start=1) if "{{ speaker or" in t)
    lines[line - 1] = lines[line - 1].replace("{{ speaker or", "{{ speker or")
    path.write_text("".join(lines), encoding="utf-8")

    problems = Renderer(templates_copy).check_templates()

    assert problems == [f"templates/change.txt.j2:{line}: 'speker' is undefined"]
