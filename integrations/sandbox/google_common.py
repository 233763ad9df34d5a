"""What every service of the Google emulator shares: Google's error shapes, the answer type, partial responses.

Calendar v3 errors carry an ``errors`` list with domain and reason; Sheets v4 errors carry ``status``
and a ``google.rpc.ErrorInfo`` in ``details`` instead (https://cloud.google.com/apis/design/errors).
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
                503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}  # canonical status per HTTP code
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"  # @type of the detail in Sheets v4 errors
# Messages and Calendar ``errors[].domain`` per reason, as Google words them.
REASON_TEXT = {"rateLimitExceeded": ("Rate Limit Exceeded", "usageLimits"),
               "userRateLimitExceeded": ("User Rate Limit Exceeded", "usageLimits"),
               "quotaExceeded": ("Calendar usage limits exceeded.", "usageLimits"),
               "dailyLimitExceeded": ("Daily Limit Exceeded", "usageLimits"),
               "forbidden": ("The caller does not have permission", "global"),
               "requiredAccessLevel": ("You need to have writer access to this calendar.", "calendar"),
               "insufficientPermissions": ("Request had insufficient authentication scopes.", "global"),
               "notFound": ("Not Found", "global"),
               "timeRangeEmpty": ("The specified time range is empty.", "calendar"),
               "backendError": ("Backend Error", "global")}
# Reasons the emulator raises internally, as a Sheets v4 ErrorInfo names them.
_V4_REASONS = {"insufficientPermissions": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}
_SHEETS_METHODS = {"spreadsheets.get": "GetSpreadsheet", "spreadsheets.batchUpdate": "BatchUpdateSpreadsheet",
                   "values.get": "GetValues",
                   "values.batchUpdate": "BatchUpdateValues"}  # route -> SpreadsheetsService method, for ErrorInfo


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
        self.status = status or STATUS_NAMES.get(code)  # error.status; None leaves it out (e.g. 410)
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
            domain = REASON_TEXT.get(self.reason, ("", "global"))[1]
            error["errors"] = [{"message": self.message, "domain": domain, "reason": self.reason, **self.extra}]
        return {"error": error}



@dataclass
class Response:
    """One HTTP answer of the emulator."""

    status: int  # HTTP status
    body: Any  # JSON value, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)  # extra headers


@dataclass
class Fault:
    """One queued failure (see ``GoogleEmulator.fail_next``)."""

    status: int  # HTTP status to answer
    reason: str | None  # the error's reason; None = the usual one for the status
    retry_after: int | None  # Retry-After header value, seconds


@dataclass(frozen=True)
class Route:
    """One served URL: ``verb`` plus a raw path pattern; its groups are the handler's path parameters."""

    verb: str  # HTTP method
    pattern: re.Pattern[str]  # matched against the raw (still percent-encoded) path
    name: str  # as counted in ``calls`` and named by ``fail_next``, e.g. "events.insert"


class Service:
    """Base of the emulator's API services: a route table and one ``_<route>`` handler method per route.

    A handler takes (grant, query, body, *path parameters) and returns (HTTP status, JSON body).
    """

    api = ""  # "calendar" (v3 error shape) or "sheets" (v4 error shape)
    routes: tuple[Route, ...] = ()  # the URLs it serves
    write_routes: frozenset[str] = frozenset()  # its routes that change state (what quotas count as writes)

    def scopes_for(self, route: str) -> frozenset[str]:
        """OAuth scopes of which a token needs one to call ``route``."""
        raise NotImplementedError

    def call(self, route: str, grant: Any, query: dict[str, list[str]], body: Any,
             args: tuple[str, ...]) -> tuple[int, Any]:
        """Run the handler of ``route``; raises ApiError for an error answer."""
        handler = getattr(self, "_" + route.replace(".", "_"))
        return handler(grant, query, body, *args)


def utc_now() -> datetime:
    """The default clock of the emulator."""
    return datetime.now(timezone.utc)


def rfc3339(moment: datetime) -> str:
    """A moment as Google stamps ``created``/``updated``: UTC with milliseconds and a Z."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def b64url_decode(text: str) -> bytes:
    """Base64url without padding (JWT parts, page tokens) to bytes."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def json_body(body: bytes) -> Any:
    """A request body as JSON ({} when empty); a 400 parseError as Google answers when it is not JSON."""
    if not body:
        return {}
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiError(400, f"Invalid JSON payload received. {err}", "parseError") from None


def require_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else the 400 Google answers."""
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.", "parseError")
    return value


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

