"""Build the engine's integrations from settings and secrets; say clearly what is not configured."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Sequence

from worker.config.envfile import Secrets
from worker.core.clock import Clock
from worker.core.derive import policy, series_info
from worker.core.model import Recipient, Session
from worker.core.schema import Settings
from worker.errors import NotConfiguredError, StopRequested, WorkerError
from worker.i18n import N_, Text
from worker.mail.composer import MailComposer
from worker.mail.recipients import RecipientLoad, load_recipients, load_unsubscribed, select_for_session
from worker.run.certify import CertificateRegistry
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

log = logging.getLogger(__name__)


def build_integrations(settings: Settings, secrets: Secrets, clock: Clock | None = None,
                       sleep: Callable[[float], None] | None = None) -> Integrations:
    """Every integration that has what it needs; the others are listed in ``missing`` with the reason.

    ``clock`` is the engine's clock; Zoom uses it to compute when a daily limit resets.
    ``sleep`` replaces ``time.sleep`` for the clients' waits (Retry-After, backoff, the mail
    cap); the runner passes one that ends the wait when a stop is requested.
    """
    io = Integrations()
    for name, builder in (("zoom", _zoom), ("google", _google), ("mail", _mail), ("composer", _composer)):
        try:
            builder(settings, secrets, io, clock=clock, sleep=sleep)
        except NotConfiguredError as exc:
            for key in (("calendar", "sheets") if name == "google" else (name,)):
                io.missing[key] = Text.of(exc)  # a str that can still be shown in the reader's language
    if io.composer is None and "mail" not in io.missing:
        io.missing["mail"] = io.missing.get("composer", Text(N_("templates are not usable")))
    return io


def _zoom(settings: Settings, secrets: Secrets, io: Integrations, *, clock: Clock | None = None,
          sleep: Callable[[float], None] | None = None) -> None:
    names = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")
    absent = [n for n in names if not secrets.get(n)]
    if absent:
        raise NotConfiguredError(N_("Zoom is not configured: set {names} in the environment or .env"),
                                 names=", ".join(absent))
    # Vendor clients load only when their integration is configured: `check` and `plan` stay light.
    from integrations.zoom import ZoomClient, ZoomConfig
    from worker.run.deadline import Deadlined, DeadlineSession, StepDeadline  # requests, for the Zoom session

    z = settings.zoom
    config = ZoomConfig(account_id=secrets.get("ZOOM_ACCOUNT_ID"), client_id=secrets.get("ZOOM_CLIENT_ID"),
                        client_secret=secrets.get("ZOOM_CLIENT_SECRET"), api_base_url=z.api_base_url,
                        oauth_url=z.oauth_url, user_id=z.user_id, waiting_room=z.waiting_room,
                        join_before_host=z.join_before_host, mute_upon_entry=z.mute_upon_entry,
                        passcode_length=z.passcode_length, registration=z.registration,
                        meeting_settings=dict(z.meeting_settings))
    extra: dict = {"wall_clock": clock.now} if clock else {}
    deadline = StepDeadline(settings.worker.step_timeout_seconds)  # a Zoom that never answers cannot hold a step
    extra["sleep"] = deadline.guard_sleep(sleep or time.sleep, "zoom")
    io.zoom = Deadlined(ZoomClient(config, DeadlineSession(deadline), **extra), deadline)


def _google(settings: Settings, secrets: Secrets, io: Integrations, *, clock: Clock | None = None,
            sleep: Callable[[float], None] | None = None) -> None:
    g = settings.google
    key_file = g.credentials_file or secrets.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not key_file:
        raise NotConfiguredError(N_("Google is not configured: set GOOGLE_APPLICATION_CREDENTIALS (a service-account "
                                    "key file) or google.credentials_file in settings.yaml"))
    from integrations.google_auth import (SCOPES, GoogleConfig, build_calendar_service, build_sheets_service,
                                          load_credentials, service_account_email)
    from integrations.google_calendar import GoogleCalendar
    from integrations.google_sheets import GoogleSheets
    from worker.run.deadline import Deadlined, StepDeadline

    config = GoogleConfig(credentials_file=key_file, calendar_id=g.calendar_id, spreadsheet_id=g.spreadsheet_id,
                          api_endpoint=g.api_endpoint or None, subject=g.subject or None, summary_tab=g.summary_tab)
    credentials = load_credentials(config, SCOPES)
    # Under domain-wide delegation the impersonated user is the one the calendar and sheet are shared with.
    email = g.subject or service_account_email(credentials)
    deadline = StepDeadline(settings.worker.step_timeout_seconds)  # bounds the clients' retry waits
    sleep = deadline.guard_sleep(sleep or time.sleep, "google")
    if g.calendar_id:
        io.calendar = Deadlined(GoogleCalendar(build_calendar_service(config, credentials), g.calendar_id,
                                              service_account_email=email, key_file=key_file, sleep=sleep),
                                deadline)
    else:
        io.missing["calendar"] = Text(N_("Google Calendar is not configured: set google.calendar_id in settings.yaml"))
    if g.spreadsheet_id:
        io.sheets = Deadlined(GoogleSheets(build_sheets_service(config, credentials), g.spreadsheet_id,
                                           summary_tab=g.summary_tab, service_account_email=email, key_file=key_file,
                                           sleep=sleep, timezone=settings.series.timezone), deadline)
    else:
        io.missing["sheets"] = Text(N_("Google Sheets is not configured: set google.spreadsheet_id in settings.yaml"))


def _mail(settings: Settings, secrets: Secrets, io: Integrations, *, clock: Clock | None = None,
          sleep: Callable[[float], None] | None = None) -> None:
    smtp = settings.mail.smtp
    if not smtp.host or not settings.mail.sender_address:
        raise NotConfiguredError(N_("mail is not configured: set mail.smtp.host and mail.sender_address in "
                                    "settings.yaml"))
    from integrations.smtp import SmtpConfig, SmtpTransport

    io.mail = SmtpTransport(SmtpConfig(host=smtp.host, port=smtp.port, security=smtp.security,
                                       username=secrets.get("SMTP_USERNAME"), password=secrets.get("SMTP_PASSWORD"),
                                       timeout=smtp.timeout, per_minute=smtp.per_minute),
                            **({"sleep": sleep} if sleep is not None else {}))


def _composer(settings: Settings, secrets: Secrets, io: Integrations, *, clock: Clock | None = None,
              sleep: Callable[[float], None] | None = None) -> None:
    try:
        io.composer = MailComposer(settings.mail.templates_dir, series_info(settings),
                                   certificates=settings.followup.certificate, clock=clock,
                                   waiting_room=settings.zoom.waiting_room, design=settings.certificate,
                                   draw_apart=True)  # the worker never loads the PDF library itself
    except WorkerError as exc:
        raise NotConfiguredError(N_("templates are not usable: {problem}"), problem=Text.of(exc)) from exc


SHEET_LIST_TTL = timedelta(minutes=30)  # how long a recipient list read from a sheet is reused


class RecipientLists:
    """Each session's recipients (filtered by group) and the unsubscribe list, from the settings' sources.

    Local files are read each time (cheap); ranges in Google Sheets are re-read at most every
    30 minutes, so quiet ticks make no remote call. Each problem in a list (an invalid
    address, say) is logged once, not on every tick.
    """

    def __init__(self, settings: Settings, integrations: Integrations, clock: Clock):
        self.sources = settings.mail.recipients  # inline addresses, CSV files, sheet ranges, unsubscribe lists
        self.integrations = integrations  # the Sheets client, for sheet ranges
        self.clock = clock  # decides when a cached sheet range is stale
        self._cache: dict[str, tuple[datetime, list[list[str]]]] = {}  # A1 range -> (read at, rows)
        self._reported: set[str] = set()  # problems already logged

    def _read_sheets(self, ranges: Sequence[str]) -> list[list[list[str]]]:
        sheets = self.integrations.sheets
        if not ranges:
            return []
        if sheets is None or not hasattr(sheets, "read_range"):
            raise NotConfiguredError(N_("mail.recipients.sheet_ranges needs Google Sheets to be configured"))
        now = self.clock.now()
        result = []
        for a1 in ranges:
            if a1 not in self._cache or now - self._cache[a1][0] >= SHEET_LIST_TTL:
                self._cache[a1] = (now, sheets.read_range(a1))  # type: ignore[attr-defined]
            result.append(self._cache[a1][1])
        return result

    def unsubscribed(self) -> frozenset[str]:
        """Addresses (lower case) that must get no mail at all."""
        return frozenset(load_unsubscribed(list(self.sources.unsubscribe_files),
                                           self._read_sheets(self.sources.unsubscribe_sheet_ranges)))

    def load(self, *, sheets: bool = True) -> RecipientLoad:
        """Every source merged, unsubscribes removed, with the problems found (``sheets=False``: local sources only)."""
        ranges = self._read_sheets if sheets else (lambda r: [])
        unsubscribed = load_unsubscribed(list(self.sources.unsubscribe_files),
                                         ranges(self.sources.unsubscribe_sheet_ranges))
        return load_recipients(list(self.sources.inline), list(self.sources.csv_files),
                               ranges(self.sources.sheet_ranges), unsubscribed,
                               sheet_labels=self.sources.sheet_ranges, columns=self.sources.columns)

    def __call__(self, session: Session) -> Sequence[Recipient]:
        """The people to invite to ``session``."""
        loaded = self.load()
        for problem in loaded.problems:
            if problem not in self._reported:
                self._reported.add(problem)
                log.warning("recipient list: %s (not sent to)", problem)
        return select_for_session(loaded.recipients, session.groups)


def recipient_source(settings: Settings, integrations: Integrations, clock: Clock) -> RecipientLists:
    """The recipient lists for these settings."""
    return RecipientLists(settings, integrations, clock)


def build_engine(settings: Settings, secrets: Secrets, store: StateStore, clock: Clock,
                 integrations: Integrations | None = None, stop_event: threading.Event | None = None) -> Engine:
    """The engine for these settings; a set ``stop_event`` ends the tick between steps and any client's wait."""
    io = integrations or build_integrations(settings, secrets, clock,
                                            sleep=interruptible_sleep(stop_event) if stop_event else None)
    recipients = recipient_source(settings, io, clock)
    return Engine(store, io, clock, series=series_info(settings), policy=policy(settings),
                  recipients=recipients, batch_size=settings.mail.batch_size,
                  should_stop=stop_event.is_set if stop_event else lambda: False,
                  min_minutes=settings.followup.min_minutes,
                  unsubscribed=recipients.unsubscribed, staff=frozenset(settings.zoom.staff),
                  per_day=settings.mail.smtp.per_day,
                  certificates=CertificateRegistry(store, settings.certificate, series_info(settings), io.sheets)
                  if settings.followup.certificate else None)


def interruptible_sleep(stop_event: threading.Event) -> Callable[[float], None]:
    """A ``time.sleep`` that ends at once, raising StopRequested, when ``stop_event`` is set."""

    def sleep(seconds: float) -> None:
        if stop_event.wait(max(0.0, seconds)):
            raise StopRequested("a stop was requested during a wait; the step is left for the next start")

    return sleep


def default_env_file(settings_path: Path) -> Path:
    """The ``.env`` file looked for beside the settings file."""
    return settings_path.resolve().parent / ".env"
