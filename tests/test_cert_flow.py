"""Certificates through the engine: numbers at thank-you time, stable across restarts; corrections re-issue once;
the Verifikasi tab, the static pages, ``verify`` and the transcript."""
from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.fakes import FakeCalendar, FakeMail, FakeSheets, FakeZoom
from tests.helpers_settings import TEMPLATES, write_settings
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.model import Attendee, Recipient, SeriesInfo
from worker.core.planner import plan_season
from worker.core.reconcile import Policy
from worker.core.schema import CertificateSettings
from worker.mail.composer import MailComposer
from worker.outputs.transcript import issue_transcripts, write_transcripts
from worker.outputs.verify import SiteInfo, describe, publish_site
from worker.run.certify import CertificateRegistry
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

UTC = timezone.utc
SERIES = SeriesInfo("webinar-kamis", "Webinar Kamis", "Perpustakaan Kota", "WA", "id_ID", "Asia/Makassar",
                    "Perpustakaan", "webinar@perpustakaan.example")
DESIGN = CertificateSettings(verify_url="https://perpustakaan.example/sertifikat/{slug}.html",
                             transcript_min_sessions=2)
PEOPLE = [Recipient("ani@x.org", "Ani Lestary"), Recipient("budi@x.org", "Budi"), Recipient("cici@x.org", "Cici")]


class VerifySheets(FakeSheets):
    """FakeSheets that also keeps the Verifikasi tab."""

    def __init__(self):
        super().__init__()
        self.verification: dict[str, list[list[object]]] = {}

    def write_verification(self, tab_title: str, rows: list[list[object]]) -> None:
        self.calls.append("verify")
        self.verification[tab_title] = rows


class World:
    """The engine with the real composer and registry over a real state file; fakes for the services."""

    def __init__(self, tmp_path: Path):
        self.sessions = [s for s in plan_season(load_settings(write_settings(tmp_path))).sessions if not s.cancelled]
        self.db = tmp_path / "state.db"
        self.store = StateStore(self.db)
        self.zoom, self.sheets, self.mail = FakeZoom(), VerifySheets(), FakeMail()
        self.clock = FixedClock(datetime(2026, 12, 31, 2, tzinfo=UTC))
        self.design = DESIGN

    def tick(self) -> None:
        composer = MailComposer(TEMPLATES, SERIES, clock=self.clock, design=self.design)
        io_ = Integrations(zoom=self.zoom, calendar=FakeCalendar(), sheets=self.sheets, mail=self.mail,
                           composer=composer)
        registry = CertificateRegistry(self.store, self.design, SERIES, self.sheets)
        Engine(self.store, io_, self.clock, series=SERIES, policy=Policy(), recipients=lambda s: PEOPLE,
               certificates=registry).tick(self.sessions)

    def hold_session(self, index: int, who: list[tuple[str, int]]) -> None:
        """Run session ``index`` with attendees (email, minutes) and tick until its thank-yous are out."""
        session = self.sessions[index]
        self.clock.set(session.start_utc - timedelta(days=8))
        self.tick()
        self.clock.set(session.start_utc - timedelta(hours=1))
        self.tick()
        mid = self.store.session(session.uid).meeting_id
        start = session.start_utc
        self.zoom.attendance[mid] = [Attendee(f"HP {e}", e, start, start + timedelta(minutes=m), m, 1) for e, m in who]
        self.clock.set(session.end_utc + timedelta(minutes=31))
        self.tick()

    def restart(self) -> None:
        self.store.close()
        self.store = StateStore(self.db)

    def thankyous(self) -> list[tuple[str, EmailMessage]]:
        return [(r, m) for r, m in self.mail.sent if m["X-Webinar-Kind"] == "thankyou"]


@pytest.fixture
def world(tmp_path: Path):
    w = World(tmp_path)
    yield w
    w.store.close()


def pdf_of(message: EmailMessage) -> str:
    part = next(p for p in message.iter_attachments() if p.get_content_type() == "application/pdf")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(part.get_content())).pages)


def test_each_certificate_gets_the_next_running_number_once(world: World) -> None:
    world.hold_session(0, [("ani@x.org", 80), ("budi@x.org", 85), ("cici@x.org", 10)])
    sent = world.thankyous()
    assert sorted(r for r, _ in sent) == ["ani@x.org", "budi@x.org"]  # Cici stayed 10 minutes: no certificate
    numbers = {r: c.number for c in world.store.certificates() for r in [c.email]}
    assert sorted(numbers.values()) == ["001/SERT/WEBINAR/I/2027", "002/SERT/WEBINAR/I/2027"]
    for recipient, message in sent:
        text = pdf_of(message)
        assert numbers[recipient] in text and "2 JP" in text
        assert numbers[recipient] in message.get_body(("plain",)).get_content()
    world.restart()
    world.tick()
    world.hold_session(1, [("ani@x.org", 90)])
    assert [c.number for c in world.store.certificates()][-1] == "003/SERT/WEBINAR/I/2027"
    assert len(world.thankyous()) == 3


