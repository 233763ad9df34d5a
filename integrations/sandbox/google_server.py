"""A real HTTP server on 127.0.0.1 that stands in for Google: OAuth token, Calendar v3 events, Sheets v4.

The project's Google clients (google-api-python-client) talk to it exactly as to Google: the
service-account key file it writes points ``token_uri`` at the emulator, and the services are
built with ``client_options={"api_endpoint": ...}``:

* Calendar: ``api_endpoint = root_url + "calendar/v3/"``
  -> ``ROOT/calendar/v3/calendars/{calendarId}/events[/{eventId}]``
* Sheets: ``api_endpoint = root_url`` -> ``ROOT/v4/spreadsheets/{spreadsheetId}[...]``
* OAuth: ``POST ROOT/token`` (JWT bearer grant, RS256 signature checked against the key it issued)

State lives in memory. Answers and errors use Google's JSON shapes (Calendar v3 errors carry an
``errors`` list with domain and reason; Sheets v4 errors carry ``status`` and a ``google.rpc.ErrorInfo``
in ``details`` instead), and fault switches (``fail_next``, ``expire_tokens``, ``delay_seconds``) let
tests exercise retries and token refresh; ``pending_faults`` says which queued faults never fired.
Every request is counted per route in ``calls``, so benchmarks can count API use.

Known simplifications: formulas are never computed (a formula cell reads back as ``#N/A`` in
FORMATTED_VALUE/UNFORMATTED_VALUE and as its text in FORMULA); USER_ENTERED parses numbers, booleans,
a leading apostrophe and formulas, not dates or currencies; ``fields`` is honoured as a plain
partial-response selector; recurring events are not expanded; every Sheets error carries one
ErrorInfo (Google leaves ``details`` out of some, such as a plain 400), whose reason is Google's own
where the emulator knows it (RATE_LIMIT_EXCEEDED, ACCESS_TOKEN_SCOPE_INSUFFICIENT...) and otherwise
the v3-style name it was raised or queued with.
"""
from __future__ import annotations

import argparse
import base64
import copy
import csv
import html
import itertools
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from integrations.sandbox.serving import ServerThread

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_EMAIL = "webinar-worker@sandbox.iam.gserviceaccount.com"  # the address the key file names
PROJECT_ID = "sandbox"  # project_id in the key file
CALENDAR_SCOPES = frozenset({"https://www.googleapis.com/auth/calendar",
                             "https://www.googleapis.com/auth/calendar.events"})  # scopes that may write events
SHEETS_SCOPES = frozenset({"https://www.googleapis.com/auth/spreadsheets",
                           "https://www.googleapis.com/auth/drive",
                           "https://www.googleapis.com/auth/drive.file"})  # scopes that may write sheets
SHEETS_READ_SCOPES = SHEETS_SCOPES | {"https://www.googleapis.com/auth/spreadsheets.readonly",
                                      "https://www.googleapis.com/auth/drive.readonly"}  # scopes that may read
# google-auth always puts Google's own token endpoint in "aud", whatever token_uri the key file has.
GOOGLE_TOKEN_AUDIENCES = frozenset({"https://oauth2.googleapis.com/token",
                                    "https://www.googleapis.com/oauth2/v4/token",
                                    "https://accounts.google.com/o/oauth2/token"})
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # the only grant type served
TOKEN_LIFETIME = 3600  # seconds, like Google

ROUTES = ("token", "events.insert", "events.get", "events.patch", "events.update", "events.delete",
          "events.list", "spreadsheets.get", "spreadsheets.batchUpdate", "values.get", "values.batchGet",
          "values.update", "values.batchUpdate", "values.clear")  # names used by calls and fail_next
WRITE_ROUTES = frozenset({"events.insert", "events.patch", "events.update", "events.delete",
                          "spreadsheets.batchUpdate", "values.update", "values.batchUpdate",
                          "values.clear"})  # routes that change state (what quotas count as writes)

_EVENT_ID = re.compile(r"[0-9a-v]{5,1024}")  # base32hex, as Calendar requires for client-chosen ids
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
                 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}  # canonical status per HTTP code
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"  # @type of the detail in Sheets v4 errors
PROJECT_NUMBER = "123456789012"  # the consumer named in quota errors
# Messages and Calendar ``errors[].domain`` per reason, as Google words them.
_REASON_TEXT = {"rateLimitExceeded": ("Rate Limit Exceeded", "usageLimits"),
                "userRateLimitExceeded": ("User Rate Limit Exceeded", "usageLimits"),
                "quotaExceeded": ("Calendar usage limits exceeded.", "usageLimits"),
                "dailyLimitExceeded": ("Daily Limit Exceeded", "usageLimits"),
                "forbidden": ("The caller does not have permission", "global"),
                "requiredAccessLevel": ("You need to have writer access to this calendar.", "calendar"),
                "insufficientPermissions": ("Request had insufficient authentication scopes.", "global"),
                "notFound": ("Not Found", "global"),
                "timeRangeEmpty": ("The specified time range is empty.", "calendar"),
                "backendError": ("Backend Error", "global")}
_FAULT_DEFAULTS = {400: ("badRequest", "Bad Request"), 403: ("rateLimitExceeded", "Rate Limit Exceeded"),
                   404: ("notFound", "Not Found"), 429: ("rateLimitExceeded", "Rate Limit Exceeded"),
                   500: ("backendError", "Backend Error"),
                   503: ("backendError", "The service is currently unavailable.")}  # status -> reason, message
# Sheets v4 answers a quota error with Google's own ErrorInfo reason; its message depends on read or write.
_SHEETS_QUOTA_REASON = "RATE_LIMIT_EXCEEDED"
# Reasons the emulator raises internally, as a Sheets v4 ErrorInfo names them.
_V4_REASONS = {"insufficientPermissions": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}
_SHEETS_METHODS = {"spreadsheets.get": "GetSpreadsheet", "spreadsheets.batchUpdate": "BatchUpdateSpreadsheet",
                   "values.get": "GetValues", "values.batchGet": "BatchGetValues", "values.update": "UpdateValues",
                   "values.batchUpdate": "BatchUpdateValues",
                   "values.clear": "ClearValues"}  # route -> SpreadsheetsService method, for ErrorInfo metadata
_AUTH_MESSAGE = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                 "or other valid authentication credential. "
                 "See https://developers.google.com/identity/sign-in/web/devconsole-project.")
FORMULA_PLACEHOLDER = "#N/A"  # what a formula cell reads back as: the emulator does not compute formulas


class ApiError(Exception):
    """An error answer in Google's shape; raised inside handlers, turned into the HTTP response.

    Calendar v3 answers ``{"error": {"code", "message", "status", "errors": [{"domain", "reason",
    "message"}]}}``; Sheets v4 answers ``{"error": {"code", "message", "status", "details":
    [{"@type": ...ErrorInfo, "reason", "domain": "googleapis.com", "metadata"}]}}`` with no
    ``errors`` list. :meth:`body` writes whichever the route's API uses.
    """

    def __init__(self, code: int, message: str, reason: str = "badRequest", *, status: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
                 v4_reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code  # HTTP status
        self.message = message  # error.message
        self.reason = reason  # Calendar: error.errors[0].reason
        self.status = status or _STATUS_NAMES.get(code)  # error.status; None leaves it out (e.g. 410)
        self.headers = headers or {}  # extra response headers (Retry-After, WWW-Authenticate)
        self.extra = extra or {}  # extra fields for errors[0] (location, locationType)
        self.v4_reason = v4_reason or _V4_REASONS.get(reason, reason)  # Sheets: error.details[0].reason
        self.metadata = metadata or {}  # Sheets: extra error.details[0].metadata (quota names)

    def body(self, api: str = "calendar", route: str = "") -> dict[str, Any]:
        """The JSON body Google sends for this error: ``api`` is "calendar" (v3) or "sheets" (v4)."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.status:
            error["status"] = self.status
        if api == "sheets":
            metadata = {"service": "sheets.googleapis.com"}
            if route in _SHEETS_METHODS:
                metadata["method"] = f"google.apps.sheets.v4.SpreadsheetsService.{_SHEETS_METHODS[route]}"
            error["details"] = [{"@type": ERROR_INFO, "reason": self.v4_reason, "domain": "googleapis.com",
                                 "metadata": {**metadata, **self.metadata}}]
        else:
            domain = _REASON_TEXT.get(self.reason, ("", "global"))[1]
            error["errors"] = [{"message": self.message, "domain": domain, "reason": self.reason, **self.extra}]
        return {"error": error}


class OAuthError(Exception):
    """An error answer of the token endpoint: ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, code: int = 400):
        super().__init__(description)
        self.code = code  # HTTP status
        self.error = error  # OAuth error code, e.g. invalid_grant
        self.description = description  # human text


