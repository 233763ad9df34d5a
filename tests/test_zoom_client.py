"""The Zoom client against a faked transport (``responses``), and the attendance merge.

Every test registers exactly the calls it expects (an unused mock fails the test) and
checks payloads, not only URLs. Time is injected: nothing sleeps, nothing leaves the machine.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
import requests
import responses
from responses import matchers

from integrations.zoom import (PASSCODE_ALPHABET, ZoomClient, ZoomConfig, encode_uuid, make_passcode,
                               parse_participant, retry_after_seconds, seconds_to_utc_midnight)
from tests.helpers_zoom import (API, CONFIG, MARKER, NOW, OAUTH, SECRET, SPEC, UTC, WITA, bearer, make_client,
                                meeting_json, token, zoom_error)
from worker.core.attendance import merge_participants
from worker.errors import (AccessDeniedError, AuthError, NotFoundError, RateLimitError, RemoteError,
                           TransientError)
from worker.core.model import Attendee, MeetingInfo, MeetingSpec, ParticipantRecord


# Every setting an account default could otherwise fill in, spelled out (Zoom changelog 2026-03-05).
SETTINGS = {"waiting_room": True, "join_before_host": False, "mute_upon_entry": True,
            "auto_start_meeting_summary": False, "who_will_receive_summary": 1,
            "auto_start_ai_companion_questions": False, "who_can_ask_questions": 1,
            "question_and_answer": {"enable": False}, "watermark": False, "meeting_authentication": False,
            "auto_recording": "none", "approval_type": 0, "registration_type": 1,
            "registrants_confirmation_email": False, "registrants_email_notification": False}


def attendance_of(client: ZoomClient, meeting_id: str, start: datetime) -> list[Attendee] | None:
    """What the engine makes of the client's raw records: merged attendance (None while not ready)."""
    records = client.fetch_participants(meeting_id, start)
    return None if records is None else merge_participants(records)


# -- configuration ------------------------------------------------------------------
def test_config_repr_hides_the_secret() -> None:
    assert SECRET not in repr(CONFIG)
    assert "client-1" in repr(CONFIG)


def test_config_refuses_a_passcode_zoom_would_refuse() -> None:
    with pytest.raises(ValueError, match="passcode_length"):
        ZoomConfig(account_id="a", client_id="b", client_secret="c", passcode_length=11)


# -- create, update, delete, get --------------------------------------------------------
def test_create_sends_the_exact_body_and_returns_what_zoom_made(mock, clock) -> None:
    token(mock)
    password = make_passcode(8, random.Random(7))  # the client's first use of its rng
    expected = {"topic": SPEC.topic, "type": 2, "start_time": "2027-01-14T09:00:00", "timezone": "Asia/Makassar",
                "duration": 90, "agenda": SPEC.agenda, "password": password,
                "settings": SETTINGS}
    mock.post(f"{API}/users/me/meetings", status=201, json=meeting_json(password=password),
              match=[matchers.json_params_matcher(expected), *bearer()])

    info = make_client(clock).create_meeting(SPEC)

    assert info == MeetingInfo(meeting_id="85012345678", join_url="https://zoom.us/j/85012345678?pwd=x",
                               passcode=password, uuid="u1AbC==", topic=SPEC.topic,
                               start=datetime(2027, 1, 14, 1, 0, tzinfo=UTC), duration_minutes=90)
    assert info.start == SPEC.start


def test_create_keeps_our_passcode_when_zoom_does_not_echo_it(mock, clock) -> None:
    token(mock)
    data = meeting_json()
    del data["password"]
    mock.post(f"{API}/users/me/meetings", status=201, json=data)

    info = make_client(clock).create_meeting(SPEC)

    assert info.passcode == make_passcode(8, random.Random(7))


def test_passcodes_mix_letters_and_digits_without_look_alikes() -> None:
    rng = random.Random(3)
    for _ in range(200):
        code = make_passcode(8, rng)
        assert len(code) == 8 and set(code) <= set(PASSCODE_ALPHABET)
        assert any(c.isdigit() for c in code) and any(c.isalpha() for c in code)
    assert not set("0O1lI") & set(PASSCODE_ALPHABET)


