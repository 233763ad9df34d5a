"""The Zoom emulator's registration and "who attended" truth, over real sockets with plain ``requests``."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

import pytest

from integrations.sandbox.zoom_server import SimParticipant, ZoomEmulator
from tests.helpers_zoom_emulator import START, Api, MutableClock

REGISTRATION = {"approval_type": 0, "registrants_confirmation_email": False}


@pytest.fixture
def zoom() -> Iterator[ZoomEmulator]:
    with ZoomEmulator(clock=MutableClock(START).now) as emulator:
        yield emulator


@pytest.fixture
def api(zoom: ZoomEmulator) -> Api:
    return Api(zoom)


def people(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"email": f"orang{i}@example.org", "first_name": f"Orang {i}", "last_name": "Uji"} for i in range(start, start + n)]


def test_omitted_settings_take_the_account_defaults_ai_summary_on(api: Api) -> None:
    made = api.create()
    assert made["settings"]["auto_start_meeting_summary"] is True
    assert made["settings"]["auto_start_ai_companion_questions"] is True
    assert made["settings"]["question_and_answer"]["enable"] is True
    explicit = api.create(settings={"auto_start_meeting_summary": False, "auto_start_ai_companion_questions": False})
    assert explicit["settings"]["auto_start_meeting_summary"] is False
    assert explicit["settings"]["auto_start_ai_companion_questions"] is False


def test_registration_url_only_with_registration(api: Api) -> None:
    assert "registration_url" not in api.create()
    made = api.create(settings=REGISTRATION)
    assert made["registration_url"].startswith("https://zoom.example/meeting/register/")
    assert api.call("GET", f"/meetings/{made['id']}").json()["registration_url"] == made["registration_url"]
    assert not any(k.startswith("_") for k in made)


def test_registrants_refused_when_registration_is_off(api: Api) -> None:
    number = api.create()["id"]
    reply = api.call("POST", f"/meetings/{number}/batch_registrants", json={"registrants": people(1)})
    assert reply.status_code == 400 and reply.json()["code"] == 3000
    assert "Registration has not been enabled" in reply.json()["message"]


def test_registration_needs_a_licensed_host(zoom: ZoomEmulator, api: Api) -> None:
    zoom.host_licensed = False
    reply = api.call("POST", "/users/me/meetings", json={"topic": "x", "type": 2, "settings": REGISTRATION})
    assert reply.status_code == 400 and reply.json()["code"] == 3000 and "licensed" in reply.json()["message"]


def test_batch_of_31_is_refused_30_is_taken(api: Api) -> None:
    number = api.create(settings=REGISTRATION)["id"]
    too_many = api.call("POST", f"/meetings/{number}/batch_registrants", json={"registrants": people(31)})
    assert too_many.status_code == 400 and too_many.json()["code"] == 300
    ok = api.call("POST", f"/meetings/{number}/batch_registrants",
                  json={"registrants": people(30), "auto_approve": True})
    assert ok.status_code == 201
    got = ok.json()["registrants"]
    assert len(got) == 30 and len({r["join_url"] for r in got}) == 30 and all(r["registrant_id"] for r in got)


def test_same_email_gets_the_same_registrant(api: Api) -> None:
    number = api.create(settings=REGISTRATION)["id"]
    first = api.call("POST", f"/meetings/{number}/registrants", json=people(1)[0]).json()
    again = api.call("POST", f"/meetings/{number}/batch_registrants",
                     json={"registrants": [{**people(1)[0], "email": "ORANG0@example.org"}]}).json()["registrants"][0]
    assert (again["registrant_id"], again["join_url"]) == (first["registrant_id"], first["join_url"])


def test_registrant_list_is_paginated_and_cancel_removes_from_approved(api: Api) -> None:
    number = api.create(settings=REGISTRATION)["id"]
    for start in (0, 30):
        api.call("POST", f"/meetings/{number}/batch_registrants", json={"registrants": people(30, start)})
    page = api.call("GET", f"/meetings/{number}/registrants", params={"page_size": 50}).json()
    assert page["total_records"] == 60 and len(page["registrants"]) == 50 and page["next_page_token"]
    rest = api.call("GET", f"/meetings/{number}/registrants",
                    params={"page_size": 50, "next_page_token": page["next_page_token"]}).json()
    assert len(rest["registrants"]) == 10 and not rest["next_page_token"]
    cancel = api.call("PUT", f"/meetings/{number}/registrants/status",
                      json={"action": "cancel", "registrants": [{"email": "orang5@example.org"}]})
    assert cancel.status_code == 204
    listed = api.call("GET", f"/meetings/{number}/registrants", params={"page_size": 300}).json()
    assert listed["total_records"] == 59
    assert "orang5@example.org" not in {r["email"] for r in listed["registrants"]}


def test_who_attended_is_shown_only_for_registrants_and_internal_users(zoom: ZoomEmulator, api: Api) -> None:
    number = api.create(settings=REGISTRATION)["id"]
    link = api.call("POST", f"/meetings/{number}/registrants", json=people(1)[0]).json()["join_url"]
    walk_in = zoom.register_on_page(number, "tamu@example.org", "Tamu", "Baru")
    zoom.end_meeting(number, started_at=START, ended_at=START + timedelta(hours=1))
    stay = (START, START + timedelta(minutes=40))
    zoom.add_participants(number, [
        SimParticipant("iPhone Orang", "typed@example.org", *stay, "p1", join_url=link),
        SimParticipant("Tamu HP", "", *stay, "p2", join_url=walk_in),
        SimParticipant("Peserta 08", "guest@example.org", *stay, "p3"),
        SimParticipant("Host Perpus", "host@library.example", *stay, "p4", internal=True)])
    rows = {p["name"]: p for p in api.call("GET", f"/report/meetings/{number}/participants").json()["participants"]}
    registered = {r["email"]: r["id"] for r in zoom.registrants(number)}
    assert rows["iPhone Orang"]["user_email"] == "orang0@example.org"  # what they registered, not what they typed
    assert rows["iPhone Orang"]["registrant_id"] == registered["orang0@example.org"]
    assert rows["Tamu HP"]["registrant_id"] == registered["tamu@example.org"]
    assert rows["Peserta 08"]["user_email"] == "" and rows["Peserta 08"]["registrant_id"] == ""
    assert all(rows[n]["id"] == "" and rows[n]["participant_user_id"] == ""
               for n in ("iPhone Orang", "Tamu HP", "Peserta 08"))  # external: blanked by the report
    assert rows["Host Perpus"]["internal_user"] is True and rows["Host Perpus"]["user_email"] == "host@library.example"
    assert rows["Host Perpus"]["id"] == "p4"


def test_registration_turned_on_by_patch_gets_a_registration_page(api: Api) -> None:
    number = api.create()["id"]
    assert api.call("PATCH", f"/meetings/{number}", json={"settings": REGISTRATION}).status_code == 204
    assert api.call("GET", f"/meetings/{number}").json()["registration_url"]
    assert api.call("POST", f"/meetings/{number}/registrants", json=people(1)[0]).status_code == 201