# -- A1 notation ------------------------------------------------------------------------------

@dataclass(frozen=True)
class A1Range:
    """A parsed A1 range; rows and columns are 0-based, ends exclusive, None = to the grid's end."""

    title: str | None  # sheet title; None = the first sheet
    row0: int  # first row
    col0: int  # first column
    row1: int | None  # end row (exclusive); None = unbounded
    col1: int | None  # end column (exclusive); None = unbounded
    single: bool = False  # one cell like "B2": an anchor that grows to fit written data


_CELL = re.compile(r"([A-Za-z]*)([0-9]*)")


def column_letters(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA"."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_index(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number - 1


def quote_title(title: str) -> str:
    """A sheet title as A1 notation writes it: quoted (with '' escapes) unless it is a plain word."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_a1(text: str) -> tuple[str | None, str | None]:
    """Split "'My tab'!A1:B2" into (title, cells); a bare word gives (word, None) for the caller to judge."""
    if text.startswith("'"):
        i, title = 1, ""
        while i < len(text):
            if text[i] == "'":
                if text[i + 1:i + 2] == "'":
                    title += "'"
                    i += 2
                    continue
                rest = text[i + 1:]
                if rest == "":
                    return title, None
                if rest.startswith("!"):
                    return title, rest[1:]
                raise ValueError(text)
            title += text[i]
            i += 1
        raise ValueError(text)
    if "!" in text:
        title, cells = text.rsplit("!", 1)
        return title, cells
    return text, None


def parse_cells(cells: str) -> tuple[int, int, int | None, int | None, bool]:
    """"A1:F10" / "A:A" / "2:5" / "B2" -> (row0, col0, row1, col1, single); ValueError if not A1."""
    parts = cells.split(":")
    if len(parts) > 2 or not cells:
        raise ValueError(cells)
    ends = []
    for part in parts:
        match = _CELL.fullmatch(part)
        if not match or not part or (match.group(2) and int(match.group(2)) == 0):
            raise ValueError(cells)
        ends.append(match.groups())
    (c0, r0) = ends[0]
    if len(ends) == 1:
        if not (c0 and r0):
            raise ValueError(cells)
        row, col = int(r0) - 1, _column_index(c0)
        return row, col, row + 1, col + 1, True
    (c1, r1) = ends[1]
    if bool(c0) != bool(c1) and not (c0 and r0):  # "A:5" style mixes are not A1
        raise ValueError(cells)
    row0 = int(r0) - 1 if r0 else 0
    col0 = _column_index(c0) if c0 else 0
    row1 = int(r1) if r1 else None
    col1 = _column_index(c1) + 1 if c1 else None
    if row1 is not None and row1 <= row0:  # "B2:A1" means "A1:B2"
        row0, row1 = row1 - 1, row0 + 1
    if col1 is not None and col1 <= col0:
        col0, col1 = col1 - 1, col0 + 1
    return row0, col0, row1, col1, False


def parse_a1(text: str, titles: list[str]) -> A1Range:
    """Parse an A1 range against the spreadsheet's sheet titles; ValueError if it does not parse."""
    title, cells = split_a1(text)
    if cells is None:
        if title in titles:
            return A1Range(title, 0, 0, None, None)
        assert title is not None
        row0, col0, row1, col1, single = parse_cells(title)  # "A1:B2" alone means the first sheet
        return A1Range(None, row0, col0, row1, col1, single)
    row0, col0, row1, col1, single = parse_cells(cells)
    return A1Range(title, row0, col0, row1, col1, single)


def format_a1(title: str, row0: int, col0: int, row1: int, col1: int) -> str:
    """The A1 text Google answers with, e.g. "Tab!A1:C2" or "'My tab'!B2"."""
    start = f"{column_letters(col0)}{row0 + 1}"
    if row1 - row0 == 1 and col1 - col0 == 1:
        return f"{quote_title(title)}!{start}"
    return f"{quote_title(title)}!{start}:{column_letters(col1 - 1)}{row1}"


# -- partial responses (the ``fields`` parameter) ------------------------------------------------

def parse_fields(text: str) -> dict[str, Any]:
    """"sheets(properties(sheetId,title)),spreadsheetId" -> a selection tree (None = whole subtree)."""
    tree: dict[str, Any] = {}
    pos = _parse_field_list(text.replace(" ", ""), 0, tree)
    if pos != len(text.replace(" ", "")):
        raise ValueError(text)
    return tree


def _parse_field_list(text: str, pos: int, tree: dict[str, Any]) -> int:
    while pos < len(text):
        match = re.compile(r"[A-Za-z0-9_*]+(?:[./][A-Za-z0-9_*]+)*").match(text, pos)
        if not match:
            raise ValueError(text)
        path = re.split(r"[./]", match.group(0))
        pos = match.end()
        sub: dict[str, Any] | None = None
        if text[pos:pos + 1] == "(":
            sub = {}
            pos = _parse_field_list(text, pos + 1, sub)
            if text[pos:pos + 1] != ")":
                raise ValueError(text)
            pos += 1
        _add_field(tree, path, sub)
        if text[pos:pos + 1] == ",":
            pos += 1
            continue
        break
    return pos


def _add_field(tree: dict[str, Any], path: list[str], sub: dict[str, Any] | None) -> None:
    node = tree
    for name in path[:-1]:
        if name in node and node[name] is None:
            return
        node = node.setdefault(name, {})
    last = path[-1]
    if sub is None or node.get(last, {}) is None:
        node[last] = None
    else:
        existing = node.setdefault(last, {})
        for key, value in sub.items():
            _add_field(existing, [key], value)


def select_fields(value: Any, tree: dict[str, Any] | None) -> Any:
    """Keep only the selected fields of a JSON value (lists apply the selection to each item)."""
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [select_fields(item, tree) for item in value]
    if isinstance(value, dict):
        return {key: select_fields(value[key], sub) for key, sub in tree.items() if key in value}
    return value


# -- state ----------------------------------------------------------------------------------------

@dataclass
class _Token:
    email: str  # the service account it was issued to
    scopes: frozenset[str]  # granted scopes
    expires_at: float  # POSIX time it stops working


@dataclass
class _Calendar:
    calendar_id: str  # as used in URLs
    time_zone: str  # calendar time zone, reported by events.list
    shared_with: set[str] = field(default_factory=set)  # service accounts allowed to change events
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> event resource (cancelled ones too)


@dataclass
class _Sheet:
    sheet_id: int  # stable numeric id
    title: str  # tab name
    index: int  # position among the tabs
    row_count: int = 1000  # grid size, as Google's default new sheet
    column_count: int = 26
    sheet_type: str = "GRID"  # "OBJECT" for a sheet holding only a chart
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)  # (row, col) -> str | int | float | bool
    formulas: set[tuple[int, int]] = field(default_factory=set)  # cells whose text was entered as a formula
    charts: list[dict[str, Any]] = field(default_factory=list)  # embedded charts: {chartId, spec, position}
    extra: dict[str, Any] = field(default_factory=dict)  # other properties set by clients (tabColor, hidden...)
    extra_grid: dict[str, Any] = field(default_factory=dict)  # other gridProperties (frozenRowCount...)

    def properties(self) -> dict[str, Any]:
        """The sheet's ``properties`` object as Sheets returns it."""
        props: dict[str, Any] = {"sheetId": self.sheet_id, "title": self.title, "index": self.index,
                                 "sheetType": self.sheet_type, **self.extra}
        if self.sheet_type == "GRID":
            props["gridProperties"] = {"rowCount": self.row_count, "columnCount": self.column_count,
                                       **self.extra_grid}
        return props

    def used_rows(self) -> list[list[Any]]:
        """Stored values from A1 to the last non-empty cell, rows trimmed of trailing empties."""
        if not self.cells:
            return []
        height = max(r for r, _ in self.cells) + 1
        rows: list[list[Any]] = []
        for r in range(height):
            cols = [c for (rr, c) in self.cells if rr == r]
            width = max(cols) + 1 if cols else 0
            rows.append([self.cells.get((r, c), "") for c in range(width)])
        return rows


@dataclass
class _Spreadsheet:
    spreadsheet_id: str  # as used in URLs
    title: str  # document title
    sheets: list[_Sheet] = field(default_factory=list)  # tabs, kept sorted by index
    shared_with: set[str] = field(default_factory=set)  # service accounts with edit access

    def sheet_by_title(self, title: str) -> _Sheet | None:
        """The tab with this title, or None."""
        return next((s for s in self.sheets if s.title == title), None)

    def sheet_by_id(self, sheet_id: int) -> _Sheet | None:
        """The tab with this sheetId, or None."""
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)

    def reindex(self) -> None:
        """Keep tabs sorted and their ``index`` values 0..n-1."""
        self.sheets.sort(key=lambda s: s.index)
        for i, sheet in enumerate(self.sheets):
            sheet.index = i


