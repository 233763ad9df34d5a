"""Zoom through its REST API (v2): scheduled meetings, and attendance from the participant reports.

Auth is Server-to-Server OAuth: an account-credentials token, kept until shortly before it
expires, asked for again once when the API answers 401. Every call goes through
:meth:`ZoomClient._send` (bounded retries on 429, 5xx and network errors, but a create is
never sent twice when Zoom may have made the meeting already) and :meth:`ZoomClient._request`
(auth). Failures become the project's errors in one place, the section "turning failures into
the project's errors" at the end: :func:`zoom_error` (Zoom's error answers),
:func:`transport_error` (any ``requests`` exception) and :func:`unreadable` (a success answer
that is not what Zoom documents). Neither the client secret nor the access token is ever put
into a message or a log line.

What this relies on from Zoom (checked against Zoom's docs and developer forum):

* ``GET /users/{userId}/meetings`` items carry ``agenda``, but cut to 250 characters. Our
  marker ends the agenda, so a meeting whose listed agenda may have been cut is fetched
  with ``GET /meetings/{id}`` to read the whole agenda (only those near the marker's date).
* ``GET /past_meetings/{id}/instances`` lists ended occurrences (``uuid``, ``start_time``);
  a meeting that has not ended yet answers 404 with code 3001.
* The participant report answers code 3001 ("Meeting ID is invalid or not end") until it is
  ready, and code 200 ("Only available for Paid account") on plans without reports; a token
  without the report scope gets code 4711/104 "Invalid access token, does not contain
  scopes:[...]". The last two fall back to ``GET /past_meetings/{uuid}/participants``.
* Participant items: ``name``, ``user_email``, ``id`` (blank for guests who are not signed
  in), ``participant_user_id``, ``user_id`` (per join), ``join_time``, ``leave_time``,
  ``duration`` (seconds).
* A 400 with code 300 "Validation Failed." lists what is wrong as ``errors: [{"field", "message"}]``
  (Zoom's "Error Definitions" page); a topic may have 200 characters, an agenda 2000.
* Registration (meeting ``settings.approval_type`` 0 = automatic approval): ``POST
  /meetings/{id}/batch_registrants`` takes at most 30 ``registrants`` (``email``, ``first_name``,
  ``last_name``) with ``auto_approve`` and answers ``registrants: [{registrant_id, email, join_url}]``
  (https://zoom.github.io/rivet-javascript/types/Meetings.MeetingsPerformBatchRegistrationResponse.html);
  the same e-mail gets the same registrant again, so resending a batch registers nobody twice.
  ``GET /meetings/{id}/registrants`` lists approved registrants, self-registered ones included, by
  ``next_page_token``; ``PUT /meetings/{id}/registrants/status`` with ``action: cancel`` cancels.
  A meeting without registration answers code 3000 "Registration has not been enabled"; registration
  needs a licensed host (https://support.zoom.us/hc/zh-cn/articles/211579443).
* Since 2022-03 a guest's ``user_email`` is empty unless they registered
  (https://developers.zoom.us/changelog/platform/zoom-api-email-address-display-rules.md); since 2023-03
  the reports blank ``id``/``participant_user_id`` of external participants: ``registrant_id`` is
  what ties a record to a person
  (https://developers.zoom.us/changelog/platform/changes-to-meeting-api-reporting-and-dashboard-endpoints.md).
* Since 2026-03-15 fields left out of a create body take the account's defaults (AI summary, AI
  questions, Q&A, watermark, ...: https://developers.zoom.us/changelog/meetings/march-05-2026), so
  :data:`EXPLICIT_SETTINGS` are always sent, in create and update bodies.
* A 429 for a daily quota carries ``X-RateLimit-Type: Daily-limit`` (some answers only say
  "daily rate limit" in the message); quotas reset at 00:00 UTC. ``Retry-After`` may hold
  seconds or a date-time.
"""
from __future__ import annotations

import base64
import logging
import random
import re
import secrets
import string
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterator
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests
from urllib3.exceptions import NewConnectionError

from worker.errors import (AccessDeniedError, AuthError, IntegrationError, NotFoundError, RateLimitError,
                           RemoteError, TransientError)
from worker.core.model import MeetingInfo, MeetingSpec, ParticipantRecord, Recipient, Registrant

log = logging.getLogger(__name__)

SERVICE = "zoom"  # service name carried by every error
CREDENTIAL_VARS = "ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET"  # named when Zoom refuses us
TOKEN_MARGIN = 60.0  # seconds before expiry at which a token is no longer used
DEFAULT_TOKEN_LIFE = 3600.0  # Zoom's tokens live an hour when expires_in is missing
PAGE_SIZE = 300  # Zoom's largest page
LIST_AGENDA_LIMIT = 250  # the meeting list cuts agendas to this many characters
INSTANCE_WINDOW = timedelta(hours=12)  # an occurrence further than this from the schedule is not ours
SHORT_WAIT = 60.0  # a Retry-After up to this many seconds is waited out here; longer ones go to the engine
BACKOFF_BASE = 1.0  # seconds before the first retry of a 5xx or network error
BACKOFF_CAP = 30.0  # no single backoff is longer than this
PASSCODE_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")  # no look-alikes
SCOPE_CODES = frozenset({104, 4711})  # "Invalid access token, does not contain scopes"
GONE_CODE = 3001  # "Meeting does not exist" / "Meeting ID is invalid or not end"
NO_REPORT_CODE = 200  # "Only available for Paid account" / "No permission"
WRITE_SCOPE = ("meeting:write:admin (granular: meeting:write:meeting:admin, meeting:update:meeting:admin, "
               "meeting:delete:meeting:admin)")  # create, update, delete meetings
