"""``webinar-worker demo``: a whole season against the built-in sandbox, with no accounts and no network.

It starts the Zoom and Google emulators and a real SMTP server on 127.0.0.1, writes a settings
file and a throwaway service-account key for them, and runs the real worker (runner, engine,
clients) over a four-week season on a simulated clock. Staff actions happen on the way: a topic
is edited after the invitations went out, and a session is cancelled. After each session,
simulated people have joined the way they would on the real Zoom: invitees through the personal
link the worker mailed them, under display names unlike their registered names ("iPhone Siti");
a few walk-ins who registered on the public registration page; guests who dialled in (Zoom shows
nobody's e-mail for them); two staff signed in to the library's Zoom account; and one person with a
formula-like name. Everything the worker produced is exported to files a person can open.
"""
from __future__ import annotations

import csv
import logging
import os
import shutil
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from worker.config.envfile import Secrets
from worker.skeleton import PACKAGE_TEMPLATES
from worker.config.settings import load_settings
from worker.core.cleaning import neutralise_formula
from worker.core.clock import FixedClock
from worker.core.attendance import audience
from worker.core.model import Session
from worker.core.planner import plan_season
from worker.core.schema import Settings
from worker.errors import WorkerError
from worker.i18n import N_, Translator, translator
from worker.core.derive import series_info
from worker.outputs.report import person_rows, season_items, write_report
from worker.outputs.transcript import issue_transcripts, write_transcripts
from worker.outputs.verify import SiteInfo, publish_site
from worker.run.certify import CertificateRegistry
from worker.run.runner import Runner
from worker.run.wiring import build_engine, build_integrations
from worker.store.state import StateStore

log = logging.getLogger(__name__)

ZONE = ZoneInfo("Asia/Makassar")
START = datetime(2026, 12, 24, 8, 0, tzinfo=ZONE)  # first simulated moment (14 days before session 1)
END = datetime(2027, 1, 29, 12, 0, tzinfo=ZONE)  # last simulated moment (the day after the last session)
STEP = timedelta(hours=1)  # simulated time between ticks
EDIT_AT = datetime(2027, 1, 16, 10, 0, tzinfo=ZONE)  # staff edit the 21 January topic (invitations already out)
CANCEL_AT = datetime(2027, 1, 24, 10, 0, tzinfo=ZONE)  # staff cancel 28 January (invitations already out)
CORRECT_AT = datetime(2027, 1, 8, 10, 0, tzinfo=ZONE)  # Pak Anwar asks for his title on the certificate
CORRECTION = ("pak.anwar@example.org", "Drs. Anwar Syamsuddin, M.Pd.")  # the re-issued name (same number)
VERIFY_URL = "https://perpustakaan.example/sertifikat/{slug}.html"  # where the demo's QR codes point
CALENDAR_ID = "webinar.perpustakaan@group.calendar.google.com"  # the sandbox's shared calendar
SPREADSHEET_ID = "demo-kehadiran-webinar-kamis"  # the sandbox's attendance spreadsheet
MARKER = ".webinar-worker-demo"  # marks a folder the demo may wipe and rewrite
FORMULA_NAME = '=HYPERLINK("http://x","y")'  # a participant name that must stay text in Sheets
STAFF = (("host@library.example", "Host Perpustakaan"), ("operator@perpustakaan.example", "Operator Zoom"))
"""The two staff in every session, signed in to the library's Zoom account (the first is the emulator's host)."""
WALK_INS = (("pengunjung.ana@example.net", "Ana Pengunjung"), ("pengunjung.bayu@example.net", "Bayu Pengunjung"),
            ("pengunjung.cici@example.net", "Cici Pengunjung"))
"""People not on the list who register themselves on the meeting's public registration page."""
MIN_MINUTES = 30  # followup.min_minutes of the demo settings

