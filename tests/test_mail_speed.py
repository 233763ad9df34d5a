"""Mail near the wire's limit (issue 18): what the speed-up must keep, counted where people would notice.

- What a person receives is what they received before the speed-up: the same headers, bodies and .ics,
  byte for byte, apart from the MIME boundaries (random in every message, before and after). The
  golden files in tests/golden_mail/ were written by the composer as it was before the change.
- A tick opens one SMTP connection however many batches and sessions it sends (counted at the server),
  and a connection the server drops is reopened once, with nobody mailed twice.
- The VTIMEZONE block is built once per zone, not once per message (counted at icalendar's seam).
"""
from __future__ import annotations

import email.policy
import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from icalendar import Timezone

from integrations.sandbox.smtp_server import SandboxSmtpServer
from tests.fakes import FakeCalendar, FakeSheets, FakeZoom
from tests.helpers_settings import BASE, write_settings
from tests.helpers_smtp import TEMPLATES, calendar_of, transport_for
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.derive import policy, series_info
from worker.core.model import MeetingInfo, Recipient, Session
from worker.core.planner import plan_season
from worker.mail.composer import MailComposer
from worker.mail.wire import PreparedMessage
from worker.mail.render import sample_meeting, sample_previous, sample_series, sample_session
from worker.run.engine import Engine
from worker.run.engine import Integrations
from worker.store.state import StateStore

UTC = timezone.utc
GOLDEN = Path(__file__).resolve().parent / "golden_mail"  # messages as the composer made them before issue 18
BOUNDARY = re.compile(rb'boundary="([^"]+)"')
PEOPLE = (Recipient("budi@example.org", "Budi Santoso"),
          Recipient("siti.nurhaliza@example.org", "Siti Nurhaliza Ümmü — Daeng Ngai"),
          Recipient("tanpa.nama@example.org", ""),
          Recipient("panjang@example.org", "Andi Muhammad Fadhlurrahman Syahputra Wijayakusuma Ramadhan Pratama"))


def golden_messages() -> list[tuple[str, EmailMessage]]:
    """Every kind the composer makes, for several people of one session, plus a zone with daylight saving."""
    series = sample_series()
    session = sample_session(series)
    clock = FixedClock(datetime(2027, 1, 10, 3, 4, 5, tzinfo=UTC))
    composer = MailComposer(TEMPLATES, series, clock=clock, certificates=False)
    out: list[tuple[str, EmailMessage]] = []
    for kind, sequence, previous, extra in (("invitation", 0, None, None), ("reminder", 0, None, None),
                                            ("change", 1, sample_previous(session), None),
                                            ("cancellation", 2, None, None), ("thankyou", 0, None, {"minutes": 75})):
        for number, person in enumerate(PEOPLE):
            meeting = personal(sample_meeting(), person) if number % 2 else sample_meeting()
            out.append((f"{kind}-{number}", composer.message(kind, session, meeting, person, sequence=sequence,
                                                             previous=previous, extra=extra)))
    berlin = berlin_session(session)
    out.append(("invitation-berlin", composer.message("invitation", berlin, sample_meeting(), PEOPLE[0], sequence=0)))
    return out


def personal(meeting: MeetingInfo, person: Recipient) -> MeetingInfo:
    """The meeting with this person's own registrant link."""
    return MeetingInfo(meeting.meeting_id, f"https://zoom.us/w/85012345678?tk={person.email}", meeting.passcode,
                       registration_url=meeting.registration_url)


def berlin_session(session: Session) -> Session:
    """The same session in a zone with daylight saving (its VTIMEZONE has STANDARD and DAYLIGHT rules)."""
    from dataclasses import replace
    from zoneinfo import ZoneInfo
    return replace(session, timezone="Europe/Berlin", start=session.start.astimezone(ZoneInfo("Europe/Berlin")))


def normalised(message: EmailMessage | bytes) -> bytes:
    """The message as written, its random MIME boundaries renamed in order of appearance."""
    data = message if isinstance(message, bytes) else message.as_bytes()
    for number, boundary in enumerate(dict.fromkeys(BOUNDARY.findall(data))):
        data = data.replace(boundary, f"BOUNDARY-{number}".encode())
    return data