READ_SCOPE = ("meeting:read:admin (granular: meeting:read:meeting:admin, meeting:read:list_meetings:admin, "
              "meeting:read:list_past_instances:admin, meeting:read:list_past_participants:admin)")  # reads
REPORT_SCOPE = "report:read:admin (granular: report:read:list_meeting_participants:admin)"  # participant reports
REGISTRANT_WRITE_SCOPE = ("meeting:write:admin (granular: meeting:write:registrant:admin, "
                          "meeting:write:batch_registrants:admin, meeting:update:registrant_status:admin)")
REGISTRANT_READ_SCOPE = "meeting:read:admin (granular: meeting:read:list_registrants:admin)"


USER_SCOPE = "user:read:admin (granular: user:read:user:admin)"  # reading the host user (doctor)
USER_TYPES = {1: "Basic (unlicensed)", 2: "Licensed", 4: "Unassigned without Meetings Basic", 99: "None"}


def scope_gaps(granted: set[str], registration: bool) -> list[str]:
    """The needs from :func:`scopes_needed` that ``granted`` covers neither classically nor granularly."""
    gaps = []
    for line in scopes_needed(registration):
        _, _, text = line.partition(": ")
        classic = text.split()[0]
        granular = set(re.findall(r"[a-z_]+:[a-z_]+:[a-z_]+:admin", text))
        if classic not in granted and not (granular and granular <= granted):
            gaps.append(line)
    return gaps


def scopes_needed(registration: bool) -> list[str]:
    """Every scope the worker's Server-to-Server OAuth app needs, classic and granular (apps made since
    2024-03 have granular scopes only), as ``check`` lists them."""
    scopes = [f"meetings: {WRITE_SCOPE}", f"meeting details, lists, past meetings: {READ_SCOPE}",
              f"attendance reports (paid plan): {REPORT_SCOPE}"]
    if registration:
        scopes += [f"registering invitees: {REGISTRANT_WRITE_SCOPE}", f"reading registrants: {REGISTRANT_READ_SCOPE}"]
    return scopes
BATCH_MAX = 30  # Zoom's cap of registrants in one batch_registrants (and status) call
NAME_MAX = 64  # Zoom's cap on first_name
REGISTRATION_CODE = 3000  # "Registration has not been enabled for this meeting" / "only for licensed users"
EXPLICIT_SETTINGS: dict[str, Any] = {
    # Sent in every create and update body: left out, each would follow the host account's default
    # (https://developers.zoom.us/changelog/meetings/march-05-2026). A public library webinar wants
    # no AI summary mailed to anyone, no AI questions, no Q&A panel, no watermark, no sign-in wall.
    # who_will_receive_summary takes 1-4 (1 = the host only); who_can_ask_questions takes 1-5 and only
    # matters while AI questions are on (their meanings were not confirmed against Zoom's reference here).
    "auto_start_meeting_summary": False, "who_will_receive_summary": 1, "auto_start_ai_companion_questions": False,
    "who_can_ask_questions": 1, "question_and_answer": {"enable": False}, "watermark": False,
    "meeting_authentication": False, "auto_recording": "none",
}
"""Meeting settings the worker always sends; ``zoom.meeting_settings`` in settings.yaml overrides any of them."""
IDEMPOTENT_METHODS = frozenset({"GET", "PATCH", "DELETE", "PUT"})  # sending these twice does no harm
NOT_RESENT = " (not resent: Zoom may have done it; the next run looks for it first)"  # ends a create's error