# (email, name, group): the people on the demo mailing list
PEOPLE = (
    ("siti.rahma@example.org", "Siti Rahma", "guru-paud"),
    ("nurul.hikmah@example.org", "Nurul Hikmah", "guru-paud"),
    ("ibu.dewi@example.org", "Dewi Lestari", "orang-tua"),
    ("pak.anwar@example.org", "Anwar Syamsuddin", "orang-tua"),
    ("andi.pratama@example.org", "Andi Pratama", "pelajar"),
    ("fitri.amalia@example.org", "Fitri Amālia Ṣāliḥah", "pelajar"),  # diacritics on the certificate
    ("muh.ilham@example.org", "محمد إلهام", "mahasiswa"),  # a name in Arabic script
    ("rina.wulandari@example.org", "Rina Wulandari", "mahasiswa"),
    ("budi.santoso@example.org", "Budi Santoso 🌟", "umum"),  # an emoji in the registered name
    ("hasanah@example.org", "Hasanah", "umum"),
)

TOPICS = """\
topics:
  - date: 2027-01-07
    topic: "Menulis Cerita Pendek untuk Pemula"
    speaker: Andi Nurhayati, S.Pd.
    audience: Pelajar, mahasiswa dan masyarakat umum
    description: Lokakarya menulis dari ide sederhana sampai cerita pendek utuh.
    recording_url: https://video.example.org/webinar-kamis/2027-01-07
  - date: 2027-01-14
    topic: "Bedah Buku: Laskar Pelangi"
    speaker: Dr. Rahmat Hidayat
    audience: Mahasiswa dan masyarakat umum
    description: Tema pendidikan dan persahabatan dalam novel karya Andrea Hirata.
  - date: 2027-01-21
    topic: "{third_topic}"
    speaker: Kak Sari (pendongeng)
    audience: Guru PAUD/TK dan orang tua
    description: Teknik bercerita dengan suara, boneka tangan dan buku bergambar.
    groups: [guru-paud, orang-tua]
  - date: 2027-01-28
    topic: "Literasi Digital: Mengenali Berita Bohong"
    speaker: Tim Relawan TIK
    audience: Pelajar, mahasiswa dan masyarakat umum{cancelled}
"""
THIRD_TOPIC = "Mendongeng untuk Anak Usia Dini"
THIRD_TOPIC_EDITED = "Mendongeng dengan Boneka Tangan untuk Anak Usia Dini"


@dataclass
class DemoSummary:
    """What the demo did and where its files are."""

    out_dir: Path  # ./demo-output
    meetings_created: int = 0  # create calls the Zoom emulator answered
    meetings_live: int = 0  # meetings that exist at the end
    meetings_deleted: int = 0  # meetings deleted (the cancelled session)
    events: int = 0  # confirmed calendar events at the end
    events_cancelled: int = 0  # cancelled calendar events
    mails: Counter = field(default_factory=Counter)  # mails delivered per kind
    tabs: list[str] = field(default_factory=list)  # spreadsheet tabs
    rows: dict[str, int] = field(default_factory=dict)  # data rows per tab (header excluded)
    charts: int = 0  # charts on the spreadsheet
    certificates: int = 0  # PDF certificates delivered
    certificate_numbers: int = 0  # numbers allocated in the state (session certificates and transcripts)
    transcripts: int = 0  # season transcripts written
    certificate_names: list[str] = field(default_factory=list)  # the name on each certificate, in order
    identified: dict[str, int] = field(default_factory=dict)  # session key -> attendees tied to a person
    guests: dict[str, int] = field(default_factory=dict)  # session key -> attendees nobody could be tied to
    simulated: dict[str, list["SimulatedPerson"]] = field(default_factory=dict)  # session key -> who joined
    attendance: dict[str, int] = field(default_factory=dict)  # session key -> people stored
    remote_calls: dict[str, int] = field(default_factory=dict)  # emulator route -> calls
    ticks: int = 0  # reconcile ticks run
    seconds: float = 0.0  # wall-clock time the demo took
    paths: dict[str, Path] = field(default_factory=dict)  # what was produced -> where


@dataclass(frozen=True)
class SimulatedPerson:
    """One person the demo sent into a session, and what a correct worker must make of them."""

    display_name: str  # the name shown in Zoom
    registered_name: str  # the name they are registered or listed under; "" for guests
    email: str  # their address; "" for guests
    role: str  # "invitee", "walk-in", "guest" or "staff"
    minutes: int  # total minutes over all their stays

    @property
    def earns_certificate(self) -> bool:
        """Identified audience who stayed long enough."""
        return self.role in ("invitee", "walk-in") and self.minutes >= MIN_MINUTES


