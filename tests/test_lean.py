"""Issue 18, a lean worker: what `check` loads, how often Google resources are built, how attendance is committed.

These are behavioural checks, never timings: the modules a `check` process ends up with, the
googleapiclient Resources constructed across several syncs (counted at the library's class), and
the SQLite transactions the state file sees (counted with the connection's trace callback).
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from integrations.google_auth import SCOPES, GoogleConfig, build_sheets_service, load_credentials
from integrations.google_sheets import GoogleSheets
from integrations.sandbox.google_server import GoogleEmulator
from tests.fakes import FakeCalendar, FakeComposer, FakeSheets, FakeZoom
from tests.helpers_process import ROOT, clean_env
from tests.helpers_settings import BASE, write_settings
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.model import Attendee, Recipient, SeriesInfo, SummaryRow
from worker.core.planner import plan_season
from worker.core.reconcile import Policy
from worker.core.schema import CertificateSettings
from worker.run.certify import CertificateRegistry
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

UTC = timezone.utc
HEAVY = ("fpdf", "numpy", "matplotlib", "googleapiclient")  # what `check` must not load (issue 18)
WATCHED = HEAVY + ("jinja2",)  # jinja2 `check` does load (it renders the templates): proof the wrapper sees imports
SERIES = SeriesInfo("webinar-kamis", "Webinar Kamis", "Perpustakaan Kota", "WA", "id_ID", "Asia/Makassar",
                    "Perpustakaan", "webinar@perpustakaan.example")
SHEET = "lean-sheet"

# Runs the real command in a fresh interpreter, then prints which of HEAVY it imported.
WRAPPER = """
import json, sys
from worker.cli import main
code = main(sys.argv[1:])
loaded = sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(%r)))
print("LOADED=" + json.dumps(loaded))
sys.exit(code)
""" % json.dumps(WATCHED)


def run_check(settings: Path, *extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``webinar-worker check`` in a child process; its result and which of WATCHED it imported."""
    env = {**clean_env(), "LANG": "en_US.UTF-8"}
    done = subprocess.run([sys.executable, "-c", WRAPPER, "check", "--settings", str(settings), *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("LOADED=")), None)
    assert line is not None, done.stdout + done.stderr
    return done, json.loads(line.removeprefix("LOADED="))


@pytest.fixture
def google_settings(tmp_path: Path):
    """Settings with Google (calendar and sheet on the emulator) and certificates on, as staff have them."""
    with GoogleEmulator() as emulator:
        key = tmp_path / "service-account.json"
        emulator.write_service_account_key(key)
        text = BASE + (f"google:\n  credentials_file: {key}\n  calendar_id: kalender@example.org\n"
                       f"  spreadsheet_id: {SHEET}\n  api_endpoint: {emulator.root_url}\n")
        yield write_settings(tmp_path, text)


def test_check_loads_neither_the_pdf_nor_the_google_library(google_settings: Path):
    done, loaded = run_check(google_settings, "--offline-ok")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout
    assert "not configured: calendar" not in done.stdout and "not configured: sheets" not in done.stdout
    assert loaded == ["jinja2"]
    assert "check --certificate" in done.stdout  # says how to draw the sample too


