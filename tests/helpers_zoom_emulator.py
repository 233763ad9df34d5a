"""Driving the Zoom emulator by hand: a clock the test moves, and a plain ``requests`` session on /v2."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from integrations.sandbox.zoom_server import ZoomEmulator

START = datetime(2027, 1, 14, 0, 0, tzinfo=timezone.utc)


class MutableClock:
    """A clock the test moves by hand."""

    def __init__(self, moment: datetime):
        self.moment = moment  # what now() answers

    def now(self) -> datetime:
        """The current fake moment."""
        return self.moment

    def advance(self, **delta: float) -> None:
        """Move forward by a timedelta's keyword arguments."""
        self.moment += timedelta(**delta)


def token_for(zoom: ZoomEmulator, auth: tuple[str, str] = ("sandbox-client", "sandbox-secret"),
              account: str = "sandbox-account") -> requests.Response:
    return requests.post(zoom.oauth_url, params={"grant_type": "account_credentials", "account_id": account},
                         auth=auth, timeout=10)


class Api:
    """A thin authorised session against the emulator's /v2."""

    def __init__(self, zoom: ZoomEmulator):
        self.zoom = zoom  # the emulator
        self.session = requests.Session()  # keep-alive, like a real client
        self.login()

    def login(self) -> None:
        """Fetch a fresh token."""
        reply = token_for(self.zoom)
        assert reply.status_code == 200, reply.text
        self.session.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request to ``api_base_url + path``."""
        return self.session.request(method, self.zoom.api_base_url + path, timeout=10, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        """Create a meeting and return its JSON."""
        body = {"topic": "Library webinar", "type": 2, "start_time": "2027-01-14T10:00:00",
                "timezone": "Asia/Makassar", "duration": 60, "agenda": "series=s1 session=2027-01-14"}
        body.update(fields)
        reply = self.call("POST", "/users/me/meetings", json=body)
        assert reply.status_code == 201, reply.text
        return reply.json()