@dataclass
class _Fault:
    status: int  # HTTP status to answer
    reason: str | None  # the error's reason; None = the usual one for the status
    retry_after: int | None  # Retry-After header value, seconds


@dataclass
class _Response:
    status: int  # HTTP status
    body: Any  # JSON value, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)  # extra headers


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the emulator -------------------------------------------------------------------------------

class GoogleEmulator:
    """Google's token endpoint, Calendar v3 events and Sheets v4 on 127.0.0.1, in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, clock: Callable[[], datetime] = _utc_now,
                 seed: int | None = None):
        self.host = host  # address to bind
        self.port = port  # 0 = any free port; the real one is set by start()
        self.delay_seconds: float = 0.0  # every request waits this long before it is answered
        self.calls: Counter[str] = Counter()  # route name -> requests received (failed ones too)
        self._clock = clock  # "now" for created/updated stamps and token expiry
        self._rng = random.Random(seed)  # ids: spreadsheet, sheet, chart, event, token
        self._lock = threading.RLock()  # all state is read and written under it
        self._private_key: rsa.RSAPrivateKey | None = None  # the service-account key, made on first use
        self._key_id = ""  # private_key_id of that key
        self._accounts: dict[str, tuple[rsa.RSAPublicKey, str]] = {}  # email -> (public key, key id)
        self._tokens: dict[str, _Token] = {}  # access token -> grant
        self._calendars: dict[str, _Calendar] = {}  # calendar id -> calendar
        self._spreadsheets: dict[str, _Spreadsheet] = {}  # spreadsheet id -> spreadsheet
        self._faults: dict[str, list[_Fault]] = {}  # route -> faults still to answer, in order
        self._etag_counter = itertools.count(1)  # makes etags unique
        self._serving: ServerThread | None = None  # the listening server and its thread, once started

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "GoogleEmulator":
        """Bind and serve in a background thread; ``port`` then holds the real port."""
        self._serving = ServerThread(self, self.host, self.port, _Handler, "sandbox-google")
        self.port = self._serving.port
        log.info("sandbox Google emulator listening on %s", self.root_url)
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and end the thread."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> "GoogleEmulator":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """"http://127.0.0.1:PORT/": Sheets' api_endpoint; Calendar's is this + "calendar/v3/"."""
        if self._serving is None:
            raise RuntimeError("start() the emulator first: the port is not known yet")
        return f"http://{self.host}:{self.port}/"

    @property
    def calendar_endpoint(self) -> str:
        """The Calendar ``api_endpoint``: root_url + "calendar/v3/"."""
        return self.root_url + "calendar/v3/"

    @property
    def token_uri(self) -> str:
        """The OAuth token endpoint the key file names."""
        return self.root_url + "token"

    # -- set-up: keys and sharing -------------------------------------------------------------------
    def write_service_account_key(self, path: str | Path, email: str = SERVICE_ACCOUNT_EMAIL) -> str:
        """Write a service-account JSON key whose token_uri is this emulator; return its client_email."""
        with self._lock:
            if self._private_key is None:
                self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                self._key_id = "%040x" % self._rng.getrandbits(160)
            self._accounts[email] = (self._private_key.public_key(), self._key_id)
            pem = self._private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode()
            client_id = str(self._rng.randrange(10 ** 20, 10 ** 21))
        info = {
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": self._key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        return email

    def share_calendar(self, calendar_id: str, email: str = SERVICE_ACCOUNT_EMAIL, *,
                       time_zone: str = "UTC") -> str:
        """Create the calendar if needed and let ``email`` make changes to its events; return its id."""
        with self._lock:
            calendar = self._calendars.setdefault(calendar_id, _Calendar(calendar_id, time_zone))
            calendar.shared_with.add(email)
        return calendar_id

    def create_spreadsheet(self, title: str = "Webinar attendance", *, spreadsheet_id: str | None = None,
                           sheet_titles: tuple[str, ...] = ("Sheet1",), share_with: str | None = SERVICE_ACCOUNT_EMAIL
                           ) -> str:
        """Create a spreadsheet with these tabs (the first has sheetId 0), shared with ``share_with``."""
        with self._lock:
            if spreadsheet_id is None:
                alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                spreadsheet_id = "1" + "".join(self._rng.choice(alphabet) for _ in range(43))
            if spreadsheet_id in self._spreadsheets:
                raise ValueError(f"spreadsheet {spreadsheet_id!r} already exists")
            book = _Spreadsheet(spreadsheet_id, title)
            for i, sheet_title in enumerate(sheet_titles):
                book.sheets.append(_Sheet(0 if i == 0 else self._new_id(), sheet_title, i))
            if share_with:
                book.shared_with.add(share_with)
            self._spreadsheets[spreadsheet_id] = book
        return spreadsheet_id

    def share_spreadsheet(self, spreadsheet_id: str, title: str = "Webinar attendance",
                          email: str = SERVICE_ACCOUNT_EMAIL) -> str:
        """Create the spreadsheet if needed (one tab, "Sheet1") and give ``email`` edit access; return its id."""
        with self._lock:
            if spreadsheet_id not in self._spreadsheets:
                self.create_spreadsheet(title, spreadsheet_id=spreadsheet_id, share_with=None)
            self._spreadsheets[spreadsheet_id].shared_with.add(email)
        return spreadsheet_id

    # -- fault switches and counters ----------------------------------------------------------------
    def fail_next(self, route_name: str, status: int, times: int = 1, reason: str | None = None, *,
                  retry_after: int | None = None) -> None:
        """Answer the next ``times`` requests to ``route_name`` with ``status`` (after auth succeeds).

        ``reason`` picks the error's reason and its message (``forbidden`` -> "The caller does not have
        permission", ``userRateLimitExceeded`` -> "User Rate Limit Exceeded"...); None uses the usual one for
        the status (403: rateLimitExceeded; 429 on Sheets: RATE_LIMIT_EXCEEDED with the quota's names).
        """
        if route_name not in ROUTES:
            raise ValueError(f"unknown route {route_name!r} (valid routes: {', '.join(ROUTES)})")
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error (400-599), not {status}")
        with self._lock:
            self._faults.setdefault(route_name, []).extend(
                _Fault(status, reason, retry_after) for _ in range(times))

    def pending_faults(self) -> dict[str, int]:
        """Faults queued by ``fail_next`` that no request has met yet, per route; {} when all were answered."""
        with self._lock:
            return {route: len(queue) for route, queue in self._faults.items() if queue}

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid: the next API call with one gets 401."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    def writes(self) -> int:
        """Requests received on write routes (what Google's write quota counts)."""
        with self._lock:
            return sum(n for route, n in self.calls.items() if route in WRITE_ROUTES)

    def reset_calls(self) -> None:
        """Zero the ``calls`` counter."""
        with self._lock:
            self.calls.clear()

    # -- introspection -------------------------------------------------------------------------------
    def events(self, calendar_id: str, *, include_cancelled: bool = True) -> list[dict[str, Any]]:
        """Copies of the calendar's events in insertion order (cancelled ones have status "cancelled")."""
        with self._lock:
            calendar = self._known_calendar(calendar_id)
            return [copy.deepcopy(e) for e in calendar.events.values()
                    if include_cancelled or e["status"] != "cancelled"]

    def sheet_titles(self, spreadsheet_id: str) -> list[str]:
        """Tab titles in order."""
        with self._lock:
            return [s.title for s in self._known_spreadsheet(spreadsheet_id).sheets]

    def sheet_id(self, spreadsheet_id: str, title: str) -> int:
        """The sheetId of the tab called ``title``."""
        with self._lock:
            return self._known_sheet(spreadsheet_id, title).sheet_id

    def sheet_values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """Stored values from A1 to the last used cell (formula cells give their text), "" for empty."""
        with self._lock:
            return self._known_sheet(spreadsheet_id, title).used_rows()

    def formula_cells(self, spreadsheet_id: str, title: str) -> list[str]:
        """A1 names of the cells entered as formulas (USER_ENTERED "=..." or formulaValue)."""
        with self._lock:
            sheet = self._known_sheet(spreadsheet_id, title)
            return [f"{column_letters(c)}{r + 1}" for r, c in sorted(sheet.formulas)]

    def charts(self, spreadsheet_id: str) -> list[dict[str, Any]]:
        """Copies of every embedded chart ({chartId, spec, position}), tab by tab."""
        with self._lock:
            book = self._known_spreadsheet(spreadsheet_id)
            return [copy.deepcopy(chart) for sheet in book.sheets for chart in sheet.charts]

    # -- exports -------------------------------------------------------------------------------------
    def export_csv(self, spreadsheet_id: str, out_dir: str | Path) -> list[Path]:
        """Write one UTF-8 CSV per grid tab into ``out_dir``; return the paths in tab order."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with self._lock:
            tabs = [(s.title, s.used_rows()) for s in self._known_spreadsheet(spreadsheet_id).sheets
                    if s.sheet_type == "GRID"]
        paths: list[Path] = []
        used: set[str] = set()
        for i, (title, rows) in enumerate(tabs):
            name = re.sub(r"[^\w.-]+", "_", title).strip("._") or "sheet"
            if name.lower() in used:
                name = f"{name}-{i + 1}"
            used.add(name.lower())
            path = out / f"{name}.csv"
            with path.open("w", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerows([[_display(v) for v in row] for row in rows])
            paths.append(path)
        return paths

    def export_html(self, spreadsheet_id: str, path: str | Path) -> Path:
        """Write one HTML page with a table per tab (all text escaped, formulas shown as text)."""
        with self._lock:
            book = self._known_spreadsheet(spreadsheet_id)
            title = book.title
            tabs = [(s.title, s.used_rows(), set(s.formulas), copy.deepcopy(s.charts)) for s in book.sheets]
        esc = html.escape
        parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                 f"<title>{esc(title)}</title>",
                 "<style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:2em}"
                 "td,th{border:1px solid #999;padding:2px 6px;text-align:left}.formula{color:#06c}</style>",
                 "</head>", "<body>", f"<h1>{esc(title)}</h1>"]
        for tab, rows, formulas, charts in tabs:
            parts.append(f"<h2>{esc(tab)}</h2>")
            if rows:
                parts.append("<table>")
                for r, row in enumerate(rows):
                    tag = "th" if r == 0 else "td"
                    cells = []
                    for c, value in enumerate(row):
                        attr = ' class="formula"' if (r, c) in formulas else ""
                        cells.append(f"<{tag}{attr}>{esc(_display(value))}</{tag}>")
                    parts.append("<tr>" + "".join(cells) + "</tr>")
                parts.append("</table>")
            for chart in charts:
                spec = chart.get("spec", {})
                kind = spec.get("basicChart", {}).get("chartType") or next(iter(spec.keys() - {"title"}), "chart")
                parts.append(f"<p>Chart {chart['chartId']}: {esc(str(spec.get('title', '')))} ({esc(str(kind))})</p>")
        parts += ["</body>", "</html>", ""]
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(parts), encoding="utf-8")
        return out

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

    # -- request handling (called by _Handler on a server thread) ---------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Response:
        """Route one HTTP request and answer it; never raises."""
        if self.delay_seconds > 0:
            time.sleep(self.delay_seconds)
        split = urlsplit(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        route, args = _route(method, split.path)
        api = _api(route, split.path)
        with self._lock:
            if route is None:
                return _Response(404, ApiError(404, f"The emulator has no route for {method} {split.path}",
                                               "notFound").body(api))
            self.calls[route] += 1
            if route == "token":
                return self._token_response(headers, body)
            try:
                grant = self._authorize(route, headers)
                self._maybe_fault(route)
                payload = _json_body(body) if method in ("POST", "PUT", "PATCH") else None
                status, result = getattr(self, "_" + route.replace(".", "_"))(grant, query, payload, *args)
            except ApiError as err:
                return _Response(err.code, err.body(api, route), err.headers)
        if result is not None and "fields" in query:
            try:
                result = select_fields(result, parse_fields(query["fields"][0]))
            except ValueError:
                err = ApiError(400, f"Invalid field selection {query['fields'][0]}", "invalidParameter")
                return _Response(400, err.body(api, route))
        return _Response(status, result)

    def _authorize(self, route: str, headers: dict[str, str]) -> _Token:
        value = headers.get("authorization", "")
        token = self._tokens.get(value[7:].strip()) if value.lower().startswith("bearer ") else None
        if token is None or token.expires_at <= self._clock().timestamp():
            raise ApiError(401, _AUTH_MESSAGE, "authError", extra={"location": "Authorization",
                                                                   "locationType": "header"},
                           v4_reason="ACCESS_TOKEN_EXPIRED" if value else "CREDENTIALS_MISSING",
                           headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                                                        'error="invalid_token"'})
        if route.startswith("events."):
            allowed = CALENDAR_SCOPES | {"https://www.googleapis.com/auth/calendar.readonly"} \
                if route in ("events.get", "events.list") else CALENDAR_SCOPES
        else:
            allowed = SHEETS_SCOPES if route in WRITE_ROUTES else SHEETS_READ_SCOPES
        if not token.scopes & allowed:
            raise ApiError(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                           headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                                                        'error="insufficient_scope"'})
        return token

    def _maybe_fault(self, route: str) -> None:
        pending = self._faults.get(route)
        if not pending:
            return
        fault = pending.pop(0)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        reason, message = _FAULT_DEFAULTS.get(fault.status, ("backendError" if fault.status >= 500 else
                                                             "badRequest", "Emulated failure"))
        if fault.reason:
            reason = fault.reason
            message = _REASON_TEXT.get(reason, (message, ""))[0]
        elif fault.status == 429 and _api(route, "") == "sheets":
            reason = _SHEETS_QUOTA_REASON
        if reason == _SHEETS_QUOTA_REASON:  # Sheets' per-minute quota, named as Google names it
            kind = "Write" if route in WRITE_ROUTES else "Read"
            message = (f"Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests per minute "
                       f"per user' of service 'sheets.googleapis.com' for consumer "
                       f"'project_number:{PROJECT_NUMBER}'.")
            raise ApiError(fault.status, message, reason, headers=headers, metadata={
                "quota_metric": f"sheets.googleapis.com/{kind.lower()}_requests",
                "quota_limit": f"{kind}RequestsPerMinutePerUser", "quota_limit_value": "60",
                "consumer": f"projects/{PROJECT_NUMBER}"})
        raise ApiError(fault.status, message, reason, headers=headers)

    # -- OAuth ---------------------------------------------------------------------------------------
    def _token_response(self, headers: dict[str, str], body: bytes) -> _Response:
        try:
            pending = self._faults.get("token")
            if pending:
                fault = pending.pop(0)
                raise OAuthError("internal_failure" if fault.status >= 500 else (fault.reason or "invalid_request"),
                                 "Emulated failure", fault.status)
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            grant_type = form.get("grant_type", [""])[0]
            if grant_type != JWT_BEARER:
                raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
            email, scopes = self._verify_assertion(form.get("assertion", [""])[0])
        except OAuthError as err:
            return _Response(err.code, {"error": err.error, "error_description": err.description})
        access_token = "ya29.sandbox-" + "".join(self._rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                                 for _ in range(40))
        self._tokens[access_token] = _Token(email, scopes, self._clock().timestamp() + TOKEN_LIFETIME)
        return _Response(200, {"access_token": access_token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"})

    def _verify_assertion(self, assertion: str) -> tuple[str, frozenset[str]]:
        """Check an RS256 JWT grant; return (client_email, scopes) or raise OAuthError."""
        try:
            head_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(signature_b64)
        except (ValueError, json.JSONDecodeError):
            raise OAuthError("invalid_request", "Invalid JWT: the assertion is not a signed JWT.") from None
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT: the algorithm must be RS256.")
        email = claims.get("iss", "")
        account = self._accounts.get(email)
        if account is None:
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        public_key, key_id = account
        if header.get("kid") not in (None, key_id):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        try:
            public_key.verify(signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("aud") not in GOOGLE_TOKEN_AUDIENCES | {self.token_uri}:
            raise OAuthError("invalid_grant", "Invalid JWT: Failed audience check. The right audience is "
                                              f"{self.token_uri}")
        now = self._clock().timestamp()
        try:
            issued, expires = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise OAuthError("invalid_grant", "Invalid JWT: iat and exp are required.") from None
        if expires <= now or issued > now + 300 or expires - issued > TOKEN_LIFETIME:
            raise OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in "
                                              "a reasonable timeframe. Check your iat and exp values in the JWT "
                                              "claim.")
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return email, scopes

    # -- Calendar --------------------------------------------------------------------------------------
    def _calendar(self, grant: _Token, calendar_id: str) -> _Calendar:
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
        event["updated"] = _rfc3339(self._clock())
        event["etag"] = f'"{3_000_000_000_000_000 + next(self._etag_counter)}"'

    def _events_insert(self, grant: _Token, query: dict, body: Any, calendar_id: str) -> tuple[int, Any]:
        calendar = self._calendar(grant, calendar_id)
        body = _require_object(body)
        event_id = body.get("id")
        if event_id is None:
            event_id = "".join(self._rng.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))
        elif not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise ApiError(400, "Invalid resource id value.", "invalid")
        if event_id in calendar.events:  # a cancelled (deleted) event still holds its id
            raise ApiError(409, "The requested identifier already exists.", "duplicate")
        _check_times(body)
        now = _rfc3339(self._clock())
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

    def _events_get(self, grant: _Token, query: dict, body: Any, calendar_id: str, event_id: str) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._event(self._calendar(grant, calendar_id), event_id))

    def _event_and_body(self, grant: _Token, calendar_id: str, event_id: str, body: Any) -> tuple[dict, dict]:
        """The stored event and the request body of a patch or update, whose id (if any) must match."""
        event = self._event(self._calendar(grant, calendar_id), event_id)
        body = _require_object(body)
        if body.get("id", event_id) != event_id:
            raise ApiError(400, "Invalid resource id value.", "invalid")
        return event, body

    def _events_patch(self, grant: _Token, query: dict, body: Any, calendar_id: str,
                      event_id: str) -> tuple[int, Any]:
        event, body = self._event_and_body(grant, calendar_id, event_id, body)
        changes = {k: v for k, v in body.items() if k not in _READ_ONLY_EVENT_FIELDS}
        return 200, self._replace_event(event, _merge_patch(event, changes), "sequence" in body)

    def _events_update(self, grant: _Token, query: dict, body: Any, calendar_id: str,
                       event_id: str) -> tuple[int, Any]:
        event, body = self._event_and_body(grant, calendar_id, event_id, body)
        kept = {k: event[k] for k in _READ_ONLY_EVENT_FIELDS | {"status", "sequence", "reminders", "eventType"}
                if k in event}
        new = {**kept, **{k: v for k, v in body.items() if k not in _READ_ONLY_EVENT_FIELDS}}
        return 200, self._replace_event(event, new, "sequence" in body)

    def _replace_event(self, event: dict[str, Any], new: dict[str, Any], explicit_sequence: bool) -> dict[str, Any]:
        _check_times(new)
        if not explicit_sequence and (new.get("start") != event.get("start") or new.get("end") != event.get("end")):
            new["sequence"] = int(event.get("sequence", 0)) + 1  # attendees' copies must see a newer version
        event.clear()
        event.update(copy.deepcopy(new))
        self._stamp(event)
        return copy.deepcopy(event)

    def _events_delete(self, grant: _Token, query: dict, body: Any, calendar_id: str,
                       event_id: str) -> tuple[int, Any]:
        event = self._event(self._calendar(grant, calendar_id), event_id)
        if event["status"] == "cancelled":
            raise ApiError(410, "Resource has been deleted", "deleted")
        event["status"] = "cancelled"
        self._stamp(event)
        return 204, None

    def _events_list(self, grant: _Token, query: dict, body: Any, calendar_id: str) -> tuple[int, Any]:
        calendar = self._calendar(grant, calendar_id)
        first = {k: v[0] for k, v in query.items()}
        try:
            max_results = min(int(first.get("maxResults", 250)), 2500)
            offset = int(_b64url_decode(first["pageToken"]).decode()) if "pageToken" in first else 0
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
            "updated": max((e["updated"] for e in calendar.events.values()), default=_rfc3339(self._clock())),
            "timeZone": calendar.time_zone, "accessRole": "writer", "defaultReminders": [],
        }
        if offset + max_results < len(items):
            result["nextPageToken"] = base64.urlsafe_b64encode(str(offset + max_results).encode()).decode()
        result["items"] = [copy.deepcopy(e) for e in page]
        return 200, result

    # -- Sheets ----------------------------------------------------------------------------------------
    def _spreadsheet(self, grant: _Token, spreadsheet_id: str) -> _Spreadsheet:
        book = self._spreadsheets.get(spreadsheet_id)
        if book is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        if grant.email not in book.shared_with:
            raise ApiError(403, "The caller does not have permission", "forbidden")
        return book

    def _resource(self, book: _Spreadsheet) -> dict[str, Any]:
        sheets = []
        for sheet in book.sheets:
            entry: dict[str, Any] = {"properties": sheet.properties()}
            if sheet.charts:
                entry["charts"] = copy.deepcopy(sheet.charts)
            sheets.append(entry)
        return {"spreadsheetId": book.spreadsheet_id,
                "properties": {"title": book.title, "locale": "en_US", "autoRecalc": "ON_CHANGE",
                               "timeZone": "Etc/GMT"},
                "sheets": sheets,
                "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit"}

    def _spreadsheets_get(self, grant: _Token, query: dict, body: Any, spreadsheet_id: str) -> tuple[int, Any]:
        return 200, self._resource(self._spreadsheet(grant, spreadsheet_id))

    def _resolve(self, book: _Spreadsheet, text: str) -> tuple[_Sheet, A1Range]:
        try:
            a1 = parse_a1(text, [s.title for s in book.sheets])
        except ValueError:
            raise ApiError(400, f"Unable to parse range: {text}") from None
        sheet = book.sheet_by_title(a1.title) if a1.title is not None else book.sheets[0]
        if sheet is None or sheet.sheet_type != "GRID":
            raise ApiError(400, f"Unable to parse range: {text}")
        return sheet, a1

    def _read(self, book: _Spreadsheet, text: str, query: dict) -> dict[str, Any]:
        sheet, a1 = self._resolve(book, text)
        row1 = min(a1.row1 if a1.row1 is not None else sheet.row_count, sheet.row_count)
        col1 = min(a1.col1 if a1.col1 is not None else sheet.column_count, sheet.column_count)
        row0, col0 = min(a1.row0, row1 - 1), min(a1.col0, col1 - 1)
        render = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        rows = []
        for r in range(row0, row1):
            row = [_render(sheet, (r, c), render) for c in range(col0, col1)]
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        major = query.get("majorDimension", ["ROWS"])[0]
        if major == "COLUMNS" and rows:
            rows = [list(col) for col in itertools.zip_longest(*rows, fillvalue="")]
            for col in rows:
                while col and col[-1] == "":
                    col.pop()
            while rows and not rows[-1]:
                rows.pop()
        result: dict[str, Any] = {"range": format_a1(sheet.title, row0, col0, row1, col1),
                                  "majorDimension": "COLUMNS" if major == "COLUMNS" else "ROWS"}
        if rows:
            result["values"] = rows
        return result

    def _values_get(self, grant: _Token, query: dict, body: Any, spreadsheet_id: str,
                    range_text: str) -> tuple[int, Any]:
        return 200, self._read(self._spreadsheet(grant, spreadsheet_id), range_text, query)

    def _values_batchGet(self, grant: _Token, query: dict, body: Any, spreadsheet_id: str) -> tuple[int, Any]:
        book = self._spreadsheet(grant, spreadsheet_id)
        return 200, {"spreadsheetId": spreadsheet_id,
                     "valueRanges": [self._read(book, text, query) for text in query.get("ranges", [])]}

    def _write(self, book: _Spreadsheet, text: str, values: Any, option: str, major: str = "ROWS") -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, f"Invalid valueInputOption: {option or 'INPUT_VALUE_OPTION_UNSPECIFIED'}")
        sheet, a1 = self._resolve(book, text)
        if a1.row0 >= sheet.row_count or a1.col0 >= sheet.column_count:
            raise ApiError(400, f"Range ({text}) exceeds grid limits. Max rows: {sheet.row_count}, "
                                f"max columns: {sheet.column_count}")
        rows = _check_values(values)
        if major == "COLUMNS":
            rows = [list(r) for r in itertools.zip_longest(*rows, fillvalue=None)]
        height = len(rows)
        width = max((len(r) for r in rows), default=0)
        if not a1.single:
            if a1.row1 is not None and a1.row0 + height > a1.row1:
                raise ApiError(400, f"Requested writing within range [{text}], but tried writing to row "
                                    f"[{a1.row0 + height}]")
            if a1.col1 is not None and a1.col0 + width > a1.col1:
                raise ApiError(400, f"Requested writing within range [{text}], but tried writing to column "
                                    f"[{column_letters(a1.col0 + width - 1)}]")
        sheet.row_count = max(sheet.row_count, a1.row0 + height)  # writing past the grid adds rows/columns
        sheet.column_count = max(sheet.column_count, a1.col0 + width)
        cells = 0
        written_rows = 0
        for i, row in enumerate(rows):
            touched = False
            for j, value in enumerate(row):
                if value is None:  # Google: null means "leave this cell alone"
                    continue
                _set_cell(sheet, (a1.row0 + i, a1.col0 + j), value, option == "USER_ENTERED")
                cells += 1
                touched = True
            written_rows += touched
        result: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
        if height and width:
            result["updatedRange"] = format_a1(sheet.title, a1.row0, a1.col0, a1.row0 + height, a1.col0 + width)
        else:
            result["updatedRange"] = format_a1(sheet.title, a1.row0, a1.col0, a1.row0 + 1, a1.col0 + 1)
        if cells:
            result.update(updatedRows=written_rows, updatedColumns=width, updatedCells=cells)
        return result

    def _values_update(self, grant: _Token, query: dict, body: Any, spreadsheet_id: str,
                       range_text: str) -> tuple[int, Any]:
        book = self._spreadsheet(grant, spreadsheet_id)
        body = _require_object(body)
        if "range" in body and body["range"] != range_text:
            raise ApiError(400, f"Requested writing within range [{range_text}], but the request body has range "
                                f"[{body['range']}]")
        option = query.get("valueInputOption", [""])[0]
        return 200, self._write(book, range_text, body.get("values", []), option, body.get("majorDimension", "ROWS"))

    def _values_batchUpdate(self, grant: _Token, query: dict, body: Any, spreadsheet_id: str) -> tuple[int, Any]:
        book = self._spreadsheet(grant, spreadsheet_id)
        body = _require_object(body)
        option = body.get("valueInputOption", "")
        snapshot = copy.deepcopy(book.sheets)
        try:
            responses = [self._write(book, _require_object(item).get("range", ""), item.get("values", []), option,
                                     item.get("majorDimension", "ROWS")) for item in body.get("data", [])]
        except ApiError:
            book.sheets = snapshot  # all or nothing, like Google
            raise
        titles = {r["updatedRange"].rsplit("!", 1)[0] for r in responses if "updatedCells" in r}
        result: dict[str, Any] = {"spreadsheetId": spreadsheet_id}
        totals = {"totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
                  "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
                  "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                  "totalUpdatedSheets": len(titles)}
        result.update({k: v for k, v in totals.items() if v})
        result["responses"] = responses
        return 200, result

    def _values_clear(self, grant: _Token, query: dict, body: Any, spreadsheet_id: str,
                      range_text: str) -> tuple[int, Any]:
        book = self._spreadsheet(grant, spreadsheet_id)
        sheet, a1 = self._resolve(book, range_text)
        row1 = a1.row1 if a1.row1 is not None else sheet.row_count
        col1 = a1.col1 if a1.col1 is not None else sheet.column_count
        for key in [k for k in sheet.cells if a1.row0 <= k[0] < row1 and a1.col0 <= k[1] < col1]:
            del sheet.cells[key]
            sheet.formulas.discard(key)
        return 200, {"spreadsheetId": spreadsheet_id,
                     "clearedRange": format_a1(sheet.title, a1.row0, a1.col0, min(row1, sheet.row_count),
                                               min(col1, sheet.column_count))}

    def _spreadsheets_batchUpdate(self, grant: _Token, query: dict, body: Any,
                                  spreadsheet_id: str) -> tuple[int, Any]:
        book = self._spreadsheet(grant, spreadsheet_id)
        body = _require_object(body)
        requests = body.get("requests", [])
        if not isinstance(requests, list) or not requests:
            raise ApiError(400, "Must specify at least one request.")
        snapshot = copy.deepcopy(book.sheets)
        replies = []
        try:
            for i, request in enumerate(requests):
                if not isinstance(request, dict) or len(request) != 1:
                    raise ApiError(400, f"Invalid requests[{i}]: exactly one kind of request must be set")
                (kind, params), = request.items()
                handler = getattr(self, f"_request_{kind}", None)
                if handler is None:
                    raise ApiError(400, f"Invalid requests[{i}]: the emulator does not support {kind!r} "
                                        f"(supported: {', '.join(_SUPPORTED_REQUESTS)})")
                try:
                    replies.append(handler(book, _require_object(params)))
                except ApiError as err:
                    err.message = f"Invalid requests[{i}].{kind}: {err.message}"
                    raise
        except ApiError as err:
            book.sheets = snapshot  # a failed batch changes nothing, like Google
            raise ApiError(err.code, err.message, err.reason) from None
        result: dict[str, Any] = {"spreadsheetId": spreadsheet_id, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            result["updatedSpreadsheet"] = self._resource(book)
        return 200, result

    # each _request_<kind> applies one batchUpdate request and returns its reply ({} when Google sends none)
    def _request_addSheet(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        props = dict(params.get("properties", {}))
        title = props.pop("title", None)
        if title is None:
            n = len(book.sheets) + 1
            while book.sheet_by_title(f"Sheet{n}"):
                n += 1
            title = f"Sheet{n}"
        if book.sheet_by_title(title):
            raise ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
        sheet_id = props.pop("sheetId", None)
        if sheet_id is None:
            sheet_id = self._new_id()
        elif book.sheet_by_id(sheet_id):
            raise ApiError(400, f"A sheet with the id {sheet_id} already exists.")
        index = props.pop("index", len(book.sheets))
        grid = dict(props.pop("gridProperties", {}))
        props.pop("sheetType", None)
        sheet = _Sheet(sheet_id, title, index, grid.pop("rowCount", 1000), grid.pop("columnCount", 26),
                       extra=props, extra_grid=grid)
        for other in book.sheets:
            if other.index >= index:
                other.index += 1
        book.sheets.append(sheet)
        book.reindex()
        return {"addSheet": {"properties": sheet.properties()}}

    def _request_deleteSheet(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        sheet = self._grid(book, params.get("sheetId"))
        if sum(s.sheet_type == "GRID" for s in book.sheets) == 1 and sheet.sheet_type == "GRID":
            raise ApiError(400, "You can't remove all the sheets in a document.")
        book.sheets.remove(sheet)
        book.reindex()
        return {}

    def _request_updateSheetProperties(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        props = params.get("properties", {})
        sheet = self._grid(book, props.get("sheetId"))
        fields = params.get("fields", "")
        if not fields:
            raise ApiError(400, "At least one field must be specified in 'fields'.")
        paths = [f.strip() for f in fields.split(",")]
        if "*" in paths:
            paths = list(props) + [f"gridProperties.{k}" for k in props.get("gridProperties", {})]
        for path in paths:
            if path == "title":
                other = book.sheet_by_title(props.get("title", ""))
                if other is not None and other is not sheet:
                    raise ApiError(400, f'A sheet with the name "{props.get("title")}" already exists. '
                                        "Please enter another name.")
                sheet.title = props["title"]
            elif path == "index":
                sheet.index = props.get("index", sheet.index) - 0.5  # type: ignore[assignment]
                book.reindex()
            elif path.startswith("gridProperties"):
                grid = props.get("gridProperties", {})
                keys = [path.split(".", 1)[1]] if "." in path else list(grid)
                for key in keys:
                    if key == "rowCount":
                        sheet.row_count = grid.get(key, sheet.row_count)
                    elif key == "columnCount":
                        sheet.column_count = grid.get(key, sheet.column_count)
                    elif key in grid:
                        sheet.extra_grid[key] = grid[key]
            elif path not in ("sheetId", "sheetType") and path in props:
                sheet.extra[path] = props[path]
        return {}

    def _request_updateCells(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        fields = params.get("fields", "")
        if not fields:
            raise ApiError(400, "At least one field must be specified in 'fields'.")
        if "range" in params:
            grid_range = params["range"]
            sheet = self._grid(book, grid_range.get("sheetId", 0))
            row0, col0 = grid_range.get("startRowIndex", 0), grid_range.get("startColumnIndex", 0)
            row1 = grid_range.get("endRowIndex", sheet.row_count)
            col1 = grid_range.get("endColumnIndex", sheet.column_count)
        elif "start" in params:
            start = params["start"]
            sheet = self._grid(book, start.get("sheetId", 0))
            row0, col0 = start.get("rowIndex", 0), start.get("columnIndex", 0)
            rows_in = params.get("rows", [])
            row1 = row0 + len(rows_in)
            col1 = col0 + max((len(r.get("values", [])) for r in rows_in), default=0)
        else:
            raise ApiError(400, "Either 'start' or 'range' must be set.")
        if row1 > sheet.row_count or col1 > sheet.column_count:
            raise ApiError(400, f"Range ({quote_title(sheet.title)}!{column_letters(col0)}{row0 + 1}:"
                                f"{column_letters(col1 - 1)}{row1}) exceeds grid limits. Max rows: "
                                f"{sheet.row_count}, max columns: {sheet.column_count}")
        if not ("*" in fields or "userEnteredValue" in fields):
            return {}  # formats and notes are not kept
        rows = params.get("rows", [])
        for r in range(row0, row1):
            row = rows[r - row0].get("values", []) if r - row0 < len(rows) else []
            for c in range(col0, col1):
                cell = row[c - col0] if c - col0 < len(row) else {}
                value = cell.get("userEnteredValue")
                key = (r, c)
                sheet.cells.pop(key, None)
                sheet.formulas.discard(key)
                if not value:
                    continue
                if "formulaValue" in value:
                    sheet.cells[key] = value["formulaValue"]
                    sheet.formulas.add(key)
                else:
                    raw = value.get("stringValue", value.get("numberValue", value.get("boolValue")))
                    if raw is not None and raw != "":
                        sheet.cells[key] = raw
        return {}

    def _request_addChart(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        chart = copy.deepcopy(params.get("chart"))
        if not isinstance(chart, dict) or "spec" not in chart:
            raise ApiError(400, "chart.spec is required")
        self._check_sources(book, chart["spec"])
        chart_id = chart.get("chartId")
        existing = {c["chartId"] for s in book.sheets for c in s.charts}
        if chart_id is None:
            chart_id = self._new_id()
        elif chart_id in existing:
            raise ApiError(400, f"An object with the id {chart_id} already exists.")
        chart["chartId"] = chart_id
        position = chart.setdefault("position", {"newSheet": True})
        host_id = position.get("sheetId", position.get("overlayPosition", {}).get("anchorCell", {}).get("sheetId"))
        if position.get("newSheet"):
            n = 1
            while book.sheet_by_title(f"Chart{n}"):
                n += 1
            host = _Sheet(self._new_id(), f"Chart{n}", len(book.sheets), sheet_type="OBJECT")
            book.sheets.append(host)
            chart["position"] = {"sheetId": host.sheet_id}
        else:
            host = self._grid(book, host_id)
        host.charts.append(chart)
        return {"addChart": {"chart": copy.deepcopy(chart)}}

    def _request_updateChartSpec(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        chart = self._chart(book, params.get("chartId"))
        self._check_sources(book, params.get("spec", {}))
        chart["spec"] = copy.deepcopy(params.get("spec", {}))
        return {}

    def _request_deleteEmbeddedObject(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        chart = self._chart(book, params.get("objectId"))
        for sheet in book.sheets:
            if chart in sheet.charts:
                sheet.charts.remove(chart)
        return {}

    def _grid(self, book: _Spreadsheet, sheet_id: Any) -> _Sheet:
        sheet = book.sheet_by_id(sheet_id) if isinstance(sheet_id, int) else None
        if sheet is None:
            raise ApiError(400, f"No grid with id: {sheet_id}")
        return sheet

    def _chart(self, book: _Spreadsheet, chart_id: Any) -> dict[str, Any]:
        for sheet in book.sheets:
            for chart in sheet.charts:
                if chart["chartId"] == chart_id:
                    return chart
        raise ApiError(400, f"No object with id: {chart_id}")

    def _check_sources(self, book: _Spreadsheet, value: Any) -> None:
        """Every GridRange in a chart spec's ``sources`` must name an existing sheet."""
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "sources" and isinstance(item, list):
                    for grid_range in item:
                        self._grid(book, grid_range.get("sheetId", 0) if isinstance(grid_range, dict) else None)
                else:
                    self._check_sources(book, item)
        elif isinstance(value, list):
            for item in value:
                self._check_sources(book, item)

    # -- small helpers ---------------------------------------------------------------------------------
    def _new_id(self) -> int:
        return self._rng.randrange(1, 2 ** 31 - 1)

    def _known_calendar(self, calendar_id: str) -> _Calendar:
        if calendar_id not in self._calendars:
            raise KeyError(f"no calendar {calendar_id!r} (known: {', '.join(self._calendars) or 'none'})")
        return self._calendars[calendar_id]

    def _known_spreadsheet(self, spreadsheet_id: str) -> _Spreadsheet:
        if spreadsheet_id not in self._spreadsheets:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r} (known: {', '.join(self._spreadsheets) or 'none'})")
        return self._spreadsheets[spreadsheet_id]

    def _known_sheet(self, spreadsheet_id: str, title: str) -> _Sheet:
        book = self._known_spreadsheet(spreadsheet_id)
        sheet = book.sheet_by_title(title)
        if sheet is None:
            raise KeyError(f"no tab {title!r} in {spreadsheet_id!r} (tabs: {', '.join(s.title for s in book.sheets)})")
        return sheet


_READ_ONLY_EVENT_FIELDS = frozenset({"kind", "etag", "id", "htmlLink", "created", "updated", "creator",
                                     "organizer", "iCalUID"})  # fields a client cannot set (iCalUID: on insert only)
_SUPPORTED_REQUESTS = ("addSheet", "deleteSheet", "updateSheetProperties", "updateCells", "addChart",
                       "updateChartSpec", "deleteEmbeddedObject")  # batchUpdate request kinds served

_ROUTE_TABLE: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/token"), "token"),
    ("GET", re.compile(r"/calendar/v3/calendars/([^/]+)/events"), "events.list"),
    ("POST", re.compile(r"/calendar/v3/calendars/([^/]+)/events"), "events.insert"),
    ("GET", re.compile(r"/calendar/v3/calendars/([^/]+)/events/([^/]+)"), "events.get"),
    ("PATCH", re.compile(r"/calendar/v3/calendars/([^/]+)/events/([^/]+)"), "events.patch"),
    ("PUT", re.compile(r"/calendar/v3/calendars/([^/]+)/events/([^/]+)"), "events.update"),
    ("DELETE", re.compile(r"/calendar/v3/calendars/([^/]+)/events/([^/]+)"), "events.delete"),
    ("GET", re.compile(r"/v4/spreadsheets/([^/:]+)"), "spreadsheets.get"),
    ("POST", re.compile(r"/v4/spreadsheets/([^/:]+):batchUpdate"), "spreadsheets.batchUpdate"),
    ("POST", re.compile(r"/v4/spreadsheets/([^/:]+)/values:batchUpdate"), "values.batchUpdate"),
    ("GET", re.compile(r"/v4/spreadsheets/([^/:]+)/values:batchGet"), "values.batchGet"),
    ("POST", re.compile(r"/v4/spreadsheets/([^/:]+)/values/(.+):clear"), "values.clear"),
    ("GET", re.compile(r"/v4/spreadsheets/([^/:]+)/values/(.+)"), "values.get"),
    ("PUT", re.compile(r"/v4/spreadsheets/([^/:]+)/values/(.+)"), "values.update"),
]  # (method, raw path pattern, route name); path parameters are percent-decoded after matching


