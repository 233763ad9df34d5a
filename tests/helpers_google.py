"""Google clients on a faked transport: ``HttpMockSequence`` answers and readable views of what was sent.

google-api-python-client talks through httplib2, which ``responses`` does not see, so unit tests fake
the transport with ``googleapiclient.http.HttpMockSequence``
(https://googleapis.github.io/google-api-python-client/docs/mocks.html). Build a ``Transport`` through
the ``google_http`` fixture (conftest.py): an answer the test prepared and the client never asked for
then fails the test, like ``responses``' assert_all_requests_are_fired.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from googleapiclient.http import HttpMockSequence


class Transport:
    """An HttpMockSequence plus readable views of what was sent."""

    def __init__(self, answers: list[tuple[int, Any]]):
        self.http = HttpMockSequence([({"status": str(status)}, as_content(body)) for status, body in answers])

    @property
    def calls(self) -> list[tuple[str, str, dict[str, list[str]], Any]]:
        """(method, unquoted path, query, JSON body or None) for every request made."""
        out = []
        for uri, method, body, _headers in self.http.request_sequence:
            parts = urlsplit(uri)
            out.append((method, unquote(parts.path), parse_qs(parts.query), json.loads(body) if body else None))
        return out

    @property
    def urls(self) -> list[str]:
        """The full request URLs."""
        return [uri for uri, *_ in self.http.request_sequence]

    def unused(self) -> list[tuple[dict[str, str], str]]:
        """Answers prepared but never asked for (HttpMockSequence pops each one as it answers)."""
        return list(self.http._iterable)


class Transports:
    """Makes Transports and, at the end of a test, fails if any of them kept an answer nobody asked for."""

    def __init__(self) -> None:
        self.made: list[Transport] = []  # every transport handed out, in order

    def __call__(self, answers: list[tuple[int, Any]]) -> Transport:
        """A new transport that gives ``answers`` in order."""
        transport = Transport(answers)
        self.made.append(transport)
        return transport

    def assert_all_used(self) -> None:
        """AssertionError listing the answers that were prepared but never requested."""
        unused = [answer for transport in self.made for answer in transport.unused()]
        assert not unused, f"answers prepared but never requested: {unused}"


def as_content(body: Any) -> str:
    """An answer body as the transport sends it: text as is, anything else as JSON."""
    return body if isinstance(body, str) else json.dumps(body)


def google_error(status: int, message: str, reason: str = "", status_name: str = "") -> dict[str, Any]:
    """Google's JSON error body."""
    error: dict[str, Any] = {"code": status, "message": message}
    if reason:
        error["errors"] = [{"domain": "global", "reason": reason, "message": message}]
    if status_name:
        error["status"] = status_name
    return {"error": error}
