"""The Google Calendar and Sheets clients at the transport: real googleapiclient code, HttpMockSequence answers.

Each test lists the answers it expects to be asked for; the ``google_http`` fixture fails the
test when one was never requested (like ``responses``' assert_all_requests_are_fired).
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrations.google_auth import (GoogleConfig, build_calendar_service, build_sheets_service, execute,
                                      load_credentials, service_account_email, translate_error)
from integrations.google_calendar import GoogleCalendar, event_body
from integrations.google_sheets import CHART_TITLE, GoogleSheets
from tests.helpers_google import Transport, Transports, as_content, google_error
from worker.errors import (AccessDeniedError, AuthError, NotConfiguredError, NotFoundError, RateLimitError,
                           RemoteError, TransientError)
from worker.core.model import Attendee, EventSpec, SummaryRow, calendar_event_id

SA_EMAIL = "webinar-worker@perpus-123.iam.gserviceaccount.com"
CAL_ID = "perpus@group.calendar.google.com"
SHEET_ID = "1AbCdEfGhIjK"
MAKASSAR = ZoneInfo("Asia/Makassar")
EVENT_ID = calendar_event_id("webinar-kamis", "2027-01-14")
UTC = timezone.utc


# -- transport ------------------------------------------------------------------------------------------------

def make_calendar(google_http: Transports, answers: list[tuple[int, Any]],
                  api_endpoint: str | None = None) -> tuple[GoogleCalendar, Transport]:
    """The real calendar client on a transport that gives ``answers`` in order."""
    transport = google_http(answers)
    config = GoogleConfig(credentials_file="unused.json", calendar_id=CAL_ID, api_endpoint=api_endpoint)
    service = build_calendar_service(config, None, http=transport.http)
    return GoogleCalendar(service, CAL_ID, service_account_email=SA_EMAIL, num_retries=0), transport


def make_sheets(google_http: Transports, answers: list[tuple[int, Any]],
                api_endpoint: str | None = None) -> tuple[GoogleSheets, Transport]:
    """The real sheets client on a transport that gives ``answers`` in order."""
    transport = google_http(answers)
    config = GoogleConfig(credentials_file="unused.json", spreadsheet_id=SHEET_ID, api_endpoint=api_endpoint)
    service = build_sheets_service(config, None, http=transport.http)
    return GoogleSheets(service, SHEET_ID, service_account_email=SA_EMAIL, num_retries=0), transport


# -- calendar -------------------------------------------------------------------------------------------------

def spec(**changes: Any) -> EventSpec:
    """The event the engine asks for, with ``changes`` applied."""
    values = dict(event_id=EVENT_ID, summary="Webinar Kamis: Literasi digital", description="Bergabung lewat Zoom.",
                  start=datetime(2027, 1, 14, 9, 0, tzinfo=MAKASSAR),
                  end=datetime(2027, 1, 14, 10, 30, tzinfo=MAKASSAR),
                  timezone="Asia/Makassar", location="https://zoom.us/j/850?pwd=x",
                  private={"series": "webinar-kamis", "session": "2027-01-14", "meeting_id": "850"})
    values.update(changes)
    return EventSpec(**values)


EVENTS_PATH = f"/calendar/v3/calendars/{CAL_ID}/events"
EXPECTED_BODY = {
    "id": EVENT_ID,
    "summary": "Webinar Kamis: Literasi digital",
    "description": "Bergabung lewat Zoom.",
    "location": "https://zoom.us/j/850?pwd=x",
    "start": {"dateTime": "2027-01-14T09:00:00+08:00", "timeZone": "Asia/Makassar"},
    "end": {"dateTime": "2027-01-14T10:30:00+08:00", "timeZone": "Asia/Makassar"},
    "extendedProperties": {"private": {"series": "webinar-kamis", "session": "2027-01-14", "meeting_id": "850"}},
}


def as_google_returns(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The event as Google answers a get: times in UTC, extra fields, status confirmed."""
    event = {**body, "kind": "calendar#event", "etag": '"3"', "status": "confirmed", "htmlLink": "https://x",
             "start": {"dateTime": "2027-01-14T01:00:00Z", "timeZone": "Asia/Makassar"},
             "end": {"dateTime": "2027-01-14T02:30:00Z", "timeZone": "Asia/Makassar"},
             "reminders": {"useDefault": True}}
    event.update(changes)
    return event


