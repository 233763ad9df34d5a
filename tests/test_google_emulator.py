"""The Google emulator over real sockets, driven by google-auth and google-api-python-client themselves.

These tests use the vendor libraries directly (not the project's client modules), so they check that
the emulator answers what the real clients expect: the URL convention, OAuth, JSON and error shapes.
"""
from __future__ import annotations

import csv
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from googleapiclient import discovery
from googleapiclient.errors import HttpError
from icalendar import Calendar

from integrations.sandbox.google_a1 import parse_a1
from integrations.sandbox.google_common import parse_fields, select_fields
from integrations.sandbox.google_server import FORMULA_PLACEHOLDER, SERVICE_ACCOUNT_EMAIL, GoogleEmulator

SCOPES = ["https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/spreadsheets"]
CALENDAR_ID = "webinars@group.calendar.google.com"  # shared with the service account in every test
SPREADSHEET_ID = "attendance-sheet"  # likewise


@pytest.fixture
def emulator() -> Iterator[GoogleEmulator]:
    """A running emulator with one shared calendar and one shared spreadsheet."""
    with GoogleEmulator(seed=7) as server:
        server.share_calendar(CALENDAR_ID)
        server.share_spreadsheet(SPREADSHEET_ID, title="Attendance")
        yield server


@pytest.fixture
def key_file(emulator: GoogleEmulator, tmp_path: Path) -> Path:
    """The emulator's service-account key, as staff would download it from Google."""
    path = tmp_path / "service-account.json"
    emulator.write_service_account_key(path)
    return path


@pytest.fixture
def credentials(key_file: Path) -> service_account.Credentials:
    """Service-account credentials read from the key file, exactly as production does."""
    return service_account.Credentials.from_service_account_file(str(key_file), scopes=SCOPES)


@pytest.fixture
def calendar(emulator: GoogleEmulator, credentials: service_account.Credentials) -> Any:
    """A Calendar v3 service pointed at the emulator."""
    return discovery.build("calendar", "v3", credentials=credentials, static_discovery=True, cache_discovery=False,
                           client_options={"api_endpoint": emulator.root_url + "calendar/v3/"})


@pytest.fixture
def sheets(emulator: GoogleEmulator, credentials: service_account.Credentials) -> Any:
    """A Sheets v4 service pointed at the emulator."""
    return discovery.build("sheets", "v4", credentials=credentials, static_discovery=True, cache_discovery=False,
                           client_options={"api_endpoint": emulator.root_url})


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """googleapiclient's retry sleeps become no-ops; the list records what it asked for."""
    import googleapiclient.http

    slept: list[float] = []
    monkeypatch.setattr(googleapiclient.http.time, "sleep", slept.append)
    return slept


def session_event(event_id: str = "ses20250306a", **extra: Any) -> dict[str, Any]:
    """An event body as the worker would insert it."""
    body = {"id": event_id, "summary": "Library webinar: Finding e-books",
            "description": "Join on Zoom", "location": "https://zoom.us/j/123",
            "start": {"dateTime": "2025-03-06T18:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-03-06T19:00:00+01:00", "timeZone": "Europe/Berlin"},
            "extendedProperties": {"private": {"series": "ebooks", "session": "2025-03-06"}}}
    body.update(extra)
    return body


def write(sheets: Any, a1: str, rows: list[list[Any]], option: str = "RAW", num_retries: int = 0) -> dict[str, Any]:
    """One ``values.batchUpdate`` of one range, the way the worker writes; returns that range's reply."""
    answer = sheets.spreadsheets().values().batchUpdate(spreadsheetId=SPREADSHEET_ID, body={
        "valueInputOption": option, "data": [{"range": a1, "values": rows}]}).execute(num_retries=num_retries)
    return answer["responses"][0]


def error_body(err: HttpError) -> dict[str, Any]:
    """The JSON error Google (here: the emulator) sent."""
    return json.loads(err.content)["error"]


# -- OAuth ------------------------------------------------------------------------------------------

def test_key_file_is_a_valid_service_account_key(emulator: GoogleEmulator, key_file: Path) -> None:
    info = json.loads(key_file.read_text())
    assert info["type"] == "service_account"
    assert info["client_email"] == SERVICE_ACCOUNT_EMAIL
    assert info["token_uri"] == emulator.token_uri == emulator.root_url + "token"
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")