def test_a_corrected_name_is_reissued_exactly_once_with_the_same_number(world: World) -> None:
    world.hold_session(0, [("ani@x.org", 80), ("budi@x.org", 85)])
    before = {c.email: c.number for c in world.store.certificates()}
    assert "Ani Lestary" in pdf_of(world.thankyous()[0][1]) or "Ani Lestary" in pdf_of(world.thankyous()[1][1])
    world.design = replace(DESIGN, corrections=(("ani@x.org", "Ani Lestari"),))
    for _ in range(2):  # the first tick re-issues, the next one mails
        world.clock.set(world.clock.now() + timedelta(minutes=1))
        world.tick()
    again = [(r, m) for r, m in world.thankyous() if r == "ani@x.org"]
    assert len(again) == 2
    assert "Ani Lestari" in pdf_of(again[1][1]) and before["ani@x.org"] in pdf_of(again[1][1])
    assert "telah kami perbaiki" in again[1][1].get_body(("plain",)).get_content()
    assert again[0][1]["Message-ID"] != again[1][1]["Message-ID"]
    assert {c.email: c.number for c in world.store.certificates()} == before
    world.restart()
    for _ in range(3):
        world.clock.set(world.clock.now() + timedelta(hours=1))
        world.tick()
    assert len([r for r, _ in world.thankyous() if r == "ani@x.org"]) == 2  # not a third time
    assert world.sheets.verification["Verifikasi"][1][1] == "Ani Lestari"


def test_a_correction_made_before_sending_changes_the_first_mail_only(world: World) -> None:
    world.design = replace(DESIGN, corrections=(("ani@x.org", "Ani Lestari"),))
    world.hold_session(0, [("ani@x.org", 80)])
    sent = world.thankyous()
    assert len(sent) == 1 and "Ani Lestari" in pdf_of(sent[0][1])


def test_the_verification_tab_lists_every_certificate_without_email(world: World) -> None:
    world.hold_session(0, [("ani@x.org", 80), ("budi@x.org", 85)])
    rows = world.sheets.verification["Verifikasi"]
    assert rows[0] == ["Nomor", "Nama", "Topik", "Tanggal", "JP", "Status"]
    assert [r[0] for r in rows[1:]] == ["001/SERT/WEBINAR/I/2027", "002/SERT/WEBINAR/I/2027"]
    assert all(r[3] == "2027-01-07" and r[4] == 2 and r[5] == "Sah" for r in rows[1:])
    assert "@" not in repr(rows)
    writes = world.sheets.calls.count("verify")
    world.tick()
    assert world.sheets.calls.count("verify") == writes  # unchanged rows are not written again
    world.design = replace(DESIGN, revoked=("002/SERT/WEBINAR/I/2027",))
    world.tick()
    assert world.sheets.verification["Verifikasi"][2][5] == "Dicabut"


def test_static_pages_escape_names_and_show_revocation(world: World, tmp_path: Path) -> None:
    world.hold_session(0, [("ani@x.org", 80), ("budi@x.org", 85)])
    world.store.reissue_certificate("002/SERT/WEBINAR/I/2027", '<script>alert("x")</script>', world.clock.now(), "")
    records = world.store.certificates()
    written = publish_site(tmp_path / "site", records, ["002/SERT/WEBINAR/I/2027"],
                           SiteInfo("Webinar Kamis", "Perpustakaan Kota"))
    assert sorted(p.name for p in written) == ["001-SERT-WEBINAR-I-2027.html", "002-SERT-WEBINAR-I-2027.html",
                                               "index.html"]
    revoked = (tmp_path / "site" / "002-SERT-WEBINAR-I-2027.html").read_text(encoding="utf-8")
    assert "DICABUT" in revoked and "<script>" not in revoked and "&lt;script&gt;" in revoked
    valid = (tmp_path / "site" / "001-SERT-WEBINAR-I-2027.html").read_text(encoding="utf-8")
    assert "SAH" in valid and "Ani Lestary" in valid and "7 Januari 2027" in valid
    for page in written:
        assert "x.org" not in page.read_text(encoding="utf-8")  # never an e-mail address
    assert "Status    : DICABUT" in describe(records[1], ["002/SERT/WEBINAR/I/2027"])
    assert "Status    : SAH" in describe(records[0], ["002/SERT/WEBINAR/I/2027"])


def test_the_transcript_lists_the_right_sessions_and_hours(world: World, tmp_path: Path) -> None:
    world.hold_session(0, [("ani@x.org", 80), ("budi@x.org", 85)])
    world.hold_session(1, [("ani@x.org", 70), ("budi@x.org", 20)])  # Budi left early: no certificate
    world.hold_session(2, [("ani@x.org", 90)])
    transcripts = issue_transcripts(world.store, DESIGN, SERIES, world.clock.now())
    assert [t.record.email for t in transcripts] == ["ani@x.org"]  # Budi has one certificate, fewer than 2
    ani = transcripts[0]
    assert [s.held_on.isoformat() for s in ani.sessions] == ["2027-01-07", "2027-01-14", "2027-01-21"]
    assert ani.record.jp == 6 and ani.record.number == "005/TRANSKRIP/WEBINAR/2027"
    again = issue_transcripts(world.store, DESIGN, SERIES, world.clock.now() + timedelta(days=1))
    assert [t.record.number for t in again] == [ani.record.number]  # stable, not a new number
    [path] = write_transcripts(tmp_path / "t", transcripts, template_dir=TEMPLATES, series=SERIES, design=DESIGN)
    text = "\n".join(p.extract_text() for p in PdfReader(path).pages)
    for expected in ("Ani Lestary", "3 sesi", "6 JP", "Menulis Cerita Pendek", "Bedah Buku", "Mendongeng",
                     "005/TRANSKRIP/WEBINAR/2027"):
        assert expected in text, text
    assert "2027-01-21: Mendongeng (2 JP)" in describe(ani.record, [])
