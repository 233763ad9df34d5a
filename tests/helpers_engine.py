"""The engine with in-memory fakes: a World of settings, a state file and fakes, restartable."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.fakes import FakeCalendar, FakeComposer, FakeMail, FakeSheets, FakeZoom
from tests.helpers_settings import write_settings
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.model import Recipient, SeriesInfo
from worker.core.planner import plan_season
from worker.core.reconcile import Policy
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

UTC = timezone.utc
SERIES = SeriesInfo("webinar-kamis", "Webinar Kamis", "Perpustakaan", "WA", "id_ID", "Asia/Makassar",
                    "Perpustakaan", "webinar@perpustakaan.example")


class World:
    """Settings, state file, fakes and an engine factory (a new engine = a restarted process)."""

    def __init__(self, tmp_path, people=None):
        self.settings = load_settings(write_settings(tmp_path))
        self.sessions = list(plan_season(self.settings).sessions)
        self.db_path = tmp_path / "state.db"
        self.store = StateStore(self.db_path)
        self.zoom, self.calendar, self.sheets, self.mail = FakeZoom(), FakeCalendar(), FakeSheets(), FakeMail()
        self.clock = FixedClock(datetime(2026, 12, 20, tzinfo=UTC))
        self.people = list(people or [Recipient("a@example.org", "A"), Recipient("b@example.org", "B")])

    def engine(self, **kw) -> Engine:
        io = Integrations(zoom=self.zoom, calendar=self.calendar, sheets=self.sheets, mail=self.mail,
                          composer=FakeComposer())
        return Engine(self.store, io, self.clock, series=SERIES, policy=Policy(), recipients=lambda s: self.people, **kw)

    def restart(self) -> None:
        self.store.close()
        self.store = StateStore(self.db_path)

    def at(self, text: str) -> "World":
        self.clock.set(datetime.fromisoformat(text))
        return self

    def tick(self, dry_run=False, **kw):
        return self.engine(**kw).tick(self.sessions, dry_run=dry_run)
