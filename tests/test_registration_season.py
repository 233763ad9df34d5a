"""Issue 13's "done means": a season through the CLI against the truthful Zoom emulator, with registration.

``webinar-worker once --now ...`` is run step by step over two sessions, against the Zoom and Google
emulators and a real aiosmtpd server on 127.0.0.1. Invitees attend through their own links under
display names unlike their registered names; walk-ins register on the public page; two staff are
signed in; guests dial in. A late sign-up comes in between the invitations and the session.
"""
from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from integrations.sandbox.google_server import GoogleEmulator
from integrations.sandbox.smtp_server import SandboxSmtpServer
from integrations.sandbox.zoom_server import SimParticipant, ZoomEmulator
from tests.helpers_settings import TEMPLATES
from tests.helpers_smtp import calendar_of, parse
from tests.helpers_zoom_emulator import MutableClock
from worker.cli import main
from worker.store.state import StateStore

UTC = timezone.utc
CALENDAR = "webinar@group.calendar.google.com"
SHEET = "kehadiran-uji"
FIRST = datetime(2026, 12, 24, 0, 0, tzinfo=UTC)  # 14 days before the first session
LAST = datetime(2027, 1, 15, 0, 0, tzinfo=UTC)  # the day after the second session
STEP = timedelta(hours=12)  # at 00:00 and 12:00 UTC: 1 h before each start (reminders), 9.5 h after each end
LATE_AT = datetime(2027, 1, 2, 0, 0, tzinfo=UTC)  # after the first invitations, before the first session
PEOPLE = [(f"peserta{i:02d}@example.org", f"Peserta Terdaftar {i:02d}") for i in range(31)]  # two batches of at most 30
LATE = ("telat@example.org", "Sri Telat Daftar")
STAFF = (("host@library.example", "Host Perpustakaan"), ("operator@perpustakaan.example", "Operator"))
WALK_INS = (("jalan.masuk@example.net", "Joko Jalan Masuk"),)

SETTINGS = """\
series:
  id: webinar-kamis
  title: Webinar Kamis Perpustakaan
  organizer: Perpustakaan Kota
  contact: "WA 0811"
  weekday: kamis
  start_time: "09:00"
  duration_minutes: 90
  timezone: Asia/Makassar
  first_date: 2027-01-07
  last_date: 2027-01-14
topics:
  - date: 2027-01-07
    topic: Menulis Cerita Pendek
    speaker: Andi
  - date: 2027-01-14
    topic: Bedah Buku
    speaker: Rahmat
zoom:
  api_base_url: {zoom_api}
  oauth_url: {zoom_oauth}
  user_id: host@library.example
  staff: [operator@perpustakaan.example]
google:
  calendar_id: {calendar}
  spreadsheet_id: {sheet}
  credentials_file: {key_file}
  api_endpoint: {google_root}
mail:
  sender_name: Perpustakaan
  sender_address: webinar@perpustakaan.example
  invitation_days_before: 7
  reminder_hours_before: 2
  batch_size: 500
  templates_dir: {templates}
  smtp:
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    per_minute: 0
  recipients:
    inline:
{people}
followup:
  min_minutes: 30
worker:
  state_file: state.db
"""