class Demo:
    """Runs the sandbox season; ``run()`` returns a :class:`DemoSummary`."""

    def __init__(self, out_dir: Path, *, on_progress: Callable[[int, int, str], None] | None = None,
                 locale: str = "id_ID"):
        self.out_dir = Path(out_dir).resolve()  # everything is written here (absolute: the settings name files in it)
        self.on_progress = on_progress or (lambda done, total, text: None)  # progress display hook
        self.locale = locale  # the babel locale of the progress line's day and month names
        self.sandbox = self.out_dir / "sandbox"  # settings, state, key file and log of the run
        self.clock = FixedClock(START)  # the simulated clock every component reads
        self._ended: set[str] = set()  # sessions whose Zoom meeting has been ended
        self._sheets = None  # the Sheets client of the run (for the Verifikasi tab after the transcripts)
        self.simulated: dict[str, list[SimulatedPerson]] = {}  # session key -> the people who joined

    # -- the run ------------------------------------------------------------------------
    def run(self) -> DemoSummary:
        """Start the sandbox, simulate the season, export the results."""
        from integrations.sandbox.google_server import GoogleEmulator
        from integrations.sandbox.smtp_server import SandboxSmtpServer
        from integrations.sandbox.zoom_server import ZoomEmulator

        started = time.monotonic()
        self._prepare_folder()
        with ExitStack() as stack:
            zoom = ZoomEmulator()
            zoom.start()
            stack.callback(zoom.stop)
            google = GoogleEmulator()
            google.start()
            stack.callback(google.stop)
            smtp = SandboxSmtpServer(now=lambda: self.clock.now().timestamp())  # its limit window in simulated time
            smtp.start()
            stack.callback(smtp.stop)
            handler = self._log_to_file()
            stack.callback(lambda: logging.getLogger().removeHandler(handler))
            key_file = self.sandbox / "service-account.json"
            google.write_service_account_key(key_file)
            google.share_calendar(CALENDAR_ID)
            google.share_spreadsheet(SPREADSHEET_ID, title="Kehadiran Webinar Kamis")
            settings_path = self.sandbox / "settings.yaml"
            self._write_settings(settings_path, zoom, google, smtp.port, key_file)
            settings = load_settings(settings_path)
            store = StateStore(settings.worker.state_file)
            stack.callback(store.close)
            ticks = self._simulate(settings_path, settings, store, zoom)
            summary = self._export(settings, store, zoom, google, smtp)
        summary.ticks = ticks
        summary.seconds = time.monotonic() - started
        return summary

    def _prepare_folder(self) -> None:
        if self.out_dir.exists() and any(self.out_dir.iterdir()):
            if not (self.out_dir / MARKER).exists():
                raise WorkerError(N_("{folder} is not empty and was not made by the demo; choose another "
                                     "folder with --out"), folder=self.out_dir)
            shutil.rmtree(self.out_dir)
        self.sandbox.mkdir(parents=True)
        (self.out_dir / MARKER).write_text("made by `webinar-worker demo`; safe to delete\n", encoding="utf-8")

    def _log_to_file(self) -> logging.Handler:
        handler = logging.FileHandler(self.sandbox / "worker.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        for name in ("urllib3", "googleapiclient.discovery_cache", "mail.log", "matplotlib", "fontTools"):
            logging.getLogger(name).setLevel(logging.WARNING)
        for other in root.handlers:
            if other is not handler and isinstance(other, logging.StreamHandler):
                other.setLevel(logging.WARNING)
        return handler

    # -- the simulated season --------------------------------------------------------------
    def _simulate(self, settings_path: Path, settings: Settings, store: StateStore, zoom) -> int:
        secrets = Secrets({"ZOOM_ACCOUNT_ID": zoom.account_id, "ZOOM_CLIENT_ID": zoom.client_id,
                           "ZOOM_CLIENT_SECRET": zoom.client_secret})
        io = build_integrations(settings, secrets, self.clock)
        self._sheets = io.sheets  # the export writes the Verifikasi tab once more, with the transcripts
        if io.missing:
            raise WorkerError(N_("the demo's sandbox could not be wired: {why}"), why="; ".join(
                f"{name}: {why}" for name, why in sorted(io.missing.items())))
        runner = Runner(settings_path, lambda s: build_engine(s, secrets, store, self.clock, integrations=io),
                        self.clock, settings=settings)
        total = int((END - START) / STEP) + 1
        edited = cancelled = corrected = False
        moment, ticks = START, 0
        while moment <= END:
            self.clock.set(moment)
            if not corrected and moment >= CORRECT_AT:
                corrected = True
                self._correct(settings_path)
            if not edited and moment >= EDIT_AT:
                edited = True
                self._edit(settings_path, edited=True, cancelled=cancelled)
            if not cancelled and moment >= CANCEL_AT:
                cancelled = True
                self._edit(settings_path, edited=edited, cancelled=True)
            self._end_meetings(runner, store, zoom, moment)
            report = runner.run_once()
            ticks += 1
            if report.failed:
                for step, why in report.failed:
                    log.warning("demo: %s %s failed: %s", step.kind, step.uid, why)
            self.on_progress(ticks, total, _describe(moment, report, self.locale))
            moment += STEP
        return ticks

    def _edit(self, path: Path, *, edited: bool, cancelled: bool) -> None:
        """What staff do: change a topic, cancel a date (and the worker notices on its next tick)."""
        text = path.read_text(encoding="utf-8")
        head = text.split("topics:\n", 1)[0]
        tail = text.split("topics:\n", 1)[1].split("\nzoom:", 1)[1]
        path.write_text(head + _topics(edited, cancelled) + "zoom:" + tail, encoding="utf-8")
        mtime = path.stat().st_mtime + 1  # make sure the runner sees a new mtime even within one second
        os.utime(path, (mtime, mtime))

    def _correct(self, path: Path) -> None:
        """What staff do when someone asks for a corrected name: one line in certificate.corrections."""
        email, name = CORRECTION
        text = path.read_text(encoding="utf-8").replace("  corrections: {}\n",
                                                         f"  corrections:\n    {email}: \"{name}\"\n")
        path.write_text(text, encoding="utf-8")
        mtime = path.stat().st_mtime + 1
        os.utime(path, (mtime, mtime))

    def _end_meetings(self, runner: Runner, store: StateStore, zoom, moment: datetime) -> None:
        """When a session's time is over, end its Zoom meeting with simulated people in it."""
        for session in plan_season(runner.settings).sessions:
            if session.cancelled or session.uid in self._ended or session.end > moment:
                continue
            row = store.session(session.uid)
            if row is None or not row.meeting_id:
                continue
            self._ended.add(session.uid)
            links = {r.email: r.join_url for r in store.registrants(session.uid)}
            walk_ins = {email: (name, zoom.register_on_page(row.meeting_id, email, name))
                        for email, name in WALK_INS[:1 + session.date.toordinal() % len(WALK_INS)]}
            joins, people = _participants(session, links, walk_ins)
            self.simulated[session.key] = people
            zoom.end_meeting(row.meeting_id, started_at=session.start_utc, ended_at=session.end_utc)
            zoom.add_participants(row.meeting_id, joins)

    # -- exports ---------------------------------------------------------------------------
    def _export(self, settings: Settings, store: StateStore, zoom, google, smtp) -> DemoSummary:
        out = self.out_dir
        summary = DemoSummary(out_dir=out)
        summary.paths["mail"], summary.paths["certificates"] = self._export_mail(smtp, summary)
        summary.paths["verification"], summary.paths["transcripts"] = self._export_certificates(settings, store, summary)
        summary.meetings_created = zoom.calls.get("create_meeting", 0)
        summary.meetings_live = len(zoom.meetings)
        summary.meetings_deleted = len(zoom.deleted)
        events = google.events(CALENDAR_ID)
        summary.events = sum(1 for e in events if e.get("status") != "cancelled")
        summary.events_cancelled = len(events) - summary.events
        summary.paths["calendar"] = google.export_ics(CALENDAR_ID, out / "kalender.ics")
        sheet_dir = out / "spreadsheet"
        sheet_dir.mkdir()
        for path in google.export_csv(SPREADSHEET_ID, sheet_dir):
            neutralise_csv(path)
        summary.paths["spreadsheet"] = google.export_html(SPREADSHEET_ID, sheet_dir / "spreadsheet.html")
        summary.tabs = list(google.sheet_titles(SPREADSHEET_ID))
        summary.rows = {t: max(0, len(google.sheet_values(SPREADSHEET_ID, t)) - 1) for t in summary.tabs}
        summary.charts = len(google.charts(SPREADSHEET_ID))
        items = season_items(store, self.clock.now(), settings.series.id)
        summary.attendance = {i.session.key: i.attended for i in items if not i.cancelled}
        people = person_rows(items, settings.mail.recipients.inline, store.certificates("session"))
        for state in store.sessions().values():
            counted = audience(store.attendance(state.uid))
            if counted:
                key = state.key.day
                summary.identified[key] = sum(1 for a in counted if a.identified)
                summary.guests[key] = len(counted) - summary.identified[key]
        summary.simulated = dict(self.simulated)
        summary.paths["report"] = write_report(out / "laporan", items, title=settings.series.title,
                                               organizer=settings.series.organizer, generated_at=self.clock.now(),
                                               timezone=settings.series.timezone, locale=settings.series.locale,
                                               people=people)
        summary.paths["whatsapp"] = self._export_whatsapp(settings, store)
        summary.paths["log"] = self.sandbox / "worker.log"
        summary.paths["settings"] = self.sandbox / "settings.yaml"
        calls = Counter({f"zoom {k}": v for k, v in zoom.calls.items()})
        calls.update({f"google {k}": v for k, v in google.calls.items()})
        summary.remote_calls = dict(sorted(calls.items()))
        return summary

    def _export_whatsapp(self, settings: Settings, store: StateStore) -> Path:
        """One ``whatsapp/whatsapp-DATE.txt`` per held session, as ``webinar-worker share DATE`` writes it."""
        from worker.i18n import translator_for
        from worker.mail.render import Renderer, format_day
        from worker.outputs.share import build_pack, pack_text, templates_for_share, write_pack

        settings = load_settings(settings.path)  # as staff left it: 28 January is cancelled by now
        folder, series = self.out_dir / "whatsapp", series_info(settings)
        renderer = Renderer(templates_for_share(settings.mail.templates_dir, PACKAGE_TEMPLATES))
        t = translator_for(settings_locale=settings.series.locale)
        for session in (s for s in plan_season(settings).sessions if not s.cancelled):
            pack = build_pack(renderer, session, series, store.session(session.uid),
                              min_minutes=settings.followup.min_minutes,
                              certificate=settings.followup.enabled and settings.followup.certificate)
            write_pack(folder, pack, pack_text(pack, series, t, lambda d: format_day(d, series.locale)))
        return folder

    def _export_certificates(self, settings: Settings, store: StateStore, summary: DemoSummary) -> tuple[Path, Path]:
        """The season transcripts and the static verification site, beside the certificates."""
        series = series_info(settings)
        transcripts = issue_transcripts(store, settings.certificate, series, self.clock.now())
        written = write_transcripts(self.out_dir / "sertifikat" / "transkrip", transcripts,
                                    template_dir=settings.mail.templates_dir, series=series,
                                    design=settings.certificate)
        summary.transcripts = len(written)
        records = store.certificates()
        summary.certificate_numbers = len(records)
        CertificateRegistry(store, settings.certificate, series, self._sheets).sync_tab(self.clock.now())
        site = SiteInfo(title=settings.series.title, organizer=settings.series.organizer, locale=settings.series.locale)
        publish_site(self.out_dir / "verifikasi", records, settings.certificate.revoked, site)
        return self.out_dir / "verifikasi" / "index.html", self.out_dir / "sertifikat" / "transkrip"

    def _export_mail(self, smtp, summary: DemoSummary) -> tuple[Path, Path]:
        mail_dir, cert_dir = self.out_dir / "email", self.out_dir / "sertifikat"
        mail_dir.mkdir()
        cert_dir.mkdir()
        for number, received in enumerate(smtp.messages, 1):
            message = message_from_bytes(received.data, policy=policy.default)
            assert isinstance(message, EmailMessage)
            kind = str(message.get("X-Webinar-Kind", "mail"))
            day = str(message.get("X-Webinar-Session", "")).rpartition("/")[2] or "sesi"
            who = received.rcpt_tos[0].split("@")[0] if received.rcpt_tos else "penerima"
            base = mail_dir / f"{number:03d}-{day}-{kind}-{_safe(who)}"
            base.with_name(base.name + ".eml").write_bytes(received.data)
            html = message.get_body(("html",))
            if html is not None:
                base.with_name(base.name + ".html").write_text(html.get_content(), encoding="utf-8")
            summary.mails[kind] += 1
            for part in message.iter_attachments():
                if part.get_content_type() == "application/pdf":
                    (cert_dir / _safe(part.get_filename() or f"{base.name}.pdf")).write_bytes(part.get_content())
                    summary.certificates += 1
                    summary.certificate_names.append(str(message["To"]).rpartition("<")[0].strip().strip('"'))
        return mail_dir, cert_dir

    def _write_settings(self, path: Path, zoom, google, smtp_port: int, key_file: Path) -> None:
        templates = PACKAGE_TEMPLATES  # shipped inside the package: works after a plain `pip install .`
        people = "\n".join(f"      - email: {e}\n        name: {n}\n        group: {g}" for e, n, g in PEOPLE)
        path.write_text(SETTINGS.format(
            topics=_topics(False, False), zoom_api=zoom.api_base_url, zoom_oauth=zoom.oauth_url,
            google_root=google.root_url, key_file=key_file.resolve(), calendar_id=CALENDAR_ID,
            spreadsheet_id=SPREADSHEET_ID, smtp_port=smtp_port, templates=templates, people=people,
            state=(self.sandbox / "state.db").resolve(), verify_url=VERIFY_URL,
            logo=_draw_logo(self.sandbox / "logo.png"), signature=_draw_signature(self.sandbox / "ttd.png")),
            encoding="utf-8")


SETTINGS = """\
# Made by `webinar-worker demo`: every address below is the sandbox on 127.0.0.1.
series:
  id: webinar-kamis
  title: Webinar Kamis Perpustakaan
  organizer: Dinas Perpustakaan dan Kearsipan Kota (demo)
  contact: "Layanan Perpustakaan — WhatsApp 0811-0000-0000"
  weekday: kamis
  start_time: "09:00"
  duration_minutes: 90
  timezone: Asia/Makassar
  locale: id_ID
  first_date: 2027-01-07
  last_date: 2027-01-28
{topics}zoom:
  api_base_url: {zoom_api}
  oauth_url: {zoom_oauth}
  user_id: host@library.example
  registration: true
  staff: [operator@perpustakaan.example]
google:
  calendar_id: {calendar_id}
  spreadsheet_id: {spreadsheet_id}
  credentials_file: {key_file}
  api_endpoint: {google_root}
mail:
  sender_name: Perpustakaan Kota (demo)
  sender_address: webinar@perpustakaan.example
  reply_to: layanan@perpustakaan.example
  unsubscribe_url: mailto:layanan@perpustakaan.example?subject=berhenti
  invitation_days_before: 7
  reminder_hours_before: 2
  templates_dir: {templates}
  smtp:
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    per_minute: 0
  recipients:
    inline:
{people}
attendance:
  delay_minutes: 30
  give_up_hours: 24
followup:
  enabled: true
  min_minutes: 30
  certificate: true
certificate:
  number_format: "{{seq:03d}}/SERT/WEBINAR/{{month_roman}}/{{year}}"
  verify_url: {verify_url}
  minutes_per_jp: 45
  logo: {logo}
  signature:
    place: Makassar
    position: Kepala Dinas Perpustakaan dan Kearsipan (demo)
    name: Dra. Hj. Andi Rahmawati, M.Si.
    nip: "19700101 199503 2 001"
    image: {signature}
  corrections: {{}}
  transcript_min_sessions: 2
worker:
  state_file: {state}
  planning_days: 14
"""


def _draw_logo(path: Path) -> Path:
    """A stand-in library logo (an open book in a teal circle), drawn with Pillow."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (240, 240), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 232, 232), fill=(15, 118, 110, 255))
    draw.polygon([(50, 80), (118, 96), (118, 176), (50, 160)], fill="white")
    draw.polygon([(190, 80), (122, 96), (122, 176), (190, 160)], fill="white")
    image.save(path)
    return path


def _draw_signature(path: Path) -> Path:
    """A stand-in signature (a blue scribble), drawn with Pillow."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (360, 140), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    points = [(20 + x * 8, 80 + int(30 * ((x * 7) % 5 - 2) / 2) - (x % 3) * 6) for x in range(40)]
    draw.line(points, fill=(30, 58, 138, 255), width=5, joint="curve")
    draw.line([(40, 118), (320, 104)], fill=(30, 58, 138, 255), width=3)
    image.save(path)
    return path


def _topics(edited: bool, cancelled: bool) -> str:
    return TOPICS.format(third_topic=THIRD_TOPIC_EDITED if edited else THIRD_TOPIC,
                         cancelled="\n    cancelled: true" if cancelled else "")


# Display names people use in Zoom, unlike the names they registered with.
_DISPLAY = ("iPhone {first}", "{first} (HP)", "Bu {first}", "{first}", "Galaxy A12", "{first} {initial}.",
            "Keluarga {first}", "zoom user", "{first}!!", "Laptop Kantor")


def _participants(session: Session, links: dict[str, str],
                  walk_ins: dict[str, tuple[str, str]]) -> tuple[list[dict], list[SimulatedPerson]]:
    """Who joins a session and how: (join records for the emulator, the people behind them).

    Invitees join through their personal link (``links``: e-mail -> join_url) under a display name
    unlike their registered one, some drop out and rejoin, one leaves early; walk-ins registered on
    the public page join through their own link; guests dial in; two staff are signed in.
    """
    start = session.start_utc
    index = session.date.toordinal()
    joins: list[dict] = []
    people: list[SimulatedPerson] = []

    def stay(name: str, email: str, a: int, b: int, **how: object) -> None:
        joins.append({"name": name, "email": email, "join_time": start + timedelta(minutes=a),
                      "leave_time": start + timedelta(minutes=b), **how})

    for n, (email, name, group) in enumerate(PEOPLE):
        if (session.groups and group not in session.groups) or (n + index) % 3 == 0 or email not in links:
            continue  # not everyone comes
        first = name.split()[0]
        shown = _DISPLAY[(n + index) % len(_DISPLAY)].format(first=first, initial=name.split()[-1][0])
        stays = [(5, 50), (55, 88)] if n % 4 == 0 else [(2 + n, 85 - n)]  # some drop out and rejoin
        if n == 9:
            stays = [(10, 25)]  # leaves early: no thank-you mail (under min_minutes)
        for a, b in stays:
            stay(shown, email, a, b, join_url=links[email])
        people.append(SimulatedPerson(shown, name, email, "invitee", sum(b - a for a, b in stays)))
    for n, (email, (name, link)) in enumerate(walk_ins.items()):
        a, b = (20, 40 + 20 * n) if n < 2 else (30, 45)
        stay(f"Tamu {name.split()[0]}", email, a, b, join_url=link)
        people.append(SimulatedPerson(f"Tamu {name.split()[0]}", name, email, "walk-in", b - a))
    for n in range(4 + index % 3):  # dialled in by phone: Zoom knows no e-mail and no registrant
        shown = f"0812-55{n:02d}-{index % 10000:04d}"
        stay(shown, "", n % 7, 60 + n % 30)
        people.append(SimulatedPerson(shown, "", "", "guest", 60 + n % 30 - n % 7))
    for email, name in STAFF:
        stay(name, email, 0, 90, internal=True)
        people.append(SimulatedPerson(name, name, email, "staff", 90))
    if session.key == "2027-01-14":
        stay(FORMULA_NAME, "", 3, 40)
        people.append(SimulatedPerson(FORMULA_NAME, "", "", "guest", 37))
    return joins, people


def _describe(moment: datetime, report, locale: str = "id_ID") -> str:
    """The simulated moment and the steps of its tick, for the progress line ("Kam 14 Jan 08.00  create_meeting×1")."""
    from babel.dates import format_datetime

    local = format_datetime(moment.astimezone(ZONE), "EEE d MMM HH:mm", locale=locale)
    kinds = Counter(step.kind for step in report.done)
    if not kinds:
        return local
    return local + "  " + ", ".join(f"{k}×{n}" for k, n in sorted(kinds.items()))


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:80]