def test_token_is_issued_for_a_signed_jwt(emulator: GoogleEmulator, credentials: service_account.Credentials
                                          ) -> None:
    import google.auth.transport.requests

    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.token.startswith("ya29.")
    assert credentials.valid
    assert emulator.calls["token"] == 1


def test_a_key_the_emulator_did_not_issue_is_refused(emulator: GoogleEmulator, key_file: Path,
                                                     tmp_path: Path) -> None:
    import google.auth.transport.requests

    info = json.loads(key_file.read_text())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = stranger.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(info))
    credentials = service_account.Credentials.from_service_account_file(str(forged), scopes=SCOPES)
    with pytest.raises(RefreshError, match="invalid_grant.*Invalid JWT Signature"):
        credentials.refresh(google.auth.transport.requests.Request())


def test_api_call_without_a_token_gets_401_in_googles_shape(emulator: GoogleEmulator) -> None:
    url = emulator.root_url + f"calendar/v3/calendars/{CALENDAR_ID}/events"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url)
    assert caught.value.code == 401
    error = json.loads(caught.value.read())["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError"
    assert emulator.calls["events.list"] == 1


def test_expired_token_makes_the_client_fetch_a_new_one(emulator: GoogleEmulator, calendar: Any) -> None:
    calendar.events().insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    assert emulator.calls["token"] == 1
    emulator.expire_tokens()
    got = calendar.events().get(calendarId=CALENDAR_ID, eventId="ses20250306a").execute()
    assert got["id"] == "ses20250306a"
    assert emulator.calls["token"] == 2  # refreshed after the 401
    assert emulator.calls["events.get"] == 2  # the refused call, then the retried one


# -- Calendar --------------------------------------------------------------------------------------

def test_insert_get_patch_delete(emulator: GoogleEmulator, calendar: Any) -> None:
    events = calendar.events()
    created = events.insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    assert created["kind"] == "calendar#event"
    assert created["status"] == "confirmed"
    assert created["sequence"] == 0
    assert created["iCalUID"] == "ses20250306a@google.com"
    assert created["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    assert created["extendedProperties"]["private"] == {"series": "ebooks", "session": "2025-03-06"}

    got = events.get(calendarId=CALENDAR_ID, eventId="ses20250306a").execute()
    assert got == created

    patched = events.patch(calendarId=CALENDAR_ID, eventId="ses20250306a",
                           body={"summary": "Finding e-books (new room)",
                                 "extendedProperties": {"private": {"zoom": "123"}}}).execute()
    assert patched["summary"] == "Finding e-books (new room)"
    assert patched["description"] == "Join on Zoom"  # untouched fields stay
    assert patched["extendedProperties"]["private"] == {"series": "ebooks", "session": "2025-03-06", "zoom": "123"}
    assert patched["sequence"] == 0  # no time change
    assert patched["etag"] != created["etag"]

    moved = events.patch(calendarId=CALENDAR_ID, eventId="ses20250306a",
                         body={"start": {"dateTime": "2025-03-06T18:30:00+01:00"},
                               "end": {"dateTime": "2025-03-06T19:30:00+01:00"}}).execute()
    assert moved["sequence"] == 1
    assert moved["start"] == {"dateTime": "2025-03-06T18:30:00+01:00", "timeZone": "Europe/Berlin"}

    assert events.delete(calendarId=CALENDAR_ID, eventId="ses20250306a").execute() == ""
    assert events.get(calendarId=CALENDAR_ID, eventId="ses20250306a").execute()["status"] == "cancelled"
    assert [e["status"] for e in emulator.events(CALENDAR_ID)] == ["cancelled"]


def test_duplicate_id_is_409_even_after_delete_and_second_delete_is_410(calendar: Any) -> None:
    events = calendar.events()
    events.insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    with pytest.raises(HttpError) as caught:
        events.insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    assert caught.value.resp.status == 409
    error = error_body(caught.value)
    assert error["message"] == "The requested identifier already exists."
    assert error["errors"][0]["reason"] == "duplicate"
    assert error["status"] == "ALREADY_EXISTS"

    events.delete(calendarId=CALENDAR_ID, eventId="ses20250306a").execute()
    with pytest.raises(HttpError) as caught:
        events.insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    assert caught.value.resp.status == 409
    with pytest.raises(HttpError) as caught:
        events.delete(calendarId=CALENDAR_ID, eventId="ses20250306a").execute()
    assert caught.value.resp.status == 410
    assert error_body(caught.value)["errors"][0] == {"message": "Resource has been deleted", "domain": "global",
                                                     "reason": "deleted"}


def test_a_cancelled_event_can_be_restored_by_patching_its_status(calendar: Any) -> None:
    events = calendar.events()
    events.insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    events.delete(calendarId=CALENDAR_ID, eventId="ses20250306a").execute()
    restored = events.patch(calendarId=CALENDAR_ID, eventId="ses20250306a", body={"status": "confirmed"}).execute()
    assert restored["status"] == "confirmed"


@pytest.mark.parametrize("bad_id", ["abc", "UPPERCASE1", "has-dash-1", "wxyz12345"])
def test_event_ids_must_be_base32hex_of_5_to_1024_chars(calendar: Any, bad_id: str) -> None:
    with pytest.raises(HttpError) as caught:
        calendar.events().insert(calendarId=CALENDAR_ID, body=session_event(bad_id)).execute()
    assert caught.value.resp.status == 400
    assert error_body(caught.value)["message"] == "Invalid resource id value."


def test_event_needs_start_before_end(calendar: Any) -> None:
    body = session_event(end={"dateTime": "2025-03-06T17:00:00+01:00"})
    with pytest.raises(HttpError) as caught:
        calendar.events().insert(calendarId=CALENDAR_ID, body=body).execute()
    assert error_body(caught.value)["errors"][0]["reason"] == "timeRangeEmpty"


def test_unknown_event_and_unshared_calendar_are_404(calendar: Any) -> None:
    with pytest.raises(HttpError) as caught:
        calendar.events().get(calendarId=CALENDAR_ID, eventId="nosuchevent").execute()
    assert caught.value.resp.status == 404
    with pytest.raises(HttpError) as caught:
        calendar.events().insert(calendarId="not-shared@group.calendar.google.com", body=session_event()).execute()
    assert caught.value.resp.status == 404
    assert error_body(caught.value)["errors"][0]["reason"] == "notFound"


def test_list_pages_and_filters_by_private_property(calendar: Any) -> None:
    events = calendar.events()
    for day in range(1, 6):
        body = session_event(f"ses2025030{day}a", extendedProperties={"private": {"series": "odd" if day % 2 else
                                                                                  "even"}})
        events.insert(calendarId=CALENDAR_ID, body=body).execute()
    events.delete(calendarId=CALENDAR_ID, eventId="ses20250301a").execute()

    ids, token, pages = [], None, 0
    while pages < 10:  # 2 expected; a bound so an endless nextPageToken fails instead of hanging
        pages += 1
        page = events.list(calendarId=CALENDAR_ID, maxResults=2, pageToken=token).execute()
        assert page["kind"] == "calendar#events"
        ids += [e["id"] for e in page["items"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert ids == ["ses20250302a", "ses20250303a", "ses20250304a", "ses20250305a"]

    odd = events.list(calendarId=CALENDAR_ID, privateExtendedProperty="series=odd", showDeleted=True).execute()
    assert [(e["id"], e["status"]) for e in odd["items"]] == [
        ("ses20250301a", "cancelled"), ("ses20250303a", "confirmed"), ("ses20250305a", "confirmed")]


# -- Sheets ----------------------------------------------------------------------------------------

def test_add_sheet_chart_and_values(emulator: GoogleEmulator, sheets: Any) -> None:
    book = sheets.spreadsheets()
    reply = book.batchUpdate(spreadsheetId=SPREADSHEET_ID, body={"requests": [
        {"addSheet": {"properties": {"title": "2025-03-06 e-books"}}}]}).execute()
    sheet_id = reply["replies"][0]["addSheet"]["properties"]["sheetId"]
    assert reply["replies"][0]["addSheet"]["properties"]["gridProperties"] == {"rowCount": 1000, "columnCount": 26}

    result = book.values().batchUpdate(spreadsheetId=SPREADSHEET_ID, body={
        "valueInputOption": "RAW",
        "data": [{"range": "'2025-03-06 e-books'!A1:C3",
                  "values": [["Name", "Email", "Minutes"], ["Ada", "ada@example.org", 55],
                             ["Bo", "bo@example.org", 12.5]]},
                 {"range": "Sheet1!A1", "values": [["Summary"]]}]}).execute()
    assert result["totalUpdatedCells"] == 10
    assert result["totalUpdatedSheets"] == 2
    assert result["responses"][0]["updatedRange"] == "'2025-03-06 e-books'!A1:C3"

    chart = {"spec": {"title": "Minutes attended", "basicChart": {
                 "chartType": "COLUMN",
                 "domains": [{"domain": {"sourceRange": {"sources": [
                     {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 3,
                      "startColumnIndex": 0, "endColumnIndex": 1}]}}}],
                 "series": [{"series": {"sourceRange": {"sources": [
                     {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 3,
                      "startColumnIndex": 2, "endColumnIndex": 3}]}}}]}},
             "position": {"overlayPosition": {"anchorCell": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 5}}}}
    reply = book.batchUpdate(spreadsheetId=SPREADSHEET_ID, body={"requests": [{"addChart": {"chart": chart}}]}
                             ).execute()
    chart_id = reply["replies"][0]["addChart"]["chart"]["chartId"]
    assert [c["chartId"] for c in emulator.charts(SPREADSHEET_ID)] == [chart_id]

    got = book.values().get(spreadsheetId=SPREADSHEET_ID, range="'2025-03-06 e-books'!A:C").execute()
    assert got == {"range": "'2025-03-06 e-books'!A1:C1000", "majorDimension": "ROWS",
                   "values": [["Name", "Email", "Minutes"], ["Ada", "ada@example.org", "55"],
                              ["Bo", "bo@example.org", "12.5"]]}
    raw = book.values().get(spreadsheetId=SPREADSHEET_ID, range="'2025-03-06 e-books'!C2:C3",
                            valueRenderOption="UNFORMATTED_VALUE").execute()
    assert raw["values"] == [[55], [12.5]]

    meta = book.get(spreadsheetId=SPREADSHEET_ID).execute()
    assert [s["properties"]["title"] for s in meta["sheets"]] == ["Sheet1", "2025-03-06 e-books"]
    assert meta["sheets"][1]["charts"][0]["chartId"] == chart_id
    assert "charts" not in meta["sheets"][0]


def test_fields_selects_part_of_the_answer(sheets: Any) -> None:
    meta = sheets.spreadsheets().get(spreadsheetId=SPREADSHEET_ID,
                                     fields="sheets(properties(sheetId,title),charts.chartId)").execute()
    assert meta == {"sheets": [{"properties": {"sheetId": 0, "title": "Sheet1"}}]}


def test_duplicate_sheet_title_is_400_and_the_batch_changes_nothing(emulator: GoogleEmulator, sheets: Any
                                                                     ) -> None:
    with pytest.raises(HttpError) as caught:
        sheets.spreadsheets().batchUpdate(spreadsheetId=SPREADSHEET_ID, body={"requests": [
            {"addSheet": {"properties": {"title": "New"}}},
            {"addSheet": {"properties": {"title": "Sheet1"}}}]}).execute()
    assert caught.value.resp.status == 400
    error = error_body(caught.value)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == ('Invalid requests[1].addSheet: A sheet with the name "Sheet1" already exists. '
                                "Please enter another name.")
    assert emulator.sheet_titles(SPREADSHEET_ID) == ["Sheet1"]


def test_raw_keeps_formula_looking_text_as_text(emulator: GoogleEmulator, sheets: Any) -> None:
    values = sheets.spreadsheets().values()
    name = '=IMPORTXML("https://evil.example", "//a")'
    write(sheets, "Sheet1!A1", [[name]], "RAW")
    write(sheets, "Sheet1!A2", [[name]], "USER_ENTERED")
    got = values.get(spreadsheetId=SPREADSHEET_ID, range="Sheet1!A1:A2").execute()
    assert got["values"] == [[name], [FORMULA_PLACEHOLDER]]  # only the USER_ENTERED one became a formula
    formulas = values.get(spreadsheetId=SPREADSHEET_ID, range="Sheet1!A1:A2", valueRenderOption="FORMULA").execute()
    assert formulas["values"] == [[name], [name]]
    assert emulator.formula_cells(SPREADSHEET_ID, "Sheet1") == ["A2"]
    assert emulator.sheet_values(SPREADSHEET_ID, "Sheet1") == [[name], [name]]


def test_values_get_trims_empty_rows_and_cells(emulator: GoogleEmulator, sheets: Any) -> None:
    values = sheets.spreadsheets().values()
    write(sheets, "Sheet1!A1:D4", [["a", "", "c", ""], ["", "", "", ""], ["x"], ["", "", "", ""]], "RAW")
    got = values.get(spreadsheetId=SPREADSHEET_ID, range="Sheet1").execute()
    assert got["range"] == "Sheet1!A1:Z1000"
    assert got["values"] == [["a", "", "c"], [], ["x"]]
    empty = values.get(spreadsheetId=SPREADSHEET_ID, range="Sheet1!F1:G5").execute()
    assert empty == {"range": "Sheet1!F1:G5", "majorDimension": "ROWS"}


def test_writing_past_an_explicit_range_or_to_a_missing_tab_is_400(sheets: Any) -> None:
    values = sheets.spreadsheets().values()
    with pytest.raises(HttpError) as caught:
        write(sheets, "Sheet1!A1:B1", [["a", "b"], ["c", "d"]], "RAW")
    assert "tried writing to row [2]" in error_body(caught.value)["message"]
    with pytest.raises(HttpError) as caught:
        values.get(spreadsheetId=SPREADSHEET_ID, range="Nope!A1").execute()
    assert error_body(caught.value)["message"] == "Unable to parse range: Nope!A1"


def test_unshared_spreadsheet_is_403_permission_denied(emulator: GoogleEmulator, sheets: Any) -> None:
    emulator.create_spreadsheet("Private", spreadsheet_id="private-sheet", share_with=None)
    with pytest.raises(HttpError) as caught:
        sheets.spreadsheets().get(spreadsheetId="private-sheet").execute()
    assert caught.value.resp.status == 403
    assert error_body(caught.value) == {  # Sheets v4: status and an ErrorInfo, no v3 "errors" list
        "code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "forbidden",
                     "domain": "googleapis.com",
                     "metadata": {"service": "sheets.googleapis.com",
                                  "method": "google.apps.sheets.v4.SpreadsheetsService.GetSpreadsheet"}}]}


@pytest.mark.parametrize("text, expected", [
    ("'Tab'!A1:F10", ("Tab", 0, 0, 10, 6)),
    ("Tab!A:A", ("Tab", 0, 0, None, 1)),
    ("Tab", ("Tab", 0, 0, None, None)),
    ("'It''s here'!B2", ("It's here", 1, 1, 2, 2)),
    ("'a!b'!C3:D", ("a!b", 2, 2, None, 4)),
    ("A1:B2", (None, 0, 0, 2, 2)),
])
def test_a1_ranges(text: str, expected: tuple) -> None:
    a1 = parse_a1(text, ["Tab", "It's here", "a!b"])
    assert (a1.title, a1.row0, a1.col0, a1.row1, a1.col1) == expected


def test_select_fields_keeps_only_what_is_asked() -> None:
    value = {"a": [{"b": 1, "c": 2}], "d": {"e": 3, "f": 4}, "g": 5}
    assert select_fields(value, parse_fields("a/b,d(e)")) == {"a": [{"b": 1}], "d": {"e": 3}}


# -- faults and counters ----------------------------------------------------------------------------

def test_429_then_success_with_retries(emulator: GoogleEmulator, sheets: Any, no_backoff: list[float]) -> None:
    emulator.fail_next("values.batchUpdate", 429, times=2)
    result = write(sheets, "Sheet1!A1", [["ok"]], num_retries=2)
    assert result["updatedCells"] == 1
    assert emulator.calls["values.batchUpdate"] == 3
    assert len(no_backoff) == 2


@pytest.mark.parametrize("status, reason, grpc, message, domain", [
    (429, "rateLimitExceeded", "RESOURCE_EXHAUSTED", "Rate Limit Exceeded", "usageLimits"),
    (403, "rateLimitExceeded", "PERMISSION_DENIED", "Rate Limit Exceeded", "usageLimits"),
    (500, "backendError", "INTERNAL", "Backend Error", "global"),
    (503, "backendError", "UNAVAILABLE", "The service is currently unavailable.", "global")])
def test_faults_answer_in_googles_shape(emulator: GoogleEmulator, calendar: Any, status: int, reason: str,
                                        grpc: str, message: str, domain: str) -> None:
    emulator.fail_next("events.insert", status)
    with pytest.raises(HttpError) as caught:
        calendar.events().insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    assert caught.value.resp.status == status
    assert error_body(caught.value) == {"code": status, "message": message, "status": grpc,
                                        "errors": [{"message": message, "domain": domain, "reason": reason}]}
    calendar.events().insert(calendarId=CALENDAR_ID, body=session_event()).execute()  # once only
    assert emulator.pending_faults() == {}


@pytest.mark.parametrize("reason, message, domain", [
    ("forbidden", "The caller does not have permission", "global"),
    ("rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
    ("userRateLimitExceeded", "User Rate Limit Exceeded", "usageLimits"),
    ("quotaExceeded", "Calendar usage limits exceeded.", "usageLimits"),
    ("dailyLimitExceeded", "Daily Limit Exceeded", "usageLimits"),
])
def test_a_403_faults_message_follows_its_reason(emulator: GoogleEmulator, calendar: Any, reason: str,
                                                  message: str, domain: str) -> None:
    emulator.fail_next("events.list", 403, reason=reason)
    with pytest.raises(HttpError) as caught:
        calendar.events().list(calendarId=CALENDAR_ID).execute()
    assert error_body(caught.value) == {"code": 403, "message": message, "status": "PERMISSION_DENIED",
                                        "errors": [{"message": message, "domain": domain, "reason": reason}]}


@pytest.mark.parametrize("route, kind", [("values.batchUpdate", "Write"), ("values.get", "Read")])
def test_sheets_quota_fault_answers_in_the_v4_shape(emulator: GoogleEmulator, sheets: Any, route: str,
                                                    kind: str) -> None:
    emulator.fail_next(route, 429)
    values = sheets.spreadsheets().values()
    request = values.batchUpdate(spreadsheetId=SPREADSHEET_ID, body={
        "valueInputOption": "RAW", "data": [{"range": "Sheet1!A1", "values": [["x"]]}]}) \
        if route == "values.batchUpdate" else values.get(spreadsheetId=SPREADSHEET_ID, range="Sheet1!A1")
    with pytest.raises(HttpError) as caught:
        request.execute()
    method = "BatchUpdateValues" if kind == "Write" else "GetValues"
    assert caught.value.resp.status == 429
    assert error_body(caught.value) == {
        "code": 429, "status": "RESOURCE_EXHAUSTED",
        "message": f"Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests per minute per "
                   f"user' of service 'sheets.googleapis.com' for consumer 'project_number:123456789012'.",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                     "domain": "googleapis.com",
                     "metadata": {"service": "sheets.googleapis.com",
                                  "method": f"google.apps.sheets.v4.SpreadsheetsService.{method}",
                                  "quota_metric": f"sheets.googleapis.com/{kind.lower()}_requests",
                                  "quota_limit": f"{kind}RequestsPerMinutePerUser", "quota_limit_value": "60",
                                  "consumer": "projects/123456789012"}}]}


