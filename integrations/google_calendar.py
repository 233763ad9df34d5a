"""One Google Calendar event per session, kept in step by a chosen event id.

The id is derived from series and session (:func:`worker.core.model.calendar_event_id`), so
insert is idempotent: a second insert answers 409, and then the event is read and only
the fields that differ are patched. An edit of an event the state knows is one patch. A deleted event keeps its id as a ``cancelled``
event (insert still answers 409), so a cancelled status counts as a difference and the
patch sets ``status: confirmed`` to bring it back.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

from integrations.google_auth import CALENDAR_SERVICE, execute
from worker.errors import IntegrationError, RemoteError
from worker.core.model import EventSpec

log = logging.getLogger(__name__)

TEXT_FIELDS = ("summary", "description", "location")  # compared as strings, missing == ""
TIME_FIELDS = ("start", "end")  # compared as instants plus time zone


def event_body(event: EventSpec) -> dict[str, Any]:
    """The Calendar ``Event`` resource for ``event`` (reminders are left at the calendar's default)."""
    return {
        "id": event.event_id,
        "summary": event.summary,
        "description": event.description,
        "location": event.location,
        "start": {"dateTime": event.start.isoformat(timespec="seconds"), "timeZone": event.timezone},
        "end": {"dateTime": event.end.isoformat(timespec="seconds"), "timeZone": event.timezone},
        "extendedProperties": {"private": dict(event.private)},
    }


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _same_time(wanted: dict[str, Any], existing: Any) -> bool:
    if not isinstance(existing, dict) or "date" in existing and "dateTime" not in existing:
        return False  # missing, or an all-day event
    have, want = _instant(existing.get("dateTime")), _instant(wanted.get("dateTime"))
    if have is None or want is None or have != want:
        return False
    # Google echoes the zone it was given; an emulator that omits it is not a difference.
    return not existing.get("timeZone") or existing.get("timeZone") == wanted.get("timeZone")


def changed_fields(wanted: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any]:
    """The patch body turning ``existing`` into ``wanted``: only the top-level fields that differ."""
    patch: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if (existing.get(name) or "") != (wanted.get(name) or ""):
            patch[name] = wanted.get(name) or ""
    for name in TIME_FIELDS:
        if not _same_time(wanted[name], existing.get(name)):
            patch[name] = wanted[name]
    want_private = wanted.get("extendedProperties", {}).get("private", {})
    have_private = (existing.get("extendedProperties") or {}).get("private") or {}
    if any(have_private.get(k) != v for k, v in want_private.items()):
        patch["extendedProperties"] = {"private": want_private}
    if existing.get("status") == "cancelled":
        patch["status"] = "confirmed"
    return patch


class GoogleCalendar:
    """The :class:`worker.core.ports.Calendar` on one shared Google calendar."""

    def __init__(self, service: Any, calendar_id: str, *, service_account_email: str = "", key_file: str = "",
                 num_retries: int = 5,
                 sleep: Callable[[float], None] | None = None):
        self.service = service  # built by integrations.google_auth.build_calendar_service
        self.calendar_id = calendar_id  # e.g. "abc@group.calendar.google.com"
        self.service_account_email = service_account_email  # named in "share the calendar" messages
        self.key_file = key_file  # named in "key refused" messages
        self.num_retries = num_retries  # library retries (5xx, 429, rate-limit 403) per call; 0 in unit tests
        self.sleep = sleep  # backoff sleep; None = time.sleep

    def _events(self) -> Any:
        """The ``events`` collection (built once by the service: google_auth.SharedResource)."""
        return self.service.events()

    def _run(self, request: Any) -> Any:
        extra = {"sleep": self.sleep} if self.sleep is not None else {}
        return execute(request, CALENDAR_SERVICE, num_retries=self.num_retries, share_with=self.service_account_email,
                       target=f"calendar {self.calendar_id}", key_file=self.key_file, **extra)

    def access_role(self) -> str:
        """The service account's role on the calendar (``doctor``): events.list's ``accessRole``, one of
        owner, writer, reader, freeBusyReader (https://developers.google.com/calendar/api/v3/reference/events/list).
        An unshared calendar answers 404, raised as the usual "share the calendar" error."""
        answer = self._run(self._events().list(calendarId=self.calendar_id, maxResults=1))
        return str((answer or {}).get("accessRole", ""))

    def upsert_event(self, event: EventSpec, known: bool = False) -> bool:
        """Write the event in one call when possible; True when a write call was made.

        ``known`` (the event id is in the state: the worker made it): one ``events.patch`` with every
        field and ``status: confirmed`` (a deleted event keeps its id as a cancelled one, and this brings
        it back); a 404 (someone removed it for good) falls back to an insert. Patch semantics: "field
        values you specify replace the existing values; fields you don't specify remain unchanged"
        (https://developers.google.com/calendar/api/v3/reference/events/patch), so a full body is the
        whole event. Not ``known``: insert; a 409 (the insert's answer was lost before, or a restart)
        reads the event and patches only the fields that differ.
        """
        events = self._events()
        body = event_body(event)
        if known:
            try:
                patch = {k: v for k, v in body.items() if k != "id"}
                self._run(events.patch(calendarId=self.calendar_id, eventId=event.event_id,
                                       body={**patch, "status": "confirmed"}))
                log.info("calendar event %s updated", event.event_id)
                return True
            except IntegrationError as exc:
                if exc.status not in (404, 410):
                    raise
                log.info("calendar event %s is gone (HTTP %s); inserting it again", event.event_id, exc.status)
        try:
            self._run(events.insert(calendarId=self.calendar_id, body=body))
            log.info("calendar event %s created", event.event_id)
            return True
        except RemoteError as exc:
            if exc.status != 409:
                raise
        existing = self._run(events.get(calendarId=self.calendar_id, eventId=event.event_id))
        patch = changed_fields(body, existing or {})
        if not patch:
            log.debug("calendar event %s already up to date", event.event_id)
            return False
        self._run(events.patch(calendarId=self.calendar_id, eventId=event.event_id, body=patch))
        log.info("calendar event %s updated (%s)", event.event_id, ", ".join(sorted(patch)))
        return True

    def cancel_event(self, event_id: str) -> None:
        """Delete the event; 404 (never existed) and 410 (already deleted) count as done.

        Google answers 404 both for a missing event and for a calendar the service account
        cannot see, so a 404 is only accepted after the calendar itself answers: a calendar
        that was unshared must not let a cancelled session's event stay up unnoticed.
        """
        events = self._events()
        try:
            self._run(events.delete(calendarId=self.calendar_id, eventId=event_id))
        except IntegrationError as exc:
            if exc.status not in (404, 410):
                raise
            if exc.status == 404:
                self._run(events.list(calendarId=self.calendar_id, maxResults=1))  # raises when not shared
            log.debug("calendar event %s was already gone (HTTP %s)", event_id, exc.status)
            return
        log.info("calendar event %s deleted", event_id)
