"""Google service-account credentials, service construction, and the one place vendor errors are translated.

Endpoint convention (the sandbox emulator follows it): ``GoogleConfig.api_endpoint`` is a
*root* URL such as ``http://127.0.0.1:8790/``. Calendar is built with
``client_options.api_endpoint = root + "calendar/v3/"`` (the option replaces root *and*
service path), Sheets with the root itself (its discovery ``servicePath`` is ``""``). So
requests go to ``ROOT/calendar/v3/calendars/...`` and ``ROOT/v4/spreadsheets/...``.
The token URI comes from the key file, so an emulator's key file points it at the emulator.

Every ``googleapiclient`` / ``google.auth`` / ``httplib2`` / socket error is turned into the
project's errors by :func:`translate_error`, and :func:`execute` is the one way requests
are run: it lets the library retry 5xx, 429 and 403 rate-limit reasons with backoff,
using an injectable ``sleep`` so tests never wait.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from worker.errors import (AccessDeniedError, AuthError, IntegrationError, NotConfiguredError, NotFoundError,
                           RateLimitError, RemoteError, TransientError)
from worker.i18n import N_, Text

if TYPE_CHECKING:  # pragma: no cover - imports for type checkers only
    from google.oauth2.service_account import Credentials

log = logging.getLogger(__name__)

CALENDAR_SERVICE = "google-calendar"  # service name used in error messages
SHEETS_SERVICE = "google-sheets"  # service name used in error messages
KEY_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"  # environment variable naming the key file
SCOPES = ("https://www.googleapis.com/auth/calendar.events",  # the narrowest scopes the worker needs
          "https://www.googleapis.com/auth/spreadsheets")

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})  # per-minute
DAILY_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded", "dailyLimitExceededUnreg"})  # per-day
DISABLED_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})  # API not enabled in the project
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})  # token lacks a scope
_SHARE_LEVEL = {CALENDAR_SERVICE: 'with "Make changes to events"', SHEETS_SERVICE: "as Editor"}
_API_NAMES = {CALENDAR_SERVICE: "Google Calendar API", SHEETS_SERVICE: "Google Sheets API"}


@dataclass(frozen=True)
class GoogleConfig:
    """Where the service-account key is and which calendar and spreadsheet to use."""

    credentials_file: str  # path of the service-account JSON key file
    calendar_id: str = ""  # calendar to keep events on, "" = calendar not used
    spreadsheet_id: str = ""  # spreadsheet for attendance, "" = sheets not used
    api_endpoint: str | None = None  # ROOT url of an emulator, e.g. "http://127.0.0.1:8790/"; None = Google
    subject: str | None = None  # user to impersonate (domain-wide delegation), None = the account itself
    summary_tab: str = "Ringkasan"  # title of the season summary tab
    timeout: float = 30.0  # seconds for each network operation


def load_credentials(config: GoogleConfig, scopes: Sequence[str]) -> Credentials:
    """Read the service-account key file; any problem becomes NotConfiguredError naming the file."""
    from google.oauth2 import service_account

    path = config.credentials_file
    hint = f"set {KEY_VARIABLE} or google.credentials_file to a service-account JSON key file"
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise NotConfiguredError(f"Google key file {path} does not exist: {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NotConfiguredError(f"Google key file {path} cannot be read ({exc}): {hint}") from None
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise NotConfiguredError(f"Google key file {path} is not JSON ({exc}): {hint}") from None
    if not isinstance(info, dict):
        raise NotConfiguredError(f"Google key file {path} is not a service-account key (not a JSON object): {hint}")
    kind = info.get("type")
    if kind != "service_account":
        raise NotConfiguredError(f"Google key file {path} has type {kind!r}, expected 'service_account' "
                                 f"(create a key for a service account in the Cloud console): {hint}")
    try:
        credentials = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotConfiguredError(f"Google key file {path} is not a usable service-account key ({exc}): "
                                 f"{hint}") from None
    if config.subject:
        credentials = credentials.with_subject(config.subject)
    return credentials


def service_account_email(credentials: Credentials) -> str:
    """The service account's address: what the calendar and the spreadsheet must be shared with."""
    return str(getattr(credentials, "service_account_email", "") or "")