MAIL_WORDS = {"invitation": N_("invitation"), "reminder": N_("reminder"), "change": N_("change notice"),
              "cancellation": N_("cancellation"), "thankyou": N_("thank-you"), "alert": N_("alert")}
"""The mail kinds as the summary names them."""
PATH_WORDS = {"mail": N_("mails"), "certificates": N_("certificates"), "verification": N_("verification"),
              "transcripts": N_("transcripts"), "calendar": N_("calendar"), "spreadsheet": N_("spreadsheet"),
              "report": N_("report"), "log": N_("log"), "settings": N_("settings")}
"""What each produced path holds, as the summary names it."""


def run_demo(out_dir: Path, t: Translator | None = None, *, show_progress: bool = True) -> DemoSummary:
    """Run the demo with a ``rich`` progress bar (or none) in ``t``'s language, and return its summary."""
    t = t or translator("id")
    locale = "en_GB" if t.language == "en" else "id_ID"
    if not show_progress:
        return Demo(out_dir, locale=locale).run()
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    label = escape(t._("Simulated season"))
    with Progress(TextColumn(f"[bold]{label}[/bold]"), BarColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn()) as progress:
        task = progress.add_task("", total=int((END - START) / STEP) + 1)

        def update(done: int, total: int, text: str) -> None:
            progress.update(task, completed=done, description=escape(text))

        return Demo(out_dir, on_progress=update, locale=locale).run()