@dataclass(frozen=True)
class ZoomConfig:
    """Where Zoom is, the app's credentials and how meetings are set up."""

    account_id: str  # ZOOM_ACCOUNT_ID of the Server-to-Server OAuth app
    client_id: str  # ZOOM_CLIENT_ID
    client_secret: str = field(repr=False)  # ZOOM_CLIENT_SECRET; never shown
    api_base_url: str = "https://api.zoom.us/v2"  # zoomgov: https://api.zoomgov.com/v2
    oauth_url: str = "https://zoom.us/oauth/token"  # zoomgov: https://zoomgov.com/oauth/token
    user_id: str = "me"  # host user id or e-mail
    waiting_room: bool = True  # people wait until the host admits them
    join_before_host: bool = False  # nobody gets in before the host
    mute_upon_entry: bool = True  # everyone joins muted
    passcode_length: int = 8  # length of the generated passcode (Zoom allows up to 10)
    registration: bool = True  # meetings with registration (automatic approval) and personal links
    meeting_settings: dict[str, Any] = field(default_factory=dict)  # overrides of EXPLICIT_SETTINGS
    timeout: float = 30.0  # seconds for each HTTP request
    max_attempts: int = 5  # tries of one request on 429, 5xx and network errors

    def __post_init__(self) -> None:
        if not 1 <= self.passcode_length <= 10:
            raise ValueError(f"passcode_length must be 1 to 10 (Zoom's limit), got {self.passcode_length}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be 1 or more, got {self.max_attempts}")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ZoomClient:
    """Zoom meetings and attendance; satisfies worker.core.ports.Conferencing."""

    def __init__(self, config: ZoomConfig, session: requests.Session, *,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, wall_clock: Callable[[], datetime] = _utc_now):
        self.config = config  # endpoints, credentials, meeting settings
        self.session = session  # HTTP session (faked at the transport in tests)
        self.sleep = sleep  # time.sleep, or a recorder in tests
        self.monotonic = monotonic  # clock for the token's lifetime
        self.rng = rng or secrets.SystemRandom()  # passcodes and backoff jitter
        self.wall_clock = wall_clock  # aware UTC now, for the daily reset
        self._token = ""  # current access token, "" when none
        self._token_expires = 0.0  # monotonic() after which the token is not used
        self._scopes = ""  # the scopes Zoom granted the current token (space-separated)

    # -- meetings ----------------------------------------------------------------
    def granted_scopes(self) -> set[str]:
        """Ask for a new token and return the scopes Zoom granted it (``doctor``); AuthError if refused."""
        self._token = ""
        self._access_token()
        return set(self._scopes.split())

    def host_user(self) -> dict:
        """The host user (``GET /users/{userId}``): ``type`` 1 Basic, 2 Licensed (``doctor``)."""
        return self._request("GET", f"/users/{_segment(self.config.user_id)}", scopes=USER_SCOPE, expect=("id",))

    def find_meeting(self, marker: str) -> MeetingInfo | None:
        """A scheduled meeting of the host whose agenda contains ``marker``, or None."""
        maybe: list[dict] = []
        path = f"/users/{_segment(self.config.user_id)}/meetings"
        for item in self._pages(path, "meetings", {"type": "scheduled"}, READ_SCOPE, expect=("id",)):
            agenda = item.get("agenda")
            if isinstance(agenda, str) and marker in agenda:
                return self.get_meeting(str(item["id"])) or read_meeting(item, f"GET {path}")
            if _may_hide_marker(item, marker):
                maybe.append(item)
        for item in sorted(maybe, key=lambda i: _distance_to_marker(i, marker)):
            data = self._meeting_json(str(item["id"]))
            if data is not None and marker in str(data.get("agenda") or ""):
                return read_meeting(data, f"GET /meetings/{item['id']}")
        return None

    def get_meeting(self, meeting_id: str) -> MeetingInfo | None:
        """The meeting as Zoom has it, or None when it no longer exists."""
        data = self._meeting_json(meeting_id)
        return read_meeting(data, f"GET /meetings/{meeting_id}") if data is not None else None

    def create_meeting(self, spec: MeetingSpec) -> MeetingInfo:
        """Create a scheduled meeting with a fresh passcode and return what Zoom made."""
        body = self.create_body(spec)
        path = f"/users/{_segment(self.config.user_id)}/meetings"
        data = self._request("POST", path, json=body, scopes=WRITE_SCOPE, expect=("id",))
        info = read_meeting(data, f"POST {path}")
        log.info("zoom: created meeting %s (%s)", info.meeting_id, spec.topic)
        return info if info.passcode else replace(info, passcode=body["password"])

    def update_meeting(self, meeting_id: str, spec: MeetingSpec, previous: MeetingSpec | None) -> None:
        """PATCH only what differs from ``previous`` (everything when None); no call when nothing does."""
        body = patch_body(spec, previous)
        if not body:
            return
        body["settings"] = self.meeting_settings()  # an update must not leave a setting to the account either
        self._request("PATCH", f"/meetings/{_segment(meeting_id)}", json=body, scopes=WRITE_SCOPE)
        log.info("zoom: updated meeting %s (%s)", meeting_id, ", ".join(body))

    def delete_meeting(self, meeting_id: str) -> None:
        """Delete the meeting; one that is already gone counts as done."""
        try:
            self._request("DELETE", f"/meetings/{_segment(meeting_id)}", scopes=WRITE_SCOPE)
        except NotFoundError:
            log.info("zoom: meeting %s was already gone", meeting_id)
            return
        log.info("zoom: deleted meeting %s", meeting_id)

    def create_body(self, spec: MeetingSpec) -> dict[str, Any]:
        """The JSON for a new scheduled meeting, every setting that matters spelled out."""
        c = self.config
        return {"topic": spec.topic, "type": 2, "start_time": local_time(spec), "timezone": spec.timezone,
                "duration": spec.duration_minutes, "agenda": spec.agenda,
                "password": make_passcode(c.passcode_length, self.rng), "settings": self.meeting_settings()}

    def meeting_settings(self) -> dict[str, Any]:
        """The ``settings`` object of create and update bodies: explicit, so no account default leaks in."""
        c = self.config
        settings: dict[str, Any] = {"waiting_room": c.waiting_room, "join_before_host": c.join_before_host,
                                    "mute_upon_entry": c.mute_upon_entry, **EXPLICIT_SETTINGS}
        if c.registration:  # automatic approval; the worker's own Indonesian mails replace Zoom's
            settings.update(approval_type=0, registration_type=1, registrants_confirmation_email=False,
                            registrants_email_notification=False)
        else:
            settings["approval_type"] = 2
        settings.update(c.meeting_settings)
        return settings

    # -- registrants ---------------------------------------------------------------
    def enable_registration(self, meeting_id: str) -> MeetingInfo:
        """Turn registration on for a meeting made without it (before ``zoom.registration`` was on); return it."""
        self._request("PATCH", f"/meetings/{_segment(meeting_id)}", json={"settings": self.meeting_settings()},
                      scopes=WRITE_SCOPE)
        info = self.get_meeting(meeting_id)
        if info is None or not info.registration_url:
            raise RemoteError(SERVICE, f"meeting {meeting_id} still has no registration page after turning "
                                       "registration on; check the host's licence and the account's settings")
        log.info("zoom: registration turned on for meeting %s", meeting_id)
        return info

    def register(self, meeting_id: str, people: list[Recipient]) -> list[Registrant]:
        """Register up to 30 people in one call (automatic approval); Zoom answers each one's personal link.

        Sending the same people again is harmless: Zoom gives the same registrant for the same e-mail,
        so the call is retried like a read.
        """
        if not 1 <= len(people) <= BATCH_MAX:
            raise ValueError(f"register takes 1 to {BATCH_MAX} people, got {len(people)}")
        path = f"/meetings/{_segment(meeting_id)}/batch_registrants"
        body = {"auto_approve": True, "registrants_confirmation_email": False,
                "registrants": [registrant_body(p) for p in people]}
        data = self._request("POST", path, json=body, scopes=REGISTRANT_WRITE_SCOPE, retry_safe=True)
        items = answer_items(data, "registrants", f"POST {path}", expect=("email", "join_url"))
        names = {p.email.lower(): registered_name(p) for p in people}
        return [Registrant(email=str(i["email"]), name=names.get(str(i["email"]).lower(), ""),
                           registrant_id=str(i.get("registrant_id") or i.get("id") or ""),
                           join_url=str(i["join_url"])) for i in items]

    def list_registrants(self, meeting_id: str) -> list[Registrant]:
        """Every approved registrant of the meeting, people who registered themselves included."""
        path = f"/meetings/{_segment(meeting_id)}/registrants"
        return [Registrant(email=str(i.get("email") or ""),
                           name=" ".join(str(i.get(k) or "").strip() for k in ("first_name", "last_name")).strip(),
                           registrant_id=str(i["id"]), join_url=str(i.get("join_url") or ""))
                for i in self._pages(path, "registrants", {"status": "approved"}, REGISTRANT_READ_SCOPE,
                                     expect=("id",))]

    def cancel_registrants(self, meeting_id: str, emails: list[str]) -> None:
        """Cancel the registrations of up to 30 addresses (their personal links stop working)."""
        if not 1 <= len(emails) <= BATCH_MAX:
            raise ValueError(f"cancel_registrants takes 1 to {BATCH_MAX} addresses, got {len(emails)}")
        self._request("PUT", f"/meetings/{_segment(meeting_id)}/registrants/status",
                      json={"action": "cancel", "registrants": [{"email": e} for e in emails]},
                      scopes=REGISTRANT_WRITE_SCOPE)
        log.info("zoom: cancelled %d registration(s) for meeting %s", len(emails), meeting_id)

    def _meeting_json(self, meeting_id: str) -> dict | None:
        try:
            return self._request("GET", f"/meetings/{_segment(meeting_id)}", scopes=READ_SCOPE, expect=("id",))
        except NotFoundError:
            return None

    # -- attendance --------------------------------------------------------------
    def fetch_participants(self, meeting_id: str, scheduled_start: datetime) -> list[ParticipantRecord] | None:
        """Every join record of the occurrence nearest ``scheduled_start`` (not merged); None while Zoom is not ready."""
        occurrence = self._occurrence(meeting_id, scheduled_start)
        if occurrence is None:
            return None
        uuid, started = occurrence
        items = self._participant_items(uuid)
        if items is None:
            return None
        try:
            return [parse_participant(item, default_time=started) for item in items]
        except (TypeError, ValueError) as exc:
            raise unreadable(f"participants of meeting {meeting_id}", f"has a record that cannot be read ({exc})") \
                from exc

    def _occurrence(self, meeting_id: str, scheduled_start: datetime) -> tuple[str, datetime] | None:
        """UUID and start of the ended occurrence nearest the schedule, or None when there is none yet."""
        what = f"GET /past_meetings/{meeting_id}/instances"
        try:
            data = self._request("GET", f"/past_meetings/{_segment(meeting_id)}/instances", scopes=READ_SCOPE)
        except NotFoundError:
            return None
        try:
            found = [(str(m["uuid"]), parse_time(m["start_time"])) for m in answer_items(data, "meetings", what)
                     if m.get("uuid") and m.get("start_time")]
        except (TypeError, ValueError) as exc:
            raise unreadable(what, f"has a start_time that cannot be read ({exc})") from exc
        best = min(found, key=lambda f: abs(f[1] - scheduled_start), default=None)
        if best is None or abs(best[1] - scheduled_start) > INSTANCE_WINDOW:
            return None
        return best

    def _participant_items(self, uuid: str) -> list[dict] | None:
        """Participant records of one occurrence: the report, else the past-meeting list; None = not ready."""
        ref = encode_uuid(uuid)
        try:
            return list(self._pages(f"/report/meetings/{ref}/participants", "participants", {}, REPORT_SCOPE))
        except NotFoundError:
            return None
        except (AccessDeniedError, RemoteError) as exc:
            if not report_unavailable(exc):
                raise
            log.info("%s; reading past_meetings participants instead", exc)
        try:
            return list(self._pages(f"/past_meetings/{ref}/participants", "participants", {}, READ_SCOPE))
        except NotFoundError:
            return None

    # -- HTTP ----------------------------------------------------------------------
    def _pages(self, path: str, key: str, params: dict[str, str], scopes: str,
               expect: tuple[str, ...] = ()) -> Iterator[dict]:
        """Every item under ``key`` over all pages, following ``next_page_token`` to the end.

        Each item must be a JSON object holding the fields in ``expect``, or this raises TransientError.
        """
        token, seen = "", set()
        while True:
            query = {**params, "page_size": str(PAGE_SIZE)}
            if token:
                query["next_page_token"] = token
            data = self._request("GET", path, params=query, scopes=scopes)
            yield from answer_items(data, key, f"GET {path}", expect)
            token = str(data.get("next_page_token") or "")
            if not token or token in seen:
                return
            seen.add(token)

    def _request(self, method: str, path: str, *, params: dict | None = None, json: dict | None = None,
                 scopes: str = "", expect: tuple[str, ...] = (), retry_safe: bool = False) -> dict:
        """One API call with a valid token; on 401 one fresh token and one more try. Returns the JSON body.

        ``expect`` names fields a successful answer must carry; an answer without them, or one that is
        not a JSON object, is a TransientError (a later run asks again, or adopts what was made).
        """
        url = self.config.api_base_url.rstrip("/") + path
        what = f"{method} {path}"
        idempotent = retry_safe or method in IDEMPOTENT_METHODS
        response = self._send(method, url, what, idempotent=idempotent, params=params, json=json,
                              headers=self._auth_header())
        if response.status_code == 401 and not scope_problem(*error_fields(response)):
            log.info("zoom: the access token was refused; asking for a new one")
            self._token = ""
            response = self._send(method, url, what, idempotent=idempotent, params=params, json=json,
                                  headers=self._auth_header())
        if response.status_code >= 400:
            raise zoom_error(response, what, scopes, self._scrub)
        return answer_json(response, what, expect)

    def _send(self, method: str, url: str, what: str, *, idempotent: bool, **kwargs: Any) -> requests.Response:
        """The HTTP call, retried on 429 (short waits only), 5xx and network errors; other answers returned.

        A request that is not ``idempotent`` (creating a meeting) is retried only when Zoom surely did not
        act on it: a 429, or a connection that was never made. After a read timeout, a 5xx or a dropped
        connection Zoom may have made the meeting, so this raises TransientError at once; the engine's next
        run looks for the meeting by its marker before making another.
        """
        attempts = self.config.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(method, url, timeout=self.config.timeout, **kwargs)
            except requests.RequestException as exc:  # every one of them becomes the project's error
                may_retry = idempotent or never_sent(exc)
                last = attempt >= attempts or not may_retry
                note = "" if not last else f" after {attempt} attempts" if may_retry else NOT_RESENT
                error = transport_error(exc, what, note, self._scrub)
                if last or not error.retryable:
                    raise error from exc
                self._pause(self._backoff(attempt), str(error).removeprefix(f"{SERVICE}: "))
                continue
            if response.status_code == 429:
                self._pause(self._rate_limit_wait(response, what, attempt), f"{what}: rate limited")
                continue
            if response.status_code >= 500:
                if not idempotent:
                    raise zoom_error(response, what, "", self._scrub, note=NOT_RESENT)
                if attempt >= attempts:
                    raise zoom_error(response, f"{what} ({attempts} attempts)", "", self._scrub)
                self._pause(self._backoff(attempt), f"{what}: HTTP {response.status_code}")
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, seconds: float, why: str) -> None:
        log.debug("zoom: %s; retrying in %.1f s", why, seconds)
        self.sleep(seconds)

    def _rate_limit_wait(self, response: requests.Response, what: str, attempt: int) -> float:
        """Seconds to wait before retrying a 429, or raise RateLimitError when it is not ours to wait."""
        code, message = error_fields(response)
        detail = self._scrub(message or "too many requests")
        if is_daily_limit(response, message):
            raise RateLimitError(SERVICE, f"{what}: daily quota used up ({detail}); Zoom resets it at 00:00 UTC",
                                 retry_after=seconds_to_utc_midnight(self.wall_clock()), daily=True, code=code)
        wait = retry_after_seconds(response.headers.get("Retry-After", ""), self.wall_clock())
        wait = self._backoff(attempt) if wait is None else wait
        if wait > SHORT_WAIT or attempt >= self.config.max_attempts:
            raise RateLimitError(SERVICE, f"{what}: rate limited ({detail}); retry in {wait:.0f} s",
                                 retry_after=wait, code=code)
        return wait

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the step fixed, half random; capped."""
        step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return step / 2 + self.rng.uniform(0, step / 2)

    # -- token -----------------------------------------------------------------------
    def _auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_token()}"}

    def _access_token(self) -> str:
        """The cached token, or a new one from the account-credentials grant."""
        now = self.monotonic()
        if self._token and now < self._token_expires:
            return self._token
        c = self.config
        response = self._send("POST", c.oauth_url, "token request", idempotent=True,  # asking twice is harmless
                              params={"grant_type": "account_credentials", "account_id": c.account_id},
                              auth=(c.client_id, c.client_secret))
        data = _json_or_empty(response) if response.status_code < 400 else {}
        if response.status_code >= 400 or not data.get("access_token"):
            raise self._token_error(response)
        self._token = str(data["access_token"])
        self._scopes = str(data.get("scope") or "")  # what the app was granted, for ``doctor``
        life = float(data.get("expires_in") or DEFAULT_TOKEN_LIFE)
        self._token_expires = now + max(0.0, life - TOKEN_MARGIN)
        log.debug("zoom: new access token, valid for %.0f s", life)
        return self._token

    def _token_error(self, response: requests.Response) -> IntegrationError:
        status = response.status_code
        data = _json_or_empty(response)
        reason = self._scrub(str(data.get("reason") or data.get("error") or data.get("message") or ""))
        said = f"HTTP {status}" + (f" {reason}" if reason else "")
        if status in (400, 401, 403):
            return AuthError(SERVICE, f"Zoom refused the Server-to-Server OAuth credentials ({said}); check "
                                      f"{CREDENTIAL_VARS} and that the app is activated", status=status)
        if status < 400:
            return RemoteError(SERVICE, "the token endpoint answered without an access_token", status=status)
        return RemoteError(SERVICE, f"token request failed ({said})", status=status)

    def _scrub(self, text: str) -> str:
        """``text`` with the client secret and the access token masked, should Zoom ever echo them."""
        c = self.config
        basic = base64.b64encode(f"{c.client_id}:{c.client_secret}".encode()).decode()  # the Basic auth value
        for secret in (c.client_secret, self._token, basic):
            if secret:
                text = text.replace(secret, "***")
        return text


# -- request and response helpers -------------------------------------------------------
def _segment(value: str) -> str:
    """A path segment, percent-encoded (``@`` kept for e-mail user ids)."""
    return quote(str(value), safe="@")


def encode_uuid(uuid: str) -> str:
    """A meeting UUID for a path: encoded twice when it starts with ``/`` or contains ``//``, else once."""
    once = quote(uuid, safe="")
    return quote(once, safe="") if uuid.startswith("/") or "//" in uuid else once