def test_sheets_errors_never_carry_a_v3_errors_list(emulator: GoogleEmulator, sheets: Any) -> None:
    emulator.fail_next("spreadsheets.batchUpdate", 403, reason="forbidden")
    book = sheets.spreadsheets()
    with pytest.raises(HttpError) as caught:
        book.batchUpdate(spreadsheetId=SPREADSHEET_ID, body={"requests": [{"addSheet": {}}]}).execute()
    error = error_body(caught.value)
    assert "errors" not in error
    assert (error["message"], error["status"]) == ("The caller does not have permission", "PERMISSION_DENIED")
    assert [(d["@type"], d["reason"], d["domain"]) for d in error["details"]] == [
        ("type.googleapis.com/google.rpc.ErrorInfo", "forbidden", "googleapis.com")]
    with pytest.raises(HttpError) as caught:  # an error the emulator raises itself has the same shape
        book.values().get(spreadsheetId=SPREADSHEET_ID, range="Nope!A1").execute()
    error = error_body(caught.value)
    assert "errors" not in error and error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["metadata"]["method"] == "google.apps.sheets.v4.SpreadsheetsService.GetValues"


def test_sheets_401_and_scope_errors_name_googles_v4_reasons(emulator: GoogleEmulator, key_file: Path) -> None:
    url = emulator.root_url + f"v4/spreadsheets/{SPREADSHEET_ID}"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url)
    error = json.loads(caught.value.read())["error"]
    assert caught.value.code == 401 and "errors" not in error
    assert (error["status"], error["details"][0]["reason"]) == ("UNAUTHENTICATED", "CREDENTIALS_MISSING")

    calendar_only = service_account.Credentials.from_service_account_file(
        str(key_file), scopes=["https://www.googleapis.com/auth/calendar"])
    sheets = discovery.build("sheets", "v4", credentials=calendar_only, static_discovery=True,
                             cache_discovery=False, client_options={"api_endpoint": emulator.root_url})
    with pytest.raises(HttpError) as caught:
        sheets.spreadsheets().get(spreadsheetId=SPREADSHEET_ID).execute()
    error = error_body(caught.value)
    assert (error["status"], error["details"][0]["reason"]) == ("PERMISSION_DENIED",
                                                                 "ACCESS_TOKEN_SCOPE_INSUFFICIENT")


