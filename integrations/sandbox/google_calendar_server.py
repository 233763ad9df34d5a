"""The Google emulator's Calendar v3: events in calendars shared with the service account.

Served: ``events.insert``, ``get``, ``patch``, ``delete`` and ``list`` under
``ROOT/calendar/v3/calendars/{calendarId}/events`` (https://developers.google.com/calendar/api/v3/reference/events),
which is what integrations/google_calendar.py calls. A client-chosen event id must be base32hex,
5 to 1024 characters; inserting an id that exists, even a cancelled one, is a 409; deleting a
cancelled event is a 410. Recurring events are not expanded.
"""
from __future__ import annotations

import base64
import copy
import itertools
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from integrations.sandbox.google_common import (ApiError, Route, Service, b64url_decode, require_object,
                                                rfc3339)
from integrations.sandbox.google_token import Token

CALENDAR_SCOPES = frozenset({"https://www.googleapis.com/auth/calendar",
                             "https://www.googleapis.com/auth/calendar.events"})  # scopes that may write events
_READ_SCOPES = CALENDAR_SCOPES | {"https://www.googleapis.com/auth/calendar.readonly"}  # may get and list
_EVENT_ID = re.compile(r"[0-9a-v]{5,1024}")  # base32hex, as Calendar requires for client-chosen ids
_READ_ONLY_EVENT_FIELDS = frozenset({"kind", "etag", "id", "htmlLink", "created", "updated", "creator",
                                     "organizer", "iCalUID"})  # fields a client cannot set (iCalUID: on insert only)
_EVENTS = r"/calendar/v3/calendars/([^/]+)/events"  # path of a calendar's events collection


@dataclass
class _Calendar:
    """One calendar and who may change its events."""

    calendar_id: str  # as used in URLs
    time_zone: str  # calendar time zone, reported by events.list
    shared_with: set[str] = field(default_factory=set)  # service accounts allowed to change events
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> event resource (cancelled ones too)