def local_time(spec: MeetingSpec) -> str:
    """The spec's start as wall-clock time in its own zone, ``YYYY-MM-DDTHH:MM:SS`` (Zoom pairs it with timezone)."""
    return spec.start.astimezone(ZoneInfo(spec.timezone)).strftime("%Y-%m-%dT%H:%M:%S")


def patch_body(spec: MeetingSpec, previous: MeetingSpec | None) -> dict[str, Any]:
    """The fields of ``spec`` that differ from ``previous`` (all of them when None), in Zoom's names."""
    body: dict[str, Any] = {}
    if previous is None or spec.topic != previous.topic:
        body["topic"] = spec.topic
    if previous is None or spec.start != previous.start or spec.timezone != previous.timezone:
        body["start_time"] = local_time(spec)
        body["timezone"] = spec.timezone
    if previous is None or spec.duration_minutes != previous.duration_minutes:
        body["duration"] = spec.duration_minutes
    if previous is None or spec.agenda != previous.agenda:
        body["agenda"] = spec.agenda
    return body


def make_passcode(length: int, rng: random.Random) -> str:
    """A passcode of letters and digits with at least one of each (when long enough), no look-alike characters."""
    while True:
        code = "".join(rng.choice(PASSCODE_ALPHABET) for _ in range(length))
        if length < 2 or (any(c.isdigit() for c in code) and any(c.isalpha() for c in code)):
            return code