CONFLICT = (409, google_error(409, "The requested identifier already exists.", "duplicate"))


def test_upsert_inserts_the_event_with_its_chosen_id(google_http):
    cal, transport = make_calendar(google_http, [(200, {**EXPECTED_BODY, "status": "confirmed"})])
    assert cal.upsert_event(spec()) is True
    (method, path, query, body), = transport.calls
    assert (method, path, body) == ("POST", EVENTS_PATH, EXPECTED_BODY)
    assert transport.urls[0].startswith("https://www.googleapis.com/calendar/v3/calendars/perpus%40group")


def test_api_endpoint_is_a_root_url_for_both_services(google_http):
    cal, cal_transport = make_calendar(google_http, [(200, {})], api_endpoint="http://127.0.0.1:8790/")
    cal.upsert_event(spec())
    assert cal_transport.urls[0].startswith("http://127.0.0.1:8790/calendar/v3/calendars/perpus%40group")
    sheets, sheets_transport = make_sheets(google_http, [(200, {"values": []})],
                                           api_endpoint="http://127.0.0.1:8790")
    sheets.read_range("Peserta!A2:C")
    assert sheets_transport.urls[0].startswith(f"http://127.0.0.1:8790/v4/spreadsheets/{SHEET_ID}/values/")


def test_conflict_gets_and_patches_only_the_fields_that_differ(google_http):
    existing = as_google_returns(EXPECTED_BODY, summary="Webinar Kamis: judul lama",
                                 start={"dateTime": "2027-01-14T02:00:00Z", "timeZone": "Asia/Makassar"})
    cal, transport = make_calendar(google_http, [CONFLICT, (200, existing), (200, existing)])
    assert cal.upsert_event(spec()) is True
    assert [(m, p) for m, p, _, _ in transport.calls] == [
        ("POST", EVENTS_PATH), ("GET", f"{EVENTS_PATH}/{EVENT_ID}"), ("PATCH", f"{EVENTS_PATH}/{EVENT_ID}")]
    assert transport.calls[2][3] == {"summary": "Webinar Kamis: Literasi digital",
                                     "start": {"dateTime": "2027-01-14T09:00:00+08:00", "timeZone": "Asia/Makassar"}}


def test_conflict_with_an_identical_event_makes_no_write(google_http):
    cal, transport = make_calendar(google_http, [CONFLICT, (200, as_google_returns(EXPECTED_BODY))])
    assert cal.upsert_event(spec()) is False
    assert [m for m, *_ in transport.calls] == ["POST", "GET"]


def test_a_deleted_event_is_restored_with_status_confirmed(google_http):
    existing = as_google_returns(EXPECTED_BODY, status="cancelled", extendedProperties={"private": {}})
    cal, transport = make_calendar(google_http, [CONFLICT, (200, existing), (200, {})])
    assert cal.upsert_event(spec()) is True
    assert transport.calls[2][3] == {"status": "confirmed", "extendedProperties": EXPECTED_BODY["extendedProperties"]}


@pytest.mark.parametrize("status", [204, 410])
def test_cancel_event_counts_a_gone_event_as_done(status, google_http):
    answer = "" if status == 204 else google_error(status, "Resource has been deleted", "deleted")
    cal, transport = make_calendar(google_http, [(status, answer)])
    cal.cancel_event(EVENT_ID)
    assert [c[:2] for c in transport.calls] == [("DELETE", f"{EVENTS_PATH}/{EVENT_ID}")]


NOT_FOUND = (404, google_error(404, "Not Found", "notFound"))