class CalendarService(Service):
    """Calendar v3 events: the routes, plus set-up and introspection for tests and the demo."""

    api = "calendar"
    routes = (Route("POST", re.compile(_EVENTS), "events.insert"),
              Route("GET", re.compile(_EVENTS + r"/([^/]+)"), "events.get"),
              Route("PATCH", re.compile(_EVENTS + r"/([^/]+)"), "events.patch"),
              Route("DELETE", re.compile(_EVENTS + r"/([^/]+)"), "events.delete"),
              Route("GET", re.compile(_EVENTS), "events.list"))
    write_routes = frozenset({"events.insert", "events.patch", "events.delete"})

    def __init__(self, clock: Callable[[], datetime], rng: random.Random, lock: threading.RLock):
        self._clock = clock  # "now" for created/updated stamps
        self._rng = rng  # event ids the client does not choose
        self._lock = lock  # the emulator's state lock, shared by all services
        self._calendars: dict[str, _Calendar] = {}  # calendar id -> calendar
        self._etag_counter = itertools.count(1)  # makes etags unique

    def scopes_for(self, route: str) -> frozenset[str]:
        """Reads also take calendar.readonly; writes need calendar or calendar.events."""
        return CALENDAR_SCOPES if route in self.write_routes else _READ_SCOPES

    def share_calendar(self, calendar_id: str, email: str, *, time_zone: str = "UTC") -> str:
        """Create the calendar if needed and let ``email`` make changes to its events; return its id."""
        with self._lock:
            calendar = self._calendars.setdefault(calendar_id, _Calendar(calendar_id, time_zone))
            calendar.shared_with.add(email)
        return calendar_id

    def events(self, calendar_id: str, *, include_cancelled: bool = True) -> list[dict[str, Any]]:
        """Copies of the calendar's events in insertion order (cancelled ones have status "cancelled")."""
        with self._lock:
            calendar = self._known_calendar(calendar_id)
            return [copy.deepcopy(e) for e in calendar.events.values()
                    if include_cancelled or e["status"] != "cancelled"]

    def export_ics(self, calendar_id: str, path: str | Path, *, include_cancelled: bool = True) -> Path:
        """Write the calendar's events as an iCalendar file (cancelled ones with STATUS:CANCELLED)."""
        from icalendar import Calendar, Event

        cal = Calendar()
        cal.add("prodid", "-//webinar-worker//sandbox Google Calendar//EN")
        cal.add("version", "2.0")
        cal.add("x-wr-calname", calendar_id)
        for item in self.events(calendar_id, include_cancelled=include_cancelled):
            event = Event()
            event.add("uid", item["iCalUID"])
            event.add("dtstamp", _parse_time(item["updated"]))
            event.add("created", _parse_time(item["created"]))
            event.add("last-modified", _parse_time(item["updated"]))
            event.add("sequence", item.get("sequence", 0))
            event.add("status", item["status"].upper())
            event.add("dtstart", _event_time(item.get("start", {})))
            event.add("dtend", _event_time(item.get("end", {})))
            for key, prop in (("summary", "summary"), ("description", "description"), ("location", "location"),
                              ("htmlLink", "url")):
                if item.get(key):
                    event.add(prop, item[key])
            cal.add_component(event)
        if hasattr(cal, "add_missing_timezones"):  # icalendar >= 6: VTIMEZONE blocks for the TZIDs used
            cal.add_missing_timezones()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(cal.to_ical())
        return out

    # -- the routes ------------------------------------------------------------------------------------
    def _calendar(self, grant: Token, calendar_id: str) -> _Calendar:
        if calendar_id == "primary":  # a service account's own calendar
            calendar_id = grant.email
            self.share_calendar(calendar_id, grant.email)
        calendar = self._calendars.get(calendar_id)
        if calendar is None or grant.email not in calendar.shared_with:
            raise ApiError(404, "Not Found", "notFound")
        return calendar

    def _event(self, calendar: _Calendar, event_id: str) -> dict[str, Any]:
        event = calendar.events.get(event_id)
        if event is None:
            raise ApiError(404, "Not Found", "notFound")
        return event

    def _stamp(self, event: dict[str, Any]) -> None:
        event["updated"] = rfc3339(self._clock())
        event["etag"] = f'"{3_000_000_000_000_000 + next(self._etag_counter)}"'

    def _events_insert(self, grant: Token, query: dict, body: Any, calendar_id: str) -> tuple[int, Any]:
        calendar = self._calendar(grant, calendar_id)
        body = require_object(body)
        event_id = body.get("id")
        if event_id is None:
            event_id = "".join(self._rng.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))
        elif not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise ApiError(400, "Invalid resource id value.", "invalid")
        if event_id in calendar.events:  # a cancelled (deleted) event still holds its id
            raise ApiError(409, "The requested identifier already exists.", "duplicate")
        _check_times(body)
        now = rfc3339(self._clock())
        event: dict[str, Any] = {
            "kind": "calendar#event", "etag": "", "id": event_id, "status": "confirmed",
            "htmlLink": "https://www.google.com/calendar/event?eid="
                        + base64.urlsafe_b64encode(f"{event_id} {calendar.calendar_id}".encode()).decode().rstrip("="),
            "created": now, "updated": now,
            "creator": {"email": grant.email},
            "organizer": {"email": calendar.calendar_id, "self": True},
            "iCalUID": f"{event_id}@google.com", "sequence": 0,
            "reminders": {"useDefault": True}, "eventType": "default",
        }
        event.update({k: copy.deepcopy(v) for k, v in body.items() if k not in _READ_ONLY_EVENT_FIELDS})
        self._stamp(event)
        calendar.events[event_id] = event
        return 200, copy.deepcopy(event)

    def _events_get(self, grant: Token, query: dict, body: Any, calendar_id: str, event_id: str) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._event(self._calendar(grant, calendar_id), event_id))

    def _event_and_body(self, grant: Token, calendar_id: str, event_id: str, body: Any) -> tuple[dict, dict]:
        """The stored event and the request body of a patch, whose id (if any) must match."""
        event = self._event(self._calendar(grant, calendar_id), event_id)
        body = require_object(body)
        if body.get("id", event_id) != event_id:
            raise ApiError(400, "Invalid resource id value.", "invalid")
        return event, body

    def _events_patch(self, grant: Token, query: dict, body: Any, calendar_id: str,
                      event_id: str) -> tuple[int, Any]:
        event, body = self._event_and_body(grant, calendar_id, event_id, body)
        changes = {k: v for k, v in body.items() if k not in _READ_ONLY_EVENT_FIELDS}
        return 200, self._replace_event(event, _merge_patch(event, changes), "sequence" in body)

    def _replace_event(self, event: dict[str, Any], new: dict[str, Any], explicit_sequence: bool) -> dict[str, Any]:
        _check_times(new)
        if not explicit_sequence and (new.get("start") != event.get("start") or new.get("end") != event.get("end")):
            new["sequence"] = int(event.get("sequence", 0)) + 1  # attendees' copies must see a newer version
        event.clear()
        event.update(copy.deepcopy(new))
        self._stamp(event)
        return copy.deepcopy(event)

    def _events_delete(self, grant: Token, query: dict, body: Any, calendar_id: str,
                       event_id: str) -> tuple[int, Any]:
        event = self._event(self._calendar(grant, calendar_id), event_id)
        if event["status"] == "cancelled":
            raise ApiError(410, "Resource has been deleted", "deleted")
        event["status"] = "cancelled"
        self._stamp(event)
        return 204, None

    def _events_list(self, grant: Token, query: dict, body: Any, calendar_id: str) -> tuple[int, Any]:
        calendar = self._calendar(grant, calendar_id)
        first = {k: v[0] for k, v in query.items()}
        try:
            max_results = min(int(first.get("maxResults", 250)), 2500)
            offset = int(b64url_decode(first["pageToken"]).decode()) if "pageToken" in first else 0
            time_min = _parse_time(first["timeMin"]) if "timeMin" in first else None
            time_max = _parse_time(first["timeMax"]) if "timeMax" in first else None
            updated_min = _parse_time(first["updatedMin"]) if "updatedMin" in first else None
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Bad Request", "badRequest") from None
        if max_results < 1:
            raise ApiError(400, "Invalid value for: maxResults", "invalid")
        show_deleted = first.get("showDeleted", "false").lower() == "true"
        wanted_private = [p.split("=", 1) for p in query.get("privateExtendedProperty", []) if "=" in p]
        wanted_shared = [p.split("=", 1) for p in query.get("sharedExtendedProperty", []) if "=" in p]
        text = first.get("q", "").lower()
        items = []
        for event in calendar.events.values():
            if event["status"] == "cancelled" and not show_deleted:
                continue
            props = event.get("extendedProperties", {})
            if any(props.get("private", {}).get(k) != v for k, v in wanted_private):
                continue
            if any(props.get("shared", {}).get(k) != v for k, v in wanted_shared):
                continue
            if time_min and _event_time_utc(event.get("end", {})) <= time_min:
                continue
            if time_max and _event_time_utc(event.get("start", {})) >= time_max:
                continue
            if updated_min and _parse_time(event["updated"]) < updated_min:
                continue
            if "iCalUID" in first and event.get("iCalUID") != first["iCalUID"]:
                continue
            if text and not any(text in str(event.get(k, "")).lower() for k in ("summary", "description",
                                                                                 "location")):
                continue
            items.append(event)
        if first.get("orderBy") == "startTime":
            items.sort(key=lambda e: (_event_time_utc(e.get("start", {})), e["id"]))
        elif first.get("orderBy") == "updated":
            items.sort(key=lambda e: e["updated"])
        page = items[offset:offset + max_results]
        result: dict[str, Any] = {
            "kind": "calendar#events", "etag": f'"{3_000_000_000_000_000 + next(self._etag_counter)}"',
            "summary": calendar.calendar_id, "description": "",
            "updated": max((e["updated"] for e in calendar.events.values()), default=rfc3339(self._clock())),
            "timeZone": calendar.time_zone, "accessRole": "writer", "defaultReminders": [],
        }  # accessRole: the caller's role on the calendar (events.list response, developers.google.com/calendar/api/v3/reference/events/list)
        if offset + max_results < len(items):
            result["nextPageToken"] = base64.urlsafe_b64encode(str(offset + max_results).encode()).decode()
        result["items"] = [copy.deepcopy(e) for e in page]
        return 200, result

    # -- small helpers ---------------------------------------------------------------------------------
    def _known_calendar(self, calendar_id: str) -> _Calendar:
        if calendar_id not in self._calendars:
            raise KeyError(f"no calendar {calendar_id!r} (known: {', '.join(self._calendars) or 'none'})")
        return self._calendars[calendar_id]