def test_every_message_is_byte_for_byte_what_people_got_before() -> None:
    made = golden_messages()
    assert len(made) == 21
    for name, message in made:
        expected = (GOLDEN / f"{name}.eml").read_bytes()
        assert normalised(message) == expected, f"{name} differs from tests/golden_mail/{name}.eml"
        if isinstance(message, PreparedMessage):  # the bytes the SMTP client sends, not only the parsed view
            assert normalised(message.wire) == expected, f"{name}: the wire bytes differ from the golden file"
            assert message.smtp_bytes() == message.wire.replace(b"\n", b"\r\n")
    # after each session's first message of a kind, the others are made from the shared parts
    prepared = sorted(name for name, message in made if isinstance(message, PreparedMessage))
    expected = [f"{kind}-{n}" for kind in ("invitation", "reminder", "change", "cancellation") for n in (1, 2, 3)]
    assert prepared == sorted(expected + ["invitation-berlin"])


# -- one connection per tick ------------------------------------------------------------
@pytest.fixture
def server():
    with SandboxSmtpServer() as s:
        yield s


def tick(tmp_path, server: SandboxSmtpServer, per_session: dict[str, list[Recipient]], now: datetime,
         invitation_days: int = 7, composer: type[MailComposer] = MailComposer) -> Engine:
    """One tick of the real engine, composer and SMTP client; each session's list by its date."""
    settings = load_settings(write_settings(tmp_path, BASE.replace("invitation_days_before: 7",
                                                                   f"invitation_days_before: {invitation_days}")))
    sessions = list(plan_season(settings).sessions)
    io = Integrations(zoom=FakeZoom(), calendar=FakeCalendar(), sheets=FakeSheets(), mail=transport_for(server),
                      composer=composer(settings.mail.templates_dir, series_info(settings)))
    engine = Engine(StateStore(tmp_path / "state.db"), io, FixedClock(now), series=series_info(settings),
                    policy=policy(settings), recipients=lambda s: per_session.get(str(s.date), []), batch_size=100)
    engine.tick(sessions)
    return engine


def invited(server: SandboxSmtpServer) -> Counter:
    """(session, recipient) -> messages received."""
    headers = BytesHeaderParser(policy=email.policy.default)
    return Counter((headers.parsebytes(m.data)["X-Webinar-Session"], m.rcpt_tos[0]) for m in server.messages)


def test_a_tick_mailing_250_people_of_two_sessions_uses_one_connection(tmp_path, server):
    people = [Recipient(f"peserta{i:03d}@example.org", f"Peserta {i}") for i in range(125)]
    lists = {"2027-01-07": people, "2027-01-14": people}
    # both sessions' invitations are due on 1 January with a 14-day lead: three batches of at most 100
    tick(tmp_path, server, lists, datetime(2027, 1, 1, tzinfo=UTC), invitation_days=14)
    got = invited(server)
    assert sorted({uid for uid, _ in got}) == ["webinar-kamis/2027-01-07", "webinar-kamis/2027-01-14"]
    assert len(got) == 250 and set(got.values()) == {1}
    assert server.connections == 1
    assert {m.connection for m in server.messages} == {1}


def test_a_connection_dropped_mid_batch_is_reopened_once_and_nobody_gets_two(tmp_path, server):
    people = [Recipient(f"peserta{i:03d}@example.org", f"Peserta {i}") for i in range(150)]
    server.drop_after = 60  # the 61st MAIL FROM is answered 421 and the line is closed
    tick(tmp_path, server, {"2027-01-07": people}, datetime(2026, 12, 31, 2, tzinfo=UTC))
    got = invited(server)
    assert len(got) == 150 and set(got.values()) == {1}
    assert server.connections == 2
    assert Counter(m.connection for m in server.messages) == {1: 60, 2: 90}