def test_update_patches_only_the_changed_fields(mock, clock) -> None:
    token(mock)
    previous = MeetingSpec(topic="Literasi Digital", start=datetime(2027, 1, 14, 8, 0, tzinfo=WITA),
                           timezone="Asia/Makassar", duration_minutes=90, agenda=SPEC.agenda)
    mock.patch(f"{API}/meetings/85012345678", status=204,
               match=[matchers.json_params_matcher({"topic": SPEC.topic, "start_time": "2027-01-14T09:00:00",
                                                    "timezone": "Asia/Makassar", "settings": SETTINGS}), *bearer()])

    make_client(clock).update_meeting("85012345678", SPEC, previous)


def test_update_sends_duration_and_agenda_alone_when_only_they_change(mock, clock) -> None:
    token(mock)
    previous = MeetingSpec(topic=SPEC.topic, start=SPEC.start.astimezone(UTC), timezone=SPEC.timezone,
                           duration_minutes=60, agenda="lama")
    mock.patch(f"{API}/meetings/85012345678", status=204,
               match=[matchers.json_params_matcher({"duration": 90, "agenda": SPEC.agenda, "settings": SETTINGS})])

    make_client(clock).update_meeting("85012345678", SPEC, previous)


def test_update_without_a_previous_spec_sends_every_field(mock, clock) -> None:
    token(mock)
    mock.patch(f"{API}/meetings/85012345678", status=204,
               match=[matchers.json_params_matcher({"topic": SPEC.topic, "start_time": "2027-01-14T09:00:00",
                                                    "timezone": "Asia/Makassar", "duration": 90,
                                                    "agenda": SPEC.agenda, "settings": SETTINGS})])

    make_client(clock).update_meeting("85012345678", SPEC, None)


def test_update_with_nothing_changed_makes_no_call(mock, clock) -> None:
    make_client(clock).update_meeting("85012345678", SPEC, SPEC)

    assert len(mock.calls) == 0


def test_update_of_a_missing_meeting_raises_not_found(mock, clock) -> None:
    token(mock)
    mock.patch(f"{API}/meetings/85012345678", status=404,
               json=zoom_error(3001, "Meeting 85012345678 is not found or has expired."))

    with pytest.raises(NotFoundError) as caught:
        make_client(clock).update_meeting("85012345678", SPEC, None)
    assert caught.value.code == 3001 and caught.value.status == 404


def test_delete(mock, clock) -> None:
    token(mock)
    mock.delete(f"{API}/meetings/85012345678", status=204, match=bearer())

    make_client(clock).delete_meeting("85012345678")


def test_deleting_a_meeting_that_is_gone_counts_as_done(mock, clock) -> None:
    token(mock)
    mock.delete(f"{API}/meetings/85012345678", status=404,
                json=zoom_error(3001, "Meeting 85012345678 is not found or has expired."))

    make_client(clock).delete_meeting("85012345678")  # no exception