def test_cancel_event_counts_a_404_as_done_once_the_calendar_itself_answers(google_http):
    cal, transport = make_calendar(google_http, [NOT_FOUND, (200, {"kind": "calendar#events", "items": []})])
    cal.cancel_event(EVENT_ID)
    assert [c[:2] for c in transport.calls] == [("DELETE", f"{EVENTS_PATH}/{EVENT_ID}"), ("GET", EVENTS_PATH)]


def test_cancel_event_on_a_calendar_no_longer_shared_names_the_service_account(google_http):
    # Google hides an unshared calendar behind 404
    cal, transport = make_calendar(google_http, [NOT_FOUND, NOT_FOUND])
    with pytest.raises(AccessDeniedError, match=f"share calendar {CAL_ID} with {SA_EMAIL}"):
        cal.cancel_event(EVENT_ID)


def test_cancel_event_raises_other_errors(google_http):
    cal, _ = make_calendar(google_http, [(500, google_error(500, "Backend Error", "backendError"))])
    with pytest.raises(TransientError):
        cal.cancel_event(EVENT_ID)


def test_calendar_not_shared_names_the_service_account(google_http):
    cal, _ = make_calendar(google_http, [(404, google_error(404, "Not Found", "notFound"))])
    with pytest.raises(AccessDeniedError) as caught:
        cal.upsert_event(spec())
    assert SA_EMAIL in str(caught.value) and CAL_ID in str(caught.value)
    assert not caught.value.retryable


def test_calendar_without_writer_access_names_the_service_account(google_http):
    cal, _ = make_calendar(google_http, [(403, google_error(403, "You need to have writer access to this calendar.",
                                               "requiredAccessLevel"))])
    with pytest.raises(AccessDeniedError, match=f"share calendar {CAL_ID} with {SA_EMAIL}"):
        cal.upsert_event(spec())


def test_retries_go_through_the_injected_sleep(google_http):
    transport = google_http([(503, google_error(503, "Backend Error", "backendError")),
                           (403, google_error(403, "Rate Limit Exceeded", "rateLimitExceeded")),
                           (200, {})])
    service = build_calendar_service(GoogleConfig(credentials_file="x"), None, http=transport.http)
    slept: list[float] = []
    cal = GoogleCalendar(service, CAL_ID, num_retries=2, sleep=slept.append)
    assert cal.upsert_event(spec()) is True
    assert len(slept) == 2


def test_an_answer_never_requested_fails_the_test():
    transports = Transports()
    transport = transports([(200, {}), (200, {"values": []})])
    transport.http.request("http://127.0.0.1/calendar/v3/x", "GET")
    with pytest.raises(AssertionError, match=r"never requested: \[\(\{'status': '200'\}, '\{\"values\": \[\]\}'\)\]"):
        transports.assert_all_used()
    transport.http.request("http://127.0.0.1/calendar/v3/x", "GET")
    transports.assert_all_used()


# -- error translation ----------------------------------------------------------------------------------------

def http_error(status: int, body: Any, headers: dict[str, str] | None = None) -> Exception:
    import httplib2
    from googleapiclient.errors import HttpError

    return HttpError(httplib2.Response({"status": str(status), **(headers or {})}), as_content(body).encode(),
                     uri="https://example.invalid/x")


@pytest.mark.parametrize("status, reason, status_name, expected, daily", [
    (401, "authError", "", AuthError, None),
    (403, "rateLimitExceeded", "", RateLimitError, False),
    (403, "userRateLimitExceeded", "", RateLimitError, False),
    (403, "quotaExceeded", "", RateLimitError, True),
    (403, "dailyLimitExceeded", "", RateLimitError, True),
    (403, "forbidden", "", AccessDeniedError, None),
    (403, "", "PERMISSION_DENIED", AccessDeniedError, None),
    (404, "notFound", "", NotFoundError, None),
    (410, "deleted", "", NotFoundError, None),
    (429, "", "RESOURCE_EXHAUSTED", RateLimitError, False),
    (500, "backendError", "", TransientError, None),
    (503, "", "UNAVAILABLE", TransientError, None),
    (400, "invalid", "INVALID_ARGUMENT", RemoteError, None),
])
def test_translate_error_maps_statuses_and_reasons(status, reason, status_name, expected, daily):
    error = translate_error(http_error(status, google_error(status, "Pesan", reason, status_name)), "google-calendar")
    assert type(error) is expected
    assert error.status == status and "Pesan" in str(error)
    if daily is not None:
        assert error.daily is daily
    if reason:
        assert error.code == reason


