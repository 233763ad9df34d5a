"""What staff are told when Google refuses, and cancelled events that must not be left behind."""
from __future__ import annotations

from dataclasses import replace

import httplib2
import pytest
from googleapiclient.errors import HttpError

from integrations.google_auth import SCOPES, GoogleConfig, build_calendar_service, load_credentials, translate_error
from integrations.google_calendar import GoogleCalendar
from tests.helpers_worlds import CALENDAR, GoogleWorld, live_events
from worker.errors import AccessDeniedError, AuthError
from worker.core.model import calendar_event_id


class Crash(BaseException):
    """A kill between a remote call and its save (not an Exception, so nothing catches it)."""


def http_error(status: int, reason: str, message: str = "refused") -> HttpError:
    body = ('{"error": {"code": %d, "message": "%s", "errors": [{"domain": "global", "reason": "%s", '
            '"message": "%s"}]}}' % (status, message, reason, message)).encode()
    return HttpError(httplib2.Response({"status": status}), body)


def calendar_client(tmp_path, emulator, calendar_id: str) -> tuple[GoogleCalendar, str]:
    key = tmp_path / "key.json"
    email = emulator.write_service_account_key(key)
    config = GoogleConfig(credentials_file=str(key), calendar_id=calendar_id, spreadsheet_id="",
                          api_endpoint=emulator.root_url)
    client = GoogleCalendar(build_calendar_service(config, load_credentials(config, SCOPES)), calendar_id,
                            service_account_email=email, key_file=str(key), num_retries=0)
    return client, email


def test_cancel_on_a_calendar_that_is_not_shared_is_an_error_naming_the_address(tmp_path, google):
    client, email = calendar_client(tmp_path, google, "not-shared@group.calendar.google.com")
    with pytest.raises(AccessDeniedError) as caught:
        client.cancel_event(calendar_event_id("webinar-kamis", "2027-01-14"))
    assert email in str(caught.value) and "not-shared@group.calendar.google.com" in str(caught.value)
    assert 'Make changes to events' in str(caught.value)


def test_cancel_of_an_event_that_never_existed_is_done_after_the_calendar_answers(tmp_path, google):
    client, _ = calendar_client(tmp_path, google, CALENDAR)
    client.cancel_event(calendar_event_id("webinar-kamis", "2027-01-14"))
    assert google.calls["events.delete"] == 1 and google.calls["events.list"] == 1


def test_event_whose_save_was_lost_is_still_cancelled(tmp_path, google):
    world = GoogleWorld(tmp_path, google)
    real_update = world.store.update_session

    def crash_after_event_insert(uid, now, **changes):
        if "event_id" in changes:
            raise Crash()
        return real_update(uid, now, **changes)

    world.store.update_session = crash_after_event_insert
    with pytest.raises(Crash):
        world.tick()
    world.store.update_session = real_update
    first = world.sessions[0]
    assert not world.store.session(first.uid).event_id  # the insert happened, its save did not
    assert calendar_event_id(first.series, first.key) in {e["id"] for e in live_events(google)}
    world.sessions[0] = replace(first, cancelled=True)
    world.tick()
    assert calendar_event_id(first.series, first.key) not in {e["id"] for e in live_events(google)}
    world.store.close()


def test_refused_key_names_the_key_file_path():
    from google.auth.exceptions import RefreshError

    error = translate_error(RefreshError("invalid_grant: Invalid JWT Signature."), "google-calendar",
                            key_file="/etc/webinar-worker/service-account.json")
    assert isinstance(error, AuthError) and "/etc/webinar-worker/service-account.json" in str(error)


def test_refused_delegation_says_where_to_authorise_the_scopes():
    from google.auth.exceptions import RefreshError

    error = translate_error(RefreshError("unauthorized_client: Client is unauthorized to retrieve access tokens"),
                            "google-sheets", key_file="k.json")
    assert isinstance(error, AuthError) and "Domain-wide delegation" in str(error)
    assert "https://www.googleapis.com/auth/spreadsheets" in str(error)


def test_a_missing_scope_is_not_reported_as_a_sharing_problem():
    error = translate_error(http_error(403, "insufficientPermissions", "Insufficient Permission"),
                            "google-calendar", share_with="sa@p.iam.gserviceaccount.com", target="calendar c")
    assert isinstance(error, AccessDeniedError) and "scope" in str(error) and "share" not in str(error)


def test_a_403_on_the_sheet_asks_for_editor_access():
    error = translate_error(http_error(403, "forbidden", "The caller does not have permission"), "google-sheets",
                            share_with="sa@p.iam.gserviceaccount.com", target="spreadsheet s1")
    assert str(error).endswith("share spreadsheet s1 with sa@p.iam.gserviceaccount.com as Editor")
