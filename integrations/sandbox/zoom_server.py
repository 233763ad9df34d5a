"""A Zoom API emulator: a real HTTP server on 127.0.0.1 for tests, ``webinar-worker demo`` and benchmarks.

It speaks Server-to-Server OAuth and the few REST calls the worker makes, with Zoom's JSON field
names and error shapes, keeps everything in memory, and takes fault switches.

Routes (the names are the keys of :attr:`ZoomEmulator.calls`, :meth:`ZoomEmulator.fail_next` and
:meth:`ZoomEmulator.fail_after_commit`):

==================== ============================================================
``token``            ``POST /oauth/token?grant_type=account_credentials&account_id=...``
``create_meeting``   ``POST /v2/users/{userId}/meetings``
``list_meetings``    ``GET /v2/users/{userId}/meetings?type=scheduled``
``get_meeting``      ``GET /v2/meetings/{meetingId}``
``patch_meeting``    ``PATCH /v2/meetings/{meetingId}``
``delete_meeting``   ``DELETE /v2/meetings/{meetingId}``
``instances``        ``GET /v2/past_meetings/{meetingId}/instances``
``report_participants`` ``GET /v2/report/meetings/{meetingId or UUID}/participants``
``past_participants``   ``GET /v2/past_meetings/{meetingId or UUID}/participants``
``add_registrant``   ``POST /v2/meetings/{meetingId}/registrants``
``batch_registrants`` ``POST /v2/meetings/{meetingId}/batch_registrants`` (at most 30 a call)
``list_registrants`` ``GET /v2/meetings/{meetingId}/registrants`` (paginated, ``status`` filter)
``registrant_status`` ``PUT /v2/meetings/{meetingId}/registrants/status`` (approve, deny, cancel)
==================== ============================================================

What Zoom does and this emulator does too (it must never be kinder than Zoom):

- **Who attended.** Since 2022-03-01 a guest's e-mail is hidden (``user_email`` "") unless the person
  entered it in the meeting's registration flow; users on the host's account keep theirs
  (https://developers.zoom.us/changelog/platform/zoom-api-email-address-display-rules.md). Since
  2023-03-03 the report endpoints blank ``id`` and ``participant_user_id`` for external participants and
  developers are told to use ``registrant_id``
  (https://developers.zoom.us/changelog/platform/changes-to-meeting-api-reporting-and-dashboard-endpoints.md).
  So a participant record carries ``registrant_id`` and the registered e-mail only when the person joined
  through their personal registrant ``join_url``; internal users carry ``internal_user: true``.
- **Registration.** ``settings.approval_type`` 0 (automatic), 1 (manual) or 2 (no registration); with 0
  or 1 the meeting has a ``registration_url``. Adding a registrant returns ``registrant_id`` and a
  personal ``join_url`` (https://developers.zoom.us/docs/isv/workflows/join-meeting-reg/); the batch call
  takes ``registrants`` (``email``, ``first_name``, ``last_name``) and ``auto_approve``, at most 30 a call,
  and answers ``registrants: [{registrant_id, email, join_url}]``
  (https://zoom.github.io/rivet-javascript/types/Meetings.MeetingsPerformBatchRegistrationRequestBody.html).
  The same e-mail registered again gets the same registrant. The list is paginated by
  ``next_page_token`` (15 minutes), ``page_size`` up to 300, ``status`` approved by default
  (https://api-docs.integration.app/apps/zoom/operations/list-meeting-registrants). Registration needs a
  licensed host (https://support.zoom.us/hc/zh-cn/articles/211579443); a meeting without registration
  answers 400/3000 "Registration has not been enabled for this meeting" (the message seen in
  https://github.com/indico/indico-plugins/pull/315).
- **Account defaults.** Since 2026-03-15 fields omitted from a create body take the user's account
  defaults: ``watermark``, ``question_and_answer``, ``auto_start_meeting_summary``,
  ``who_will_receive_summary``, ``auto_start_ai_companion_questions``, ``who_can_ask_questions`` and
  more (https://developers.zoom.us/changelog/meetings/march-05-2026); omitted passcode and waiting-room
  fields follow the user's settings since 2025-03 (https://developers.zoom.us/changelog/meetings/march-24-2025).
  :attr:`ZoomEmulator.account_settings` holds those defaults: AI summary and AI questions on, as many
  accounts have them, so a worker that leaves them out is caught.

Errors (HTTP status, then Zoom's ``code``):

- token endpoint: 401 ``invalid_client`` (wrong client id/secret or no Basic auth), 400
  ``invalid_request`` (unknown account id), 400 ``unsupported_grant_type``; body ``{"reason", "error"}``.
- 401 / 124 "Invalid access token." (missing, unknown or revoked token) and "Access token is expired."
  (past its lifetime by the injected clock).
- 404 / 1001 "User does not exist: {userId}." for a user other than ``me``, the host id or e-mail.
- 404 / 3001 "Meeting does not exist: {id}." for an unknown meeting id or UUID, including a UUID that
  needed double encoding (starts with ``/`` or contains ``//``) but came encoded once, as Zoom does.
- 404 / 3001 "Meeting {id} has not ended yet or its report is not ready." while a meeting has no ended
  occurrence, while :meth:`ZoomEmulator.not_ready_calls` holds an occurrence back, or (when
  ``report_delay`` is set) until the clock is ``report_delay`` past the end. With ``report_delay`` unset the
  clock is not consulted, so a meeting ended with :meth:`ZoomEmulator.end_meeting` is ready at once.
  Same code as "does not exist", as on Zoom: a client tells the two apart by whether the meeting should
  have ended, and retries later.
- 400 / 200 "Only available for Paid or ZMP account: {accountId}." from the report endpoint when
  ``report_plan=False``: the client should fall back to ``past_meetings``.
- 400 / 300 "Validation Failed." (with ``errors``) for a bad meeting body, and 400 / 300 "The next page
  token is invalid or expired." (page tokens live 15 minutes by the clock).
- 429 / 429 from :meth:`ZoomEmulator.fail_next` or ``meeting_write_limit``: ``Retry-After`` in seconds for a
  per-second limit, or the next 00:00 UTC as ``YYYY-MM-DDT00:00:00Z`` with ``X-RateLimit-Type: Daily-limit``.
- 500 / 500 and 503 / 503 from :meth:`ZoomEmulator.fail_next`.
- 400 / 3000 "Registration has not been enabled for this meeting: {id}." from the registrant routes of a
  meeting with ``approval_type`` 2, and 400 / 3000 "Registration is only available for licensed users."
  when ``host_licensed`` is False and a body asks for registration.
- 400 / 300 "Validation Failed." for a batch of more than 30 registrants or a registrant without a valid
  ``email`` or ``first_name``.

Faults from :meth:`ZoomEmulator.fail_next` answer before the route runs, so nothing changes. Faults
from :meth:`ZoomEmulator.fail_after_commit` answer after a route succeeded (a meeting was made, changed
or deleted): with a 5xx, by closing the connection without an answer, or by answering too late for
the client. They are what a lost answer looks like, and what makes a client that resends a create
make a second meeting.

Run it by hand with ``python -m integrations.sandbox.zoom_server [--port N]``.
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
import logging
import math
import random
import secrets
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterable, Mapping, NoReturn, Protocol, Sequence
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.sandbox.serving import ServedEmulator, ServerThread, send_answer

log = logging.getLogger(__name__)

AFTER_COMMIT_FAULTS = ("drop", "slow")
"""Values of ``fail_after_commit``'s fault besides an HTTP status: close without answering, answer late."""