def sheets_error(status: int, message: str, reason: str, status_name: str) -> dict[str, Any]:
    """Sheets v4's JSON error body: status and a google.rpc.ErrorInfo, no v3 "errors" list."""
    return {"error": {"code": status, "message": message, "status": status_name, "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
         "metadata": {"service": "sheets.googleapis.com"}}]}}


@pytest.mark.parametrize("status, reason, status_name, expected, words", [
    (429, "RATE_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED", RateLimitError, "rate limited"),
    (403, "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "PERMISSION_DENIED", AccessDeniedError, "lacks a needed scope"),
    (403, "SERVICE_DISABLED", "PERMISSION_DENIED", AccessDeniedError, "enable the Google Sheets API"),
    (403, "forbidden", "PERMISSION_DENIED", AccessDeniedError, f"with {SA_EMAIL} as Editor"),
])
def test_translate_error_reads_the_reason_from_a_sheets_v4_body(status, reason, status_name, expected, words):
    error = translate_error(http_error(status, sheets_error(status, "Pesan", reason, status_name)), "google-sheets",
                            share_with=SA_EMAIL, target=f"spreadsheet {SHEET_ID}")
    assert type(error) is expected and error.code == reason
    assert words in str(error) and f"(HTTP {status}, {reason})" in str(error)


def test_translate_error_reads_retry_after_and_survives_a_non_json_body():
    error = translate_error(http_error(429, "<html>slow down</html>", {"retry-after": "30"}), "google-sheets")
    assert isinstance(error, RateLimitError) and error.retry_after == 30.0
    assert str(error).startswith("google-sheets: ")


def test_translate_error_for_auth_and_network_failures():
    import socket

    from google.auth.exceptions import RefreshError, TransportError

    refused = translate_error(RefreshError("invalid_grant: Invalid JWT Signature."), "google-calendar")
    assert isinstance(refused, AuthError) and "GOOGLE_APPLICATION_CREDENTIALS" in str(refused)
    assert isinstance(translate_error(TransportError("connection reset"), "google-calendar"), TransientError)
    assert isinstance(translate_error(socket.timeout("timed out"), "google-calendar"), TransientError)
    assert isinstance(translate_error(ConnectionRefusedError(111, "refused"), "google-calendar"), TransientError)


def test_execute_translates_and_chains_the_vendor_error(google_http):
    transport = google_http([(401, google_error(401, "Invalid Credentials", "authError"))])
    service = build_calendar_service(GoogleConfig(credentials_file="x"), None, http=transport.http)
    with pytest.raises(AuthError) as caught:
        execute(service.events().get(calendarId=CAL_ID, eventId=EVENT_ID), "google-calendar", num_retries=0)
    assert caught.value.__cause__ is not None


# -- sheets ---------------------------------------------------------------------------------------------------

ATTENDEES = [
    Attendee(name="iPhone Siti", email="siti@example.org", first_join=datetime(2027, 1, 14, 1, 2, tzinfo=UTC),
             last_leave=datetime(2027, 1, 14, 2, 30, tzinfo=UTC), minutes=85, joins=2, registrant_id="r1",
             registered_name="Siti Rahma", identified=True),
    Attendee(name='=HYPERLINK("http://x","y")', email="", first_join=datetime(2027, 1, 14, 1, 10, tzinfo=UTC),
             last_leave=datetime(2027, 1, 14, 1, 40, tzinfo=UTC), minutes=30, joins=1),
]
SUMMARY = SummaryRow(date=date(2027, 1, 14), topic="Literasi digital", speaker="Bu Ani", invited=120, attended=2,
                     average_minutes=57.5, registered=130, identified=1, guests=1)
SESSION_VALUES = [
    ["Nama terdaftar", "Nama di Zoom", "Email", "Masuk pertama", "Keluar terakhir", "Lama hadir (menit)",
     "Berapa kali masuk", "Teridentifikasi", "Peran"],
    ["Siti Rahma", "iPhone Siti", "siti@example.org", "2027-01-14 01:02", "2027-01-14 02:30", 85, 2, "ya", "peserta"],
    ["", '=HYPERLINK("http://x","y")', "", "2027-01-14 01:10", "2027-01-14 01:40", 30, 1, "tidak", "peserta"],
]
SUMMARY_HEADER_RANGE = {"range": "'Ringkasan'!A1:I1", "majorDimension": "ROWS",
                        "values": [["Tanggal", "Topik", "Narasumber", "Diundang", "Hadir", "Rata-rata lama hadir (menit)",
                                    "Terdaftar", "Teridentifikasi", "Tamu"]]}
SUMMARY_ROW = ["2027-01-14", "Literasi digital", "Bu Ani", 120, 2, 57.5, 130, 1, 1]
SPREADSHEET = f"/v4/spreadsheets/{SHEET_ID}"


def sheet(title: str, sheet_id: int, charts: int = 0) -> dict[str, Any]:
    entry: dict[str, Any] = {"properties": {"sheetId": sheet_id, "title": title, "index": 0, "sheetType": "GRID",
                                            "gridProperties": {"rowCount": 1000, "columnCount": 26}}}
    if charts:
        entry["charts"] = [{"chartId": 500 + i, "spec": {"title": CHART_TITLE}} for i in range(charts)]
    return entry


SESSION_TAB_ID = 241771107  # crc32 of "2027-01-14": a new tab's id is stable, derived from its title
SUMMARY_TAB_ID = 1448269854  # crc32 of "Ringkasan"


def summary_column(column: int) -> dict[str, Any]:
    """A chart source: one whole column of the summary tab, header included, open at the bottom."""
    return {"sourceRange": {"sources": [{"sheetId": SUMMARY_TAB_ID, "startRowIndex": 0,
                                         "startColumnIndex": column, "endColumnIndex": column + 1}]}}


STRUCTURE_BODY = {"requests": [
    {"addSheet": {"properties": {"sheetId": SESSION_TAB_ID, "title": "2027-01-14",
                                 "gridProperties": {"frozenRowCount": 1}}}},
    {"addSheet": {"properties": {"sheetId": SUMMARY_TAB_ID, "title": "Ringkasan",
                                 "gridProperties": {"frozenRowCount": 1}}}},
    {"addChart": {"chart": {
        "spec": {
            "title": "Kehadiran per minggu",
            "basicChart": {
                "chartType": "COLUMN",
                "legendPosition": "NO_LEGEND",
                "headerCount": 1,
                "axis": [{"position": "BOTTOM_AXIS", "title": "Tanggal"},
                         {"position": "LEFT_AXIS", "title": "Hadir"}],
                "domains": [{"domain": summary_column(0)}],
                "series": [{"series": summary_column(4), "targetAxis": "LEFT_AXIS"}],
            },
        },
        "position": {"overlayPosition": {"anchorCell": {"sheetId": SUMMARY_TAB_ID, "rowIndex": 1,
                                                        "columnIndex": 10}}},
    }}},
]}


def test_sync_creates_missing_tabs_and_chart_then_writes_once(google_http):
    # The first sync (no layout kept yet) takes the spreadsheet as new: its two writes and no read.
    sheets, transport = make_sheets(google_http, [
        (200, {"spreadsheetId": SHEET_ID, "replies": [{}, {}, {}]}),
        (200, {"spreadsheetId": SHEET_ID, "totalUpdatedCells": 30}),
    ])
    layout = sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY)
    (m2, p2, _, structure), (m3, p3, _, values) = transport.calls
    assert (m2, p2) == ("POST", f"{SPREADSHEET}:batchUpdate")
    assert structure == STRUCTURE_BODY
    assert (m3, p3) == ("POST", f"{SPREADSHEET}/values:batchUpdate")
    assert values == {"valueInputOption": "RAW", "data": [
        {"range": "'2027-01-14'!A1:I3", "majorDimension": "ROWS", "values": SESSION_VALUES},
        SUMMARY_HEADER_RANGE,
        {"range": "'Ringkasan'!A2:I2", "majorDimension": "ROWS", "values": [SUMMARY_ROW]},
    ]}
    assert layout["summary"] == {"2027-01-14": 1} and layout["chart"] and layout["rows"]["2027-01-14"] == 3