def test_pending_faults_lists_what_never_fired(emulator: GoogleEmulator, calendar: Any) -> None:
    emulator.fail_next("events.patch", 403, times=2, reason="rateLimitExceeded")
    emulator.fail_next("events.insert", 500)
    assert emulator.pending_faults() == {"events.patch": 2, "events.insert": 1}
    with pytest.raises(HttpError):
        calendar.events().insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    assert emulator.pending_faults() == {"events.patch": 2}


def test_403_rate_limit_is_retried_but_quota_exceeded_is_not(emulator: GoogleEmulator, calendar: Any,
                                                             no_backoff: list[float]) -> None:
    emulator.fail_next("events.insert", 403)
    calendar.events().insert(calendarId=CALENDAR_ID, body=session_event()).execute(num_retries=1)
    emulator.fail_next("events.get", 403, reason="quotaExceeded")
    with pytest.raises(HttpError):
        calendar.events().get(calendarId=CALENDAR_ID, eventId="ses20250306a").execute(num_retries=3)
    assert emulator.calls["events.get"] == 1


def test_fail_next_names_the_valid_routes(emulator: GoogleEmulator) -> None:
    with pytest.raises(ValueError, match="valid routes: token, events.insert"):
        emulator.fail_next("events.create", 500)


def test_retry_after_header_is_sent(emulator: GoogleEmulator, calendar: Any) -> None:
    emulator.fail_next("events.list", 429, retry_after=7)
    with pytest.raises(HttpError) as caught:
        calendar.events().list(calendarId=CALENDAR_ID).execute()
    assert caught.value.resp["retry-after"] == "7"