class Season:
    """The sandbox, the settings file and the moments the CLI is run at."""

    def __init__(self, folder: Path, zoom: ZoomEmulator, google: GoogleEmulator, smtp: SandboxSmtpServer,
                 clock: MutableClock):
        self.folder, self.zoom, self.google, self.smtp, self.clock = folder, zoom, google, smtp, clock
        self.settings = folder / "settings.yaml"
        self.key_file = folder / "service-account.json"
        google.write_service_account_key(self.key_file)
        google.share_calendar(CALENDAR)
        google.share_spreadsheet(SHEET)
        (folder / ".env").write_text(f"ZOOM_ACCOUNT_ID={zoom.account_id}\nZOOM_CLIENT_ID={zoom.client_id}\n"
                                     f"ZOOM_CLIENT_SECRET={zoom.client_secret}\n", encoding="utf-8")
        self.people = list(PEOPLE)
        self.write()
        self.registrant_calls: list[tuple[datetime, int]] = []  # (moment, registrant calls that tick)
        self.attended: dict[str, list[tuple[str, str, str, int]]] = {}  # key -> (role, email, registered name, min)
        self.shown: set[str] = set()  # every Zoom display name used

    def write(self) -> None:
        people = "\n".join(f"      - email: {e}\n        name: {n}" for e, n in self.people)
        self.settings.write_text(SETTINGS.format(
            zoom_api=self.zoom.api_base_url, zoom_oauth=self.zoom.oauth_url, calendar=CALENDAR, sheet=SHEET,
            key_file=self.key_file, google_root=self.google.root_url, templates=TEMPLATES,
            smtp_port=self.smtp.port, people=people), encoding="utf-8")

    def registrant_count(self) -> int:
        return self.zoom.calls["batch_registrants"] + self.zoom.calls["add_registrant"]

    def once(self, moment: datetime) -> None:
        self.clock.moment = moment
        before = self.registrant_count()
        assert main(["once", "--settings", str(self.settings), "--now", moment.isoformat()]) == 0
        self.registrant_calls.append((moment, self.registrant_count() - before))

    def hold(self, key: str, meeting_id: str, start: datetime) -> None:
        """The session happens: who joins, and how."""
        links = {r["email"]: r["join_url"] for r in self.zoom.registrants(meeting_id) if r["status"] == "approved"}
        walk_ins = {e: (n, self.zoom.register_on_page(meeting_id, e, n)) for e, n in WALK_INS}
        self.zoom.end_meeting(meeting_id, started_at=start, ended_at=start + timedelta(minutes=90))
        joins, people = [], []
        at = lambda m: start + timedelta(minutes=m)  # noqa: E731
        for i, (email, name) in enumerate(self.people):
            if i % 3 == 0:
                continue  # not everyone comes
            shown = f"iPhone {i}" if i % 2 else f"HP Keluarga {i}"
            stays = [(0, 20), (25, 60)] if i % 5 == 0 else [(5, 5 + (10 if i % 7 == 0 else 60))]
            joins += [SimParticipant(shown, "typed-something@else.example", at(a), at(b), join_url=links[email])
                      for a, b in stays]
            people.append(("invitee", email, name, sum(b - a for a, b in stays)))
            self.shown.add(shown)
        for email, (name, link) in walk_ins.items():
            joins.append(SimParticipant("Tamu dari HP", "", at(10), at(70), join_url=link))
            people.append(("walk-in", email, name, 60))
            self.shown.add("Tamu dari HP")
        for email, name in STAFF:
            joins.append(SimParticipant(name, email, at(0), at(90), "staff-" + email, internal=True))
            people.append(("staff", email, name, 90))
        for n in range(3):
            joins.append(SimParticipant(f"0812-000{n}", "", at(1), at(80)))
            people.append(("guest", "", "", 79))
            self.shown.add(f"0812-000{n}")
        self.zoom.add_participants(meeting_id, joins)
        self.attended[key] = people


@pytest.fixture
def season(tmp_path):
    clock = MutableClock(FIRST)
    with ZoomEmulator(clock=clock.now) as zoom, GoogleEmulator() as google, \
            SandboxSmtpServer() as smtp:
        zoom.host_email = "host@library.example"
        yield Season(tmp_path, zoom, google, smtp, clock)


def run_season(season: Season) -> None:
    held: set[str] = set()
    moment = FIRST
    while moment <= LAST:
        if moment >= LATE_AT and LATE not in season.people:
            season.people.append(LATE)  # a late sign-up: registered, then invited
            season.write()
        with StateStore(season.folder / "state.db") as store:
            for uid, row in store.sessions().items():
                session = row.session()
                if session and row.meeting_id and uid not in held and session.end_utc <= moment:
                    held.add(uid)
                    season.hold(session.key, row.meeting_id, session.start_utc)
        season.once(moment)
        moment += STEP