def _endpoint(root: str | None, service_path: str) -> dict[str, str] | None:
    if not root:
        return None
    return {"api_endpoint": root.rstrip("/") + "/" + service_path}


def _http(config: GoogleConfig, credentials: Credentials | None, http: Any) -> Any:
    if http is not None:
        return http
    if credentials is None:
        raise ValueError("either credentials or http is needed to build a Google service")
    import google_auth_httplib2
    import httplib2

    return google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=config.timeout))


class SharedResource:
    """A googleapiclient service built on first use, whose collections (``events()``, ``spreadsheets()``,
    ``values()``) are built once.

    googleapiclient builds a new Resource on every ``service.spreadsheets()`` call, parsing every
    method of the collection from the discovery document again (issue 18 measured about 21 MiB of
    allocations and 9.5 ms per call for Sheets). Here each collection is built on first use and
    then handed out again; request methods (``get(...)``, ``batchUpdate(...)``) pass through and
    still make a fresh request each time. The service itself is built when the first request
    needs it, so a command that only wires the clients (``check``) never loads googleapiclient.
    Like the service's ``httplib2.Http``, which is not thread-safe
    (https://googleapis.github.io/google-api-python-client/docs/thread_safety.html), a
    SharedResource belongs to one thread: the worker's single loop.
    """

    def __init__(self, make: Callable[[], Any]):
        self._make = make  # builds the googleapiclient Resource (or a stand-in with the same methods)
        self._built: Any = None  # the Resource, once built
        self._children: dict[str, Callable[[], SharedResource]] = {}  # collection name -> accessor

    @property
    def resource(self) -> Any:
        """The googleapiclient Resource, built on first use."""
        if self._built is None:
            self._built = self._make()
        return self._built

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_make", "_built", "_children"):
            raise AttributeError(name)
        accessor = self._children.get(name)
        if accessor is not None:
            return accessor
        resource = self.resource
        attr = getattr(resource, name)
        # Collections are named in the resource's own description; a stand-in without one shares nothing.
        if name not in (getattr(resource, "_resourceDesc", None) or {}).get("resources", {}):
            return attr
        child = SharedResource(attr)
        self._children[name] = accessor = (lambda: child)
        return accessor


PAGE_TOKENS = ("pageToken", "nextPageToken")  # the schema properties googleapiclient still looks at


def _lean_build(name: str, version: str, http: Any, client_options: dict[str, str] | None) -> Any:
    """``googleapiclient.discovery.build(name, version, static_discovery=True)`` without its docstrings' cost.

    googleapiclient writes a docstring for every method of a collection when the collection is
    built, pretty-printing the request and response schemas in full; Sheets' ``batchUpdate``
    schema alone prints to tens of MiB (issue 18: the first ``spreadsheets()`` left 70 MiB
    resident). Requests never use the schemas (bodies are not validated against them), only
    the page-token fields, so each schema is replaced by a stub keeping those: the methods,
    parameters, paths and validation are the bundled document's own.
    """
    import json

    from googleapiclient.discovery import build_from_document
    from googleapiclient.discovery_cache import get_static_doc

    document = json.loads(get_static_doc(name, version) or "{}")
    if not document:
        raise ValueError(f"google-api-python-client has no bundled discovery document for {name} {version}")
    document["schemas"] = {key: {"id": key, "type": schema.get("type", "object"),
                                 "properties": {p: {"type": "string"} for p in PAGE_TOKENS
                                                if p in schema.get("properties", {})}}
                           for key, schema in document.get("schemas", {}).items()}
    return build_from_document(document, http=http, client_options=client_options)


def build_calendar_service(config: GoogleConfig, credentials: Credentials | None, http: Any = None) -> Any:
    """A Calendar v3 service from the bundled discovery document; ``http`` (a mock) replaces authorization.

    Build it once per process and keep it: the bundled discovery document is read (no network, no
    file cache) at the first request, without the schemas' docstrings (:func:`_lean_build`), and each
    collection is built once (:class:`SharedResource`).
    """
    def make() -> Any:
        return _lean_build("calendar", "v3", _http(config, credentials, http),
                           _endpoint(config.api_endpoint, "calendar/v3/"))

    return SharedResource(make)