def parse_time(value: str) -> datetime:
    """Zoom's ``2027-01-14T02:00:00Z`` as an aware UTC datetime (naive values are taken as UTC)."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def meeting_info(data: dict) -> MeetingInfo:
    """A MeetingInfo from a meeting's JSON (create, get or list item)."""
    start = data.get("start_time")
    duration = data.get("duration")
    return MeetingInfo(meeting_id=str(data["id"]), join_url=str(data.get("join_url") or ""),
                       passcode=str(data.get("password") or ""), uuid=str(data.get("uuid") or ""),
                       topic=str(data.get("topic") or ""), start=parse_time(start) if start else None,
                       duration_minutes=int(duration) if duration is not None else None,
                       registration_url=str(data.get("registration_url") or ""))


def registered_name(person: Recipient) -> str:
    """The name a person is registered under: their list name, else the part of the address before ``@``."""
    return (person.name.strip() or person.email.partition("@")[0])[:NAME_MAX].strip()


def registrant_body(person: Recipient) -> dict[str, str]:
    """One registrant of a batch: the whole name as ``first_name`` (Zoom needs one; names are not split)."""
    return {"email": person.email, "first_name": registered_name(person), "last_name": ""}


def parse_participant(item: dict, *, default_time: datetime | None = None) -> ParticipantRecord:
    """One participant item of a report or past-meeting list as a ParticipantRecord.

    ``participant_user_id`` (stable for signed-in users) or ``id`` identifies the person;
    ``user_id`` is not used because it changes with every join. A missing join time is
    ``default_time`` (the occurrence's start); a missing leave time is join + duration.
    """
    seconds = int(item.get("duration") or 0)
    joined = parse_time(item["join_time"]) if item.get("join_time") else default_time or _utc_now()
    left = parse_time(item["leave_time"]) if item.get("leave_time") else joined + timedelta(seconds=seconds)
    return ParticipantRecord(name=str(item.get("name") or "").strip(),
                             email=str(item.get("user_email") or item.get("email") or "").strip(),
                             participant_id=str(item.get("participant_user_id") or item.get("id") or ""),
                             join_time=joined, leave_time=left, duration_seconds=seconds,
                             registrant_id=str(item.get("registrant_id") or "").strip(),
                             internal=item.get("internal_user") is True)