def check_in_process(settings: Path, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, str]:
    """``webinar-worker check`` in this process: exit code and everything it printed."""
    from worker.cli import main

    code = main(["check", "--settings", str(settings), "--offline-ok", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_check_certificate_draws_the_sample(tmp_path: Path, capsys: pytest.CaptureFixture):
    code, shown = check_in_process(write_settings(tmp_path), capsys, "--certificate")
    assert code == 0, shown
    assert "check --certificate" not in shown


def test_check_without_drawing_still_finds_a_broken_certificate_template(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture):
    settings = write_settings(tmp_path)
    template = tmp_path / "templates" / "certificate.html.j2"
    template.write_text(template.read_text(encoding="utf-8") + "\n{{ attendee_name | no_such_filter }}\n",
                        encoding="utf-8")
    code, shown = check_in_process(settings, capsys)
    assert code == 2
    assert "certificate.html.j2" in shown


def test_check_without_drawing_finds_an_unreadable_logo(tmp_path: Path, capsys: pytest.CaptureFixture):
    code, shown = check_in_process(write_settings(tmp_path, BASE + "certificate:\n  logo: logo-hilang.png\n"), capsys)
    assert code == 2, shown
    assert "logo-hilang.png" in shown


def test_the_sheets_resources_are_built_once_across_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from googleapiclient import discovery

    built: list[str] = []
    original = discovery.Resource.__init__

    def counting(self, *args, **kwargs):
        built.append("resource")
        original(self, *args, **kwargs)

    monkeypatch.setattr(discovery.Resource, "__init__", counting)
    with GoogleEmulator() as emulator:
        key = tmp_path / "service-account.json"
        email = emulator.write_service_account_key(key)
        emulator.create_spreadsheet(spreadsheet_id=SHEET)
        config = GoogleConfig(credentials_file=str(key), spreadsheet_id=SHEET, api_endpoint=emulator.root_url)
        sheets = GoogleSheets(build_sheets_service(config, load_credentials(config, SCOPES)), SHEET,
                              service_account_email=email, num_retries=0, timezone="Asia/Makassar")
        assert built == []  # wiring alone builds nothing
        start = datetime(2027, 1, 7, 1, tzinfo=UTC)
        people = [Attendee("Ani", "ani@example.org", start, start + timedelta(minutes=60), 60, 1)]
        for week in range(4):
            day = (start + timedelta(weeks=week)).date()
            sheets.sync_session(f"{day}", people, SummaryRow(day, f"Topik {week}", "Andi", 1, 1, 60.0))
            if week == 0:
                after_first = len(built)
        assert 0 < after_first <= 3  # the service, spreadsheets(), values()
        assert len(built) == after_first
        assert {f"{(start + timedelta(weeks=w)).date()}" for w in range(4)} <= set(emulator.sheet_titles(SHEET))


# The worker's own composer (as `run` wires it) makes a thank-you mail with its certificate, twice, releases,
# then reports what the process loaded and what the mails carried.
THANKYOU = """
import json, sys
from pathlib import Path
from worker.config.envfile import Secrets
from worker.config.settings import load_settings
from worker.core.model import MeetingInfo, Recipient
from worker.core.planner import plan_season
from worker.run.wiring import build_integrations
settings = load_settings(Path(sys.argv[1]))
composer = build_integrations(settings, Secrets({})).composer
session = plan_season(settings).sessions[0]
pdfs = []
for name in ("Ani Lestari", "Budi"):
    message = composer.message("thankyou", session, MeetingInfo("1", "https://zoom.example/j/1"),
                               Recipient(name.split()[0].lower() + "@example.org", name), sequence=0,
                               extra={"minutes": 80, "certificate_number": "001/SERT/X/I/2027"})
    pdfs += [p.get_content()[:5].decode() for p in message.iter_attachments()]
composer.release()
print("RESULT=" + json.dumps({"pdfs": pdfs, "fpdf": "fpdf" in sys.modules}))
"""


def test_the_worker_draws_certificates_in_a_helper_process(tmp_path: Path):
    settings = write_settings(tmp_path)
    done = subprocess.run([sys.executable, "-c", THANKYOU, str(settings)], capture_output=True, text=True, cwd=ROOT,
                          env=clean_env())
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT=")), None)
    assert line is not None, done.stdout + done.stderr
    result = json.loads(line.removeprefix("RESULT="))
    assert result["pdfs"] == ["%PDF-", "%PDF-"]  # each mail carries its certificate
    assert result["fpdf"] is False  # drawn by the helper: the worker process never loaded the PDF library


class Transactions:
    """The statements a state file's connection runs, cut into transactions at each COMMIT."""

    def __init__(self, store: StateStore):
        self.done: list[list[str]] = []
        self._open: list[str] = []
        store._db.set_trace_callback(self._trace)

    def _trace(self, statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            self.done.append(self._open)
            self._open = []
        else:
            self._open.append(statement)

    def writing(self, fragment: str) -> list[list[str]]:
        """The committed transactions with a statement containing ``fragment``."""
        return [tx for tx in self.done if any(fragment in s for s in tx)]


def test_a_sessions_attendance_is_stored_in_one_transaction(tmp_path: Path):
    start = datetime(2027, 1, 7, 1, tzinfo=UTC)
    people = [Attendee(f"Peserta {n}", f"p{n}@example.org", start, start + timedelta(minutes=50), 50, 1,
                       identified=True) for n in range(300)]
    with StateStore(tmp_path / "state.db") as store:
        store.update_session("webinar-kamis/2027-01-07", start)
        seen = Transactions(store)
        store.store_attendance("webinar-kamis/2027-01-07", people, start)
        assert len(seen.done) == 1 and len(seen.writing("INTO attendance")) == 1
        assert len(store.attendance("webinar-kamis/2027-01-07")) == 300
        assert store.session("webinar-kamis/2027-01-07").attendees == 300


def test_a_sessions_thankyous_and_certificates_are_queued_in_one_transaction(tmp_path: Path):
    sessions = [s for s in plan_season(load_settings(write_settings(tmp_path))).sessions if not s.cancelled]
    session = sessions[0]
    store = StateStore(tmp_path / "state.db")
    zoom, clock = FakeZoom(), FixedClock(session.start_utc - timedelta(days=8))
    invited = [Recipient(f"p{n}@example.org", f"Peserta {n}") for n in range(40)]

    def tick() -> None:
        # No mail transport: the thank-yous stay queued, so the transactions below are the queueing alone.
        io = Integrations(zoom=zoom, calendar=FakeCalendar(), sheets=FakeSheets(), composer=FakeComposer())
        registry = CertificateRegistry(store, CertificateSettings(), SERIES, None)
        Engine(store, io, clock, series=SERIES, policy=Policy(), recipients=lambda s: invited,
               certificates=registry).tick([session])

    tick()
    meeting = store.session(session.uid).meeting_id
    start = session.start_utc
    zoom.attendance[meeting] = [Attendee(f"HP {p.email}", p.email, start, start + timedelta(minutes=80), 80, 1)
                                for p in invited]
    clock.set(session.end_utc + timedelta(minutes=31))
    seen = Transactions(store)
    tick()
    thankyous = [tx for tx in seen.writing("INTO outbox") if any("thankyou" in s for s in tx)]
    assert len(thankyous) == 1  # every thank-you (and certificate number) of the session in one commit
    assert len(seen.writing("INTO certificates")) == 1
    assert len(seen.writing("INTO attendance")) == 1
    pending = store.pending_mail(100)
    assert sorted(r.email for r in pending if r.kind == "thankyou") == sorted(p.email for p in invited)
    assert len(store.certificates()) == 40
    store.close()