def build_sheets_service(config: GoogleConfig, credentials: Credentials | None, http: Any = None) -> Any:
    """A Sheets v4 service from the bundled discovery document; ``http`` (a mock) replaces authorization.

    Build it once per process and keep it, as :func:`build_calendar_service`.
    """
    def make() -> Any:
        return _lean_build("sheets", "v4", _http(config, credentials, http), _endpoint(config.api_endpoint, ""))

    return SharedResource(make)


# -- errors -------------------------------------------------------------------------------------------------

def error_details(exc: Any) -> tuple[int, str, str, str]:
    """``(status, reason, message, status_name)`` from an HttpError's JSON body; blanks where absent."""
    status = int(getattr(getattr(exc, "resp", None), "status", 0) or 0)
    reason, message, status_name = "", "", ""
    try:
        data = json.loads((getattr(exc, "content", b"") or b"").decode("utf-8"))
    except (ValueError, AttributeError):
        data = None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        status_name = str(error.get("status") or "")
        for item in (error.get("errors") or []) + (error.get("details") or []):
            if isinstance(item, dict) and item.get("reason"):
                reason = str(item["reason"])
                break
    if not message:
        message = str(getattr(getattr(exc, "resp", None), "reason", "") or "") or f"HTTP {status}"
    return status, reason, message.strip(), status_name


