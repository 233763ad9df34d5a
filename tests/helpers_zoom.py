"""The Zoom client on a faked transport (``responses``): constants, the client on a fake clock, canned answers.

The fixtures that use these (``mock``, ``clock``) are in conftest.py.
"""
from __future__ import annotations

import base64
import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import requests
import responses
from responses import matchers

from integrations.zoom import ZoomClient, ZoomConfig
from tests.helpers_time import FakeTime
from worker.core.model import MeetingSpec

API = "https://api.zoom.test/v2"
OAUTH = "https://zoom.test/oauth/token"
SECRET = "client-secret-do-not-show"
CONFIG = ZoomConfig(account_id="acct-1", client_id="client-1", client_secret=SECRET, api_base_url=API,
                    oauth_url=OAUTH)
WITA = ZoneInfo("Asia/Makassar")
UTC = timezone.utc
NOW = datetime(2027, 1, 14, 22, 30, tzinfo=UTC)  # 1 h 30 min before the daily reset
MARKER = "[webinar-worker:webinar-kamis/2027-01-14]"
SPEC = MeetingSpec(topic="Literasi Digital untuk Keluarga", start=datetime(2027, 1, 14, 9, 0, tzinfo=WITA),
                   timezone="Asia/Makassar", duration_minutes=90,
                   agenda=f"Belajar memeriksa berita bersama keluarga.\n\n{MARKER}")
BASIC = "Basic " + base64.b64encode(f"client-1:{SECRET}".encode()).decode()


def make_client(clock: FakeTime, config: ZoomConfig = CONFIG, seed: int = 7) -> ZoomClient:
    """The real client on a plain session (``responses`` fakes its transport), timed by ``clock``."""
    return ZoomClient(config, requests.Session(), sleep=clock.sleep, monotonic=clock.monotonic,
                      rng=random.Random(seed), wall_clock=lambda: NOW)


def token(mock: responses.RequestsMock, value: str = "tok-1", expires_in: int = 3600) -> None:
    """Expect one token request with the account-credentials grant and Basic auth."""
    mock.post(OAUTH, json={"access_token": value, "token_type": "bearer", "expires_in": expires_in},
              match=[matchers.query_param_matcher({"grant_type": "account_credentials", "account_id": "acct-1"}),
                     matchers.header_matcher({"Authorization": BASIC})])


def bearer(value: str = "tok-1") -> list:
    """Matchers for an API call that carries ``value`` as its bearer token."""
    return [matchers.header_matcher({"Authorization": f"Bearer {value}"})]


def meeting_json(mid: int = 85012345678, **extra: object) -> dict:
    """A meeting as Zoom answers it, for SPEC unless ``extra`` says otherwise."""
    data = {"id": mid, "uuid": "u1AbC==", "join_url": f"https://zoom.us/j/{mid}?pwd=x", "password": "Kx7pQ2mZ",
            "topic": SPEC.topic, "start_time": "2027-01-14T01:00:00Z", "duration": 90, "timezone": "Asia/Makassar",
            "agenda": SPEC.agenda}
    data.update(extra)
    return data


def zoom_error(code: int, message: str) -> dict:
    """Zoom's error body."""
    return {"code": code, "message": message}