FOREIGN = {"key": "another-spreadsheet|Ringkasan", "tabs": {}}  # a kept layout that is not this sheet's: read


def test_sync_with_only_the_session_tab_missing_reads_the_summary_column_first(google_http):
    sheets, transport = make_sheets(google_http, [
        (200, {"sheets": [sheet("Ringkasan", 7, charts=1)]}),
        (200, {"range": "Ringkasan!A1:A3", "majorDimension": "ROWS",
               "values": [["Tanggal"], ["2027-01-07"], ["2026-12-31"]]}),
        (200, {"replies": [{}]}),
        (200, {}),
    ])
    sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY, layout=FOREIGN)
    calls = transport.calls
    assert [(m, p) for m, p, _, _ in calls] == [
        ("GET", SPREADSHEET), ("GET", f"{SPREADSHEET}/values/'Ringkasan'!A:A"),
        ("POST", f"{SPREADSHEET}:batchUpdate"), ("POST", f"{SPREADSHEET}/values:batchUpdate")]
    assert calls[2][3] == {"requests": [STRUCTURE_BODY["requests"][0]]}  # the chart is there already
    assert calls[3][3] == {"valueInputOption": "RAW", "data": [
        {"range": "'2027-01-14'!A1:I3", "majorDimension": "ROWS", "values": SESSION_VALUES},
        SUMMARY_HEADER_RANGE,
        {"range": "'Ringkasan'!A4:I4", "majorDimension": "ROWS", "values": [SUMMARY_ROW]},
    ]}