def test_the_vtimezone_is_built_once_for_100_messages(monkeypatch):
    built: list[str] = []
    derive = Timezone.from_tzinfo

    def counted(cls, tz, *args, **kwargs):
        built.append(str(tz))
        return derive(tz, *args, **kwargs)

    monkeypatch.setattr(Timezone, "from_tzinfo", classmethod(counted))
    series = sample_series()
    composer = MailComposer(TEMPLATES, series, certificates=False)
    session = sample_session(series)
    messages = [composer.message("invitation", session, sample_meeting(), Recipient(f"p{i}@example.org", f"P {i}"),
                                 sequence=0) for i in range(100)]
    assert built == ["Asia/Makassar"]
    for message in messages:  # and every invitation still carries it
        zones = [str(z["TZID"]) for z in calendar_of(message).walk("VTIMEZONE")]
        assert zones == ["Asia/Makassar"]


def test_the_fast_ics_folding_is_icalendars_folding() -> None:
    from icalendar.parser.string import _foldline
    from worker.mail.ics import fold

    rng = random.Random(18)
    for _ in range(3000):  # escapes and separators land on every fold position
        line = "".join(rng.choice("ab\\^;,: é") for _ in range(rng.randint(0, 300)))
        assert fold(line) == _foldline(line).encode("utf-8"), repr(line)


def test_a_template_variable_about_the_person_that_the_quick_way_does_not_know_keeps_everyone_right(
        tmp_path, monkeypatch) -> None:
    import shutil

    import worker.mail.composer as composer_module
    import worker.mail.render as render_module

    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    with (folder / "invitation.txt.j2").open("a", encoding="utf-8") as template:
        template.write("Salam untuk {{ shout }}\n")
    original = render_module.mail_context

    def with_shout(kind, session, meeting, series, recipient, *args, **kwargs):  # a new per-person variable
        return {**original(kind, session, meeting, series, recipient, *args, **kwargs), "shout": recipient.name.upper()}

    monkeypatch.setattr(render_module, "mail_context", with_shout)
    monkeypatch.setattr(composer_module, "mail_context", with_shout)
    composer = MailComposer(folder, sample_series(), certificates=False)
    session = sample_session(sample_series())
    for i in range(5):
        message = composer.message("invitation", session, sample_meeting(), Recipient(f"p{i}@example.org", f"Orang {i}"),
                                   sequence=0)
        assert f"Salam untuk ORANG {i}" in message.get_body(("plain",)).get_content()


# -- the session's templates rendered once, each person's values filled in ------------------------
HOSTILE = (Recipient("budi@example.org", "Budi <b>Santoso</b> & \"Sri\" 'Ani'"),
           Recipient("siti@example.org", "Siti Nurhaliza Ümmü — Daeng Ngai"),
           Recipient("kosong@example.org", ""),
           Recipient("koma@example.org", "Wijaya, S.Pd.; M.Pd: Kepala ^ Sekolah \\ Dasar"),
           Recipient("tab@example.org", "Nama\tdengan\nbaris  baru"),
           Recipient("amp@example.org", "A&amp;B {{ 7*7 }} {% raw %}"),
           Recipient("panjang@example.org", "Andi " * 60),
           Recipient("kutip@example.org", "O'Brien \u2019Ahmad\u2019"))


def ordinary(kind: str, session: Session, meeting: MeetingInfo, person: Recipient, *, sequence: int,
             previous: Session | None, moment: datetime, templates: Path = TEMPLATES) -> EmailMessage:
    """The message built the slow, plain way: rendered whole by Jinja2, the .ics made whole by icalendar."""
    from worker.mail.messages import build_message
    from worker.mail.render import Renderer

    series = sample_series()
    rendered = Renderer(templates).render_mail(kind, session, meeting, series, person, previous,
                                               extra={"waiting_room": True})
    return build_message(kind, rendered, session, meeting, series, person, sequence=sequence,
                         message_domain="perpustakaan.example.go.id", date=moment)