def test_counters_count_routes_and_writes(emulator: GoogleEmulator, calendar: Any, sheets: Any) -> None:
    calendar.events().insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    calendar.events().get(calendarId=CALENDAR_ID, eventId="ses20250306a").execute()
    sheets.spreadsheets().values().batchUpdate(spreadsheetId=SPREADSHEET_ID, body={
        "valueInputOption": "RAW", "data": [{"range": "Sheet1!A1", "values": [["x"]]}]}).execute()
    sheets.spreadsheets().get(spreadsheetId=SPREADSHEET_ID).execute()
    assert emulator.calls == {"token": 1, "events.insert": 1, "events.get": 1, "values.batchUpdate": 1,
                              "spreadsheets.get": 1}
    assert emulator.writes() == 2
    emulator.reset_calls()
    assert emulator.writes() == 0 and not emulator.calls


def test_delay_slows_every_answer(emulator: GoogleEmulator, calendar: Any) -> None:
    import time

    calendar.events().list(calendarId=CALENDAR_ID).execute()  # gets the token first
    emulator.delay_seconds = 0.2
    started = time.monotonic()
    calendar.events().list(calendarId=CALENDAR_ID).execute()
    assert time.monotonic() - started >= 0.2


# -- exports ----------------------------------------------------------------------------------------

