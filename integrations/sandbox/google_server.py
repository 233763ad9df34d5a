"""A real HTTP server on 127.0.0.1 that stands in for Google: OAuth token, Calendar v3 events, Sheets v4.

The project's Google clients (google-api-python-client) talk to it exactly as to Google: the
service-account key file it writes points ``token_uri`` at the emulator, and the services are
built with ``client_options={"api_endpoint": ...}``:

* Calendar: ``api_endpoint = root_url + "calendar/v3/"``
  -> ``ROOT/calendar/v3/calendars/{calendarId}/events[/{eventId}]``  (google_calendar_server.py)
* Sheets: ``api_endpoint = root_url`` -> ``ROOT/v4/spreadsheets/{spreadsheetId}[...]``  (google_sheets_server.py)
* OAuth: ``POST ROOT/token`` (JWT bearer grant, RS256 signature checked against the key it issued)
  (google_token.py)

This module composes them: it routes each request, checks the token and its scopes, answers queued
faults, and keeps the public API tests, the demo and the benchmarks use. State lives in memory.
Answers and errors use Google's JSON shapes (google_common.py), and fault switches (``fail_next``,
``expire_tokens``, ``delay_seconds``) let tests exercise retries and token refresh; ``pending_faults``
says which queued faults never fired. Every request is counted per route in ``calls``, so benchmarks
can count API use. Only the routes the project calls are served; any other path is a 404.

Known simplifications: ``fields`` is honoured as a plain partial-response selector; every Sheets error
carries one ErrorInfo (Google leaves ``details`` out of some, such as a plain 400), whose reason is
Google's own where the emulator knows it (RATE_LIMIT_EXCEEDED, ACCESS_TOKEN_SCOPE_INSUFFICIENT...) and
otherwise the v3-style name it was raised or queued with.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import threading
import time
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from integrations.sandbox.google_calendar_server import CalendarService
from integrations.sandbox.google_common import (REASON_TEXT, ApiError, Fault, Response, Service, json_body,
                                                parse_fields, select_fields, utc_now)
from integrations.sandbox.google_sheets_server import FORMULA_PLACEHOLDER, SheetsService
from integrations.sandbox.google_token import SERVICE_ACCOUNT_EMAIL, TokenService
from integrations.sandbox.serving import ServedEmulator, ServerThread, send_answer

__all__ = ["FORMULA_PLACEHOLDER", "SERVICE_ACCOUNT_EMAIL", "GoogleEmulator", "main"]

log = logging.getLogger(__name__)

PROJECT_NUMBER = "123456789012"  # the consumer named in quota errors
_FAULT_DEFAULTS = {400: ("badRequest", "Bad Request"), 403: ("rateLimitExceeded", "Rate Limit Exceeded"),
                   404: ("notFound", "Not Found"), 429: ("rateLimitExceeded", "Rate Limit Exceeded"),
                   500: ("backendError", "Backend Error"),
                   503: ("backendError", "The service is currently unavailable.")}  # status -> reason, message
# Sheets v4 answers a quota error with Google's own ErrorInfo reason; its message depends on read or write.
_SHEETS_QUOTA_REASON = "RATE_LIMIT_EXCEEDED"


class GoogleEmulator(ServedEmulator):
    """Google's token endpoint, Calendar v3 events and Sheets v4 on 127.0.0.1, in a background thread."""

    _thread_name = "sandbox-google"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, clock: Callable[[], datetime] = utc_now,
                 seed: int | None = None):
        self.host = host  # address to bind
        self.port = port  # 0 = any free port; the real one is set by start()
        self.delay_seconds: float = 0.0  # every request waits this long before it is answered
        self.calls: Counter[str] = Counter()  # route name -> requests received (failed ones too)
        rng = random.Random(seed)  # ids: spreadsheet, sheet, chart, event, token
        self._lock = threading.RLock()  # all state is read and written under it
        self._tokens = TokenService(clock, rng, self._lock)  # keys and access tokens
        self._calendar = CalendarService(clock, rng, self._lock)  # Calendar v3
        self._sheets = SheetsService(rng, self._lock)  # Sheets v4
        self._services: tuple[Service, ...] = (self._calendar, self._sheets)  # what API routes go to
        self._faults: dict[str, list[Fault]] = {}  # route -> faults still to answer, in order
        self._serving: ServerThread | None = None  # the listening server and its thread, once started

    @property
    def routes(self) -> tuple[str, ...]:
        """Every route name ``calls`` counts and ``fail_next`` takes."""
        return ("token",) + tuple(r.name for s in self._services for r in s.routes)

    @property
    def write_routes(self) -> frozenset[str]:
        """Routes that change state (what Google's write quota counts)."""
        return frozenset().union(*(s.write_routes for s in self._services))

    # -- lifecycle -------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def _started(self) -> None:
        log.info("sandbox Google emulator listening on %s", self.root_url)

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
        return self._tokens.write_service_account_key(path, email, self.token_uri)

    def share_calendar(self, calendar_id: str, email: str = SERVICE_ACCOUNT_EMAIL, *,
                       time_zone: str = "UTC") -> str:
        """Create the calendar if needed and let ``email`` make changes to its events; return its id."""
        return self._calendar.share_calendar(calendar_id, email, time_zone=time_zone)

    def create_spreadsheet(self, title: str = "Webinar attendance", *, spreadsheet_id: str | None = None,
                           sheet_titles: tuple[str, ...] = ("Sheet1",), share_with: str | None = SERVICE_ACCOUNT_EMAIL
                           ) -> str:
        """Create a spreadsheet with these tabs (the first has sheetId 0), shared with ``share_with``."""
        return self._sheets.create_spreadsheet(title, spreadsheet_id=spreadsheet_id, sheet_titles=sheet_titles,
                                               share_with=share_with)

    def share_spreadsheet(self, spreadsheet_id: str, title: str = "Webinar attendance",
                          email: str = SERVICE_ACCOUNT_EMAIL) -> str:
        """Create the spreadsheet if needed (one tab, "Sheet1") and give ``email`` edit access; return its id."""
        return self._sheets.share_spreadsheet(spreadsheet_id, title, email)

    def delete_sheet(self, spreadsheet_id: str, title: str) -> None:
        """Delete a tab as someone does in the browser (not an API call: not counted)."""
        self._sheets.delete_sheet(spreadsheet_id, title)

    def set_values(self, spreadsheet_id: str, title: str, rows: list[list[Any]]) -> None:
        """Replace a tab's values from A1, adding the tab if missing (a Form's answers; not counted)."""
        self._sheets.set_values(spreadsheet_id, title, rows)

    def make_spreadsheet_read_only(self, spreadsheet_id: str, email: str = SERVICE_ACCOUNT_EMAIL) -> None:
        """Leave ``email`` only Viewer access: reads work, every write answers 403 (as Google does)."""
        self._sheets.make_read_only(spreadsheet_id, email)

    # -- fault switches and counters ----------------------------------------------------------------
    def fail_next(self, route_name: str, status: int, times: int = 1, reason: str | None = None, *,
                  retry_after: int | None = None) -> None:
        """Answer the next ``times`` requests to ``route_name`` with ``status`` (after auth succeeds).

        ``reason`` picks the error's reason and its message (``forbidden`` -> "The caller does not have
        permission", ``userRateLimitExceeded`` -> "User Rate Limit Exceeded"...); None uses the usual one for
        the status (403: rateLimitExceeded; 429 on Sheets: RATE_LIMIT_EXCEEDED with the quota's names).
        """
        if route_name not in self.routes:
            raise ValueError(f"unknown route {route_name!r} (valid routes: {', '.join(self.routes)})")
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error (400-599), not {status}")
        with self._lock:
            self._faults.setdefault(route_name, []).extend(
                Fault(status, reason, retry_after) for _ in range(times))


    def pending_faults(self) -> dict[str, int]:
        """Faults queued by ``fail_next`` that no request has met yet, per route; {} when all were answered."""
        with self._lock:
            return {route: len(queue) for route, queue in self._faults.items() if queue}


    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid: the next API call with one gets 401."""
        self._tokens.expire_all()

    def writes(self) -> int:
        """Requests received on write routes (what Google's write quota counts)."""
        with self._lock:
            return sum(n for route, n in self.calls.items() if route in self.write_routes)

    def reset_calls(self) -> None:
        """Zero the ``calls`` counter."""
        with self._lock:
            self.calls.clear()

    # -- introspection and exports (delegated to the services) -----------------------------------------
    def events(self, calendar_id: str, *, include_cancelled: bool = True) -> list[dict[str, Any]]:
        """Copies of the calendar's events in insertion order (cancelled ones have status "cancelled")."""
        return self._calendar.events(calendar_id, include_cancelled=include_cancelled)

    def export_ics(self, calendar_id: str, path: str | Path, *, include_cancelled: bool = True) -> Path:
        """Write the calendar's events as an iCalendar file (cancelled ones with STATUS:CANCELLED)."""
        return self._calendar.export_ics(calendar_id, path, include_cancelled=include_cancelled)

    def sheet_titles(self, spreadsheet_id: str) -> list[str]:
        """Tab titles in order."""
        return self._sheets.sheet_titles(spreadsheet_id)

    def sheet_values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """Stored values from A1 to the last used cell (formula cells give their text), "" for empty."""
        return self._sheets.sheet_values(spreadsheet_id, title)

    def formula_cells(self, spreadsheet_id: str, title: str) -> list[str]:
        """A1 names of the cells entered as formulas (USER_ENTERED "=...")."""
        return self._sheets.formula_cells(spreadsheet_id, title)

    def charts(self, spreadsheet_id: str) -> list[dict[str, Any]]:
        """Copies of every embedded chart ({chartId, spec, position}), tab by tab."""
        return self._sheets.charts(spreadsheet_id)

    def export_csv(self, spreadsheet_id: str, out_dir: str | Path) -> list[Path]:
        """Write one UTF-8 CSV per grid tab into ``out_dir``; return the paths in tab order."""
        return self._sheets.export_csv(spreadsheet_id, out_dir)

    def export_html(self, spreadsheet_id: str, path: str | Path) -> Path:
        """Write one HTML page with a table per tab (all text escaped, formulas shown as text)."""
        return self._sheets.export_html(spreadsheet_id, path)

    # -- request handling (called by _Handler on a server thread) ---------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        """Route one HTTP request and answer it; never raises."""
        if self.delay_seconds > 0:
            time.sleep(self.delay_seconds)
        split = urlsplit(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        service, route, args = self._route(method, split.path)
        api = service.api if service else _api_of_path(split.path)
        with self._lock:
            if route is None:
                return Response(404, ApiError(404, f"The emulator has no route for {method} {split.path}",
                                              "notFound").body(api))
            self.calls[route] += 1
            if route == "token":
                return self._tokens.token_response(body, self._next_fault("token"), self.token_uri)
            assert service is not None
            try:
                grant = self._tokens.grant(headers)
                self._tokens.require_scopes(grant, service.scopes_for(route))
                self._maybe_fault(route, api)
                payload = json_body(body) if method in ("POST", "PUT", "PATCH") else None
                status, result = service.call(route, grant, query, payload, args)
            except ApiError as err:
                return Response(err.code, err.body(api, route), err.headers)
        if result is not None and "fields" in query:
            try:
                result = select_fields(result, parse_fields(query["fields"][0]))
            except ValueError:
                err = ApiError(400, f"Invalid field selection {query['fields'][0]}", "invalidParameter")
                return Response(400, err.body(api, route))
        return Response(status, result)

    def _route(self, method: str, path: str) -> tuple[Service | None, str | None, tuple[str, ...]]:
        """(service, route name, percent-decoded path parameters); the token route has no service."""
        if method == "POST" and path == "/token":
            return None, "token", ()
        for service in self._services:
            for route in service.routes:
                match = route.pattern.fullmatch(path)
                if route.verb == method and match:
                    return service, route.name, tuple(unquote(g) for g in match.groups())
        return None, None, ()

    def _next_fault(self, route: str) -> Fault | None:
        pending = self._faults.get(route)
        return pending.pop(0) if pending else None

    def _maybe_fault(self, route: str, api: str) -> None:
        fault = self._next_fault(route)
        if fault is None:
            return
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        reason, message = _FAULT_DEFAULTS.get(fault.status, ("backendError" if fault.status >= 500 else
                                                             "badRequest", "Emulated failure"))
        if fault.reason:
            reason = fault.reason
            message = REASON_TEXT.get(reason, (message, ""))[0]
        elif fault.status == 429 and api == "sheets":
            reason = _SHEETS_QUOTA_REASON
        if reason == _SHEETS_QUOTA_REASON:  # Sheets' per-minute quota, named as Google names it
            kind = "Write" if route in self.write_routes else "Read"
            message = (f"Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests per minute "
                       f"per user' of service 'sheets.googleapis.com' for consumer "
                       f"'project_number:{PROJECT_NUMBER}'.")
            raise ApiError(fault.status, message, reason, headers=headers, metadata={
                "quota_metric": f"sheets.googleapis.com/{kind.lower()}_requests",
                "quota_limit": f"{kind}RequestsPerMinutePerUser", "quota_limit_value": "60",
                "consumer": f"projects/{PROJECT_NUMBER}"})
        raise ApiError(fault.status, message, reason, headers=headers)


def _api_of_path(path: str) -> str:
    """Which error shape an unrouted path gets: "sheets" (v4) under /v4/, else "calendar" (v3, also the token)."""
    return "sheets" if path.startswith("/v4/") else "calendar"


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
            service, route, _ = emulator._route(self.command, path)
            error = ApiError(500, "Internal error in the emulator", "backendError")
            response = Response(500, error.body(service.api if service else _api_of_path(path), route or ""))
        answer_headers = dict(response.headers)
        payload = b""
        if response.body is not None:
            answer_headers["Content-Type"] = "application/json; charset=UTF-8"
            payload = json.dumps(response.body).encode("utf-8")
        send_answer(self, response.status, answer_headers, payload)

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