def test_hostile_names_and_links_reach_everyone_exactly_as_the_ordinary_render_writes_them() -> None:
    series = sample_series()
    session = sample_session(series)
    moment = datetime(2027, 1, 10, 3, 4, 5, tzinfo=UTC)
    composer = MailComposer(TEMPLATES, series, clock=FixedClock(moment), certificates=False)
    for kind, sequence, previous in (("invitation", 0, None), ("change", 1, sample_previous(session)),
                                     ("cancellation", 2, None)):
        for number, person in enumerate(PEOPLE[:2] + HOSTILE + HOSTILE):  # the quick way from the third on
            meeting = personal(sample_meeting(), person) if number % 3 else sample_meeting()
            meeting = MeetingInfo(meeting.meeting_id, meeting.join_url + ("&x=<1>,2;3" if number % 4 == 1 else ""),
                                  meeting.passcode, registration_url=meeting.registration_url)
            made = composer.message(kind, session, meeting, person, sequence=sequence, previous=previous)
            expected = ordinary(kind, session, meeting, person, sequence=sequence, previous=previous, moment=moment)
            assert normalised(made) == normalised(expected), f"{kind} to {person.name!r} differs"
    html = made.get_body(("html",)).get_content()
    assert "O&#39;Brien" in html and "O'Brien" in made.get_body(("plain",)).get_content()


def test_a_template_that_changes_a_persons_value_shows_it_changed_to_everyone(templates_copy) -> None:
    text = templates_copy / "_greeting.txt.j2"
    text.write_text(text.read_text(encoding="utf-8").replace("{{ recipient_name", "{{ recipient_name|upper"),
                    encoding="utf-8")
    html = templates_copy / "_macros.html.j2"
    html.write_text(html.read_text(encoding="utf-8").replace('href="{{ join_url }}"',
                                                             'href="{{ join_url|truncate(30) }}"'), encoding="utf-8")
    series = sample_series()
    session = sample_session(series)
    moment = datetime(2027, 1, 10, 3, 4, 5, tzinfo=UTC)
    composer = MailComposer(templates_copy, series, clock=FixedClock(moment), certificates=False)
    for i in range(6):
        person = Recipient(f"orang{i}@example.org", f"Orang Ke {i}")
        meeting = personal(sample_meeting(), person)
        made = composer.message("invitation", session, meeting, person, sequence=0)
        assert f"ORANG KE {i}" in made.get_body(("plain",)).get_content()
        assert normalised(made) == normalised(ordinary("invitation", session, meeting, person, sequence=0,
                                                       previous=None, moment=moment, templates=templates_copy))


def test_the_directly_written_ics_lines_are_icalendars() -> None:
    from worker.mail.ics import personal_lines, quick_personal_lines

    session = sample_session(sample_series())
    rng = random.Random(18)
    letters = "ab \t'\"^\\,;:\u2019ü—😀x\nY\r"
    written = 0
    for i in range(1500):
        name = "".join(rng.choice(letters if i % 2 else "ab 'ü—😀xY\t\n") for _ in range(rng.randint(0, 60)))
        description = "".join(rng.choice(letters) for _ in range(rng.randint(0, 200)))
        link = "https://zoom.us/w/1?tk=" + "".join(rng.choice("ab,;\\") for _ in range(rng.randint(0, 90)))
        meeting = MeetingInfo("1", link if i % 5 else "", "", "")
        attendee = Recipient("a.b@example.org", name) if i % 7 else None
        stamp = datetime(2027, 1, 10, 11, 4, 5, tzinfo=timezone(timedelta(hours=8)))
        quick = quick_personal_lines(session, meeting, description, attendee, stamp)
        if quick is not None:  # None: a name only icalendar writes
            written += 1
            assert quick == personal_lines(session, meeting, description, attendee, stamp), (name, description)
    assert written > 300


def test_bodies_encoded_line_by_line_are_the_email_packages_encoding() -> None:
    from email.contentmanager import _encode_text

    from worker.mail.wire import POLICY, TextEncoder

    encoder = TextEncoder(limit=50)  # small, so forgetting is exercised too
    rng = random.Random(18)
    letters = "ab =\t.–Ümü\u0085\x0b\x0c\r\n\u2028" + "x" * 10
    for _ in range(3000):
        text = "".join(rng.choice(letters) for _ in range(rng.randint(0, 300)))
        if rng.random() < 0.5:
            text = "baris panjang " * 8 + "\n" + text
        assert encoder.encode(text) == _encode_text(text, "utf-8", None, POLICY), repr(text)