def test_exports(emulator: GoogleEmulator, calendar: Any, sheets: Any, tmp_path: Path) -> None:
    calendar.events().insert(calendarId=CALENDAR_ID, body=session_event()).execute()
    calendar.events().insert(calendarId=CALENDAR_ID, body=session_event("ses20250313a")).execute()
    calendar.events().delete(calendarId=CALENDAR_ID, eventId="ses20250313a").execute()
    sheets.spreadsheets().batchUpdate(spreadsheetId=SPREADSHEET_ID, body={"requests": [
        {"addSheet": {"properties": {"title": "Ä & <b>"}}}]}).execute()
    link = '=HYPERLINK("https://x.example/?a=1&b=2", "<click>")'
    sheets.spreadsheets().values().batchUpdate(spreadsheetId=SPREADSHEET_ID, body={
        "valueInputOption": "RAW",
        "data": [{"range": "'Ä & <b>'!A1", "values": [["Name", "Link", "Minutes"], ["Zoë", link, 42]]}]}).execute()

    paths = emulator.export_csv(SPREADSHEET_ID, tmp_path / "csv")
    assert [p.name for p in paths] == ["Sheet1.csv", "Ä_b.csv"]
    with paths[1].open(encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle)) == [["Name", "Link", "Minutes"], ["Zoë", link, "42"]]

    page = emulator.export_html(SPREADSHEET_ID, tmp_path / "sheet.html").read_text(encoding="utf-8")
    assert "<h2>Ä &amp; &lt;b&gt;</h2>" in page
    assert "=HYPERLINK(&quot;https://x.example/?a=1&amp;b=2&quot;, &quot;&lt;click&gt;&quot;)" in page
    assert "<click>" not in page

    ics = Calendar.from_ical(emulator.export_ics(CALENDAR_ID, tmp_path / "cal.ics").read_bytes())
    vevents = {str(e["uid"]): e for e in ics.walk("VEVENT")}
    assert set(vevents) == {"ses20250306a@google.com", "ses20250313a@google.com"}
    first = vevents["ses20250306a@google.com"]
    assert str(first["summary"]) == "Library webinar: Finding e-books"
    assert first.decoded("dtstart").isoformat() == "2025-03-06T18:00:00+01:00"
    assert str(vevents["ses20250313a@google.com"]["status"]) == "CANCELLED"


