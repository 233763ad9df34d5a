"""The layers made visible: stop requests, the pure core, one series beside another, and rules
that had no test failing when they broke (shared Zoom quota, expiring mail, reinstatement, follow-up off)."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from tests.fakes import FakeCalendar, FakeComposer, FakeMail, FakeSheets, FakeZoom
from tests.helpers_settings import write_settings
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.model import Recipient, SeriesInfo
from worker.core.planner import plan_season
from worker.core.reconcile import Policy
from worker.errors import StopRequested
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

UTC = timezone.utc
SERIES = SeriesInfo("webinar-kamis", "Webinar Kamis", "Perpustakaan", "WA", "id_ID", "Asia/Makassar",
                    "Perpustakaan", "webinar@perpustakaan.example")
PEOPLE = [Recipient("a@example.org", "A"), Recipient("b@example.org", "B")]


class Setup:
    """One settings file, one state file, in-memory integrations; ``engine()`` is a fresh process."""

    def __init__(self, tmp_path, policy: Policy = Policy()):
        self.sessions = list(plan_season(load_settings(write_settings(tmp_path))).sessions)
        self.store = StateStore(tmp_path / "state.db")
        self.zoom, self.calendar, self.sheets, self.mail = FakeZoom(), FakeCalendar(), FakeSheets(), FakeMail()
        self.clock = FixedClock(datetime(2026, 12, 20, tzinfo=UTC))
        self.policy = policy
        self.recipients = lambda session: PEOPLE

    def engine(self) -> Engine:
        io = Integrations(zoom=self.zoom, calendar=self.calendar, sheets=self.sheets, mail=self.mail,
                          composer=FakeComposer())
        return Engine(self.store, io, self.clock, series=SERIES, policy=self.policy,
                      recipients=lambda s: self.recipients(s))

    def tick(self, at: str):
        self.clock.set(datetime.fromisoformat(at))
        return self.engine().tick(self.sessions)


@pytest.fixture
def setup(tmp_path):
    s = Setup(tmp_path)
    yield s
    s.store.close()


# -- stop requests ---------------------------------------------------------------------------

def test_stop_requested_is_not_an_exception_so_no_handler_takes_it_for_a_failure():
    assert issubclass(StopRequested, BaseException) and not issubclass(StopRequested, Exception)


def test_a_stop_inside_a_step_leaves_no_retry_row(setup):
    def stop(spec):
        raise StopRequested("stop during a Retry-After wait")

    setup.zoom.create_meeting = stop
    report = setup.tick("2026-12-28T00:00+00:00")
    assert report.stopped and not report.failed
    assert setup.store.retries() == {}


def test_a_stop_while_reading_the_recipient_list_leaves_no_retry_row(setup):
    setup.tick("2027-01-01T00:00+00:00")  # meeting, event and invitations for 7 January
    assert setup.store.session(setup.sessions[0].uid).invited_at

    def stop(session):
        raise StopRequested("stop during a Google Sheets backoff")

    setup.recipients = stop
    report = setup.tick("2027-01-02T00:00+00:00")
    assert report.stopped and not report.failed
    assert setup.store.retries() == {}


# -- the pure core -----------------------------------------------------------------------------

def test_the_core_imports_no_io_library():
    code = ("import sys, worker.core.reconcile, worker.core.planner, worker.core.moments, worker.core.steps, "
            "worker.core.mailkinds, worker.core.records, worker.core.model\n"
            "banned = ('sqlite3', 'yaml', 'requests', 'smtplib', 'http.client', 'googleapiclient', 'jinja2')\n"
            "print(' '.join(m for m in banned if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