def summary_rows(summary: DemoSummary, t: Translator) -> list[tuple[str, str]]:
    """The summary table's rows (label, text) in ``t``'s language."""
    def guests(key: str) -> int:
        return summary.guests.get(key, 0)

    eligible = sum(1 for people in summary.simulated.values() for p in people if p.earns_certificate)
    mails = ", ".join(f"{t._(MAIL_WORDS[k]) if k in MAIL_WORDS else k} {v}" for k, v in sorted(summary.mails.items()))
    return [
        (t._("Zoom meetings"), t._("{created} created, {live} live, {deleted} deleted (cancelled session)",
                                   created=summary.meetings_created, live=summary.meetings_live,
                                   deleted=summary.meetings_deleted)),
        (t._("Calendar events"), t._("{confirmed} confirmed, {cancelled} cancelled", confirmed=summary.events,
                                     cancelled=summary.events_cancelled)),
        (t._("Mails delivered"), mails),
        (t._("Attendance"), ", ".join(f"{k}: {v}" for k, v in sorted(summary.attendance.items()))),
        (t._("Identified"), ", ".join(t._("{session}: {identified} of {total} (guests {guests})", session=k,
                                          identified=v, total=v + guests(k), guests=guests(k))
                                      for k, v in sorted(summary.identified.items()))),
        (t._("Spreadsheet"), t.n_("{count} tab ({names}), {charts} chart", "{count} tabs ({names}), {charts} chart",
                                  len(summary.tabs), names=", ".join(summary.tabs), charts=summary.charts)),
        (t._("Certificates"), t._("{mailed} mailed ({eligible} identified attendees stayed {minutes}+ minutes), "
                                  "{numbered} numbered (a verification page for each), {transcripts}",
                                  mailed=summary.certificates, eligible=eligible, minutes=MIN_MINUTES,
                                  numbered=summary.certificate_numbers,
                                  transcripts=t.n_("{count} season transcript", "{count} season transcripts",
                                                   summary.transcripts))),
        (t._("Run"), t._("{ticks} ticks over 5 simulated weeks in {seconds} s", ticks=summary.ticks,
                         seconds=round(summary.seconds, 1))),
    ]


def print_summary(summary: DemoSummary, t: Translator | None = None) -> None:
    """The short end-of-demo summary, with the paths of what was produced."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = t or translator("id")
    console = Console()
    table = Table(title=escape(t._("webinar-worker demo — results")), show_header=False)
    for label, text in summary_rows(summary, t):
        table.add_row(escape(label), escape(text))
    console.print(table)
    for name, path in summary.paths.items():
        what = t._(PATH_WORDS[name]) if name in PATH_WORDS else name
        console.print(escape(f"  {what:<13} {path}"))


def neutralise_csv(path: Path) -> None:
    """Rewrite a CSV so no cell starts like a formula (``= + - @``, tab, CR get a ``'``: OWASP CSV injection).

    Attendee names are typed by the public; a spreadsheet opening the export must show them as text.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([[neutralise_formula(cell) for cell in row] for row in rows])