# -- more Sheets behaviour --------------------------------------------------------------------------

def test_user_entered_parses_numbers_but_raw_keeps_strings(sheets: Any) -> None:
    values = sheets.spreadsheets().values()
    write(sheets, "Sheet1!A1", [["42", "TRUE"]], "RAW")
    write(sheets, "Sheet1!A2", [["42", "TRUE", "'=1+1"]], "USER_ENTERED")
    got = values.get(spreadsheetId=SPREADSHEET_ID, range="Sheet1!A1:C2", valueRenderOption="UNFORMATTED_VALUE"
                     ).execute()
    assert got["values"] == [["42", "TRUE"], [42, True, "=1+1"]]


def test_routes_the_project_does_not_call_are_not_served(emulator: GoogleEmulator) -> None:
    """Only what integrations/ calls is emulated: anything else is a 404, never a silent success."""
    root = emulator.root_url.rstrip("/")
    for method, path in [("PUT", "/calendar/v3/calendars/c/events/abcde"),  # events.update
                         ("POST", f"/v4/spreadsheets/{SPREADSHEET_ID}/values/Sheet1!A1:clear"),  # values.clear
                         ("GET", f"/v4/spreadsheets/{SPREADSHEET_ID}/values:batchGet")]:  # values.batchGet
        request = urllib.request.Request(root + path, method=method, data=b"{}" if method != "GET" else None)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == 404
        assert "has no route" in json.loads(caught.value.read())["error"]["message"]