def _retry_after(exc: Any) -> float | None:
    resp = getattr(exc, "resp", None)
    value = resp.get("retry-after") if hasattr(resp, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _share_hint(service: str, target: str, share_with: str) -> Text:
    who = share_with or Text(N_("the service account's address (client_email in the key file)"))
    where = target or Text(N_("it"))
    if service == CALENDAR_SERVICE:
        return Text(N_('share {target} with {who} with "Make changes to events"'), {"target": where, "who": who})
    if service == SHEETS_SERVICE:
        return Text(N_("share {target} with {who} as Editor"), {"target": where, "who": who})
    return Text(N_("share {target} with {who}"), {"target": where, "who": who})


def _key_hint(key_file: str) -> Text:
    if key_file:
        return Text(N_("check the key file {path}"), {"path": key_file})
    return Text(N_("check the key file named by {variable} or google.credentials_file"), {"variable": KEY_VARIABLE})


def translate_error(exc: BaseException, service: str, *, share_with: str = "", target: str = "",
                    key_file: str = "") -> IntegrationError:
    """The project error for a Google client error.

    ``target`` names the calendar or spreadsheet when the request addresses it directly
    (so a 404 there means "not shared or does not exist"); ``share_with`` is the address
    the message tells staff to share it with (the service account, or the impersonated
    user under domain-wide delegation); ``key_file`` is the key file's path, named in
    messages about refused credentials. Messages are ``N_`` templates: staff read them in
    ``status`` and alert mails, in their language.
    """
    from google.auth import exceptions as auth_exceptions
    from googleapiclient.errors import Error as ClientError
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        return _translate_http(exc, service, share_with=share_with, target=target, key_file=key_file)
    said = {"problem": str(exc)}
    if isinstance(exc, auth_exceptions.RefreshError):
        if getattr(exc, "retryable", False):
            return TransientError(service, N_("token refresh failed, will retry: {problem}"), params=said)
        if "unauthorized_client" in str(exc):
            return AuthError(service, N_("domain-wide delegation was refused ({problem}); in the Google Admin console "
                                         "(Security, API controls, Domain-wide delegation) authorise the service "
                                         "account's client id for the scopes {scopes}, or remove google.subject"),
                             params={**said, "scopes": ", ".join(SCOPES)})
        return AuthError(service, N_("the service-account key was refused ({problem}); {hint} (deleted or disabled "
                                     "keys are refused)"), params={**said, "hint": _key_hint(key_file)})
    if isinstance(exc, auth_exceptions.TransportError):
        return TransientError(service, N_("cannot reach Google's token endpoint: {problem}"), params=said)
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        return AuthError(service, N_("authorization failed: {problem}"), params=said)
    import httplib2

    named = {"kind": type(exc).__name__, "problem": str(exc)}
    if isinstance(exc, (httplib2.HttpLib2Error, socket.timeout, ssl.SSLError, ConnectionError, OSError)):
        return TransientError(service, N_("network error: {kind}: {problem}"), params=named)
    if isinstance(exc, ClientError):
        return RemoteError(service, N_("unexpected response: {kind}: {problem}"), params=named)
    return RemoteError(service, N_("unexpected error: {kind}: {problem}"), params=named)


def _translate_http(exc: Any, service: str, *, share_with: str, target: str, key_file: str) -> IntegrationError:
    status, reason, message, status_name = error_details(exc)
    code = reason or status_name or None
    said = {"detail": f"{message} (HTTP {status}{', ' + code if code else ''})"}  # Google's own words, as they came
    if status == 401:
        return AuthError(service, N_("credentials were refused: {detail}; {hint}"), status=status, code=code,
                         params={**said, "hint": _key_hint(key_file)})
    if reason in DAILY_REASONS:
        return RateLimitError(service, N_("daily quota exhausted: {detail}"), daily=True, status=status, code=code,
                              params=said)
    if status == 429 or (status == 403 and reason in RATE_REASONS):
        return RateLimitError(service, N_("rate limited: {detail}"), retry_after=_retry_after(exc), status=status,
                              code=code, params=said)
    if status == 403 and reason in DISABLED_REASONS:
        api = _API_NAMES.get(service, "the API")
        return AccessDeniedError(service, N_("{detail}; enable the {api} in the service account's Cloud project"),
                                 status=status, code=code, params={**said, "api": api})
    if status == 403 and reason in SCOPE_REASONS:
        return AccessDeniedError(service, N_("the access token lacks a needed scope: {detail}; the worker asks for "
                                             "{scopes} (with google.subject, authorise exactly these in the Admin "
                                             "console's domain-wide delegation)"), status=status, code=code,
                                 params={**said, "scopes": ", ".join(SCOPES)})
    if status == 403:
        return AccessDeniedError(service, N_("access denied: {detail}; {hint}"), status=status, code=code,
                                 params={**said, "hint": _share_hint(service, target, share_with)})
    if status == 404 and target:
        return AccessDeniedError(service, N_("{target} was not found: {detail}; check the id, and {hint}"),
                                 status=status, code=code,
                                 params={**said, "target": target, "hint": _share_hint(service, target, share_with)})
    if status in (404, 410):
        return NotFoundError(service, N_("not found: {detail}"), status=status, code=code, params=said)
    if status >= 500:
        return TransientError(service, N_("server error: {detail}"), retry_after=_retry_after(exc), status=status,
                              code=code, params=said)
    return RemoteError(service, N_("request refused: {detail}"), status=status, code=code, params=said)


def execute(request: Any, service: str, *, num_retries: int, sleep: Callable[[float], None] = time.sleep,
            share_with: str = "", target: str = "", key_file: str = "") -> Any:
    """Run a googleapiclient request with the library's retries, translating every failure.

    The library retries 5xx, 429, 403 rate-limit reasons and dropped connections
    ``num_retries`` times with exponential backoff; ``sleep`` replaces its ``time.sleep``
    (it is the request's ``_sleep`` attribute) so tests can pass a no-op.
    """
    if hasattr(request, "_sleep"):
        request._sleep = sleep
    try:
        return request.execute(num_retries=num_retries)
    except _vendor_errors() as exc:  # our own bugs (TypeError, KeyError...) are not vendor errors and pass
        error = translate_error(exc, service, share_with=share_with, target=target, key_file=key_file)
        raise error from exc


def _vendor_errors() -> tuple[type[BaseException], ...]:
    import httplib2
    from google.auth.exceptions import GoogleAuthError
    from googleapiclient.errors import Error as ClientError

    return (ClientError, GoogleAuthError, httplib2.HttpLib2Error, OSError)