def test_registered_season_gives_one_certificate_per_identified_attendee_in_the_registered_name(season):
    run_season(season)
    zoom, smtp = season.zoom, season.smtp

    # Meetings were made with registration on, Zoom's own mails off and no AI summary.
    for meeting in zoom.meetings.values():
        s = meeting["settings"]
        assert s["approval_type"] == 0 and s["registrants_confirmation_email"] is False
        assert s["registrants_email_notification"] is False
        assert s["auto_start_meeting_summary"] is False and s["auto_start_ai_companion_questions"] is False

    # Registrant calls: at most ceil(recipients/30) per session, plus one for the late sign-up.
    assert season.registrant_count() == math.ceil(31 / 30) + 1 + math.ceil(32 / 30)
    # ...and a tick right after one that registered registers nobody.
    busy = [i for i, (_, n) in enumerate(season.registrant_calls) if n]
    assert busy and all(season.registrant_calls[i + 1][1] == 0 for i in busy)
    assert {r["email"] for r in zoom.registrants(next(iter(zoom.meetings)))} >= {LATE[0]}

    mails = [parse(m.data) for m in smtp.messages]
    kinds = Counter(str(m["X-Webinar-Kind"]) for m in mails)
    assert kinds["invitation"] == 32 + 32

    # Every invitation carries the person's own link; the calendar event carries only the registration page.
    links = {(r["email"], mid): r["join_url"] for mid in zoom.meetings for r in zoom.registrants(mid)}
    personal = set(links.values())
    for m in mails:
        if str(m["X-Webinar-Kind"]) == "invitation":
            to = m["To"].addresses[0].addr_spec
            text = m.get_body(("plain",)).get_content()
            mine = [link for (email, _), link in links.items() if email == to]
            assert any(link in text for link in mine), to
            assert sum(link in text for link in personal) == 1  # nobody else's link
            assert any(link in str(calendar_of(m).walk("VEVENT")[0]["LOCATION"]) for link in mine)
    for event in season.google.events(CALENDAR):
        shown = " ".join(str(event.get(k, "")) for k in ("location", "description"))
        assert not any(link in shown for link in personal)
        assert "https://zoom.example/meeting/register/" in shown

    # Thank-you mails with certificates: exactly one per identified attendee who stayed, in the registered name.
    thanked = Counter()
    names = {}
    for m in mails:
        if str(m["X-Webinar-Kind"]) == "thankyou":
            key = str(m["X-Webinar-Session"]).rpartition("/")[2]
            to = m["To"].addresses[0]
            thanked[(key, to.addr_spec)] += 1
            names[(key, to.addr_spec)] = to.display_name
            assert any(p.get_content_type() == "application/pdf" for p in m.iter_attachments())
    eligible = {(key, email): name for key, people in season.attended.items()
                for role, email, name, minutes in people if role in ("invitee", "walk-in") and minutes >= 30}
    assert len(eligible) > 30 and set(thanked) == set(eligible) and set(thanked.values()) == {1}
    assert names == eligible
    assert not set(names.values()) & season.shown  # no certificate carries a Zoom display name

    # The store and the sheet: staff shown, not counted; guests counted, not identified.
    with StateStore(season.folder / "state.db") as store:
        for key, people in season.attended.items():
            rows = store.attendance(f"webinar-kamis/{key}")
            assert sum(a.staff for a in rows) == 2
            assert sum(1 for a in rows if a.identified and not a.staff) == sum(
                1 for p in people if p[0] in ("invitee", "walk-in"))
            assert sum(1 for a in rows if not a.identified) == 3
    summary = season.google.sheet_values(SHEET, "Ringkasan")
    assert summary[0][6:9] == ["Terdaftar", "Teridentifikasi", "Tamu"]
