"""The Zoom client's registration calls and meeting settings, faked at the transport with ``responses``."""
from __future__ import annotations

import pytest
from responses import matchers

from integrations.zoom import EXPLICIT_SETTINGS, ZoomConfig, parse_participant, scopes_needed
from tests.helpers_zoom import API, CONFIG, SPEC, bearer, make_client, token, zoom_error
from worker.core.model import Recipient, Registrant
from worker.errors import AccessDeniedError, RemoteError, TransientError


def test_register_sends_one_batch_with_auto_approve_and_zooms_mails_off(mock, clock) -> None:
    token(mock)
    people = [Recipient("siti@example.org", "Siti Rahma"), Recipient("anon@example.org", "")]
    body = {"auto_approve": True, "registrants_confirmation_email": False, "registrants": [
        {"email": "siti@example.org", "first_name": "Siti Rahma", "last_name": ""},
        {"email": "anon@example.org", "first_name": "anon", "last_name": ""}]}
    mock.post(f"{API}/meetings/85012345678/batch_registrants", status=201,
              match=[matchers.json_params_matcher(body), *bearer()],
              json={"registrants": [{"registrant_id": "r1", "email": "siti@example.org", "join_url": "https://z/w/1"},
                                    {"registrant_id": "r2", "email": "anon@example.org", "join_url": "https://z/w/2"}]})
    made = make_client(clock).register("85012345678", people)
    assert made == [Registrant("siti@example.org", "Siti Rahma", "r1", "https://z/w/1"),
                    Registrant("anon@example.org", "anon", "r2", "https://z/w/2")]


def test_register_refuses_more_than_30_before_calling(clock) -> None:
    with pytest.raises(ValueError, match="1 to 30"):
        make_client(clock).register("1", [Recipient(f"p{i}@x.org") for i in range(31)])


def test_a_lost_register_answer_is_asked_again_zoom_returns_the_same_registrants(mock, clock) -> None:
    token(mock)
    url = f"{API}/meetings/1/batch_registrants"
    mock.post(url, status=503, json=zoom_error(503, "Service is temporarily unavailable."))
    mock.post(url, status=201, json={"registrants": [{"registrant_id": "r1", "email": "a@x.org", "join_url": "u"}]})
    assert make_client(clock).register("1", [Recipient("a@x.org", "A")])[0].registrant_id == "r1"
    assert clock.sleeps  # retried like a read: registering the same e-mail twice gives the same registrant


def test_registration_not_enabled_and_unlicensed_host_say_what_to_change(mock, clock) -> None:
    token(mock)
    url = f"{API}/meetings/1/batch_registrants"
    mock.post(url, status=400, json=zoom_error(3000, "Registration has not been enabled for this meeting: 1."))
    with pytest.raises(RemoteError, match="zoom.registration: false"):
        make_client(clock).register("1", [Recipient("a@x.org", "A")])
    mock.post(f"{API}/users/me/meetings", status=400,
              json=zoom_error(3000, "Registration is only available for licensed users."))
    with pytest.raises(RemoteError, match="licence in the Zoom admin portal"):
        make_client(clock).create_meeting(SPEC)


def test_a_missing_registrant_scope_names_the_granular_scope(mock, clock) -> None:
    token(mock)
    mock.post(f"{API}/meetings/1/batch_registrants", status=400,
              json=zoom_error(4711, "Invalid access token, does not contain scopes:[meeting:write:batch_registrants:admin]."))
    with pytest.raises(AccessDeniedError, match="add meeting:write:batch_registrants:admin"):
        make_client(clock).register("1", [Recipient("a@x.org", "A")])


def test_list_registrants_follows_pages_and_joins_names(mock, clock) -> None:
    token(mock)
    url = f"{API}/meetings/1/registrants"
    mock.get(url, match=[matchers.query_param_matcher({"status": "approved", "page_size": "300"})],
             json={"next_page_token": "n2", "registrants": [
                 {"id": "r1", "email": "a@x.org", "first_name": "Ani", "last_name": "Rahma", "join_url": "u1"}]})
    mock.get(url, match=[matchers.query_param_matcher({"status": "approved", "page_size": "300",
                                                       "next_page_token": "n2"})],
             json={"registrants": [{"id": "r2", "email": "b@x.org", "first_name": "Budi"}]})
    assert make_client(clock).list_registrants("1") == [Registrant("a@x.org", "Ani Rahma", "r1", "u1"),
                                                        Registrant("b@x.org", "Budi", "r2", "")]


def test_list_registrants_with_an_item_without_id_is_transient(mock, clock) -> None:
    token(mock)
    mock.get(f"{API}/meetings/1/registrants", json={"registrants": [{"email": "a@x.org"}]})
    with pytest.raises(TransientError):
        make_client(clock).list_registrants("1")


def test_cancel_registrants(mock, clock) -> None:
    token(mock)
    mock.put(f"{API}/meetings/1/registrants/status", status=204,
             match=[matchers.json_params_matcher({"action": "cancel", "registrants": [{"email": "a@x.org"}]})])
    make_client(clock).cancel_registrants("1", ["a@x.org"])


def test_meeting_settings_overrides_and_registration_off(clock) -> None:
    config = ZoomConfig(**{**CONFIG.__dict__, "registration": False,
                           "meeting_settings": {"question_and_answer": {"enable": True}}})
    settings = make_client(clock, config).meeting_settings()
    assert settings["approval_type"] == 2 and "registrants_confirmation_email" not in settings
    assert settings["question_and_answer"] == {"enable": True}
    assert settings["auto_start_meeting_summary"] is False == EXPLICIT_SETTINGS["auto_start_meeting_summary"]


def test_participant_record_carries_registrant_and_internal_flag() -> None:
    item = {"name": "iPhone", "user_email": "a@x.org", "registrant_id": "r1", "internal_user": False,
            "join_time": "2027-01-07T01:00:00Z", "leave_time": "2027-01-07T01:30:00Z", "duration": 1800}
    record = parse_participant(item)
    assert (record.registrant_id, record.internal) == ("r1", False)
    assert parse_participant({**item, "internal_user": True, "registrant_id": ""}).internal


def test_scopes_needed_name_granular_scopes() -> None:
    text = " ".join(scopes_needed(True))
    for scope in ("meeting:write:meeting:admin", "meeting:write:batch_registrants:admin",
                  "meeting:read:list_registrants:admin", "report:read:list_meeting_participants:admin",
                  "meeting:read:list_past_participants:admin"):
        assert scope in text
    assert "registrant" not in " ".join(scopes_needed(False))
