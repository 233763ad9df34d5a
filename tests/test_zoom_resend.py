"""The Zoom client never sends a create twice when Zoom may have made the meeting, and turns every
``requests`` exception and every unreadable answer into the project's errors (faked at the transport).

A create whose answer was lost is not resent: the engine's next run finds the meeting by its marker
(``find_meeting``) and adopts it. Reads, PATCH, DELETE and the token request are safe to send again.
"""
from __future__ import annotations

import http.client
from datetime import datetime, timezone

import pytest
import requests
from requests import exceptions as rex
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from tests.helpers_zoom import API, OAUTH, SECRET, SPEC, make_client, meeting_json, token, zoom_error
from worker.errors import IntegrationError, RemoteError, TransientError

CREATE = f"{API}/users/me/meetings"


def calls_to(mock, url: str) -> int:
    return sum(1 for c in mock.calls if c.request.url.split("?")[0] == url)


def dropped() -> requests.ConnectionError:
    """What requests raises when the server closes the connection after reading the request."""
    return requests.ConnectionError(ProtocolError("Connection aborted.",
                                                  http.client.RemoteDisconnected("Remote end closed connection")))


def refused() -> requests.ConnectionError:
    """What requests raises when no connection could be made at all (nothing was sent)."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/v2/users/me/meetings", reason))


# -- a create is not resent when Zoom may have made the meeting ----------------------------------
@pytest.mark.parametrize("lost", [requests.ReadTimeout("read timed out"), dropped(),
                                  rex.ChunkedEncodingError("connection broken: IncompleteRead")],
                         ids=["read-timeout", "dropped", "cut-off"])
def test_a_create_whose_answer_was_lost_is_not_resent(mock, clock, lost) -> None:
    token(mock)
    mock.post(CREATE, body=lost)

    with pytest.raises(TransientError, match="not resent") as caught:
        make_client(clock).create_meeting(SPEC)

    assert calls_to(mock, CREATE) == 1 and clock.sleeps == []
    assert caught.value.retryable and SECRET not in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_create_answered_with_a_5xx_is_not_resent(mock, clock, status) -> None:
    token(mock)
    mock.post(CREATE, status=status, json=zoom_error(status, "Internal Error."))

    with pytest.raises(TransientError, match=f"HTTP {status}.*not resent") as caught:
        make_client(clock).create_meeting(SPEC)

    assert calls_to(mock, CREATE) == 1 and clock.sleeps == [] and caught.value.status == status


@pytest.mark.parametrize("never", [requests.ConnectTimeout("connect timed out"), refused()],
                         ids=["connect-timeout", "refused"])
def test_a_create_that_never_reached_zoom_is_sent_again(mock, clock, never) -> None:
    token(mock)
    mock.post(CREATE, body=never)
    mock.post(CREATE, status=201, json=meeting_json())

    info = make_client(clock).create_meeting(SPEC)

    assert info.meeting_id == "85012345678" and calls_to(mock, CREATE) == 2 and len(clock.sleeps) == 1


def test_a_rate_limited_create_is_sent_again(mock, clock) -> None:
    token(mock)
    mock.post(CREATE, status=429, headers={"Retry-After": "1"}, json=zoom_error(429, "Too many requests."))
    mock.post(CREATE, status=201, json=meeting_json())

    assert make_client(clock).create_meeting(SPEC).meeting_id == "85012345678"
    assert calls_to(mock, CREATE) == 2 and clock.sleeps == [1.0]


def test_a_create_is_resent_after_a_401_because_zoom_did_nothing(mock, clock) -> None:
    token(mock, "tok-1")
    mock.post(CREATE, status=401, json=zoom_error(124, "Invalid access token."))
    token(mock, "tok-2")
    mock.post(CREATE, status=201, json=meeting_json())

    assert make_client(clock).create_meeting(SPEC).meeting_id == "85012345678"


def test_patch_delete_and_the_token_are_sent_again(mock, clock) -> None:
    mock.post(OAUTH, body=requests.ReadTimeout("read timed out"))
    token(mock)
    mock.patch(f"{API}/meetings/1", body=requests.ReadTimeout("read timed out"))
    mock.patch(f"{API}/meetings/1", status=503, json=zoom_error(503, "Unavailable."))
    mock.patch(f"{API}/meetings/1", status=204)
    mock.delete(f"{API}/meetings/1", body=dropped())
    mock.delete(f"{API}/meetings/1", status=204)
    client = make_client(clock)

    client.update_meeting("1", SPEC, None)
    client.delete_meeting("1")

    assert calls_to(mock, OAUTH) == 2 and calls_to(mock, f"{API}/meetings/1") == 5 and len(clock.sleeps) == 4


# -- every requests exception becomes the project's error ---------------------------------------------
@pytest.mark.parametrize("exc", [rex.ChunkedEncodingError("IncompleteRead(10 bytes read)"),
                                 rex.ContentDecodingError("incorrect header check")],
                         ids=["chunked", "decoding"])
def test_a_broken_answer_to_a_read_is_retried_then_transient(mock, clock, exc) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1", body=exc)

    with pytest.raises(TransientError, match="after 5 attempts"):
        make_client(clock).get_meeting("1")

    assert calls_to(mock, f"{API}/meetings/1") == 5 and len(clock.sleeps) == 4


@pytest.mark.parametrize("exc", [rex.TooManyRedirects("Exceeded 30 redirects."),
                                 rex.InvalidJSONError("Out of range float values are not JSON compliant"),
                                 rex.InvalidURL("Invalid URL 'https://api.zoom.test:x/v2': bad port"),
                                 rex.RequestException("something else")],
                         ids=["redirects", "json", "url", "base"])
def test_other_requests_errors_are_remote_errors_at_once(mock, clock, exc) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1", body=exc)

    with pytest.raises(RemoteError) as caught:
        make_client(clock).get_meeting("1")

    assert type(exc).__name__ in str(caught.value) and not caught.value.retryable
    assert calls_to(mock, f"{API}/meetings/1") == 1 and clock.sleeps == []


def test_a_requests_error_that_echoes_credentials_is_scrubbed(mock, clock) -> None:
    token(mock, "tok-secret-1")
    mock.get(f"{API}/meetings/1", body=rex.InvalidHeader(f"bad header: 'Bearer tok-secret-1' {SECRET}"))

    with pytest.raises(RemoteError) as caught:
        make_client(clock).get_meeting("1")

    assert "tok-secret-1" not in str(caught.value) and SECRET not in str(caught.value)


# -- an unreadable success answer is the project's error, not a KeyError ------------------------------
@pytest.mark.parametrize("answer", [{"json": {"uuid": "u1", "topic": "no id"}}, {"body": "<html>OK</html>"},
                                    {"json": ["not", "an", "object"]}, {"body": b"\xff\xfe\x00"}, {"body": ""}],
                         ids=["no-id", "html", "list", "bytes", "empty"])
def test_a_create_answer_that_cannot_be_read_is_transient(mock, clock, answer) -> None:
    token(mock)
    mock.post(CREATE, status=201, **answer)

    with pytest.raises(TransientError, match="POST /users/me/meetings: Zoom's answer") as caught:
        make_client(clock).create_meeting(SPEC)

    assert caught.value.status == 201 and calls_to(mock, CREATE) == 1


@pytest.mark.parametrize("bad", [{"start_time": "next week"}, {"duration": "ninety"}, {"id": None}],
                         ids=["time", "duration", "null-id"])
def test_a_meeting_answer_with_bad_fields_is_transient(mock, clock, bad) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1", json=meeting_json(1, **bad))

    with pytest.raises(TransientError, match="GET /meetings/1: Zoom's answer"):
        make_client(clock).get_meeting("1")


@pytest.mark.parametrize("page", [{"meetings": "none"}, {"meetings": [42]}, {"meetings": [{"agenda": "x"}]}],
                         ids=["not-a-list", "not-objects", "no-id"])
def test_a_meeting_list_that_cannot_be_read_is_transient(mock, clock, page) -> None:
    token(mock)
    mock.get(CREATE, json=page)

    with pytest.raises(TransientError, match="GET /users/me/meetings: Zoom's answer"):
        make_client(clock).find_meeting("[marker]")


def test_attendance_answers_that_cannot_be_read_are_transient(mock, clock) -> None:
    scheduled = datetime(2027, 1, 14, 1, 0, tzinfo=timezone.utc)
    token(mock)
    mock.get(f"{API}/past_meetings/1/instances", json={"meetings": [{"uuid": "i1", "start_time": "soon"}]})
    mock.get(f"{API}/past_meetings/2/instances", json={"meetings": [{"uuid": "i2",
                                                                     "start_time": "2027-01-14T01:00:00Z"}]})
    mock.get(f"{API}/report/meetings/i2/participants",
             json={"participants": [{"name": "Budi", "join_time": "yesterday", "duration": 60}]})
    client = make_client(clock)

    with pytest.raises(TransientError, match="start_time"):
        client.fetch_participants("1", scheduled)
    with pytest.raises(TransientError, match="participants of meeting 2"):
        client.fetch_participants("2", scheduled)


def test_nothing_but_the_projects_errors_leaves_the_client(mock, clock) -> None:
    """One of each kind of trouble, all through the public methods: only IntegrationError comes out."""
    token(mock)
    mock.post(CREATE, body=rex.ContentDecodingError("bad gzip"))
    mock.get(f"{API}/meetings/1", body=rex.TooManyRedirects("Exceeded 30 redirects."))
    mock.patch(f"{API}/meetings/1", body=rex.InvalidJSONError("NaN"))
    client = make_client(clock)

    for call in (lambda: client.create_meeting(SPEC), lambda: client.get_meeting("1"),
                 lambda: client.update_meeting("1", SPEC, None)):
        with pytest.raises(IntegrationError):
            call()


# -- validation errors name the fields ------------------------------------------------------------------
def test_a_validation_error_names_each_field_and_what_is_wrong(mock, clock) -> None:
    token(mock)
    mock.post(CREATE, status=400, json={"code": 300, "message": "Validation Failed.", "errors": [
        {"field": "topic", "message": "Topic can be at most 200 characters."},
        {"field": "settings.approval_type", "message": "Invalid field."}]})

    with pytest.raises(RemoteError) as caught:
        make_client(clock).create_meeting(SPEC)

    assert str(caught.value) == ("zoom: POST /users/me/meetings failed: HTTP 400 code 300: Validation Failed. "
                                 "(topic: Topic can be at most 200 characters.; settings.approval_type: "
                                 "Invalid field.)")
    assert caught.value.code == 300 and caught.value.status == 400