def _json_or_empty(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def answer_json(response: requests.Response, what: str, expect: tuple[str, ...] = ()) -> dict:
    """The JSON object of a successful answer ({} for an empty one, as for 204) holding every field in ``expect``.

    Anything else (not JSON, not an object, a needed field missing) raises :func:`unreadable`.
    """
    status = response.status_code
    data: Any = {}
    if response.content:
        try:
            data = response.json()
        except ValueError:  # also requests' JSONDecodeError and a body that is not UTF-8
            raise unreadable(what, f"(HTTP {status}) is not JSON", status) from None
    if not isinstance(data, dict):
        raise unreadable(what, f"(HTTP {status}) is not a JSON object", status)
    missing = [name for name in expect if data.get(name) in (None, "")]
    if missing:
        raise unreadable(what, f"(HTTP {status}) has no {', '.join(missing)}", status)
    return data


def answer_items(data: dict, key: str, what: str, expect: tuple[str, ...] = ()) -> list[dict]:
    """The list of JSON objects under ``key`` ([] when absent), each holding the fields in ``expect``."""
    items = data.get(key) or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise unreadable(what, f"has a {key!r} that is not a list of objects")
    for item in items:
        missing = [name for name in expect if item.get(name) in (None, "")]
        if missing:
            raise unreadable(what, f"lists an item in {key!r} without {', '.join(missing)}")
    return items


def read_meeting(data: dict, what: str) -> MeetingInfo:
    """:func:`meeting_info` of an answer to ``what``; one it cannot read raises :func:`unreadable`."""
    try:
        return meeting_info(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise unreadable(what, f"has a meeting that cannot be read ({exc!r})") from exc


def error_fields(response: requests.Response) -> tuple[int | str | None, str]:
    """Zoom's ``code`` and ``message`` from an error body (None and "" when absent)."""
    data = _json_or_empty(response)
    return data.get("code"), str(data.get("message") or "")


def error_details(response: requests.Response) -> str:
    """Zoom's per-field validation errors (``errors: [{"field", "message"}]``) as ``field: message; ...``."""
    items = _json_or_empty(response).get("errors")
    if not isinstance(items, list):
        return ""
    parts = []
    for item in items:
        if isinstance(item, dict) and (item.get("field") or item.get("message")):
            field_name, said = str(item.get("field") or "").strip(), str(item.get("message") or "").strip()
            parts.append(f"{field_name}: {said}" if field_name and said else field_name or said)
    return "; ".join(parts)


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached Zoom (no connection was made), so even a create may be resent."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def scope_problem(code: int | str | None, message: str) -> bool:
    """True when the token lacks a scope: a fresh token will not help, the app's scopes must change."""
    return code in SCOPE_CODES or "does not contain scope" in message.lower()


def report_unavailable(exc: IntegrationError) -> bool:
    """True when the participant report is out of reach (plan or scope), not merely failing."""
    return isinstance(exc, AccessDeniedError) or exc.code == NO_REPORT_CODE


def is_daily_limit(response: requests.Response, message: str) -> bool:
    """True when a 429 means a per-day quota (waiting for 00:00 UTC), not a per-second one."""
    kind = response.headers.get("X-RateLimit-Type", "")
    return kind.strip().lower() == "daily-limit" or "daily" in message.lower()


def retry_after_seconds(value: str, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: a number, an ISO date-time or an HTTP date; None if unusable."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    for parse in (parse_time, parsedate_to_datetime):
        try:
            moment = parse(value)
        except (TypeError, ValueError, IndexError):
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return max(0.0, (moment - now).total_seconds())
    return None


def seconds_to_utc_midnight(now: datetime) -> float:
    """Seconds from ``now`` to the next 00:00 UTC, when Zoom's daily quotas reset."""
    now = now.astimezone(timezone.utc)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    return (midnight - now).total_seconds()


# -- turning failures into the project's errors (the one place this happens) -------------------
NETWORK_PROBLEMS: tuple[tuple[type[requests.RequestException], str], ...] = (
    (requests.Timeout, "timed out"), (requests.ConnectionError, "connection failed"),
    (requests.exceptions.ChunkedEncodingError, "the answer broke off"),
    (requests.exceptions.ContentDecodingError, "the answer could not be decoded"))
"""``requests`` exceptions that mean trouble on the way (worth another try), and how messages name them."""


def transport_error(exc: requests.RequestException, what: str, note: str,
                    scrub: Callable[[str], str]) -> IntegrationError:
    """The project's error for any ``requests`` exception; ``note`` ends the message.

    Trouble on the way (:data:`NETWORK_PROBLEMS`) is a TransientError. Anything else (a redirect loop,
    a body that cannot be encoded, a bad URL) is a RemoteError: the same request would fail again.
    """
    for kind, problem in NETWORK_PROBLEMS:
        if isinstance(exc, kind):
            return TransientError(SERVICE, f"{what}: {problem}{note}")
    detail = scrub(str(exc))[:300]
    return RemoteError(SERVICE, f"{what} failed: {type(exc).__name__}" + (f" ({detail})" if detail else "") + note)


def unreadable(what: str, problem: str, status: int | None = None) -> TransientError:
    """The project's error for a success answer that is not what Zoom documents (garbled on the way, or changed).

    Transient: a later run asks again, and a create whose answer was unreadable is found by its marker.
    """
    return TransientError(SERVICE, f"{what}: Zoom's answer {problem}", status=status)


def zoom_error(response: requests.Response, what: str, scopes: str,
               scrub: Callable[[str], str], note: str = "") -> IntegrationError:
    """The project's error for a Zoom error answer; ``note`` ends the message.

    Messages are ``N_`` templates (Zoom's own words are a parameter): staff read them in
    ``status`` and alert mails, in their language.
    """
    from worker.i18n import N_  # here, not at the top: this function is the module's one i18n user

    status = response.status_code
    code, message = error_fields(response)
    details = error_details(response)
    answer = f"HTTP {status}" + (f" code {code}" if code is not None else "") \
        + (f": {scrub(message)}" if message else "") + (f" ({scrub(details)})" if details else "") + note
    said = {"what": what, "answer": answer}  # what was asked, and Zoom's answer as it came
    if scope_problem(code, message):
        missing = ", ".join(re.findall(r"[a-z_]+(?::[a-z_]+)+", message)) or scopes or "the needed scopes"
        return AccessDeniedError(SERVICE, N_("{what} failed: {answer}; add {scopes} to the Server-to-Server OAuth "
                                             "app's scopes"), status=status, code=code,
                                 params={**said, "scopes": missing})
    if code == REGISTRATION_CODE and "licensed" in message.lower():
        return RemoteError(SERVICE, N_("{what} failed: {answer}; registration needs a licensed (Pro or higher) "
                                       "host: give the zoom.user_id user a licence in the Zoom admin portal, or set "
                                       "zoom.registration: false in settings.yaml"), status=status, code=code,
                           params=said)
    if code == REGISTRATION_CODE and "regist" in message.lower():
        return RemoteError(SERVICE, N_("{what} failed: {answer}; the meeting has registration off "
                                       "(settings.approval_type 2): turn registration on for it in Zoom, or set "
                                       "zoom.registration: false"), status=status, code=code, params=said)
    if status == 401:
        return AuthError(SERVICE, N_("{what} failed: {answer}; Zoom refused a fresh access token too: check "
                                     "{variables} and that the app is activated"), status=status, code=code,
                         params={**said, "variables": CREDENTIAL_VARS})
    if status == 403 and scopes:
        return AccessDeniedError(SERVICE, N_("{what} failed: {answer}; the app may need the scope {scopes}"),
                                 status=status, code=code, params={**said, "scopes": scopes})
    if status == 403:
        return AccessDeniedError(SERVICE, N_("{what} failed: {answer}"), status=status, code=code, params=said)
    if status in (404, 410) or code == GONE_CODE:
        return NotFoundError(SERVICE, N_("{what} failed: {answer}"), status=status, code=code, params=said)
    if status == 429:
        return RateLimitError(SERVICE, N_("{what} failed: {answer}"), code=code, params=said)
    if status >= 500:
        return TransientError(SERVICE, N_("{what} failed: {answer}"), status=status, code=code, params=said)
    return RemoteError(SERVICE, N_("{what} failed: {answer}"), status=status, code=code, params=said)


# -- finding a meeting again by its marker -------------------------------------------------
def _marker_date(marker: str) -> date | None:
    found = re.search(r"(\d{4}-\d{2}-\d{2})", marker)
    try:
        return date.fromisoformat(found.group(1)) if found else None
    except ValueError:
        return None


def _distance_to_marker(item: dict, marker: str) -> float:
    """Days between a listed meeting's start and the marker's date (0 when either is unknown)."""
    day = _marker_date(marker)
    start = item.get("start_time")
    if day is None or not start:
        return 0.0
    try:
        return abs((parse_time(start).date() - day).days)
    except ValueError:
        return 0.0


def _may_hide_marker(item: dict, marker: str) -> bool:
    """True when a listed meeting's agenda may have been cut before the marker, near the marker's date."""
    agenda = item.get("agenda")
    if isinstance(agenda, str) and len(agenda) < LIST_AGENDA_LIMIT - 5:
        return False  # the whole agenda is listed and the marker is not in it
    return _distance_to_marker(item, marker) <= 1