# -- the next message composed while the server reads this one ----------------------------------
def test_the_work_given_to_a_send_runs_once_and_the_server_gets_the_same_bytes(server) -> None:
    from worker.errors import PermanentMailError

    series = sample_series()
    composer = MailComposer(TEMPLATES, series, certificates=False)
    session = sample_session(series)
    made = [composer.message("invitation", session, sample_meeting(), person, sequence=0) for person in PEOPLE]
    assert isinstance(made[1], PreparedMessage)
    server.refuse.add(PEOPLE[2].email)
    calls: list[int] = []
    with transport_for(server).connect() as connection:
        connection.send_meanwhile(made[1], PEOPLE[1].email, lambda: calls.append(server.accepted))
        with pytest.raises(PermanentMailError):
            connection.send_meanwhile(made[2], PEOPLE[2].email, lambda: calls.append(-1))
        connection.send_meanwhile(made[3], PEOPLE[3].email, lambda: calls.append(server.accepted))
    assert len(calls) == 2 and -1 not in calls  # once per accepted send; never for a refused address
    assert [m.data.replace(b"\r\n", b"\n") for m in server.messages] == [made[1].wire, made[3].wire]


def test_a_bug_met_while_composing_the_next_message_does_not_cost_the_one_in_flight_its_mark(tmp_path, server):
    people = [Recipient(f"peserta{i:03d}@example.org", f"Peserta {i}") for i in range(8)]

    class Buggy(MailComposer):
        def message(self, kind, session, meeting, recipient, **options):
            if recipient.email == people[4].email:
                raise RuntimeError("a bug in composing")
            return super().message(kind, session, meeting, recipient, **options)

    engine = tick(tmp_path, server, {"2027-01-07": people}, datetime(2026, 12, 31, 2, tzinfo=UTC), composer=Buggy)
    # people[4] was composed while people[3]'s message was with the server: 3 is marked sent, then the step fails
    assert [m.rcpt_tos[0] for m in server.messages] == [p.email for p in people[:4]]
    counts = engine.store.mail_counts()["webinar-kamis/2027-01-07"]
    assert counts == {("invitation", "sent"): 4, ("invitation", "pending"): 4}
    tick(tmp_path, server, {"2027-01-07": people}, datetime(2026, 12, 31, 3, tzinfo=UTC))  # the bug fixed
    assert sorted(invited(server).values()) == [1] * 8


def test_a_template_staff_edit_while_the_worker_runs_reaches_the_next_mail_within_a_second(templates_copy) -> None:
    series = sample_series()
    session = sample_session(series)
    seconds = [0.0]
    composer = MailComposer(templates_copy, series, certificates=False, monotonic=lambda: seconds[0])
    people = [Recipient(f"orang{i}@example.org", f"Orang {i}") for i in range(6)]
    for person in people[:4]:  # past the probes: the session's templates are rendered once
        composer.message("invitation", session, sample_meeting(), person, sequence=0)
    body = templates_copy / "invitation.txt.j2"
    body.write_text(body.read_text(encoding="utf-8") + "Catatan baru dari staf.\n", encoding="utf-8")
    seconds[0] += 1.5
    edited = composer.message("invitation", session, sample_meeting(), people[4], sequence=0)
    assert "Catatan baru dari staf." in edited.get_body(("plain",)).get_content()


def test_a_first_name_taken_from_the_name_is_right_for_people_with_one_name_and_with_two(templates_copy) -> None:
    greeting = templates_copy / "_greeting.txt.j2"
    greeting.write_text(greeting.read_text(encoding="utf-8").replace("{{ recipient_name", "{{ recipient_name.split()[0]"),
                        encoding="utf-8")
    series = sample_series()
    session = sample_session(series)
    composer = MailComposer(templates_copy, series, certificates=False)
    people = [Recipient(f"satu{i}@example.org", f"Satu{i}") for i in range(4)] + \
        [Recipient(f"dua{i}@example.org", f"Dua{i} Kata") for i in range(4)]
    for person in people:
        text = composer.message("invitation", session, sample_meeting(), person, sequence=0).get_body(("plain",))
        first = person.name.split()[0]
        assert f"Halo, {first}," in text.get_content() and f"Halo, {person.name}," not in text.get_content() \
            or person.name == first