# -- the URL convention and the command line -------------------------------------------------------

def test_api_endpoint_convention_gives_the_served_urls(emulator: GoogleEmulator, calendar: Any, sheets: Any
                                                        ) -> None:
    request = calendar.events().get(calendarId=CALENDAR_ID, eventId="abcde")
    assert request.uri.startswith(emulator.root_url + "calendar/v3/calendars/webinars%40group.calendar.google.com"
                                  "/events/abcde")
    request = sheets.spreadsheets().values().get(spreadsheetId=SPREADSHEET_ID, range="'My tab'!A1:B2")
    assert request.uri.startswith(emulator.root_url + "v4/spreadsheets/attendance-sheet/values/")
    assert emulator.calendar_endpoint == emulator.root_url + "calendar/v3/"


def test_command_line_serves_and_prints_the_root_url(tmp_path: Path) -> None:
    import subprocess
    import sys

    key = tmp_path / "key.json"
    process = subprocess.Popen([sys.executable, "-m", "integrations.sandbox.google_server", "--key-file", str(key)],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("Google emulator at http://127.0.0.1:")
        root = line.split(" at ", 1)[1].strip()
        assert json.loads(key.read_text())["token_uri"] == root + "token"
    finally:
        process.terminate()
        process.wait(timeout=10)
