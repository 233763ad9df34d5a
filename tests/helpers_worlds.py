"""Engines wired to the real Zoom or Google clients on the emulators, with fakes for everything else.

``ZoomWorld`` and ``GoogleWorld`` hold settings, a state file and a clock; ``tick()`` runs one engine
tick. The emulator fixtures they take (``zoom``, ``google``) are in conftest.py.
"""
from __future__ import annotations

import random
from datetime import datetime, timezone

import requests

from integrations.google_auth import GoogleConfig, build_calendar_service, build_sheets_service, load_credentials
from integrations.google_calendar import GoogleCalendar
from integrations.google_sheets import GoogleSheets
from integrations.sandbox.google_server import GoogleEmulator
from integrations.sandbox.zoom_server import ZoomEmulator
from integrations.zoom import ZoomClient, ZoomConfig
from tests.fakes import FakeCalendar, FakeComposer, FakeMail, FakeSheets, FakeZoom, SimulatedCrash
from tests.helpers_settings import BASE, write_settings
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.model import Recipient, SeriesInfo
from worker.core.planner import plan_season
from worker.core.reconcile import Policy
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

UTC = timezone.utc
SERIES = SeriesInfo("webinar-kamis", "Webinar Kamis", "Perpustakaan", "WA", "id_ID", "Asia/Makassar",
                    "Perpustakaan", "webinar@perpustakaan.example")  # the series both worlds run
CALENDAR = "perpustakaan@group.calendar.google.com"  # shared with the service account by the google fixture
SHEET = "sheet-kehadiran"  # likewise
SCOPES = ["https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/spreadsheets"]


# -- Zoom ----------------------------------------------------------------------------------------------

def zoom_settings(emulator: ZoomEmulator, text: str = BASE) -> str:
    """Settings text whose zoom section points at the emulator."""
    return text + f"zoom:\n  api_base_url: {emulator.api_base_url}\n  oauth_url: {emulator.oauth_url}\n"


def zoom_client(emulator: ZoomEmulator, sleeps: list | None = None, clock: FixedClock | None = None,
                timeout: float = 30.0) -> ZoomClient:
    """The real Zoom client on the emulator; sleeps are recorded in ``sleeps`` (or skipped), never waited."""
    config = ZoomConfig(account_id=emulator.account_id, client_id=emulator.client_id,
                        client_secret=emulator.client_secret, api_base_url=emulator.api_base_url,
                        oauth_url=emulator.oauth_url, max_attempts=4, timeout=timeout)
    return ZoomClient(config, requests.Session(), sleep=(sleeps.append if sleeps is not None else lambda s: None),
                      rng=random.Random(1), **({"wall_clock": clock.now} if clock else {}))


class ZoomWorld:
    """Settings, a state file and an engine whose conferencing is the real client on the emulator."""

    def __init__(self, tmp_path, emulator: ZoomEmulator):
        self.emulator = emulator
        self.settings = load_settings(write_settings(tmp_path, zoom_settings(emulator)))
        self.sessions = list(plan_season(self.settings).sessions)
        self.db_path = tmp_path / "state.db"
        self.store = StateStore(self.db_path)
        self.clock = FixedClock(datetime(2026, 12, 28, tzinfo=UTC))
        self.zoom = zoom_client(emulator, clock=self.clock)

    def tick(self, zoom=None):
        """One engine tick with the real Zoom client (or ``zoom``) and fakes for the rest."""
        io = Integrations(zoom=zoom or self.zoom, calendar=FakeCalendar(), sheets=FakeSheets(), mail=FakeMail(),
                          composer=FakeComposer())
        engine = Engine(self.store, io, self.clock, series=SERIES, policy=Policy(planning_days=21),
                        recipients=lambda s: [Recipient("a@example.org", "A")])
        return engine.tick(self.sessions)

    def restart(self):
        """What a process restart does: the state file and the client are opened afresh."""
        self.store.close()
        self.store = StateStore(self.db_path)
        self.zoom = zoom_client(self.emulator, clock=self.clock)


class CrashAfterCreate:
    """Wraps the real client: the create call reaches Zoom, then the process "dies" before saving."""

    def __init__(self, inner: ZoomClient):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def create_meeting(self, spec):
        """Create at Zoom, then die before the engine can save the answer."""
        self.inner.create_meeting(spec)
        raise SimulatedCrash()


# -- Google --------------------------------------------------------------------------------------------

class GoogleWorld:
    """Settings, state and an engine whose calendar and sheet are the real clients on the emulator."""

    def __init__(self, tmp_path, emulator: GoogleEmulator):
        self.emulator = emulator
        self.settings = load_settings(write_settings(tmp_path))
        self.sessions = list(plan_season(self.settings).sessions)
        self.store = StateStore(tmp_path / "state.db")
        self.clock = FixedClock(datetime(2027, 1, 6, tzinfo=UTC))
        self.sleeps: list[float] = []
        key = tmp_path / "service-account.json"
        email = emulator.write_service_account_key(key)
        config = GoogleConfig(credentials_file=str(key), calendar_id=CALENDAR, spreadsheet_id=SHEET,
                              api_endpoint=emulator.root_url)
        credentials = load_credentials(config, SCOPES)
        self.calendar = GoogleCalendar(build_calendar_service(config, credentials), CALENDAR,
                                       service_account_email=email, num_retries=3, sleep=self.sleeps.append)
        self.sheets = GoogleSheets(build_sheets_service(config, credentials), SHEET, service_account_email=email,
                                   num_retries=3, timezone="Asia/Makassar", sleep=self.sleeps.append)
        self.zoom = FakeZoom()

    def tick(self):
        """One engine tick with the real Calendar and Sheets clients and fakes for the rest."""
        io = Integrations(zoom=self.zoom, calendar=self.calendar, sheets=self.sheets, mail=FakeMail(),
                          composer=FakeComposer())
        engine = Engine(self.store, io, self.clock, series=SERIES, policy=Policy(planning_days=21),
                        recipients=lambda s: [Recipient("a@example.org", "A")])
        return engine.tick(self.sessions)


def live_events(emulator: GoogleEmulator) -> list[dict]:
    """The events of CALENDAR that are not cancelled."""
    return [e for e in emulator.events(CALENDAR) if e.get("status") != "cancelled"]
