"""The bodies and parameters our Google clients send, checked against the discovery documents shipped
with google-api-python-client (calendar v3, sheets v4): every field name exists in the schema
(recursively through ``$ref``), enums hold allowed values, required method parameters are given,
fields a schema marks required for the method (``annotations.required``, e.g. an Event's start and
end on insert) are there, as are the fields the APIs refuse a request without although the
documents do not say so (:data:`API_REQUIRED`), and the response fields the clients read exist too.

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
from worker.core.model import Attendee, EventSpec, SummaryRow, calendar_event_id

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

def check(value: Any, schema: dict[str, Any], document: dict[str, Any], path: str, method_id: str = "") -> list[str]:
    """Problems with ``value`` against a discovery ``schema``; [] when it fits.

    With ``method_id``, a property whose ``annotations.required`` names that method must be present.
    """
    if "$ref" in schema:
        return check(value, document["schemas"][schema["$ref"]], document, path, method_id)
    kind = schema.get("type")
    if kind == "any":
        return []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r}"]
        problems = [f"{path}: missing required field {key!r} (schema {schema.get('id', '?')})"
                    for key, prop in schema.get("properties", {}).items()
                    if method_id in prop.get("annotations", {}).get("required", []) and value.get(key) is None]
        for key, item in value.items():
            if key in schema.get("properties", {}):
                problems += check(item, schema["properties"][key], document, f"{path}.{key}", method_id)
            elif "additionalProperties" in schema:
                problems += check(item, schema["additionalProperties"], document, f"{path}[{key}]", method_id)
            else:
                problems.append(f"{path}: unknown field {key!r} (schema {schema.get('id', '?')})")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {value!r}"]
        return [p for i, item in enumerate(value) for p in check(item, schema.get("items", {}), document,
                                                                    f"{path}[{i}]", method_id)]
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


# Fields the APIs refuse a request without, although the discovery documents do not mark them.
# A path is read from the call's keyword arguments ("body.x" is in the body, a bare name is a
# parameter); "[]" steps into every item of a list, and a last part ending in "[]" must be a
# non-empty list. A field is only required where the object holding it is there: an addChart
# request needs chart.spec, a request of another kind does not.
API_REQUIRED: dict[str, tuple[str, ...]] = {
    "sheets.spreadsheets.values.update": ("valueInputOption",),  # else 400 INVALID_ARGUMENT
    "sheets.spreadsheets.values.batchUpdate": ("body.valueInputOption", "body.data[].range"),
    "sheets.spreadsheets.batchUpdate": ("body.requests[]", "body.requests[].addChart.chart",
                                        "body.requests[].addChart.chart.spec"),
}


def missing_api_required(method_id: str, kwargs: dict[str, Any]) -> list[str]:
    """Problems with the :data:`API_REQUIRED` fields of one call."""
    problems = []
    for dotted in API_REQUIRED.get(method_id, ()):
        *steps, last = dotted.split(".")
        holders: list[tuple[Any, str]] = [(kwargs, method_id)]
        for step in steps:
            name = step.removesuffix("[]")
            reached = []
            for holder, where in holders:
                value = holder.get(name) if isinstance(holder, dict) else None
                if step.endswith("[]"):
                    reached += [(item, f"{where}.{name}[{i}]") for i, item in enumerate(value or [])]
                elif value is not None:
                    reached.append((value, f"{where}.{name}"))
            holders = reached
        name = last.removesuffix("[]")
        for holder, where in holders:
            if not isinstance(holder, dict):
                continue
            if holder.get(name) is None:
                problems.append(f"{where}: missing required field {name!r}")
            elif last.endswith("[]") and not holder[name]:
                problems.append(f"{where}.{name}: must not be empty")
    return problems


def check_call(prefix: str, method_id: str, kwargs: dict[str, Any]) -> list[str]:
    """Problems with one call: unknown or missing parameters and fields, enum values, the body against its schema."""
    document = CALENDAR if prefix == "calendar" else SHEETS
    method = _find_method(prefix, method_id)
    if method is None:
        return [f"{method_id}: no such method"]
    params = {**document.get("parameters", {}), **method.get("parameters", {})}
    problems = [f"{method_id}: missing required parameter {name}"
                for name, p in method.get("parameters", {}).items() if p.get("required") and name not in kwargs]
    if "request" in method and "body" not in kwargs:
        problems.append(f"{method_id}: missing the request body")
    for name, value in kwargs.items():
        if name == "body":
            if "request" not in method:
                problems.append(f"{method_id}: takes no body")
            else:
                problems += check(value, method["request"], document, f"{method_id}.body", method_id)
        elif name not in params:
            problems.append(f"{method_id}: unknown parameter {name}")
        else:
            values = value if isinstance(value, list) and params[name].get("repeated") else [value]
            for item in values:
                problems += check(item, {k: v for k, v in params[name].items() if k in ("type", "enum")}, document,
                                  f"{method_id}({name})")
    return problems + missing_api_required(method_id, kwargs)


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
EVENT_BODY = {"start": {"dateTime": "2027-01-14T09:00:00+08:00", "timeZone": "Asia/Makassar"},
              "end": {"dateTime": "2027-01-14T10:30:00+08:00", "timeZone": "Asia/Makassar"}}


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
    foreign = {"key": "another|Ringkasan", "tabs": {}}  # a kept layout not of this sheet: the reads are made too
    sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY, layout=foreign)
    sheets.sync_session("2027-01-14", ATTENDEES, SUMMARY, layout=foreign)
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
    bad = {"id": "x", "start": {"dateTime": "2027-01-14T09:00:00+08:00", "zone": "Asia/Makassar"},
           "end": {"dateTime": "2027-01-14T10:00:00+08:00"}}
    assert check_call("calendar", "calendar.events.insert", {"calendarId": "c", "body": bad}) == [
        "calendar.events.insert.body.start: unknown field 'zone' (schema EventDateTime)"]
    assert check_call("sheets", "sheets.spreadsheets.values.batchUpdate",
                      {"body": {"valueInputOption": "RAWISH"}}) == [
        "sheets.spreadsheets.values.batchUpdate: missing required parameter spreadsheetId",
        "sheets.spreadsheets.values.batchUpdate.body.valueInputOption: 'RAWISH' is not one of "
        "['INPUT_VALUE_OPTION_UNSPECIFIED', 'RAW', 'USER_ENTERED']"]


def test_the_checker_honours_annotations_required_per_method():
    no_times = {"id": "abcde", "summary": "Webinar"}
    assert check_call("calendar", "calendar.events.insert", {"calendarId": "c", "body": no_times}) == [
        "calendar.events.insert.body: missing required field 'end' (schema Event)",
        "calendar.events.insert.body: missing required field 'start' (schema Event)"]
    assert check_call("calendar", "calendar.events.update", {"calendarId": "c", "eventId": "abcde",
                                                             "body": {**no_times, "start": EVENT_BODY["start"]}}) == [
        "calendar.events.update.body: missing required field 'end' (schema Event)"]
    # A patch changes only what it names: Event marks start and end required for insert, update and import.
    assert check_call("calendar", "calendar.events.patch", {"calendarId": "c", "eventId": "abcde",
                                                            "body": no_times}) == []


def test_the_checker_refuses_a_real_body_that_loses_a_required_field():
    method, kwargs = calendar_calls()[0]
    assert method == "calendar.events.insert" and check_call("calendar", method, kwargs) == []
    body = {k: v for k, v in kwargs["body"].items() if k != "end"}
    assert check_call("calendar", method, {**kwargs, "body": body}) == [
        "calendar.events.insert.body: missing required field 'end' (schema Event)"]
    structure = next(k for m, k in sheets_calls() if m == "sheets.spreadsheets.batchUpdate")
    chart = next(r for r in structure["body"]["requests"] if "addChart" in r)
    del chart["addChart"]["chart"]["spec"]
    assert check_call("sheets", "sheets.spreadsheets.batchUpdate", structure) == [
        "sheets.spreadsheets.batchUpdate.body.requests[2].addChart.chart: missing required field 'spec'"]


CHART = {"spec": {"title": "t"}, "position": {"newSheet": True}}


@pytest.mark.parametrize("method, kwargs, problem", [
    ("sheets.spreadsheets.values.batchUpdate",
     {"spreadsheetId": "s", "body": {"data": [{"range": "A1", "values": [["x"]]}]}},
     "sheets.spreadsheets.values.batchUpdate.body: missing required field 'valueInputOption'"),
    ("sheets.spreadsheets.values.batchUpdate",
     {"spreadsheetId": "s", "body": {"valueInputOption": "RAW", "data": [{"range": "A1", "values": [["x"]]},
                                                                          {"values": [["y"]]}]}},
     "sheets.spreadsheets.values.batchUpdate.body.data[1]: missing required field 'range'"),
    ("sheets.spreadsheets.values.update",
     {"spreadsheetId": "s", "range": "A1", "body": {"values": [["x"]]}},
     "sheets.spreadsheets.values.update: missing required field 'valueInputOption'"),
    ("sheets.spreadsheets.batchUpdate", {"spreadsheetId": "s", "body": {}},
     "sheets.spreadsheets.batchUpdate.body: missing required field 'requests'"),
    ("sheets.spreadsheets.batchUpdate", {"spreadsheetId": "s", "body": {"requests": []}},
     "sheets.spreadsheets.batchUpdate.body.requests: must not be empty"),
    ("sheets.spreadsheets.batchUpdate",
     {"spreadsheetId": "s", "body": {"requests": [{"addSheet": {}}, {"addChart": {"chart": {"position": {}}}}]}},
     "sheets.spreadsheets.batchUpdate.body.requests[1].addChart.chart: missing required field 'spec'"),
    ("sheets.spreadsheets.batchUpdate", {"spreadsheetId": "s", "body": {"requests": [{"addChart": {}}]}},
     "sheets.spreadsheets.batchUpdate.body.requests[0].addChart: missing required field 'chart'"),
    ("sheets.spreadsheets.batchUpdate", {"spreadsheetId": "s"},
     "sheets.spreadsheets.batchUpdate: missing the request body"),
])
def test_the_checker_requires_what_the_sheets_api_needs(method, kwargs, problem):
    assert check_call("sheets", method, kwargs) == [problem]


@pytest.mark.parametrize("method, kwargs", [
    ("sheets.spreadsheets.values.batchUpdate", {"spreadsheetId": "s", "body": {
        "valueInputOption": "RAW", "data": [{"range": "A1", "values": [["x"]]}]}}),
    ("sheets.spreadsheets.values.update", {"spreadsheetId": "s", "range": "A1", "valueInputOption": "RAW",
                                           "body": {"values": [["x"]]}}),
    ("sheets.spreadsheets.batchUpdate", {"spreadsheetId": "s", "body": {"requests": [
        {"addSheet": {"properties": {"title": "x"}}}, {"addChart": {"chart": CHART}}]}}),
])
def test_the_checker_passes_complete_sheets_calls(method, kwargs):
    assert check_call("sheets", method, kwargs) == []


@pytest.mark.parametrize("method_id, dotted", [(m, d) for m, paths in API_REQUIRED.items() for d in paths])
def test_api_required_names_fields_the_documents_know(method_id, dotted):
    method = _find_method("sheets", method_id)
    assert method is not None
    if not dotted.startswith("body."):
        assert dotted in method["parameters"]
        return
    schema = method["request"]["$ref"]
    assert field_path_exists(SHEETS, schema, dotted[len("body."):].replace("[]", ""))


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
