"""Fixtures shared by the test modules. Plain helpers (no fixtures) live in tests/helpers_*.py and tests/fakes.py.

- ``mock``: ``responses`` for the Zoom client (an answer never requested fails the test).
- ``clock``: a FakeTime for clients that take ``sleep`` and ``monotonic`` (Zoom, SMTP).
- ``google_http``: HttpMockSequence transports for the Google clients; unused answers fail the test.
- ``zoom``, ``google``: the Zoom and Google emulators on 127.0.0.1 (a port picked by the OS).
- ``smtp_server``: a real aiosmtpd server on 127.0.0.1.
- ``templates_copy``: a copy of the project's templates that a test may break.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest
import responses

from integrations.sandbox.google_server import GoogleEmulator
from integrations.sandbox.smtp_server import SandboxSmtpServer
from integrations.sandbox.zoom_server import ZoomEmulator
from tests.helpers_google import Transports
from tests.helpers_smtp import TEMPLATES
from tests.helpers_time import FakeTime
from tests.helpers_worlds import CALENDAR, SHEET


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    """``responses`` for the Zoom client; a registered answer nobody asked for fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def clock() -> FakeTime:
    """A monotonic clock (Zoom client, SMTP transport) that moves only when the code sleeps or the test says so."""
    return FakeTime()


@pytest.fixture
def google_http() -> Iterator[Transports]:
    """Makes HttpMockSequence transports; at teardown, an answer one of them never gave fails the test."""
    transports = Transports()
    yield transports
    transports.assert_all_used()


@pytest.fixture
def zoom() -> Iterator[ZoomEmulator]:
    """The Zoom emulator."""
    with ZoomEmulator() as emulator:
        yield emulator


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    """The Google emulator with CALENDAR and SHEET shared with the service account.

    Like responses' assert_all_requests_are_fired: a fault queued with ``fail_next`` that no request met
    tested nothing, so it fails the test.
    """
    with GoogleEmulator() as emulator:
        emulator.share_calendar(CALENDAR)
        emulator.share_spreadsheet(SHEET, title="Kehadiran")
        yield emulator
        assert emulator.pending_faults() == {}, f"faults queued but never answered: {emulator.pending_faults()}"


@pytest.fixture
def smtp_server() -> Iterator[SandboxSmtpServer]:
    """A real aiosmtpd server on 127.0.0.1, on a free port, collecting messages."""
    with SandboxSmtpServer() as server:
        yield server


@pytest.fixture
def templates_copy(tmp_path: Path) -> Path:
    """A copy of the project's templates that a test may break."""
    return Path(shutil.copytree(TEMPLATES, tmp_path / "templates"))


@pytest.fixture(autouse=True)
def english_unless_asked(monkeypatch) -> None:
    """Most tests read the worker's English (the IT person's ``LANG=en``); tests of what staff see
    remove it (``monkeypatch.delenv("LANG")``) or pass ``--lang id``. Subprocesses inherit it."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