def test_rerun_with_tabs_present_overwrites_in_place_with_exactly_one_write(google_http):
    old_session = [SESSION_VALUES[0]] + [["", "Orang", "", "", "", 1, 1, "tidak", "peserta"]] * 4  # longer, older
    sheets, transport = make_sheets(google_http, [
        (200, {"sheets": [sheet("Ringkasan", 7, charts=1), sheet("2027-01-14", 9)]}),
        (200, {"values": old_session}),
        (200, {"values": [["Tanggal"], ["2027-01-07"], [], ["2027-01-14"]]}),
        (200, {}),
    ])
    sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY, layout=FOREIGN)
    calls = transport.calls
    writes = [c for c in calls if c[0] != "GET"]
    assert len(writes) == 1 and writes[0][1] == f"{SPREADSHEET}/values:batchUpdate"
    assert [p for _, p, _, _ in calls[1:3]] == [f"{SPREADSHEET}/values/'2027-01-14'!A:I",
                                                f"{SPREADSHEET}/values/'Ringkasan'!A:A"]
    assert writes[0][3] == {"valueInputOption": "RAW", "data": [
        {"range": "'2027-01-14'!A1:I5", "majorDimension": "ROWS",
         "values": SESSION_VALUES + [[""] * 9] * 2},  # blanks over the older, longer list
        SUMMARY_HEADER_RANGE,
        {"range": "'Ringkasan'!A4:I4", "majorDimension": "ROWS", "values": [SUMMARY_ROW]},  # its row, found
    ]}


def test_formula_like_names_are_sent_literally_with_raw(google_http):
    sheets, transport = make_sheets(google_http, [
        (200, {"sheets": [sheet("Ringkasan", 7, charts=1), sheet("2027-01-14", 9)]}),
        (200, {}),
        (200, {"values": [["Tanggal"]]}),
        (200, {}),
    ])
    sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY, layout=FOREIGN)
    raw_body = transport.http.request_sequence[-1][2]
    body = json.loads(raw_body)
    assert body["valueInputOption"] == "RAW"
    assert body["data"][0]["values"][2][1] == '=HYPERLINK("http://x","y")'  # the Zoom display name column
    assert isinstance(body["data"][0]["values"][1][5], int)
    assert body["data"][2]["range"] == "'Ringkasan'!A2:I2"


