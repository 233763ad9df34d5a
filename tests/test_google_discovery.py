"""The bodies and parameters our Google clients send, checked against the discovery documents shipped
with google-api-python-client (calendar v3, sheets v4): every field name exists in the schema
(recursively through ``$ref``), enums hold allowed values, required method parameters are given,
and the response fields the clients read exist too.

The clients run against a recording stand-in for the built service, so each call is seen
as (method id, keyword arguments) before any HTTP is made.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import googleapiclient
import httplib2
import pytest
from googleapiclient.errors import HttpError

from integrations.google_calendar import GoogleCalendar
from integrations.google_sheets import META_FIELDS, GoogleSheets
from worker.model import Attendee, EventSpec, SummaryRow, calendar_event_id

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
UTC = timezone.utc


def discovery(name: str) -> dict[str, Any]:
    """A discovery document shipped inside google-api-python-client."""
    return json.loads((DOCUMENTS / f"{name}.json").read_text(encoding="utf-8"))


CALENDAR = discovery("calendar.v3")
SHEETS = discovery("sheets.v4")


# -- a recording stand-in for a built service ---------------------------------------------------------------

class Recorder:
    """Records (method id, kwargs) for every request built; answers from ``answers`` by method id."""

    def __init__(self, prefix: str, answers: dict[str, list[Any]]):
        self.prefix = prefix  # "calendar" or "sheets"
        self.answers = answers  # method id -> answers in order; an Exception is raised
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def resource(self, path: str) -> "_Resource":
        return _Resource(self, path)


class _Resource:
    def __init__(self, recorder: Recorder, path: str):
        self._recorder, self._path = recorder, path

    def __getattr__(self, name: str) -> Any:
        def method(**kwargs: Any) -> Any:
            method_id = f"{self._path}.{name}"
            if _find_method(self._recorder.prefix, method_id) is None:
                return _Resource(self._recorder, method_id)  # a sub-resource such as values()
            return _Request(self._recorder, method_id, kwargs)
        return method


class _Request:
    def __init__(self, recorder: Recorder, method_id: str, kwargs: dict[str, Any]):
        self.recorder, self.method_id, self.kwargs = recorder, method_id, kwargs

    def execute(self, num_retries: int = 0) -> Any:
        self.recorder.calls.append((self.method_id, self.kwargs))
        queue = self.recorder.answers.get(self.method_id)
        answer = queue.pop(0) if queue else {}
        if isinstance(answer, Exception):
            raise answer
        return answer


class _Service:
    def __init__(self, recorder: Recorder):
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return lambda: _Resource(self._recorder, f"{self._recorder.prefix}.{name}")


def _find_method(prefix: str, method_id: str) -> dict[str, Any] | None:
    document = CALENDAR if prefix == "calendar" else SHEETS
    parts = method_id.split(".")[1:]
    node: dict[str, Any] = document
    for part in parts[:-1]:
        node = node.get("resources", {}).get(part)
        if node is None:
            return None
    return node.get("methods", {}).get(parts[-1])


# -- schema checking ----------------------------------------------------------------------------------------

def check(value: Any, schema: dict[str, Any], document: dict[str, Any], path: str) -> list[str]:
    """Problems with ``value`` against a discovery ``schema``; [] when it fits."""
    if "$ref" in schema:
        return check(value, document["schemas"][schema["$ref"]], document, path)
    kind = schema.get("type")
    if kind == "any":
        return []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r}"]
        problems = []
        for key, item in value.items():
            if key in schema.get("properties", {}):
                problems += check(item, schema["properties"][key], document, f"{path}.{key}")
            elif "additionalProperties" in schema:
                problems += check(item, schema["additionalProperties"], document, f"{path}[{key}]")
            else:
                problems.append(f"{path}: unknown field {key!r} (schema {schema.get('id', '?')})")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {value!r}"]
        return [p for i, item in enumerate(value) for p in check(item, schema.get("items", {}), document,
                                                                    f"{path}[{i}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {value!r}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{path}: {value!r} is not one of {schema['enum']}"]
        return []
    if kind == "integer":
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: expected an integer"]
    if kind == "number":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: expected a number"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean"]
    return []


def check_call(prefix: str, method_id: str, kwargs: dict[str, Any]) -> list[str]:
    """Problems with one call: unknown or missing parameters, enum values, and the body against its schema."""
    document = CALENDAR if prefix == "calendar" else SHEETS
    method = _find_method(prefix, method_id)
    if method is None:
        return [f"{method_id}: no such method"]
    params = {**document.get("parameters", {}), **method.get("parameters", {})}
    problems = [f"{method_id}: missing required parameter {name}"
                for name, p in method.get("parameters", {}).items() if p.get("required") and name not in kwargs]
    for name, value in kwargs.items():
        if name == "body":
            if "request" not in method:
                problems.append(f"{method_id}: takes no body")
            else:
                problems += check(value, method["request"], document, f"{method_id}.body")
        elif name not in params:
            problems.append(f"{method_id}: unknown parameter {name}")
        else:
            values = value if isinstance(value, list) and params[name].get("repeated") else [value]
            for item in values:
                problems += check(item, {k: v for k, v in params[name].items() if k in ("type", "enum")}, document,
                                  f"{method_id}({name})")
    return problems


def field_path_exists(document: dict[str, Any], schema_name: str, dotted: str) -> bool:
    """Whether a field path like ``sheets.properties.title`` exists below ``schema_name``."""
    schema: dict[str, Any] = document["schemas"][schema_name]
    for part in dotted.split("."):
        while "$ref" in schema or schema.get("type") == "array":
            schema = document["schemas"][schema["$ref"]] if "$ref" in schema else schema["items"]
        if part not in schema.get("properties", {}):
            return False
        schema = schema["properties"][part]
    return True


# -- what the clients send ----------------------------------------------------------------------------------

MAKASSAR = ZoneInfo("Asia/Makassar")
EVENT = EventSpec(event_id=calendar_event_id("webinar-kamis", "2027-01-14"), summary="Webinar Kamis: Literasi",
                  description="Teks", start=datetime(2027, 1, 14, 9, tzinfo=MAKASSAR),
                  end=datetime(2027, 1, 14, 10, 30, tzinfo=MAKASSAR), timezone="Asia/Makassar",
                  location="https://zoom.us/j/1", private={"series": "webinar-kamis", "session": "2027-01-14"})
ATTENDEES = [Attendee("Siti", "siti@example.org", datetime(2027, 1, 14, 1, tzinfo=UTC),
                      datetime(2027, 1, 14, 2, tzinfo=UTC), 60, 1)]
SUMMARY = SummaryRow(date(2027, 1, 14), "Literasi", "Bu Ani", 10, 1, 60.0)


def conflict() -> HttpError:
    body = {"error": {"code": 409, "message": "The requested identifier already exists.",
                      "errors": [{"reason": "duplicate"}]}}
    return HttpError(httplib2.Response({"status": "409"}), json.dumps(body).encode())


def calendar_calls() -> list[tuple[str, dict[str, Any]]]:
    """Every call the calendar client makes: insert, then on conflict get, patch, and a delete."""
    existing = {"id": EVENT.event_id, "status": "cancelled", "summary": "lama"}
    recorder = Recorder("calendar", {"calendar.events.insert": [{}, conflict()],
                                     "calendar.events.get": [existing]})
    calendar = GoogleCalendar(_Service(recorder), "cal@group.calendar.google.com", num_retries=0)
    calendar.upsert_event(EVENT)
    calendar.upsert_event(EVENT)
    calendar.cancel_event(EVENT.event_id)
    return recorder.calls


def sheets_calls() -> list[tuple[str, dict[str, Any]]]:
    """Every call the sheets client makes, with the structure batchUpdate included."""
    recorder = Recorder("sheets", {"sheets.spreadsheets.get": [
        {"sheets": [{"properties": {"sheetId": 0, "title": "Sheet1"}}]},
        {"sheets": [{"properties": {"sheetId": 3, "title": "Ringkasan"}},
                    {"properties": {"sheetId": 4, "title": "2027-01-14"}}]}]})
    sheets = GoogleSheets(_Service(recorder), "1AbC", num_retries=0)
    sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY)
    sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY)
    sheets.read_range("Peserta!A2:C")
    return recorder.calls


def test_calendar_calls_fit_the_discovery_document():
    calls = calendar_calls()
    assert [m for m, _ in calls] == ["calendar.events.insert", "calendar.events.insert", "calendar.events.get",
                                     "calendar.events.patch", "calendar.events.delete"]
    problems = [p for method, kwargs in calls for p in check_call("calendar", method, kwargs)]
    assert problems == []


def test_sheets_calls_fit_the_discovery_document():
    calls = sheets_calls()
    methods = [m for m, _ in calls]
    assert "sheets.spreadsheets.batchUpdate" in methods and "sheets.spreadsheets.values.batchUpdate" in methods
    assert methods.count("sheets.spreadsheets.values.get") == 3  # session tab, summary column A, read_range
    structure = next(k for m, k in calls if m == "sheets.spreadsheets.batchUpdate")
    assert {next(iter(r)) for r in structure["body"]["requests"]} == {"addSheet", "addChart"}
    problems = [p for method, kwargs in calls for p in check_call("sheets", method, kwargs)]
    assert problems == []


def test_the_checker_catches_a_wrong_field():
    bad = {"id": "x", "start": {"dateTime": "2027-01-14T09:00:00+08:00", "zone": "Asia/Makassar"}}
    assert check_call("calendar", "calendar.events.insert", {"calendarId": "c", "body": bad}) == [
        "calendar.events.insert.body.start: unknown field 'zone' (schema EventDateTime)"]
    assert check_call("sheets", "sheets.spreadsheets.values.batchUpdate",
                      {"body": {"valueInputOption": "RAWISH"}}) == [
        "sheets.spreadsheets.values.batchUpdate: missing required parameter spreadsheetId",
        "sheets.spreadsheets.values.batchUpdate.body.valueInputOption: 'RAWISH' is not one of "
        "['INPUT_VALUE_OPTION_UNSPECIFIED', 'RAW', 'USER_ENTERED']"]


@pytest.mark.parametrize("schema, dotted", [(("Spreadsheet", f)) for f in META_FIELDS.split(",")] + [
    ("Spreadsheet", "sheets.properties.sheetId"),
    ("Spreadsheet", "sheets.properties.title"),
    ("Spreadsheet", "sheets.charts.spec.title"),
    ("ValueRange", "values"),
])
def test_sheets_fields_the_client_reads_exist(schema, dotted):
    assert field_path_exists(SHEETS, schema, dotted)


@pytest.mark.parametrize("dotted", ["status", "summary", "description", "location", "start.dateTime",
                                    "start.timeZone", "start.date", "end.dateTime", "extendedProperties.private"])
def test_calendar_fields_the_client_reads_exist(dotted):
    assert field_path_exists(CALENDAR, "Event", dotted)