def _merge_patch(target: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Patch semantics: nested objects merge, lists and scalars replace, null removes."""
    merged = copy.deepcopy(target)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_patch(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _event_time(value: dict[str, Any]) -> datetime | date:
    """An event's start/end as a Python value: a date, or an aware datetime."""
    if "date" in value:
        return date.fromisoformat(value["date"])
    moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    zone = ZoneInfo(value.get("timeZone") or "UTC")
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _event_time_utc(value: dict[str, Any]) -> datetime:
    moment = _event_time(value)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    return moment


def _check_times(event: dict[str, Any]) -> None:
    """Calendar refuses events without start/end, with bad times, or ending before they start."""
    for key in ("start", "end"):
        value = event.get(key)
        if not isinstance(value, dict) or not ("dateTime" in value or "date" in value):
            raise ApiError(400, f"Missing {key} time.", "required")
        if "dateTime" in value and not value.get("timeZone") and not re.search(r"(Z|[+-]\d\d:\d\d)$",
                                                                                str(value["dateTime"])):
            raise ApiError(400, f"Missing time zone definition for {key} time.", "required")
        try:
            _event_time(value)
        except (ValueError, KeyError, TypeError):  # ZoneInfoNotFoundError is a KeyError
            raise ApiError(400, f"Invalid {key} time.", "invalid") from None
    if _event_time_utc(event["end"]) < _event_time_utc(event["start"]):
        raise ApiError(400, "The specified time range is empty.", "timeRangeEmpty")