ROUTES = ("token", "create_meeting", "get_meeting", "patch_meeting", "delete_meeting", "list_meetings",
          "instances", "report_participants", "past_participants", "add_registrant", "batch_registrants",
          "list_registrants", "registrant_status", "get_user")
"""Route names: keys of ``calls`` and valid arguments of ``fail_next`` and ``fail_after_commit`` (besides ``"*"``)."""

UUID_KINDS = ("plain", "leading_slash", "double_slash", "cycle")
"""Values of ``uuid_kind``: what the UUIDs the emulator hands out look like."""

PAGE_TOKEN_TTL = timedelta(minutes=15)  # Zoom's next_page_token lifetime
MAX_PAGE_SIZE = 300  # Zoom's cap for list and participant pages
BATCH_REGISTRANTS_MAX = 30  # Zoom's cap of registrants in one batch_registrants call
REGISTRANT_ROUTES = ("add_registrant", "batch_registrants", "list_registrants", "registrant_status")
DEFAULT_ACCOUNT_SETTINGS: dict[str, Any] = {
    # What an account with AI Companion on gives a meeting whose create body leaves these out.
    "auto_start_meeting_summary": True, "who_will_receive_summary": 4, "auto_start_ai_companion_questions": True,
    "who_can_ask_questions": 4, "question_and_answer": {"enable": True, "allow_anonymous_questions": True},
    "watermark": False, "allow_multiple_devices": True, "meeting_authentication": False,
    "registrants_confirmation_email": True, "registrants_email_notification": True, "waiting_room": False,
}
"""The sandbox account's defaults for omitted create fields (``account_settings`` starts as a copy)."""
DEFAULT_PAGE_SIZE = 30  # Zoom's default page size
_RATE_CATEGORY = {"create_meeting": "Medium", "list_meetings": "Medium", "get_meeting": "Light",
                  "patch_meeting": "Light", "delete_meeting": "Light", "instances": "Medium",
                  "report_participants": "Heavy", "past_participants": "Medium", "token": "Light",
                  "add_registrant": "Light", "batch_registrants": "Medium", "list_registrants": "Medium",
                  "registrant_status": "Light"}
_FIRST_NAMES = ("Andi", "Budi", "Citra", "Dewi", "Eka", "Fajar", "Gita", "Hendra", "Indah", "Joko",
                "Kartika", "Lestari", "Made", "Nur", "Putu", "Rina", "Sari", "Teguh", "Wahyu", "Yusuf")
_LAST_NAMES = ("Amir", "Basri", "Daeng", "Gunawan", "Halim", "Irawan", "Kusuma", "Latief", "Mappa", "Nasution",
               "Pratama", "Rahman", "Saputra", "Tanjung", "Utami", "Wijaya", "Yamin", "Zainal", "Hasan", "Siregar")


class ClockLike(Protocol):
    """An object with ``now()``, like ``worker.core.clock.Clock``."""

    def now(self) -> datetime:
        """The current moment, aware UTC."""


# -- data the tests hand in and get back ------------------------------------------------------
@dataclass(frozen=True)
class SimParticipant:
    """One join of one person, for :meth:`ZoomEmulator.add_participants`."""

    name: str  # display name
    email: str  # "" for a guest who gave none
    join_time: datetime  # aware
    leave_time: datetime  # aware, after join_time
    participant_id: str = ""  # Zoom's per-person ``id``; "" for some guests
    join_url: str = ""  # the personal registrant link used to join; "" = the public link
    internal: bool = False  # signed in as a user of the host's account (staff): e-mail and id shown


@dataclass(frozen=True)
class ExpectedAttendee:
    """What a correct merge of one simulated person's joins must give (same fields as ``worker.core.model.Attendee``)."""

    name: str  # display name
    email: str  # lower-cased, "" for a guest
    first_join: datetime  # earliest join, aware UTC
    last_leave: datetime  # latest leave, aware UTC
    minutes: int  # sum of the stays (every stay is whole minutes, so no rounding question)
    joins: int  # number of records for this person
    key: str  # merge key: "email:...", "id:..." or "name:..." (casefolded)
    participant_id: str  # the ``id`` the records carry, may be ""


# -- internal state ----------------------------------------------------------------------------
@dataclass
class _Occurrence:
    """One ended instance of a meeting, with its participant records."""

    uuid: str  # the instance UUID
    meeting_id: int  # the meeting number
    started_at: datetime  # aware UTC
    ended_at: datetime  # aware UTC
    records: list[dict[str, Any]] = field(default_factory=list)  # report-shaped records, by join time
    not_ready_left: int = 0  # calls still to answer "not ready"


@dataclass
class _Fault:
    """A queued failure from ``fail_next``."""

    status: int  # HTTP status to answer
    times: int  # answers left
    retry_after: int | str | None  # Retry-After header value, if any
    daily: bool  # a daily (not per-second) rate limit


@dataclass
class _LateFault:
    """A queued failure from ``fail_after_commit``: the route runs, then this spoils the answer."""

    fault: int | str  # HTTP status (5xx), "drop" or "slow"
    times: int  # answers left
    seconds: float  # how late a "slow" answer comes


class _DropConnection(Exception):
    """Raised by :meth:`ZoomEmulator.handle` when the connection is to be closed without an answer."""


@dataclass(frozen=True)
class _PageCursor:
    """What a next_page_token stands for."""

    scope: str  # the listing it belongs to (route and resource)
    offset: int  # index of the next item
    issued: datetime  # for the 15-minute expiry


@dataclass
class _Reply:
    """One HTTP answer."""

    status: int  # HTTP status
    body: Any = None  # JSON-able body; None = empty
    headers: dict[str, str] = field(default_factory=dict)  # extra headers


class _ApiError(Exception):
    """Raised inside a route handler to answer with a Zoom error body."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.reply = _Reply(status, {"code": code, "message": message, **(extra or {})}, headers or {})


def _iso(moment: datetime) -> str:
    """Zoom's timestamp format: UTC with a Z, whole seconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aware_utc(value: datetime | str) -> datetime:
    """A datetime or ISO text as aware UTC; naive values are refused."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"need an aware datetime or an ISO time with an offset, got {value!r}")
    return moment.astimezone(timezone.utc)


def _next_midnight_utc(now: datetime) -> datetime:
    """The next 00:00 UTC, when Zoom's daily limits reset."""
    day = now.astimezone(timezone.utc).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