def test_get_meeting(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/meetings/85012345678", json=meeting_json(), match=bearer())

    info = make_client(clock).get_meeting("85012345678")

    assert info is not None and info.passcode == "Kx7pQ2mZ" and info.duration_minutes == 90


def test_get_meeting_that_is_gone_is_none(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/meetings/85012345678", status=404, json=zoom_error(3001, "Meeting does not exist."))

    assert make_client(clock).get_meeting("85012345678") is None


# -- the token --------------------------------------------------------------------------
def test_token_is_reused_within_its_life_and_renewed_after(mock, clock) -> None:
    token(mock, "tok-1", expires_in=3600)
    token(mock, "tok-2", expires_in=3600)
    mock.get(f"{API}/meetings/1", json=meeting_json(1), match=bearer("tok-1"))
    mock.get(f"{API}/meetings/2", json=meeting_json(2), match=bearer("tok-1"))
    mock.get(f"{API}/meetings/3", json=meeting_json(3), match=bearer("tok-2"))
    client = make_client(clock)

    client.get_meeting("1")
    clock.now += 3600 - 61  # still more than a minute left
    client.get_meeting("2")
    clock.now += 2  # inside the last minute: ask again
    client.get_meeting("3")

    assert sum(1 for c in mock.calls if c.request.url.startswith(OAUTH)) == 2


def test_a_401_gets_one_new_token_and_one_retry(mock, clock) -> None:
    token(mock, "tok-1")
    mock.get(f"{API}/meetings/1", status=401, json=zoom_error(124, "Invalid access token."), match=bearer("tok-1"))
    token(mock, "tok-2")
    mock.get(f"{API}/meetings/1", json=meeting_json(1), match=bearer("tok-2"))

    info = make_client(clock).get_meeting("1")

    assert info is not None and info.meeting_id == "1"


def test_a_second_401_is_an_auth_error_naming_the_variables_not_the_secret(mock, clock) -> None:
    token(mock, "tok-1")
    mock.get(f"{API}/meetings/1", status=401, json=zoom_error(124, "Invalid access token."))
    token(mock, "tok-2")
    mock.get(f"{API}/meetings/1", status=401, json=zoom_error(124, "Invalid access token."))

    with pytest.raises(AuthError) as caught:
        make_client(clock).get_meeting("1")

    text = str(caught.value)
    assert "ZOOM_ACCOUNT_ID" in text and "ZOOM_CLIENT_ID" in text and "ZOOM_CLIENT_SECRET" in text
    assert SECRET not in text and "tok-1" not in text and "tok-2" not in text


def test_refused_credentials_are_an_auth_error_naming_the_variables(mock, clock) -> None:
    mock.post(OAUTH, status=400, json={"reason": "Invalid client_id or client_secret", "error": "invalid_client"})

    with pytest.raises(AuthError) as caught:
        make_client(clock).get_meeting("1")

    text = str(caught.value)
    assert "ZOOM_CLIENT_SECRET" in text and "Invalid client_id or client_secret" in text
    assert SECRET not in text


def test_a_missing_scope_is_access_denied_naming_the_scope(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1", status=400,
             json=zoom_error(4711, "Invalid access token, does not contain scopes:[meeting:read:admin]."))

    with pytest.raises(AccessDeniedError) as caught:
        make_client(clock).get_meeting("1")

    assert "meeting:read:admin" in str(caught.value) and caught.value.code == 4711


def test_a_401_for_a_missing_scope_is_not_retried(mock, clock) -> None:
    token(mock)
    mock.delete(f"{API}/meetings/1", status=401,
                json=zoom_error(104, "Invalid access token, does not contain scopes:[meeting:write:admin]"))

    with pytest.raises(AccessDeniedError, match="meeting:write:admin"):
        make_client(clock).delete_meeting("1")


# -- rate limits, retries and errors ------------------------------------------------------
def test_a_429_with_a_short_retry_after_is_waited_out(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1", status=429, headers={"Retry-After": "2"},
             json=zoom_error(429, "You have reached the maximum per-second rate limit for this API."))
    mock.get(f"{API}/meetings/1", json=meeting_json(1))

    assert make_client(clock).get_meeting("1") is not None
    assert clock.sleeps == [2.0]


def test_a_daily_limit_raises_at_once_with_the_time_to_midnight_utc(mock, clock) -> None:
    token(mock)
    mock.post(f"{API}/users/me/meetings", status=429,
              headers={"X-RateLimit-Type": "Daily-limit", "Retry-After": "2027-01-15T00:00:00Z"},
              json=zoom_error(429, "You have exceeded the daily rate limit (100) of Meeting Create/Update "
                                   "API requests permitted for this particular user."))

    with pytest.raises(RateLimitError) as caught:
        make_client(clock).create_meeting(SPEC)

    assert caught.value.daily is True
    assert caught.value.retry_after == 5400.0  # 22:30 UTC -> 00:00 UTC
    assert caught.value.retryable
    assert clock.sleeps == []


def test_a_daily_limit_told_only_in_the_message_is_still_daily(mock, clock) -> None:
    token(mock)
    mock.patch(f"{API}/meetings/1", status=429,
               json=zoom_error(429, "You have exceeded the daily rate limit (100) of Meeting Create/Update API "
                                    "requests permitted for this particular user. You may resume these requests "
                                    "at GMT 00:00:00."))

    with pytest.raises(RateLimitError) as caught:
        make_client(clock).update_meeting("1", SPEC, None)

    assert caught.value.daily and clock.sleeps == []


def test_a_long_retry_after_goes_back_to_the_engine(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1", status=429, headers={"Retry-After": "120"}, json=zoom_error(429, "Slow down."))

    with pytest.raises(RateLimitError) as caught:
        make_client(clock).get_meeting("1")

    assert caught.value.retry_after == 120.0 and not caught.value.daily
    assert clock.sleeps == []


def test_5xx_is_retried_with_bounded_backoff(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1", status=503, body="Service Unavailable")
    mock.get(f"{API}/meetings/1", status=502, body="Bad Gateway")
    mock.get(f"{API}/meetings/1", json=meeting_json(1))

    assert make_client(clock).get_meeting("1") is not None

    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0 and 1.0 <= clock.sleeps[1] <= 2.0  # half fixed, half jitter


def test_5xx_that_persists_is_a_transient_error_after_max_attempts(mock, clock) -> None:
    token(mock)
    for _ in range(3):
        mock.get(f"{API}/meetings/1", status=500, json=zoom_error(500, "Internal error"))
    config = ZoomConfig(account_id="acct-1", client_id="client-1", client_secret=SECRET, api_base_url=API,
                        oauth_url=OAUTH, max_attempts=3)

    with pytest.raises(TransientError) as caught:
        make_client(clock, config).get_meeting("1")

    assert caught.value.retryable and caught.value.status == 500
    assert len(clock.sleeps) == 2 and sum(clock.sleeps) <= 3.0


def test_a_timeout_is_retried(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1", body=requests.Timeout("read timed out"))
    mock.get(f"{API}/meetings/1", json=meeting_json(1))

    assert make_client(clock).get_meeting("1") is not None
    assert len(clock.sleeps) == 1


def test_dropped_connections_end_in_a_transient_error(mock, clock) -> None:
    token(mock)
    for _ in range(2):
        mock.get(f"{API}/meetings/1", body=requests.ConnectionError("connection reset"))
    config = ZoomConfig(account_id="acct-1", client_id="client-1", client_secret=SECRET, api_base_url=API,
                        oauth_url=OAUTH, max_attempts=2)

    with pytest.raises(TransientError, match="connection failed after 2 attempts"):
        make_client(clock, config).get_meeting("1")


def test_a_400_is_a_remote_error_carrying_zooms_code_and_message(mock, clock) -> None:
    token(mock)
    mock.post(f"{API}/users/me/meetings", status=400,
              json=zoom_error(300, "Invalid enforce_login_domains, please separate multiple domains by semicolon"))

    with pytest.raises(RemoteError) as caught:
        make_client(clock).create_meeting(SPEC)

    error = caught.value
    assert type(error) is RemoteError and not error.retryable
    assert error.code == 300 and error.status == 400
    assert "Invalid enforce_login_domains" in str(error) and "POST /users/me/meetings" in str(error)


# -- finding a meeting again ---------------------------------------------------------------
def listed(mid: int, agenda: str, start: str = "2027-01-14T01:00:00Z") -> dict:
    return {"id": mid, "uuid": f"u{mid}", "topic": f"Meeting {mid}", "start_time": start, "duration": 90,
            "timezone": "Asia/Makassar", "join_url": f"https://zoom.us/j/{mid}", "agenda": agenda}


def test_find_meeting_follows_every_page(mock, clock) -> None:
    token(mock)
    page = {"type": "scheduled", "page_size": "300"}
    mock.get(f"{API}/users/me/meetings", match=[matchers.query_param_matcher(page)],
             json={"next_page_token": "pg2", "meetings": [listed(1, "Other webinar"), listed(2, "")]})
    mock.get(f"{API}/users/me/meetings", match=[matchers.query_param_matcher({**page, "next_page_token": "pg2"})],
             json={"next_page_token": "", "meetings": [listed(3, f"Short agenda\n\n{MARKER}")]})
    mock.get(f"{API}/meetings/3", json=meeting_json(3))

    info = make_client(clock).find_meeting(MARKER)

    assert info is not None and info.meeting_id == "3" and info.passcode == "Kx7pQ2mZ"


def test_find_meeting_reads_whole_agendas_the_list_cut_short(mock, clock) -> None:
    token(mock)
    cut = "x" * 250
    mock.get(f"{API}/users/me/meetings",
             json={"meetings": [listed(1, cut, start="2027-03-04T01:00:00Z"), listed(2, cut)]})
    mock.get(f"{API}/meetings/2", json=meeting_json(2, agenda=cut + "more text\n\n" + MARKER))

    info = make_client(clock).find_meeting(MARKER)

    assert info is not None and info.meeting_id == "2"  # meeting 1 is weeks away: never fetched


def test_find_meeting_returns_none_when_nothing_carries_the_marker(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/users/me/meetings", json={"total_records": 1, "meetings": [listed(1, "Other webinar")]})

    assert make_client(clock).find_meeting(MARKER) is None


# -- attendance -----------------------------------------------------------------------------
SCHEDULED = datetime(2027, 1, 14, 1, 0, tzinfo=UTC)


def instances(mock: responses.RequestsMock, *pairs: tuple[str, str], mid: str = "85012345678") -> None:
    mock.get(f"{API}/past_meetings/{mid}/instances",
             json={"meetings": [{"uuid": u, "start_time": s} for u, s in pairs]})


def person(name: str, email: str, join: str, leave: str, seconds: int, pid: str = "") -> dict:
    return {"id": pid, "user_id": str(abs(hash((name, join))) % 10**8), "name": name, "user_email": email,
            "join_time": f"2027-01-14T{join}Z", "leave_time": f"2027-01-14T{leave}Z", "duration": seconds}


def test_attendance_reads_every_report_page_and_merges_rejoins(mock, clock) -> None:
    token(mock)
    instances(mock, ("older==", "2027-01-07T01:02:00Z"), ("inst1==", "2027-01-14T00:58:00Z"))
    path = f"{API}/report/meetings/inst1%3D%3D/participants"
    mock.get(path, match=[matchers.query_param_matcher({"page_size": "300"})],
             json={"next_page_token": "t2", "participants": [
                 person("Budi", "budi@example.org", "01:00:00", "01:30:00", 1800),
                 person("Sari", "", "01:05:00", "02:30:00", 5100, pid="zoom-user-9")]})
    mock.get(path, match=[matchers.query_param_matcher({"page_size": "300", "next_page_token": "t2"})],
             json={"next_page_token": "t3", "participants": [
                 person("budi (HP)", "BUDI@example.org", "01:35:00", "02:30:00", 3300)]})
    mock.get(path, match=[matchers.query_param_matcher({"page_size": "300", "next_page_token": "t3"})],
             json={"next_page_token": "", "participants": [
                 person("Tamu", "", "01:10:00", "01:20:00", 600)]})

    rows = attendance_of(make_client(clock), "85012345678", SCHEDULED)

    assert rows == [
        Attendee(name="Budi", email="budi@example.org", first_join=datetime(2027, 1, 14, 1, 0, tzinfo=UTC),
                 last_leave=datetime(2027, 1, 14, 2, 30, tzinfo=UTC), minutes=85, joins=2),
        Attendee(name="Sari", email="", first_join=datetime(2027, 1, 14, 1, 5, tzinfo=UTC),
                 last_leave=datetime(2027, 1, 14, 2, 30, tzinfo=UTC), minutes=85, joins=1),
        Attendee(name="Tamu", email="", first_join=datetime(2027, 1, 14, 1, 10, tzinfo=UTC),
                 last_leave=datetime(2027, 1, 14, 1, 20, tzinfo=UTC), minutes=10, joins=1)]


def test_a_uuid_with_slashes_is_encoded_twice(mock, clock) -> None:
    token(mock)
    instances(mock, ("/abc//def==", "2027-01-14T01:00:00Z"))
    mock.get(f"{API}/report/meetings/%252Fabc%252F%252Fdef%253D%253D/participants",
             json={"participants": [person("Budi", "budi@example.org", "01:00:00", "01:30:00", 1800)]})

    rows = attendance_of(make_client(clock), "85012345678", SCHEDULED)

    assert rows is not None and [r.email for r in rows] == ["budi@example.org"]
    assert "%252F" in mock.calls[-1].request.url


def test_uuid_encoding() -> None:
    assert encode_uuid("/abc//def==") == "%252Fabc%252F%252Fdef%253D%253D"
    assert encode_uuid("ab//cd") == "ab%252F%252Fcd"
    assert encode_uuid("Ab+c/d==") == "Ab%2Bc%2Fd%3D%3D"


def test_without_report_access_attendance_comes_from_past_meetings(mock, clock) -> None:
    token(mock)
    instances(mock, ("inst1==", "2027-01-14T01:00:00Z"))
    mock.get(f"{API}/report/meetings/inst1%3D%3D/participants", status=400,
             json=zoom_error(200, "Only available for Paid account: acct-1."))
    mock.get(f"{API}/past_meetings/inst1%3D%3D/participants", json={"next_page_token": "n2", "participants": [
        person("Budi", "budi@example.org", "01:00:00", "01:30:00", 1800)]})
    mock.get(f"{API}/past_meetings/inst1%3D%3D/participants",
             match=[matchers.query_param_matcher({"page_size": "300", "next_page_token": "n2"})],
             json={"participants": [person("Budi", "budi@example.org", "01:40:00", "02:00:00", 1200)]})

    rows = attendance_of(make_client(clock), "85012345678", SCHEDULED)

    assert rows is not None and len(rows) == 1 and rows[0].minutes == 50 and rows[0].joins == 2


def test_a_missing_report_scope_also_falls_back(mock, clock) -> None:
    token(mock)
    instances(mock, ("inst1==", "2027-01-14T01:00:00Z"))
    mock.get(f"{API}/report/meetings/inst1%3D%3D/participants", status=400,
             json=zoom_error(4711, "Invalid access token, does not contain scopes:[report:read:admin]."))
    mock.get(f"{API}/past_meetings/inst1%3D%3D/participants", json={"participants": []})

    assert attendance_of(make_client(clock), "85012345678", SCHEDULED) == []


def test_no_ended_instance_yet_means_not_ready(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/past_meetings/85012345678/instances", status=404,
             json=zoom_error(3001, "Meeting does not exist: 85012345678."))

    assert attendance_of(make_client(clock), "85012345678", SCHEDULED) is None


def test_only_far_away_instances_means_not_ready(mock, clock) -> None:
    token(mock)
    instances(mock, ("older==", "2027-01-07T01:00:00Z"))

    assert attendance_of(make_client(clock), "85012345678", SCHEDULED) is None


def test_a_report_that_is_not_ready_means_not_ready(mock, clock) -> None:
    token(mock)
    instances(mock, ("inst1==", "2027-01-14T01:00:00Z"))
    mock.get(f"{API}/report/meetings/inst1%3D%3D/participants", status=400,
             json=zoom_error(3001, "Meeting ID is invalid or not end."))

    assert attendance_of(make_client(clock), "85012345678", SCHEDULED) is None


def test_other_report_errors_are_raised(mock, clock) -> None:
    token(mock)
    instances(mock, ("inst1==", "2027-01-14T01:00:00Z"))
    mock.get(f"{API}/report/meetings/inst1%3D%3D/participants", status=400,
             json=zoom_error(300, "The next page token is invalid or expired."))

    with pytest.raises(RemoteError, match="next page token"):
        attendance_of(make_client(clock), "85012345678", SCHEDULED)


# -- parsing and merging participants -----------------------------------------------------------
def test_parse_participant_prefers_the_stable_user_id() -> None:
    record = parse_participant({"id": "uuid-9", "participant_user_id": "puid-9", "user_id": "16778240",
                                "name": " Sari ", "user_email": "Sari@Example.org",
                                "join_time": "2027-01-14T01:00:00Z", "leave_time": "2027-01-14T01:30:00Z",
                                "duration": 1800})

    assert record == ParticipantRecord(name="Sari", email="Sari@Example.org", participant_id="puid-9",
                                       join_time=datetime(2027, 1, 14, 1, 0, tzinfo=UTC),
                                       leave_time=datetime(2027, 1, 14, 1, 30, tzinfo=UTC), duration_seconds=1800)


def test_parse_participant_fills_missing_times() -> None:
    start = datetime(2027, 1, 14, 1, 0, tzinfo=UTC)
    record = parse_participant({"name": "Tamu", "email": "tamu@example.org", "duration": 600}, default_time=start)

    assert record.email == "tamu@example.org" and record.participant_id == ""
    assert record.join_time == start and record.leave_time == start + timedelta(minutes=10)


def stay(name: str, email: str = "", pid: str = "", join: int = 0, leave: int = 30, seconds: int | None = None):
    base = datetime(2027, 1, 14, 1, 0, tzinfo=UTC)
    return ParticipantRecord(name=name, email=email, participant_id=pid, join_time=base + timedelta(minutes=join),
                             leave_time=base + timedelta(minutes=leave),
                             duration_seconds=(leave - join) * 60 if seconds is None else seconds)


def test_merge_joins_rejoins_by_email_whatever_its_case() -> None:
    rows = merge_participants([stay("Budi", "Budi@Example.org", join=0, leave=20),
                               stay("Budi HP", "budi@example.org", join=25, leave=60)])

    assert rows == [Attendee(name="Budi", email="budi@example.org", first_join=stay("x", join=0).join_time,
                             last_leave=stay("x", leave=60).leave_time, minutes=55, joins=2)]


def test_merge_falls_back_to_participant_id_then_name() -> None:
    rows = merge_participants([stay("Sari", pid="p1", join=5, leave=10), stay("Sari (tablet)", pid="p1", join=12),
                               stay(" tamu ", join=2, leave=4), stay("TAMU", join=40, leave=50),
                               stay("Sari", join=0, leave=1)])

    assert [(r.name, r.joins, r.minutes) for r in rows] == [("Sari", 1, 1), ("tamu", 2, 12), ("Sari", 2, 23)]


def test_merge_rounds_total_minutes_and_sorts_by_first_join_then_name() -> None:
    rows = merge_participants([stay("Zaki", join=3, seconds=89), stay("Ani", join=3, seconds=91),
                               stay("Ani", join=10, seconds=30)])

    assert [(r.name, r.minutes) for r in rows] == [("Ani", 2), ("Zaki", 1)]
    assert merge_participants([]) == []


def test_retry_after_may_be_seconds_or_a_date() -> None:
    assert retry_after_seconds("2", NOW) == 2.0
    assert retry_after_seconds("2027-01-15T00:00:00Z", NOW) == 5400.0
    assert retry_after_seconds("Fri, 15 Jan 2027 00:00:00 GMT", NOW) == 5400.0
    assert retry_after_seconds("soon", NOW) is None and retry_after_seconds("", NOW) is None
    assert seconds_to_utc_midnight(datetime(2027, 1, 15, 7, 0, tzinfo=WITA)) == 3600.0  # 23:00 UTC