def test_session_times_use_the_configured_zone(google_http):
    transport = google_http([])
    service = build_sheets_service(GoogleConfig(credentials_file="x"), None, http=transport.http)
    sheets = GoogleSheets(service, SHEET_ID, timezone="Asia/Makassar")
    assert sheets.session_rows(ATTENDEES[:1])[1][3:5] == ["2027-01-14 09:02", "2027-01-14 10:30"]


def test_read_range_returns_text_rows(google_http):
    sheets, transport = make_sheets(google_http, [(200, {"range": "Peserta!A2:C3",
                                                         "values": [["a@x.org", "A", 1], ["b@x.org"]]})])
    assert sheets.read_range("Peserta!A2:C") == [["a@x.org", "A", "1"], ["b@x.org"]]
    method, path, _, _ = transport.calls[0]
    assert (method, path) == ("GET", f"{SPREADSHEET}/values/Peserta!A2:C")


def test_spreadsheet_not_shared_names_the_service_account(google_http):
    sheets, _ = make_sheets(google_http, [(403, google_error(403, "The caller does not have permission", "",
                                                "PERMISSION_DENIED"))])
    with pytest.raises(AccessDeniedError) as caught:
        sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY)
    assert SA_EMAIL in str(caught.value) and SHEET_ID in str(caught.value)


# -- credentials ----------------------------------------------------------------------------------------------

def write_key(path: Path, **changes: Any) -> Path:
    """A service-account key file with a freshly generated RSA key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "perpus-123", "private_key_id": "k1", "private_key": pem,
            "client_email": SA_EMAIL, "client_id": "1234567890", "token_uri": "http://127.0.0.1:9/token"}
    info.update(changes)
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def test_load_credentials_reads_a_service_account_key(tmp_path):
    path = write_key(tmp_path / "key.json")
    config = GoogleConfig(credentials_file=str(path), subject="staf@perpus.example")
    credentials = load_credentials(config, ["https://www.googleapis.com/auth/calendar.events"])
    assert service_account_email(credentials) == SA_EMAIL
    assert credentials._subject == "staf@perpus.example"
    assert credentials._token_uri == "http://127.0.0.1:9/token"


def test_build_with_real_credentials_makes_an_authorized_http(tmp_path):
    path = write_key(tmp_path / "key.json")
    config = GoogleConfig(credentials_file=str(path), api_endpoint="http://127.0.0.1:9/", timeout=5.0)
    credentials = load_credentials(config, ["https://www.googleapis.com/auth/spreadsheets"])
    service = build_sheets_service(config, credentials)
    assert service._http.credentials is credentials and service._http.http.timeout == 5.0
    assert service._baseUrl == "http://127.0.0.1:9/"
    assert build_calendar_service(config, credentials)._baseUrl == "http://127.0.0.1:9/calendar/v3/"


@pytest.mark.parametrize("content, words", [
    (None, "does not exist"),
    ("this is not json", "is not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"installed": {"client_id": "x"}}), "expected 'service_account'"),
    (json.dumps({"type": "service_account", "client_email": SA_EMAIL}), "not a usable service-account key"),
    (json.dumps({"type": "service_account", "client_email": SA_EMAIL, "token_uri": "x", "private_key": "nope"}),
     "not a usable service-account key"),
])
def test_load_credentials_errors_name_the_file_and_the_variable(tmp_path, content, words):
    path = tmp_path / "kunci.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(NotConfiguredError) as caught:
        load_credentials(GoogleConfig(credentials_file=str(path)), ["scope"])
    message = str(caught.value)
    assert str(path) in message and "GOOGLE_APPLICATION_CREDENTIALS" in message and words in message
    assert "PRIVATE KEY" not in message


def test_event_body_matches_the_expected_resource():
    assert event_body(spec()) == EXPECTED_BODY