class ZoomEmulator(ServedEmulator):
    """Zoom's OAuth and meeting/report API in a background HTTP server; ``start()`` binds 127.0.0.1."""

    _thread_name = "sandbox-zoom"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, account_id: str = "sandbox-account",
                 client_id: str = "sandbox-client", client_secret: str = "sandbox-secret", token_ttl: int = 3600,
                 clock: Callable[[], datetime] | ClockLike | None = None, report_plan: bool = True,
                 uuid_kind: str = "plain", seed: int = 0):
        if uuid_kind not in UUID_KINDS:
            raise ValueError(f"uuid_kind must be one of {', '.join(UUID_KINDS)}; got {uuid_kind!r}")
        self.host = host  # address to bind
        self.port = port  # 0 = any free port; the real one is set by start()
        self.account_id = account_id  # the only account_id the token endpoint accepts
        self.client_id = client_id  # Basic auth user of the token endpoint
        self.client_secret = client_secret  # Basic auth password of the token endpoint
        self.token_ttl = token_ttl  # seconds a token lives (expires_in)
        self._clock = clock  # callable or Clock; None = real time
        self.report_plan = report_plan  # False: the report endpoint answers 400/200 "paid accounts only"
        self.uuid_kind = uuid_kind  # shape of new UUIDs, see UUID_KINDS
        self.host_id = "SbxHost0Qe2aZ5xYk9LmN1w"  # the user id of the one host user
        self.host_email = "host@library.example"  # the host user's e-mail (also a valid userId)
        self.user_timezone = "UTC"  # zone for a local start_time sent without ``timezone``
        self.delay_seconds = 0.0  # sleep this long before answering any request
        self.report_delay = timedelta(0)  # if set: participants "not ready" until the clock is this long past the end
        self.meeting_write_limit: int | None = None  # create+update calls per user per UTC day (Zoom: 100)
        self.account_settings = copy.deepcopy(DEFAULT_ACCOUNT_SETTINGS)  # defaults for omitted create settings
        self.host_licensed = True  # False: the host is a Basic user and cannot turn registration on
        self.calls: Counter[str] = Counter()  # requests received, by route name (failed ones too)
        self.deleted: set[int] = set()  # ids of deleted meetings
        self._meetings: dict[int, dict[str, Any]] = {}  # live meetings, as GET returns them
        self._registrants: dict[int, dict[str, dict[str, Any]]] = {}  # meeting id -> lower e-mail -> registrant
        self._links: dict[str, tuple[int, str]] = {}  # personal join_url -> (meeting id, lower e-mail)
        self._occurrences: dict[str, _Occurrence] = {}  # ended instances by UUID, in end order
        self._tokens: dict[str, datetime] = {}  # access token -> expiry
        self._faults: dict[str, deque[_Fault]] = {}  # queued failures by route name ("*" = any)
        self._late_faults: dict[str, deque[_LateFault]] = {}  # queued after-commit failures, same keys
        self._not_ready = 0  # value of not_ready_calls(): applied to every ended occurrence
        self._cursors: dict[str, _PageCursor] = {}  # next_page_token -> position
        self._writes: Counter[tuple[str, str]] = Counter()  # (user, UTC date) -> create/update calls
        self._rng = random.Random(seed)  # ids, UUIDs and passcodes, deterministic per seed
        self._uuid_count = 0  # UUIDs handed out, drives uuid_kind="cycle"
        self._join_count = 16778240  # last per-join ``user_id`` handed out (Zoom-like numbers)
        self._lock = threading.RLock()  # the HTTP threads and the test thread share all state
        self._connections: set[socket.socket] = set()  # open client connections, closed by stop()
        self._serving: ServerThread | None = None  # the listening server and its thread, once started

    # -- lifecycle -----------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _RequestHandler

    def _started(self) -> None:
        log.info("sandbox Zoom API listening on %s", self.api_base_url)

    def _before_join(self) -> None:
        """Idle keep-alive connections would otherwise still be answered after stop()."""
        with self._lock:
            for sock in list(self._connections):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """The REST base, ``http://127.0.0.1:PORT/v2`` (Zoom: ``https://api.zoom.us/v2``)."""
        return f"{self.base_url}/v2"

    @property
    def oauth_url(self) -> str:
        """The token endpoint, ``http://127.0.0.1:PORT/oauth/token`` (Zoom: ``https://zoom.us/oauth/token``)."""
        return f"{self.base_url}/oauth/token"

    def now(self) -> datetime:
        """The emulator's "now" from the injected clock, aware UTC."""
        clock = self._clock
        if clock is None:
            return datetime.now(timezone.utc)
        moment = clock.now() if hasattr(clock, "now") else clock()  # type: ignore[operator,union-attr]
        return moment.astimezone(timezone.utc)

    # -- fault switches ------------------------------------------------------------------
    def fail_next(self, route_name: str, status: int, times: int = 1, retry_after: int | str | None = None,
                  daily: bool = False) -> None:
        """Answer the next ``times`` calls of ``route_name`` (or ``"*"``: any route) with ``status``.

        A 429 carries ``Retry-After`` (``retry_after`` seconds, default 1) and ``X-RateLimit-Type: QPS``;
        with ``daily=True`` it says ``Daily-limit`` and ``Retry-After`` is the next 00:00 UTC unless given.
        """
        if route_name not in ROUTES and route_name != "*":
            raise ValueError(f"unknown route {route_name!r}; valid: {', '.join(ROUTES)} or '*'")
        if status < 400 or times < 1:
            raise ValueError(f"fail_next needs an error status (>= 400) and times >= 1; got {status}, {times}")
        with self._lock:
            self._faults.setdefault(route_name, deque()).append(_Fault(status, times, retry_after, daily))

    def fail_after_commit(self, route_name: str, fault: int | str, times: int = 1, seconds: float = 1.0) -> None:
        """Let the next ``times`` successful calls of ``route_name`` (or ``"*"``) do their work, then spoil the answer.

        ``fault`` is a 5xx status (Zoom made the meeting but answers 500/502/503/504), ``"drop"`` (the
        connection is closed without an answer) or ``"slow"`` (the real answer comes ``seconds`` late,
        after a client's timeout). A call that fails anyway (404, 400, a ``fail_next`` fault) changes
        nothing and leaves the fault queued.
        """
        if route_name not in ROUTES and route_name != "*":
            raise ValueError(f"unknown route {route_name!r}; valid: {', '.join(ROUTES)} or '*'")
        if not (fault in AFTER_COMMIT_FAULTS or (isinstance(fault, int) and 500 <= fault <= 599)) or times < 1:
            raise ValueError(f"fail_after_commit needs a 5xx status, 'drop' or 'slow', and times >= 1; "
                             f"got {fault!r}, {times}")
        with self._lock:
            self._late_faults.setdefault(route_name, deque()).append(_LateFault(fault, times, seconds))

    def expire_tokens(self) -> None:
        """Make every token handed out so far invalid now (the next API call answers 401/124)."""
        with self._lock:
            self._tokens.clear()

    def not_ready_calls(self, n: int) -> None:
        """Every ended occurrence (already ended ones included) answers its next ``n`` participant or
        instances calls with "not ready" (404/3001); instances leave it out of the list meanwhile. 0 clears."""
        with self._lock:
            self._not_ready = max(0, n)
            for occurrence in self._occurrences.values():
                occurrence.not_ready_left = self._not_ready

    def reset_calls(self) -> None:
        """Zero the call counters."""
        with self._lock:
            self.calls.clear()

    # -- what tests look at ------------------------------------------------------------------
    @property
    def meetings(self) -> dict[int, dict[str, Any]]:
        """A copy of the live (not deleted) meetings: id -> the meeting as ``GET /meetings/{id}`` returns it."""
        with self._lock:
            return {number: _public(m) for number, m in self._meetings.items()}

    def instances(self, meeting_id: int) -> list[str]:
        """UUIDs of the ended occurrences of ``meeting_id``, oldest first."""
        with self._lock:
            return [o.uuid for o in self._occurrences.values() if o.meeting_id == int(meeting_id)]

    def registrants(self, meeting_id: int | str) -> list[dict[str, Any]]:
        """A copy of a meeting's registrants (every status), in the order they registered."""
        with self._lock:
            return copy.deepcopy(list(self._registrants.get(int(meeting_id), {}).values()))

    def register_on_page(self, meeting_id: int | str, email: str, first_name: str, last_name: str = "") -> str:
        """A person fills in the public registration page (``registration_url``); returns their personal join_url.

        Not an API call (it is not counted in ``calls``); the registrant is listed by ``list_registrants``.
        """
        with self._lock:
            meeting = self._live_meeting(str(meeting_id))
            self._registration_enabled(meeting)
            return self._register(meeting, {"email": email, "first_name": first_name, "last_name": last_name},
                                  auto_approve=False)["join_url"]

    def participant_records(self, uuid: str) -> list[dict[str, Any]]:
        """A copy of one occurrence's participant records, as the report endpoint lists them."""
        with self._lock:
            return copy.deepcopy(self._occurrences[uuid].records)

    # -- making things happen -------------------------------------------------------------------
    def end_meeting(self, meeting_id: int | str, started_at: datetime | None = None,
                    ended_at: datetime | None = None, *, uuid: str | None = None) -> str:
        """Mark one occurrence of a live meeting as held; return its UUID.

        Defaults: it started at the scheduled start and lasted the scheduled duration. The occurrence gets
        the meeting's current UUID (or ``uuid``), and the meeting gets a fresh UUID for its next occurrence.
        """
        with self._lock:
            meeting = self._meetings.get(int(meeting_id))
            if meeting is None:
                raise KeyError(f"no live meeting {meeting_id}")
            start = _aware_utc(started_at or meeting["start_time"]).replace(microsecond=0)
            end = (_aware_utc(ended_at) if ended_at else start + timedelta(minutes=max(1, meeting["duration"])))
            end = end.replace(microsecond=0)
            if end <= start:
                raise ValueError(f"ended_at {end} is not after started_at {start}")
            occurrence_uuid = uuid or meeting["uuid"]
            if occurrence_uuid in self._occurrences:
                raise ValueError(f"occurrence UUID {occurrence_uuid!r} is already used")
            self._occurrences[occurrence_uuid] = _Occurrence(occurrence_uuid, meeting["id"], start, end,
                                                             not_ready_left=self._not_ready)
            meeting["uuid"] = self._new_uuid()
            return occurrence_uuid

    def add_participants(self, meeting_id: int | str, participants: Iterable[SimParticipant | Mapping[str, Any]],
                         *, uuid: str | None = None) -> int:
        """Add join records to the latest ended occurrence of ``meeting_id`` (or to ``uuid``); return how many.

        A mapping needs ``name``, ``join_time`` and ``leave_time`` (aware datetimes or ISO text with an
        offset) and may have ``email``/``user_email`` and ``id``/``participant_id``.
        """
        with self._lock:
            occurrence = self._occurrence_for_test(meeting_id, uuid)
            added = 0
            for item in participants:
                if isinstance(item, SimParticipant):
                    name, email, pid = item.name, item.email, item.participant_id
                    joined, left = _aware_utc(item.join_time), _aware_utc(item.leave_time)
                    link, internal = item.join_url, item.internal
                else:
                    name = str(item["name"])
                    email = str(item.get("email", item.get("user_email", "")) or "")
                    pid = str(item.get("id", item.get("participant_id", "")) or "")
                    joined, left = _aware_utc(item["join_time"]), _aware_utc(item["leave_time"])
                    link, internal = str(item.get("join_url") or ""), bool(item.get("internal"))
                if left < joined:
                    raise ValueError(f"{name!r} leaves ({left}) before joining ({joined})")
                registrant = self._registrant_for_link(link, occurrence.meeting_id)
                occurrence.records.append(self._record(name, email, pid, joined, left, registrant, internal))
                added += 1
            occurrence.records.sort(key=lambda r: r["join_time"])
            return added

    def simulate_attendance(self, meeting_id: int | str, count: int, *, rejoin_every: int = 5, seed: int = 0,
                            extra_names: Sequence[str] = (), uuid: str | None = None) -> list[ExpectedAttendee]:
        """Generate ``count`` people attending the latest ended occurrence (or ``uuid``); return the merged truth.

        Every ``rejoin_every``-th person joins 2 or 3 times (0 = nobody rejoins), some rejoiners' e-mail
        changes case between joins, every 9th person is a guest (half of those without an ``id`` at all).
        The others are users signed in to the host's account (``internal_user``), the only people Zoom
        shows an e-mail and ``id`` for without registration; a guest's e-mail is hidden and the report
        blanks its ``id``, so only the name identifies a guest there. ``extra_names`` name the first people (tricky names).
        Stays are whole minutes inside the occurrence. The result is sorted by first join, then name.
        """
        rng = random.Random(seed)
        with self._lock:
            occurrence = self._occurrence_for_test(meeting_id, uuid)
            span_minutes = int((occurrence.ended_at - occurrence.started_at).total_seconds() // 60)
            if span_minutes < 7:
                raise ValueError(f"occurrence {occurrence.uuid!r} lasts {span_minutes} min; need at least 7")
            people: list[SimParticipant] = []
            expected: list[ExpectedAttendee] = []
            for index in range(count):
                joins = 1
                if rejoin_every > 0 and index % rejoin_every == rejoin_every - 1:
                    joins = 2 + index // rejoin_every % 2
                stays, person = self._simulated_person(index, joins, occurrence, span_minutes, rng, extra_names)
                people.extend(stays)
                expected.append(person)
        self.add_participants(meeting_id, people, uuid=occurrence.uuid)
        return sorted(expected, key=lambda a: (a.first_join, a.name.casefold()))

    def _simulated_person(self, index: int, joins: int, occurrence: _Occurrence, span_minutes: int,
                          rng: random.Random, extra_names: Sequence[str],
                          ) -> tuple[list[SimParticipant], ExpectedAttendee]:
        first, last = _FIRST_NAMES[index % 20], _LAST_NAMES[index // 20 % 20]
        cycle = index // 400
        name = f"{first} {chr(64 + cycle)}. {last}" if 0 < cycle <= 26 else f"{first} {last}"
        if cycle > 26:
            name = f"{name} {index}"
        if index < len(extra_names):
            name = extra_names[index]
        guest = index % 9 == 4 and index >= len(extra_names)
        email = "" if guest else f"{first}.{last}{index}@example.org".lower()
        pid = "" if guest and index % 18 == 4 else self._token_chars(22, rng)
        marks = sorted(rng.sample(range(span_minutes), 2 * joins))
        offset = timedelta(seconds=rng.randrange(60))
        stays = []
        for n in range(joins):
            joined = occurrence.started_at + timedelta(minutes=marks[2 * n]) + offset
            left = occurrence.started_at + timedelta(minutes=marks[2 * n + 1]) + offset
            shown = email.capitalize() if (n % 2 and index % 2) else email  # same person, other case
            stays.append(SimParticipant(name, shown, joined, left, pid, internal=not guest))
        minutes = sum(marks[2 * n + 1] - marks[2 * n] for n in range(joins))
        key = f"email:{email}" if email else f"name:{name.strip().casefold()}"  # the report blanks a guest's id
        person = ExpectedAttendee(name=name, email=email, first_join=stays[0].join_time,
                                  last_leave=stays[-1].leave_time, minutes=minutes, joins=joins, key=key,
                                  participant_id=pid)
        return stays, person

    def _occurrence_for_test(self, meeting_id: int | str, uuid: str | None) -> _Occurrence:
        if uuid is not None:
            return self._occurrences[uuid]
        ended = [o for o in self._occurrences.values() if o.meeting_id == int(meeting_id)]
        if not ended:
            raise ValueError(f"meeting {meeting_id} has no ended occurrence; call end_meeting() first")
        return max(ended, key=lambda o: o.ended_at)

    def _record(self, name: str, email: str, pid: str, joined: datetime, left: datetime,
                registrant: dict[str, Any] | None = None, internal: bool = False) -> dict[str, Any]:
        """A participant record as Zoom keeps it: the e-mail shown only for internal users and registrants.

        A registrant's record carries the e-mail they registered with (not what they typed anywhere
        else); a guest's e-mail is hidden. ``id``/``participant_user_id`` are kept here and blanked for
        external participants by the report route.
        """
        self._join_count += 1
        shown = email if internal else (registrant["email"] if registrant else "")
        return {"id": pid, "user_id": str(self._join_count), "name": name, "user_email": shown,
                "join_time": _iso(joined), "leave_time": _iso(left),
                "duration": int((left - joined).total_seconds()), "attentiveness_score": "",
                "failover": False, "status": "in_meeting", "customer_key": "",
                "registrant_id": registrant["id"] if registrant and not internal else "",
                "participant_user_id": pid, "internal_user": internal}

    def _registrant_for_link(self, link: str, meeting_id: int) -> dict[str, Any] | None:
        """The registrant whose personal join_url ``link`` is (for this meeting), None for the public link."""
        if not link:
            return None
        found = self._links.get(link)
        if found is None or found[0] != meeting_id:
            raise ValueError(f"{link!r} is not a registrant join_url of meeting {meeting_id}")
        return self._registrants[found[0]][found[1]]

    # -- ids -----------------------------------------------------------------------------------
    def _token_chars(self, length: int, rng: random.Random | None = None) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join((rng or self._rng).choice(alphabet) for _ in range(length))

    def _new_uuid(self) -> str:
        """A 24-character base64 UUID ending in "=="; its shape follows ``uuid_kind``."""
        kind = self.uuid_kind
        if kind == "cycle":
            kind = ("plain", "leading_slash", "double_slash")[self._uuid_count % 3]
        self._uuid_count += 1
        while True:
            text = base64.b64encode(self._rng.getrandbits(128).to_bytes(16, "big")).decode()
            if kind == "leading_slash":
                text = "/" + text[1:]
            elif kind == "double_slash":
                text = text[:7] + "//" + text[9:]
            plain_ok = not text.startswith("/") and "//" not in text
            if (kind == "plain") == plain_ok and text not in self._occurrences:
                return text

    def _new_meeting_id(self) -> int:
        while True:
            number = self._rng.randrange(10 ** 10, 10 ** 11)
            if number not in self._meetings and number not in self.deleted:
                return number

    # -- the HTTP side -------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Mapping[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body bytes). Used by the HTTP handler thread.

        Raises ``_DropConnection`` when a ``fail_after_commit("drop")`` fault says to answer nothing.
        """
        heads = {k.lower(): v for k, v in headers.items()}
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route, params = _match(method, parts.path)
        if route is None:
            status = 405 if params.get("allowed") else 404
            reply = _Reply(status, {"code": status, "message": f"No route for {method} {parts.path}"})
            return self._encode(reply)
        with self._lock:
            self.calls[route] += 1
        if self.delay_seconds > 0:
            time.sleep(self.delay_seconds)
        with self._lock:
            try:
                reply = self._injected_fault(route)
                if reply is None:
                    if route == "token":
                        reply = self._token(heads, query, body)
                    else:
                        self._check_token(heads)
                        reply = getattr(self, f"_route_{route}")(params, query, body)
            except _ApiError as err:
                reply = err.reply
            except Exception:  # a bug in the emulator: say so like a server would, keep serving
                log.exception("sandbox zoom: %s %s failed", method, parts.path)
                reply = _Reply(500, {"code": 500, "message": "Internal Server Error."})
            late = self._late_fault(route) if reply.status < 400 else None
        if late is not None:
            reply = self._spoil(route, late, reply)
        return self._encode(reply)

    def _late_fault(self, route: str) -> _LateFault | None:
        """The next ``fail_after_commit`` fault for ``route`` (used up by one), or None."""
        return _take(self._late_faults, route)

    def _spoil(self, route: str, late: _LateFault, reply: _Reply) -> _Reply:
        """The answer after the work was done: late, none at all, or a 5xx in its place."""
        if late.fault == "drop":
            raise _DropConnection(route)
        if late.fault == "slow":
            time.sleep(late.seconds)
            return reply
        with self._lock:
            return self._fault_reply(route, _Fault(int(late.fault), 1, None, False))

    @staticmethod
    def _encode(reply: _Reply) -> tuple[int, dict[str, str], bytes]:
        headers = dict(reply.headers)
        payload = b""
        if reply.body is not None:
            payload = json.dumps(reply.body).encode()
            headers.setdefault("Content-Type", "application/json;charset=UTF-8")
        return reply.status, headers, payload

    def _injected_fault(self, route: str) -> _Reply | None:
        fault = _take(self._faults, route)
        return self._fault_reply(route, fault) if fault is not None else None

    def _fault_reply(self, route: str, fault: _Fault) -> _Reply:
        headers: dict[str, str] = {}
        if fault.status == 429:
            return self._rate_limited(route, fault.daily, fault.retry_after)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        messages = {500: "Internal Server Error.", 502: "Bad Gateway.",
                    503: "Service is temporarily unavailable. Please try again later.", 504: "Gateway Timeout."}
        try:
            default = HTTPStatus(fault.status).phrase + "."
        except ValueError:
            default = "Error."
        return _Reply(fault.status, {"code": fault.status, "message": messages.get(fault.status, default)}, headers)

    def _rate_limited(self, route: str, daily: bool, retry_after: int | str | None) -> _Reply:
        headers = {"X-RateLimit-Category": _RATE_CATEGORY.get(route, "Light"), "X-RateLimit-Remaining": "0"}
        if daily:
            headers["X-RateLimit-Type"] = "Daily-limit"
            reset = _iso(_next_midnight_utc(self.now()))
            headers["Retry-After"] = str(retry_after) if retry_after is not None else reset
            if route in ("create_meeting", "patch_meeting"):
                message = ("You have exceeded the daily rate limit (100) of Meeting Create/Update API requests "
                           "permitted for this particular user. You may resume these requests at GMT 00:00:00.")
            else:
                message = ("You have reached the maximum daily rate limit for this API. Refer to the response "
                           "header for details on when you can make another request.")
        else:
            headers["X-RateLimit-Type"] = "QPS"
            headers["Retry-After"] = str(retry_after if retry_after is not None else 1)
            message = "You have reached the maximum per-second rate limit for this API. Try again later."
        return _Reply(429, {"code": 429, "message": message}, headers)

    # -- OAuth ----------------------------------------------------------------------------------
    def _token(self, headers: Mapping[str, str], query: dict[str, str], body: bytes) -> _Reply:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        args = {**form, **query}
        if not self._basic_auth_ok(headers.get("authorization", "")):
            return _Reply(401, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
        if args.get("grant_type") != "account_credentials":
            return _Reply(400, {"reason": "unsupported grant type", "error": "unsupported_grant_type"})
        if args.get("account_id") != self.account_id:
            return _Reply(400, {"reason": "Invalid account_id", "error": "invalid_request"})
        token = "sbx." + secrets.token_urlsafe(32)
        self._tokens[token] = self.now() + timedelta(seconds=self.token_ttl)
        scopes = ["meeting:read:admin", "meeting:write:admin", "user:read:admin"]
        if self.report_plan:
            scopes.append("report:read:admin")
        return _Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl,
                            "scope": " ".join(scopes), "api_url": self.base_url})

    def _basic_auth_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return decoded == f"{self.client_id}:{self.client_secret}"

    def _check_token(self, headers: Mapping[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        expires = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expires is None:
            raise _ApiError(401, 124, "Invalid access token.")
        if self.now() >= expires:
            raise _ApiError(401, 124, "Access token is expired.")

    # -- meetings --------------------------------------------------------------------------------
    def _check_user(self, user_id: str) -> None:
        if user_id not in ("me", self.host_id) and user_id.lower() != self.host_email:
            raise _ApiError(404, 1001, f"User does not exist: {user_id}.")

    def _count_write(self, user: str) -> None:
        if self.meeting_write_limit is None:
            return
        key = (user, self.now().date().isoformat())
        self._writes[key] += 1
        if self._writes[key] > self.meeting_write_limit:
            reply = self._rate_limited("create_meeting", True, None)
            raise _ApiError(429, 429, reply.body["message"], reply.headers)

    def _live_meeting(self, raw: str) -> dict[str, Any]:
        text = unquote(raw)
        meeting = self._meetings.get(int(text)) if text.isdigit() else None
        if meeting is None:
            raise _ApiError(404, 3001, f"Meeting does not exist: {text}.")
        return meeting

    def _route_create_meeting(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        self._check_user(params["user"])
        data = _json_object(body)
        self._count_write(self.host_id)
        meeting_type = data.get("type", 2)
        if meeting_type != 2:
            _invalid("type", "Only scheduled meetings (type 2) are emulated.")
        number = self._new_meeting_id()
        meeting: dict[str, Any] = {
            "uuid": self._new_uuid(), "id": number, "host_id": self.host_id, "host_email": self.host_email,
            "assistant_id": "", "topic": "Zoom Meeting", "type": 2, "status": "waiting",
            "start_time": _iso(self.now()), "duration": 60, "timezone": self.user_timezone, "agenda": "",
            "created_at": _iso(self.now()), "password": self._token_chars(6), "pre_schedule": False,
            "settings": {"host_video": False, "participant_video": False, "join_before_host": False,
                         "mute_upon_entry": False, "approval_type": 2, "registration_type": 1, "audio": "voip",
                         "auto_recording": "none", **copy.deepcopy(self.account_settings)},
        }
        self._apply_changes(meeting, data)
        self._meetings[number] = meeting
        return _Reply(201, _public(meeting))

    def _apply_changes(self, meeting: dict[str, Any], data: dict[str, Any]) -> None:
        """Validate and apply the fields of a create or PATCH body; refuse bad ones as Zoom's 300."""
        changed = dict(meeting)
        for key in ("topic", "agenda"):
            if key in data:
                if not isinstance(data[key], str):
                    _invalid(key, "Must be a string.")
                changed[key] = data[key]
        if len(changed["topic"]) > 200:
            _invalid("topic", "Topic can be at most 200 characters.")
        if len(changed["agenda"]) > 2000:
            _invalid("agenda", "Agenda can be at most 2000 characters.")
        if "duration" in data:
            if not isinstance(data["duration"], int) or isinstance(data["duration"], bool) or data["duration"] < 0:
                _invalid("duration", "Duration must be a whole number of minutes.")
            changed["duration"] = data["duration"]
        if "password" in data:
            password = data["password"]
            if not isinstance(password, str) or len(password) > 10:
                _invalid("password", "Passcode can be at most 10 characters.")
            changed["password"] = password
        if "timezone" in data or "start_time" in data:
            zone = data.get("timezone") or changed["timezone"]
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                _invalid("timezone", f"Invalid timezone: {zone}.")
            changed["timezone"] = zone
            if "start_time" in data:
                changed["start_time"] = _iso(_parse_start(data["start_time"], zone))
        if "settings" in data:
            if not isinstance(data["settings"], dict):
                _invalid("settings", "Must be an object.")
            changed["settings"] = {**changed["settings"], **data["settings"]}
            self._check_registration_settings(changed["settings"])
        meeting.update(changed)
        if meeting["settings"].get("approval_type", 2) in (0, 1):
            meeting["registration_url"] = f"https://zoom.example/meeting/register/{self._registration_token(meeting)}"
        else:
            meeting.pop("registration_url", None)
        secret = base64.urlsafe_b64encode(f"{meeting['id']}:{meeting['password']}".encode()).decode().rstrip("=")
        meeting["encrypted_password"] = secret
        meeting["h323_password"] = meeting["pstn_password"] = "".join(str(ord(c) % 10) for c in meeting["password"])
        meeting["join_url"] = f"https://zoom.example/j/{meeting['id']}?pwd={secret}"
        meeting["start_url"] = f"https://zoom.example/s/{meeting['id']}?zak=sandbox"

    def _check_registration_settings(self, settings: dict[str, Any]) -> None:
        approval = settings.get("approval_type", 2)
        if approval not in (0, 1, 2) or isinstance(approval, bool):
            _invalid("settings.approval_type", "Invalid field.")
        if settings.get("registration_type", 1) not in (1, 2, 3):
            _invalid("settings.registration_type", "Invalid field.")
        if approval != 2 and not self.host_licensed:
            raise _ApiError(400, 3000, "Registration is only available for licensed users.")

    def _registration_token(self, meeting: dict[str, Any]) -> str:
        token = meeting.get("_registration_token")
        if not token:
            token = meeting["_registration_token"] = self._token_chars(22)
        return token

    # -- registrants -------------------------------------------------------------------------
    def _registration_enabled(self, meeting: dict[str, Any]) -> None:
        if meeting["settings"].get("approval_type", 2) == 2:
            raise _ApiError(400, 3000, f"Registration has not been enabled for this meeting: {meeting['id']}.")

    def _register(self, meeting: dict[str, Any], person: Any, *, auto_approve: bool) -> dict[str, Any]:
        """Add or find the registrant for ``person``'s e-mail (the same e-mail gets the same registrant)."""
        email, first, last = _registrant_fields(person)
        book = self._registrants.setdefault(meeting["id"], {})
        approved = meeting["settings"].get("approval_type") == 0 or auto_approve
        existing = book.get(email.lower())
        if existing is not None:
            if approved and existing["status"] != "approved":
                existing["status"] = "approved"
            return existing
        rid = self._token_chars(22)
        link = f"https://zoom.example/w/{meeting['id']}?tk={self._token_chars(40)}&pwd={meeting['encrypted_password']}"
        registrant = {"id": rid, "email": email, "first_name": first, "last_name": last,
                      "status": "approved" if approved else "pending", "create_time": _iso(self.now()),
                      "join_url": link, "participant_pin_code": self._rng.randrange(10 ** 5, 10 ** 6)}
        book[email.lower()] = registrant
        self._links[link] = (meeting["id"], email.lower())
        return registrant

    def _route_add_registrant(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        meeting = self._live_meeting(params["meeting"])
        self._registration_enabled(meeting)
        data = _json_object(body)
        registrant = self._register(meeting, data, auto_approve=bool(data.get("auto_approve")))
        return _Reply(201, {"id": meeting["id"], "join_url": registrant["join_url"],
                            "registrant_id": registrant["id"], "start_time": meeting["start_time"],
                            "topic": meeting["topic"], "occurrences": [],
                            "participant_pin_code": registrant["participant_pin_code"]})

    def _route_batch_registrants(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        meeting = self._live_meeting(params["meeting"])
        self._registration_enabled(meeting)
        data = _json_object(body)
        people = data.get("registrants")
        if not isinstance(people, list) or not people:
            _invalid("registrants", "Registrants is required.")
        if len(people) > BATCH_REGISTRANTS_MAX:
            _invalid("registrants", f"A maximum of {BATCH_REGISTRANTS_MAX} registrants can be added at once.")
        for person in people:  # all or nothing: check every one before adding any
            _registrant_fields(person)
        added = [self._register(meeting, person, auto_approve=bool(data.get("auto_approve"))) for person in people]
        return _Reply(201, {"registrants": [{"registrant_id": r["id"], "email": r["email"], "join_url": r["join_url"],
                                             "participant_pin_code": r["participant_pin_code"]} for r in added]})

    def _route_list_registrants(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        meeting = self._live_meeting(params["meeting"])
        self._registration_enabled(meeting)
        status = query.get("status", "approved")
        if status not in ("pending", "approved", "denied"):
            _invalid("status", f"Invalid status: {status}.")
        items = [r for r in self._registrants.get(meeting["id"], {}).values() if r["status"] == status]
        page, size, token = self._page(f"registrants:{meeting['id']}:{status}", items, query)
        return _Reply(200, {"page_size": size, "total_records": len(items), "next_page_token": token,
                            "registrants": copy.deepcopy(page)})

    def _route_registrant_status(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        meeting = self._live_meeting(params["meeting"])
        self._registration_enabled(meeting)
        data = _json_object(body)
        action = data.get("action")
        if action not in ("approve", "deny", "cancel"):
            _invalid("action", "Invalid action.")
        people = data.get("registrants")
        if not isinstance(people, list) or not people or len(people) > BATCH_REGISTRANTS_MAX:
            _invalid("registrants", f"Between 1 and {BATCH_REGISTRANTS_MAX} registrants are needed.")
        book = self._registrants.get(meeting["id"], {})
        status = {"approve": "approved", "deny": "denied", "cancel": "cancelled"}[action]
        for person in people:
            if not isinstance(person, dict):
                _invalid("registrants", "Must be an object.")
            found = [r for r in book.values()
                     if r["id"] == person.get("id") or r["email"].lower() == str(person.get("email") or "").lower()]
            for registrant in found:
                registrant["status"] = status
        return _Reply(204)

    def _route_get_user(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        """``GET /v2/users/{userId}``: the host user; ``type`` 1 = Basic, 2 = Licensed
        (https://developers.zoom.us/docs/api/users/#tag/users/GET/users/{userId})."""
        self._check_user(params["user"])
        return _Reply(200, {"id": self.host_id, "email": self.host_email, "first_name": "Host",
                            "last_name": "Perpustakaan", "type": 2 if self.host_licensed else 1,
                            "status": "active", "timezone": "Asia/Makassar"})

    def _route_get_meeting(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        return _Reply(200, _public(self._live_meeting(params["meeting"])))

    def _route_patch_meeting(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        meeting = self._live_meeting(params["meeting"])
        data = _json_object(body)
        self._count_write(self.host_id)
        if "type" in data and data["type"] != 2:
            _invalid("type", "Only scheduled meetings (type 2) are emulated.")
        self._apply_changes(meeting, data)
        return _Reply(204)

    def _route_delete_meeting(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        meeting = self._live_meeting(params["meeting"])
        del self._meetings[meeting["id"]]
        self.deleted.add(meeting["id"])
        return _Reply(204)

    def _route_list_meetings(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        self._check_user(params["user"])
        kind = query.get("type", "scheduled")
        if kind not in ("scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings"):
            _invalid("type", f"Invalid type: {kind}.")
        items = sorted(self._meetings.values(), key=lambda m: (m["start_time"], m["id"]))
        if kind in ("upcoming", "upcoming_meetings"):
            items = [m for m in items if m["start_time"] >= _iso(self.now())]
        elif kind in ("live", "previous_meetings"):
            items = []  # live/past lists are not emulated: the worker only asks for scheduled meetings
        page, size, token = self._page(f"list:{kind}", items, query)
        keys = ("uuid", "id", "host_id", "topic", "type", "start_time", "duration", "timezone", "agenda",
                "created_at", "join_url")
        return _Reply(200, {"page_size": size, "total_records": len(items), "next_page_token": token,
                            "meetings": [{k: m[k] for k in keys} for m in page]})

    def _page(self, scope: str, items: list[Any], query: dict[str, str]) -> tuple[list[Any], int, str]:
        """One page of ``items`` per ``page_size`` and ``next_page_token``: (page, page size, next token)."""
        raw_size = query.get("page_size") or str(DEFAULT_PAGE_SIZE)
        if not raw_size.isdigit():
            _invalid("page_size", f"Invalid page_size: {raw_size}.")
        size = min(max(int(raw_size), 1), MAX_PAGE_SIZE)
        offset = 0
        token = query.get("next_page_token", "")
        if token:
            cursor = self._cursors.get(token)
            if cursor is None or cursor.scope != scope or self.now() - cursor.issued > PAGE_TOKEN_TTL:
                raise _ApiError(400, 300, "The next page token is invalid or expired.")
            offset = cursor.offset
        page = items[offset:offset + size]
        next_token = ""
        if offset + size < len(items):
            if len(self._cursors) > 1000:  # forget stale tokens so a long demo does not grow without end
                now = self.now()
                self._cursors = {k: c for k, c in self._cursors.items() if now - c.issued <= PAGE_TOKEN_TTL}
            next_token = self._token_chars(32)
            self._cursors[next_token] = _PageCursor(scope, offset + size, self.now())
        return page, size, next_token

    # -- past meetings and reports ------------------------------------------------------------
    def _known_ids(self) -> set[int]:
        return set(self._meetings) | self.deleted | {o.meeting_id for o in self._occurrences.values()}

    def _resolve(self, raw: str) -> tuple[str, int | None, _Occurrence | None]:
        """A meeting id or UUID path segment -> (shown text, meeting id, occurrence or None).

        A segment still holding ``%`` after one decode was double-encoded and is decoded again. A UUID that
        needs double encoding but came encoded once is refused like Zoom does (its "/" broke the path there).
        """
        text = unquote(raw)
        double = "%" in text
        if double:
            text = unquote(text)
        if text.isdigit():
            number = int(text)
            if number not in self._known_ids():
                raise _ApiError(404, 3001, f"Meeting does not exist: {text}.")
            ended = [o for o in self._occurrences.values() if o.meeting_id == number]
            return text, number, (max(ended, key=lambda o: o.ended_at) if ended else None)
        if not double and (text.startswith("/") or "//" in text):
            raise _ApiError(404, 3001, f"Meeting does not exist: {raw}.")
        occurrence = self._occurrences.get(text)
        if occurrence is not None:
            return text, occurrence.meeting_id, occurrence
        for meeting in self._meetings.values():
            if meeting["uuid"] == text:  # the next occurrence: known, but not held yet
                return text, meeting["id"], None
        raise _ApiError(404, 3001, f"Meeting does not exist: {text}.")

    def _route_instances(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        _, number, _ = self._resolve(params["meeting"])
        listed = []
        for occurrence in self._occurrences.values():
            if occurrence.meeting_id != number:
                continue
            if occurrence.not_ready_left > 0:
                occurrence.not_ready_left -= 1
                continue
            listed.append({"uuid": occurrence.uuid, "start_time": _iso(occurrence.started_at)})
        return _Reply(200, {"meetings": listed})

    def _participants(self, params: dict[str, str], query: dict[str, str], scope: str,
                      keys: tuple[str, ...]) -> _Reply:
        text, _, occurrence = self._resolve(params["meeting"])
        not_ready = _ApiError(404, 3001, f"Meeting {text} has not ended yet or its report is not ready.")
        if occurrence is None:
            raise not_ready
        if not query.get("next_page_token"):
            if occurrence.not_ready_left > 0:
                occurrence.not_ready_left -= 1
                raise not_ready
            if self.report_delay and self.now() < occurrence.ended_at + self.report_delay:
                raise not_ready
        records = occurrence.records
        page, size, token = self._page(f"{scope}:{occurrence.uuid}", records, query)
        return _Reply(200, {"page_count": max(1, math.ceil(len(records) / size)), "page_size": size,
                            "total_records": len(records), "next_page_token": token,
                            "participants": [{k: r[k] for k in keys} for r in page]})

    def _route_report_participants(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        if not self.report_plan:
            raise _ApiError(400, 200, f"Only available for Paid or ZMP account: {self.account_id}.")
        keys = ("id", "user_id", "name", "user_email", "join_time", "leave_time", "duration",
                "attentiveness_score", "failover", "status", "customer_key", "registrant_id", "participant_user_id",
                "internal_user")
        reply = self._participants(params, query, "report", keys)
        for item in reply.body["participants"]:  # since 2023-03 the reports hide who an external participant is
            if not item["internal_user"]:
                item["id"] = item["participant_user_id"] = ""
        return reply

    def _route_past_participants(self, params: dict[str, str], query: dict[str, str], body: bytes) -> _Reply:
        keys = ("id", "user_id", "name", "user_email", "join_time", "leave_time", "duration", "failover",
                "status", "registrant_id")
        return self._participants(params, query, "past", keys)


# -- helpers for the routes ---------------------------------------------------------------------
def _invalid(field_name: str, message: str) -> NoReturn:
    """Refuse a request field the way Zoom does: 400, code 300, with an ``errors`` list."""
    raise _ApiError(400, 300, "Validation Failed.", extra={"errors": [{"field": field_name, "message": message}]})


def _registrant_fields(person: Any) -> tuple[str, str, str]:
    """(email, first_name, last_name) of a registrant body, refused as Zoom's 300 when not valid."""
    if not isinstance(person, dict):
        _invalid("registrants", "Must be an object.")
    email, first, last = person.get("email"), person.get("first_name"), person.get("last_name") or ""
    if not isinstance(email, str) or "@" not in email or len(email) > 128 or email != email.strip():
        _invalid("email", "Invalid email.")
    if not isinstance(first, str) or not first.strip() or len(first) > 64:
        _invalid("first_name", "First name is required and can be at most 64 characters.")
    if not isinstance(last, str) or len(last) > 64:
        _invalid("last_name", "Last name can be at most 64 characters.")
    return email, first, last


def _public(meeting: dict[str, Any]) -> dict[str, Any]:
    """A meeting as the API shows it: a deep copy without the emulator's private ``_`` keys."""
    return {k: copy.deepcopy(v) for k, v in meeting.items() if not k.startswith("_")}


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise _ApiError(400, 300, "Request Body should be a valid JSON object.") from None
    if not isinstance(data, dict):
        raise _ApiError(400, 300, "Request Body should be a valid JSON object.")
    return data


def _parse_start(value: Any, zone: str) -> datetime:
    """Zoom's start_time: ``yyyy-MM-ddTHH:mm:ssZ`` (UTC) or local ``yyyy-MM-ddTHH:mm:ss`` in ``zone``."""
    if not isinstance(value, str):
        _invalid("start_time", "Invalid start_time.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _invalid("start_time", f"Invalid start_time: {value}.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(timezone.utc)


def _match(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    """Route name and raw (still encoded) path parameters; (None, {"allowed": "1"}) for a wrong method."""
    parts = path.split("/")[1:]
    table: list[tuple[list[str], dict[str, str]]] = [
        (["oauth", "token"], {"POST": "token"}),
        (["v2", "users", "{user}", "meetings"], {"POST": "create_meeting", "GET": "list_meetings"}),
        (["v2", "users", "{user}"], {"GET": "get_user"}),
        (["v2", "meetings", "{meeting}"], {"GET": "get_meeting", "PATCH": "patch_meeting", "DELETE": "delete_meeting"}),
        (["v2", "meetings", "{meeting}", "registrants"], {"POST": "add_registrant", "GET": "list_registrants"}),
        (["v2", "meetings", "{meeting}", "batch_registrants"], {"POST": "batch_registrants"}),
        (["v2", "meetings", "{meeting}", "registrants", "status"], {"PUT": "registrant_status"}),
        (["v2", "past_meetings", "{meeting}", "instances"], {"GET": "instances"}),
        (["v2", "past_meetings", "{meeting}", "participants"], {"GET": "past_participants"}),
        (["v2", "report", "meetings", "{meeting}", "participants"], {"GET": "report_participants"}),
    ]
    for pattern, methods in table:
        if len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, parts):
            if want.startswith("{"):
                if not got:
                    break
                params[want[1:-1]] = got if want == "{meeting}" else unquote(got)
            elif want != got:
                break
        else:
            if method in methods:
                return methods[method], params
            return None, {"allowed": "1"}
    return None, {}


class _RequestHandler(BaseHTTPRequestHandler):
    """Hands every request to the owning :class:`ZoomEmulator`."""

    protocol_version = "HTTP/1.1"  # keep-alive, like a real API host
    server_version = "SandboxZoom/1.0"
    timeout = 60  # drop idle keep-alive connections
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait 40 ms between them

    def setup(self) -> None:
        """Register the connection so ``stop()`` can close it."""
        super().setup()
        emulator: ZoomEmulator = self.server.emulator  # type: ignore[attr-defined]
        with emulator._lock:
            emulator._connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        emulator: ZoomEmulator = self.server.emulator  # type: ignore[attr-defined]
        with emulator._lock:
            emulator._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        """Serve the connection; a client that hung up early (after its timeout) is logged at debug, not printed."""
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            self.close_connection = True
            log.debug("sandbox zoom: the client went away before the answer was sent (%s)", exc)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        emulator: ZoomEmulator = self.server.emulator  # type: ignore[attr-defined]
        try:
            status, headers, payload = emulator.handle(self.command, self.path, dict(self.headers.items()), body)
        except _DropConnection:
            self.close_connection = True  # no status line at all: the client sees the connection end
            return
        send_answer(self, status, headers, payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Send the access log to ``logging`` at debug level instead of stderr."""
        log.debug("sandbox zoom: " + format, *args)


def _take(queues: dict, route: str):
    """Use up one time of the first queued fault for ``route`` (or for any route, ``"*"``); None when none is queued."""
    for name in (route, "*"):
        queue = queues.get(name)
        if queue:
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.popleft()
            return fault
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m integrations.sandbox.zoom_server``: serve until Ctrl-C, printing URLs and credentials."""
    parser = argparse.ArgumentParser(description="Run the Zoom API emulator on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    parser.add_argument("--no-report-plan", action="store_true", help="answer the report API as a free account")
    parser.add_argument("--uuid-kind", choices=UUID_KINDS, default="plain", help="shape of meeting UUIDs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    emulator = ZoomEmulator(port=args.port, report_plan=not args.no_report_plan, uuid_kind=args.uuid_kind)
    with emulator:
        print(f"API base URL:  {emulator.api_base_url}")
        print(f"OAuth URL:     {emulator.oauth_url}")
        print(f"account_id:    {emulator.account_id}")
        print(f"client_id:     {emulator.client_id}")
        print(f"client_secret: {emulator.client_secret}")
        print("Ctrl-C stops.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping")


if __name__ == "__main__":
    main()
