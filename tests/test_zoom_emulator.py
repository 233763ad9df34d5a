"""The Zoom emulator over real sockets, driven with plain ``requests`` (not the project's Zoom client)."""
from __future__ import annotations

import logging
import socket
import struct
import time
from datetime import datetime, timedelta
from typing import Any, Iterator
from urllib.parse import quote

import pytest
import requests

from integrations.sandbox.zoom_server import ExpectedAttendee, SimParticipant, ZoomEmulator
from tests.helpers_process import wait_until
from tests.helpers_zoom_emulator import START, Api, MutableClock, token_for

@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(START)


@pytest.fixture
def zoom(clock: MutableClock) -> Iterator[ZoomEmulator]:
    with ZoomEmulator(clock=clock.now) as emulator:
        yield emulator


@pytest.fixture
def api(zoom: ZoomEmulator) -> Api:
    return Api(zoom)


def twice(uuid: str) -> str:
    """Zoom's double encoding for path segments."""
    return quote(quote(uuid, safe=""), safe="")


def fetch_all(api: Api, path: str, page_size: int) -> list[list[dict[str, Any]]]:
    """Every page of a participant listing, following next_page_token."""
    pages, token = [], ""
    for _ in range(1000):  # a bound: an emulator that always hands out a next_page_token fails, not hangs
        params: dict[str, Any] = {"page_size": page_size}
        if token:
            params["next_page_token"] = token
        reply = api.call("GET", path, params=params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        pages.append(body["participants"])
        token = body["next_page_token"]
        if not token:
            return pages
    raise AssertionError(f"still a next_page_token after {len(pages)} pages")


def merge(records: list[dict[str, Any]]) -> dict[str, tuple[datetime, datetime, int, int]]:
    """The documented merge: by e-mail, else id, else name -> (first join, last leave, minutes, joins)."""
    people: dict[str, list[Any]] = {}
    for r in records:
        email, pid = r["user_email"].strip().lower(), r["id"].strip()
        key = f"email:{email}" if email else (f"id:{pid}" if pid else f"name:{r['name'].strip().casefold()}")
        joined = datetime.fromisoformat(r["join_time"])
        left = datetime.fromisoformat(r["leave_time"])
        row = people.setdefault(key, [joined, left, 0, 0])
        row[0], row[1] = min(row[0], joined), max(row[1], left)
        row[2] += r["duration"]
        row[3] += 1
    return {k: (v[0], v[1], round(v[2] / 60), v[3]) for k, v in people.items()}


# -- OAuth ---------------------------------------------------------------------------------------------
def test_token_has_zoom_shape(zoom: ZoomEmulator) -> None:
    reply = token_for(zoom)
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert "meeting:write:admin" in body["scope"] and "report:read:admin" in body["scope"]
    assert body["access_token"]


def test_token_refuses_bad_credentials_and_account(zoom: ZoomEmulator) -> None:
    bad = token_for(zoom, auth=("sandbox-client", "wrong"))
    assert bad.status_code == 401
    assert bad.json() == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
    assert requests.post(zoom.oauth_url, params={"grant_type": "account_credentials",
                                                 "account_id": "sandbox-account"}, timeout=10).status_code == 401
    wrong_account = token_for(zoom, account="someone-else")
    assert wrong_account.status_code == 400 and wrong_account.json()["error"] == "invalid_request"
    wrong_grant = requests.post(zoom.oauth_url, params={"grant_type": "client_credentials",
                                                        "account_id": "sandbox-account"},
                                auth=("sandbox-client", "sandbox-secret"), timeout=10)
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"


def test_api_needs_a_token(zoom: ZoomEmulator) -> None:
    reply = requests.get(f"{zoom.api_base_url}/users/me/meetings", timeout=10)
    assert reply.status_code == 401 and reply.json() == {"code": 124, "message": "Invalid access token."}
    reply = requests.get(f"{zoom.api_base_url}/users/me/meetings", headers={"Authorization": "Bearer nope"},
                         timeout=10)
    assert reply.status_code == 401 and reply.json()["code"] == 124


def test_token_expires_by_the_injected_clock(zoom: ZoomEmulator, api: Api, clock: MutableClock) -> None:
    assert api.call("GET", "/users/me/meetings").status_code == 200
    clock.advance(seconds=3599)
    assert api.call("GET", "/users/me/meetings").status_code == 200
    clock.advance(seconds=1)
    expired = api.call("GET", "/users/me/meetings")
    assert expired.status_code == 401 and expired.json() == {"code": 124, "message": "Access token is expired."}
    api.login()
    assert api.call("GET", "/users/me/meetings").status_code == 200


def test_expire_tokens_revokes_every_token(zoom: ZoomEmulator, api: Api) -> None:
    zoom.expire_tokens()
    reply = api.call("GET", "/users/me/meetings")
    assert reply.status_code == 401 and reply.json()["code"] == 124
    api.login()
    assert api.call("GET", "/users/me/meetings").status_code == 200


def test_short_token_ttl(clock: MutableClock) -> None:
    with ZoomEmulator(clock=clock, token_ttl=60) as zoom:  # a Clock object works as well as a callable
        api = Api(zoom)
        clock.advance(seconds=61)
        assert api.call("GET", "/users/me/meetings").status_code == 401


# -- meetings ------------------------------------------------------------------------------------------
def test_create_converts_local_start_to_utc(zoom: ZoomEmulator, api: Api) -> None:
    meeting = api.create(settings={"waiting_room": True, "mute_upon_entry": True}, password="abc123")
    assert meeting["start_time"] == "2027-01-14T02:00:00Z"  # 10:00 WITA (UTC+8)
    assert meeting["timezone"] == "Asia/Makassar" and meeting["type"] == 2 and meeting["duration"] == 60
    assert isinstance(meeting["id"], int) and len(str(meeting["id"])) == 11
    assert len(meeting["uuid"]) == 24 and meeting["uuid"].endswith("==")
    assert meeting["join_url"].startswith(f"https://zoom.example/j/{meeting['id']}?pwd=")
    assert meeting["password"] == "abc123" and meeting["host_id"] == zoom.host_id
    assert meeting["settings"]["waiting_room"] is True and meeting["settings"]["join_before_host"] is False
    assert meeting["created_at"] == "2027-01-14T00:00:00Z"  # from the injected clock
    assert zoom.meetings[meeting["id"]]["topic"] == "Library webinar"


def test_create_accepts_utc_start_and_refuses_bad_fields(api: Api) -> None:
    assert api.create(start_time="2027-03-01T05:30:00Z", timezone="Europe/Berlin")["start_time"] == \
        "2027-03-01T05:30:00Z"
    summer = api.create(start_time="2027-07-01T10:00:00", timezone="Europe/Berlin")
    assert summer["start_time"] == "2027-07-01T08:00:00Z"  # CEST, UTC+2
    for bad in ({"start_time": "next thursday"}, {"timezone": "Mars/Olympus"}, {"duration": -5},
                {"password": "x" * 11}, {"type": 8}):
        reply = api.call("POST", "/users/me/meetings", json={"topic": "x", **bad})
        assert reply.status_code == 400, bad
        assert reply.json()["code"] == 300 and reply.json()["errors"][0]["field"] in bad
    assert api.call("POST", "/users/me/meetings", data=b"not json").json()["code"] == 300


def test_unknown_user_is_1001(zoom: ZoomEmulator, api: Api) -> None:
    reply = api.call("POST", "/users/nobody@example.org/meetings", json={"topic": "x"})
    assert reply.status_code == 404
    assert reply.json() == {"code": 1001, "message": "User does not exist: nobody@example.org."}
    assert api.call("GET", f"/users/{zoom.host_email}/meetings").status_code == 200
    assert api.call("GET", f"/users/{zoom.host_id}/meetings").status_code == 200


def test_get_patch_delete(zoom: ZoomEmulator, api: Api) -> None:
    meeting = api.create()
    number = meeting["id"]
    fetched = api.call("GET", f"/meetings/{number}").json()
    assert fetched["topic"] == "Library webinar" and fetched["uuid"] == meeting["uuid"]

    reply = api.call("PATCH", f"/meetings/{number}", json={"topic": "New topic", "start_time": "2027-01-14T11:00:00",
                                                           "settings": {"waiting_room": True}})
    assert reply.status_code == 204 and reply.content == b""
    fetched = api.call("GET", f"/meetings/{number}").json()
    assert fetched["topic"] == "New topic" and fetched["start_time"] == "2027-01-14T03:00:00Z"
    assert fetched["agenda"] == meeting["agenda"] and fetched["duration"] == 60  # untouched fields stay
    assert fetched["settings"]["waiting_room"] is True and fetched["settings"]["audio"] == "voip"

    assert api.call("DELETE", f"/meetings/{number}").status_code == 204
    gone = api.call("GET", f"/meetings/{number}")
    assert gone.status_code == 404 and gone.json() == {"code": 3001, "message": f"Meeting does not exist: {number}."}
    assert api.call("DELETE", f"/meetings/{number}").json()["code"] == 3001
    assert api.call("PATCH", f"/meetings/{number}", json={"topic": "x"}).status_code == 404
    assert number in zoom.deleted and number not in zoom.meetings


def test_list_paginates_over_three_pages(zoom: ZoomEmulator, api: Api) -> None:
    created = {api.create(start_time=f"2027-01-{day:02d}T10:00:00")["id"] for day in range(1, 29)}
    created |= {api.create(start_time=f"2027-02-{day:02d}T10:00:00")["id"] for day in range(1, 25)}
    assert len(created) == 52
    seen, token, pages = [], "", 0
    while pages < 10:  # 3 expected; a bound so an endless next_page_token fails instead of hanging
        params = {"type": "scheduled", "page_size": 20, **({"next_page_token": token} if token else {})}
        body = api.call("GET", "/users/me/meetings", params=params).json()
        pages += 1
        assert body["page_size"] == 20 and body["total_records"] == 52
        seen += body["meetings"]
        token = body["next_page_token"]
        if not token:
            break
    assert pages == 3 and len(seen) == 52 and {m["id"] for m in seen} == created
    assert set(seen[0]) >= {"id", "uuid", "topic", "type", "start_time", "duration", "timezone", "agenda",
                            "join_url", "created_at"}
    assert [m["start_time"] for m in seen] == sorted(m["start_time"] for m in seen)
    big = api.call("GET", "/users/me/meetings", params={"page_size": 1000}).json()
    assert big["page_size"] == 300 and len(big["meetings"]) == 52 and big["next_page_token"] == ""
    default = api.call("GET", "/users/me/meetings").json()
    assert default["page_size"] == 30 and len(default["meetings"]) == 30


def test_page_token_is_checked_and_expires(zoom: ZoomEmulator, api: Api, clock: MutableClock) -> None:
    for _ in range(3):
        api.create()
    token = api.call("GET", "/users/me/meetings", params={"page_size": 1}).json()["next_page_token"]
    bogus = api.call("GET", "/users/me/meetings", params={"next_page_token": "bogus"})
    assert bogus.status_code == 400 and bogus.json()["code"] == 300
    clock.advance(minutes=16)
    api.login()  # a fresh token, so only the page token is stale
    stale = api.call("GET", "/users/me/meetings", params={"page_size": 1, "next_page_token": token})
    assert stale.status_code == 400 and "expired" in stale.json()["message"]


# -- faults --------------------------------------------------------------------------------------------
def test_429_with_retry_after_then_success(zoom: ZoomEmulator, api: Api) -> None:
    zoom.fail_next("create_meeting", 429, retry_after=7)
    first = api.call("POST", "/users/me/meetings", json={"topic": "x"})
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert first.headers["X-RateLimit-Type"] == "QPS" and first.json()["code"] == 429
    assert api.call("POST", "/users/me/meetings", json={"topic": "x"}).status_code == 201
    assert zoom.calls["create_meeting"] == 2 and len(zoom.meetings) == 1


def test_daily_limit_says_when_it_resets(zoom: ZoomEmulator, api: Api, clock: MutableClock) -> None:
    clock.advance(hours=13)
    zoom.fail_next("report_participants", 429, daily=True)
    reply = api.call("GET", "/report/meetings/12345678901/participants")
    assert reply.status_code == 429 and reply.headers["X-RateLimit-Type"] == "Daily-limit"
    assert reply.headers["Retry-After"] == "2027-01-15T00:00:00Z"
    assert "daily rate limit" in reply.json()["message"]


def test_meeting_write_limit(zoom: ZoomEmulator, api: Api) -> None:
    zoom.meeting_write_limit = 2
    number = api.create()["id"]
    assert api.call("PATCH", f"/meetings/{number}", json={"topic": "y"}).status_code == 204
    third = api.call("POST", "/users/me/meetings", json={"topic": "z"})
    assert third.status_code == 429 and third.headers["X-RateLimit-Type"] == "Daily-limit"
    assert "Create/Update" in third.json()["message"]


def test_503_500_and_wildcard(zoom: ZoomEmulator, api: Api) -> None:
    zoom.fail_next("get_meeting", 503, times=2, retry_after=3)
    for _ in range(2):
        reply = api.call("GET", "/meetings/1")
        assert reply.status_code == 503 and reply.json()["code"] == 503 and reply.headers["Retry-After"] == "3"
    assert api.call("GET", "/meetings/1").status_code == 404  # faults used up: the real answer
    zoom.fail_next("*", 500)
    assert token_for(zoom).status_code == 500
    assert token_for(zoom).status_code == 200
    with pytest.raises(ValueError, match="unknown route"):
        zoom.fail_next("get_meetings", 500)


def test_slow_answers(zoom: ZoomEmulator, api: Api) -> None:
    zoom.delay_seconds = 0.05
    began = time.monotonic()
    api.call("GET", "/users/me/meetings")
    assert time.monotonic() - began >= 0.05


def test_counters_and_reset(zoom: ZoomEmulator, api: Api) -> None:
    number = api.create()["id"]
    api.call("GET", f"/meetings/{number}")
    api.call("GET", f"/meetings/{number}")
    api.call("GET", "/users/me/meetings")
    api.call("PATCH", f"/meetings/{number}", json={"agenda": "x"})
    api.call("DELETE", f"/meetings/{number}")
    assert zoom.calls == {"token": 1, "create_meeting": 1, "get_meeting": 2, "list_meetings": 1,
                          "patch_meeting": 1, "delete_meeting": 1}
    zoom.reset_calls()
    assert sum(zoom.calls.values()) == 0
    assert api.call("GET", "/no/such/route").status_code == 404 and sum(zoom.calls.values()) == 0


# -- past meetings and reports ----------------------------------------------------------------------
def test_not_ended_then_not_ready_then_ready(zoom: ZoomEmulator, api: Api) -> None:
    meeting = api.create()
    number = meeting["id"]
    before = api.call("GET", f"/report/meetings/{number}/participants")
    assert before.status_code == 404 and before.json()["code"] == 3001
    assert api.call("GET", f"/past_meetings/{number}/instances").json() == {"meetings": []}

    zoom.not_ready_calls(2)
    uuid = zoom.end_meeting(number)
    assert uuid == meeting["uuid"]
    zoom.simulate_attendance(number, 10)
    assert api.call("GET", f"/past_meetings/{number}/instances").json() == {"meetings": []}  # 1st: held back
    waiting = api.call("GET", f"/report/meetings/{twice(uuid)}/participants")  # 2nd: not ready
    assert waiting.status_code == 404 and waiting.json()["code"] == 3001 and "not ready" in waiting.json()["message"]
    ready = api.call("GET", f"/report/meetings/{twice(uuid)}/participants")
    assert ready.status_code == 200 and ready.json()["total_records"] >= 10
    assert api.call("GET", f"/past_meetings/{number}/instances").json() == {
        "meetings": [{"uuid": uuid, "start_time": "2027-01-14T02:00:00Z"}]}


def test_report_delay_follows_the_clock(zoom: ZoomEmulator, api: Api, clock: MutableClock) -> None:
    number = api.create(start_time="2027-01-14T00:00:00Z")["id"]
    zoom.report_delay = timedelta(minutes=20)
    zoom.end_meeting(number, started_at=START, ended_at=START + timedelta(minutes=60))
    clock.advance(minutes=70)
    api.login()
    assert api.call("GET", f"/past_meetings/{number}/participants").status_code == 404
    clock.advance(minutes=10)
    assert api.call("GET", f"/past_meetings/{number}/participants").status_code == 200


def test_free_account_has_no_report_but_past_meetings_work(clock: MutableClock) -> None:
    with ZoomEmulator(clock=clock.now, report_plan=False) as zoom:
        api = Api(zoom)
        number = api.create()["id"]
        uuid = zoom.end_meeting(number)
        zoom.add_participants(number, [SimParticipant("Ana", "ana@example.org", START, START + timedelta(minutes=5))])
        report = api.call("GET", f"/report/meetings/{twice(uuid)}/participants")
        assert report.status_code == 400 and report.json()["code"] == 200
        assert "report:read:admin" not in token_for(zoom).json()["scope"]
        past = api.call("GET", f"/past_meetings/{twice(uuid)}/participants").json()
        assert past["total_records"] == 1 and past["participants"][0]["name"] == "Ana"
        assert past["participants"][0]["duration"] == 300


@pytest.mark.parametrize("kind", ["leading_slash", "double_slash"])
def test_awkward_uuid_needs_double_encoding(clock: MutableClock, kind: str) -> None:
    with ZoomEmulator(clock=clock.now, uuid_kind=kind) as zoom:
        api = Api(zoom)
        number = api.create()["id"]
        uuid = zoom.end_meeting(number)
        assert uuid.startswith("/") if kind == "leading_slash" else "//" in uuid
        zoom.simulate_attendance(number, 3, rejoin_every=0)
        for route in ("report/meetings", "past_meetings"):
            good = api.call("GET", f"/{route}/{twice(uuid)}/participants")
            assert good.status_code == 200 and good.json()["total_records"] == 3, good.text
            once = api.call("GET", f"/{route}/{quote(uuid, safe='')}/participants")
            assert once.status_code == 404 and once.json()["code"] == 3001
            raw = api.call("GET", f"/{route}/{uuid}/participants")
            assert raw.status_code == 404


def test_plain_uuid_works_encoded_once_or_twice(zoom: ZoomEmulator, api: Api) -> None:
    number = api.create()["id"]
    uuid = zoom.end_meeting(number, uuid="abcDEF12+xyz/AB34cd56Q==")  # one "/" is fine encoded once
    zoom.simulate_attendance(number, 2, rejoin_every=0)
    for segment in (quote(uuid, safe=""), twice(uuid)):
        assert api.call("GET", f"/past_meetings/{segment}/participants").json()["total_records"] == 2


def test_cycle_hands_out_every_uuid_shape(clock: MutableClock) -> None:
    with ZoomEmulator(clock=clock.now, uuid_kind="cycle") as zoom:
        api = Api(zoom)
        uuids = [api.create()["uuid"] for _ in range(3)]
        assert not uuids[0].startswith("/") and "//" not in uuids[0]
        assert uuids[1].startswith("/") and "//" in uuids[2]
        assert all(len(u) == 24 and u.endswith("==") for u in uuids)


def test_each_occurrence_has_its_own_uuid(zoom: ZoomEmulator, api: Api) -> None:
    number = api.create()["id"]
    first = zoom.end_meeting(number)
    zoom.add_participants(number, [{"name": "Ana", "email": "ana@example.org", "join_time": "2027-01-14T02:00:00+00:00",
                                    "leave_time": "2027-01-14T02:30:00+00:00", "internal": True}])
    second = zoom.end_meeting(number, started_at=START + timedelta(days=7), ended_at=START + timedelta(days=7, hours=1))
    zoom.add_participants(number, [SimParticipant("Budi", "", START + timedelta(days=7),
                                                  START + timedelta(days=7, minutes=10), "p-1"),
                                   SimParticipant("Citra", "", START + timedelta(days=7),
                                                  START + timedelta(days=7, minutes=20))])
    assert first != second and api.call("GET", f"/meetings/{number}").json()["uuid"] not in (first, second)
    instances = api.call("GET", f"/past_meetings/{number}/instances").json()["meetings"]
    assert [i["uuid"] for i in instances] == [first, second] == zoom.instances(number)
    latest = api.call("GET", f"/report/meetings/{number}/participants").json()  # a meeting id means the latest
    assert [p["name"] for p in latest["participants"]] == ["Budi", "Citra"]
    # Budi is an external participant: since 2023-03 the report blanks his id (past_meetings still has it)
    assert latest["participants"][0]["id"] == "" and latest["participants"][1]["id"] == ""
    past = api.call("GET", f"/past_meetings/{number}/participants").json()
    assert past["participants"][0]["id"] == "p-1"
    older = api.call("GET", f"/report/meetings/{twice(first)}/participants").json()
    assert [p["user_email"] for p in older["participants"]] == ["ana@example.org"]
    api.call("DELETE", f"/meetings/{number}")  # the past stays readable after a delete
    assert len(api.call("GET", f"/past_meetings/{number}/instances").json()["meetings"]) == 2


def test_700_participants_with_rejoins_page_by_page(zoom: ZoomEmulator, api: Api) -> None:
    number = api.create(duration=90)["id"]
    uuid = zoom.end_meeting(number)
    expected = zoom.simulate_attendance(number, 700, rejoin_every=5, seed=3,
                                        extra_names=["=IMPORTXML(\"http://x\",\"//a\")", "O'Brien <b>&amp;"])
    assert len(expected) == 700 and all(isinstance(e, ExpectedAttendee) for e in expected)
    assert {e.joins for e in expected} == {1, 2, 3}
    generated = sum(e.joins for e in expected)
    assert generated == len(zoom.participant_records(uuid)) > 700

    pages = fetch_all(api, f"/report/meetings/{twice(uuid)}/participants", page_size=300)
    assert len(pages) == -(-generated // 300) >= 3
    records = [r for page in pages for r in page]
    assert len(records) == generated
    assert len({r["user_id"] for r in records}) == generated  # a new user_id per join
    first = api.call("GET", f"/report/meetings/{twice(uuid)}/participants", params={"page_size": 300}).json()
    assert first["total_records"] == generated and first["page_count"] == len(pages)
    assert set(first["participants"][0]) >= {"id", "user_id", "name", "user_email", "join_time", "leave_time",
                                             "duration"}

    merged = merge(records)
    assert merged == {e.key: (e.first_join, e.last_leave, e.minutes, e.joins) for e in expected}
    assert any(not e.email and e.participant_id for e in expected)  # guests merged by id
    assert any(not e.email and not e.participant_id for e in expected)  # guests merged by name
    assert expected[0].first_join <= expected[-1].first_join

    past_pages = fetch_all(api, f"/past_meetings/{twice(uuid)}/participants", page_size=1000)  # capped at 300
    assert [len(p) for p in past_pages] == [len(p) for p in pages]
    assert zoom.calls["report_participants"] == len(pages) + 1 and zoom.calls["past_participants"] == len(pages)


def test_simulation_needs_an_ended_occurrence(zoom: ZoomEmulator, api: Api) -> None:
    number = api.create()["id"]
    with pytest.raises(ValueError, match="end_meeting"):
        zoom.simulate_attendance(number, 5)
    with pytest.raises(KeyError):
        zoom.end_meeting(1)


def test_unknown_meeting_in_reports(zoom: ZoomEmulator, api: Api) -> None:
    for path in ("/report/meetings/99999999999/participants", "/past_meetings/99999999999/participants",
                 "/past_meetings/99999999999/instances", f"/past_meetings/{twice('nope/x==')}/participants"):
        reply = api.call("GET", path)
        assert reply.status_code == 404 and reply.json()["code"] == 3001, path


def test_stop_closes_keep_alive_connections(clock: MutableClock) -> None:
    zoom = ZoomEmulator(clock=clock.now).start()
    api = Api(zoom)
    assert api.call("GET", "/users/me/meetings").status_code == 200  # the session now holds a connection
    zoom.stop()
    with pytest.raises(requests.ConnectionError):
        api.call("GET", "/users/me/meetings")
    zoom.stop()  # a second stop is harmless


# -- faults after the work is done ------------------------------------------------------------------
def test_a_5xx_after_commit_answers_an_error_but_keeps_the_meeting(zoom: ZoomEmulator, api: Api) -> None:
    zoom.fail_after_commit("create_meeting", 504)
    refused = api.call("POST", "/users/me/meetings", json={"topic": 5})  # fails anyway: the fault waits
    assert refused.status_code == 400 and not zoom.meetings
    lost = api.call("POST", "/users/me/meetings", json={"topic": "kept"})
    assert lost.status_code == 504 and lost.json() == {"code": 504, "message": "Gateway Timeout."}
    assert [m["topic"] for m in zoom.meetings.values()] == ["kept"]  # made, though the answer said otherwise
    assert api.call("POST", "/users/me/meetings", json={"topic": "next"}).status_code == 201  # used up
    assert len(zoom.meetings) == 2 and zoom.calls["create_meeting"] == 3


def test_fail_next_comes_before_the_route_and_leaves_after_commit_faults_queued(zoom: ZoomEmulator,
                                                                                 api: Api) -> None:
    zoom.fail_next("create_meeting", 503)
    zoom.fail_after_commit("*", 500)
    assert api.call("POST", "/users/me/meetings", json={"topic": "x"}).status_code == 503
    assert not zoom.meetings  # a fail_next fault answers before anything is made
    assert api.call("POST", "/users/me/meetings", json={"topic": "x"}).status_code == 500
    assert len(zoom.meetings) == 1


def test_a_dropped_connection_after_commit(zoom: ZoomEmulator, api: Api) -> None:
    number = api.create()["id"]
    zoom.fail_after_commit("patch_meeting", "drop")
    with pytest.raises(requests.ConnectionError):
        api.call("PATCH", f"/meetings/{number}", json={"topic": "changed"})
    assert zoom.meetings[number]["topic"] == "changed"
    assert api.call("GET", f"/meetings/{number}").status_code == 200  # a new connection works


def test_a_slow_answer_after_commit_outlasts_the_client(zoom: ZoomEmulator, api: Api, capfd, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="integrations.sandbox.zoom_server")
    zoom.fail_after_commit("create_meeting", "slow", seconds=0.5)
    with pytest.raises(requests.ReadTimeout):
        api.session.post(zoom.api_base_url + "/users/me/meetings", json={"topic": "late"}, timeout=0.1)
    assert [m["topic"] for m in zoom.meetings.values()] == ["late"]
    wait_for_log(caplog, "went away")
    assert "Traceback" not in capfd.readouterr().err


def test_fail_after_commit_refuses_what_it_cannot_do(zoom: ZoomEmulator) -> None:
    for bad in ((["create_meetings", 500]), (["create_meeting", 429]), (["create_meeting", "late"]),
                (["create_meeting", 500, 0])):
        with pytest.raises(ValueError):
            zoom.fail_after_commit(*bad)


def test_a_client_that_hangs_up_early_is_logged_at_debug_not_printed(zoom: ZoomEmulator, capfd, caplog) -> None:
    """The server writes its answer into a connection the client reset: no traceback on stderr."""
    caplog.set_level(logging.DEBUG, logger="integrations.sandbox.zoom_server")
    zoom.delay_seconds = 0.3
    with socket.create_connection((zoom.host, zoom.port), timeout=5) as sock:
        sock.sendall(b"GET /v2/users/me/meetings HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.05)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    wait_for_log(caplog, "went away")
    assert "Traceback" not in capfd.readouterr().err


def wait_for_log(caplog, text: str, seconds: float = 30.0) -> None:
    """Wait until a log record from a server thread contains ``text``."""
    wait_until(lambda: any(text in r.getMessage() for r in caplog.records),
               f"a log record with {text!r} among {[r.getMessage() for r in caplog.records]}", seconds=seconds)


def test_a_topic_over_200_characters_is_zooms_validation_error(zoom: ZoomEmulator, api: Api) -> None:
    """Zoom's shape (marketplace.zoom.us/docs/api-reference/error-definitions): code 300 with ``errors``."""
    long_topic = "T" * 201
    expected = {"code": 300, "message": "Validation Failed.",
                "errors": [{"field": "topic", "message": "Topic can be at most 200 characters."}]}
    created = api.call("POST", "/users/me/meetings", json={"topic": long_topic})
    assert created.status_code == 400 and created.json() == expected and not zoom.meetings
    number = api.create(topic="T" * 200)["id"]
    patched = api.call("PATCH", f"/meetings/{number}", json={"topic": long_topic})
    assert patched.status_code == 400 and patched.json() == expected