def _api(route: str | None, path: str) -> str:
    """Which API answers: "sheets" (v4 error shape) or "calendar" (v3 shape, also the token and unknown paths)."""
    if route is not None:
        return "sheets" if route.startswith(("spreadsheets.", "values.")) else "calendar"
    return "sheets" if path.startswith("/v4/") else "calendar"


def _route(method: str, path: str) -> tuple[str | None, tuple[str, ...]]:
    for verb, pattern, name in _ROUTE_TABLE:
        match = pattern.fullmatch(path)
        if verb == method and match:
            return name, tuple(unquote(g) for g in match.groups())
    return None, ()


def _json_body(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiError(400, f"Invalid JSON payload received. {err}", "parseError") from None


def _require_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.", "parseError")
    return value


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


def _check_values(values: Any) -> list[list[Any]]:
    if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
        raise ApiError(400, "Invalid values: expected a list of rows (lists)")
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise ApiError(400, f"Invalid values[{i}][{j}]: {json.dumps(value)}")
    return values


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _set_cell(sheet: _Sheet, key: tuple[int, int], value: Any, user_entered: bool) -> None:
    sheet.formulas.discard(key)
    if value == "":
        sheet.cells.pop(key, None)
        return
    if user_entered and isinstance(value, str):  # what typing into the cell would do
        text = value.strip()
        if value.startswith("'"):
            value = value[1:]
        elif value.startswith("="):
            sheet.formulas.add(key)
        elif _NUMBER.fullmatch(text):
            number = float(text)
            value = int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number
        elif text.upper() in ("TRUE", "FALSE"):
            value = text.upper() == "TRUE"
    sheet.cells[key] = value


def _display(value: Any) -> str:
    """A stored value as a cell shows it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _render(sheet: _Sheet, key: tuple[int, int], option: str) -> Any:
    if key not in sheet.cells:
        return ""
    value = sheet.cells[key]
    if key in sheet.formulas:
        return value if option == "FORMULA" else FORMULA_PLACEHOLDER
    if option == "FORMATTED_VALUE":
        return _display(value)
    return value


class _Handler(BaseHTTPRequestHandler):
    """Hands each request to the emulator and writes its answer as JSON."""

    server_version = "SandboxGoogle/1.0"  # Server header

    def _serve(self) -> None:
        emulator: GoogleEmulator = self.server.emulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            response = emulator.handle(self.command, self.path, headers, body)
        except Exception:  # a bug in the emulator: answer 500 rather than drop the connection
            log.exception("sandbox Google emulator failed on %s %s", self.command, self.path)
            path = urlsplit(self.path).path
            route, _ = _route(self.command, path)
            error = ApiError(500, "Internal error in the emulator", "backendError")
            response = _Response(500, error.body(_api(route, path), route or ""))
        payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Log through ``logging`` at debug level instead of printing to stderr."""
        log.debug("%s " + format, self.address_string(), *args)


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C: ``python -m integrations.sandbox.google_server [--port N] [--key-file PATH]``."""
    parser = argparse.ArgumentParser(description="Sandbox Google (OAuth, Calendar v3, Sheets v4) on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--key-file", type=Path, default=Path("sandbox-service-account.json"),
                        help="where to write the service-account key (default: %(default)s)")
    parser.add_argument("--calendar", default="sandbox-webinars@group.calendar.google.com",
                        help="calendar id to share with the service account (default: %(default)s)")
    parser.add_argument("--spreadsheet", default="sandbox-attendance",
                        help="spreadsheet id to share with the service account (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with GoogleEmulator(port=args.port) as emulator:
        email = emulator.write_service_account_key(args.key_file)
        emulator.share_calendar(args.calendar, email)
        emulator.share_spreadsheet(args.spreadsheet, email=email)
        print(f"Google emulator at {emulator.root_url}", flush=True)
        print(f"  key file:     {args.key_file} ({email})")
        print(f"  calendar:     {args.calendar} (api_endpoint {emulator.calendar_endpoint})")
        print(f"  spreadsheet:  {args.spreadsheet} (api_endpoint {emulator.root_url})", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")


if __name__ == "__main__":
    main()
