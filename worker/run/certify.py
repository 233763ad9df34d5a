"""The certificate registry the engine calls: numbers for thank-you mails, name corrections, the Verifikasi tab.

Numbers are allocated in the state store when a thank-you is queued (one per person and
session, kept across restarts and re-sends). Each tick, corrections from
``certificate.corrections`` re-issue the certificates of that address with the same numbers
(and mail them once), and the spreadsheet's "Verifikasi" tab is rewritten when its rows changed.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from worker.core.certnumber import CertificateRecord, format_number, jp_hours
from worker.core.model import SeriesInfo, Session
from worker.core.schema import CertificateSettings
from worker.errors import WorkerError
from worker.outputs.verify import rows_fingerprint, verification_rows
from worker.store.state import StateStore

log = logging.getLogger(__name__)

VERIFY_STEP = ("*", "verify_tab")  # (uid, step) under which a failing tab write backs off
VERIFY_FP_KEY = "verify_tab_fp"  # meta key: fingerprint of the rows last written
VERIFY_BACKOFF = timedelta(minutes=15)


class VerificationSheet(Protocol):
    """Where the verification rows go (integrations.google_sheets.GoogleSheets)."""

    def write_verification(self, tab_title: str, rows: list[list[object]]) -> None:
        """Overwrite the tab with ``rows`` (header first)."""


class CertificateRegistry:
    """Allocates certificate numbers and keeps corrections and the Verifikasi tab up to date."""

    def __init__(self, store: StateStore, design: CertificateSettings, series: SeriesInfo,
                 sheet: VerificationSheet | None = None):
        self.store = store  # where certificates and their counter live
        self.design = design  # number format, JP, corrections, revocations, tab name
        self.series = series  # series id (in numbers) and time zone (the date of issue)
        self.sheet = sheet  # the spreadsheet, or None when Sheets is not configured

    def issue(self, session: Session, email: str, name: str, attended_minutes: int,
              now: datetime) -> tuple[str, dict[str, Any]]:
        """The name to print and the outbox context of one thank-you mail (allocating the number the first time)."""
        name = self.design.correction_for(email) or name
        record = self.store.issue_certificate(
            kind="session", subject=session.uid, email=email, name=name, title=session.topic, held_on=session.date,
            minutes=session.duration_minutes, jp=jp_hours(session.duration_minutes, self.design.minutes_per_jp),
            number_for=lambda seq: format_number(self.design.number_format, seq, session.date, self.series.series),
            now=now)
        return record.name, mail_values(record, attended_minutes, self.series.timezone)

    def tick(self, now: datetime) -> None:
        """Apply corrections, then refresh the Verifikasi tab; a failure is logged and retried later."""
        self.apply_corrections(now)
        self.sync_tab(now)

    def apply_corrections(self, now: datetime) -> int:
        """Re-issue every certificate whose holder's name was corrected; how many were re-issued."""
        if not self.design.corrections:
            return 0
        wanted = dict(self.design.corrections)
        count = 0
        for record in self.store.certificates():
            name = wanted.get(record.email)
            if not name or name == record.name:
                continue
            minutes = next((a.minutes for a in self.store.attendance(record.subject) if a.email == record.email), 0)
            context = {**mail_values(record, minutes, self.series.timezone), "corrected": record.reissues + 1}
            if self.store.reissue_certificate(record.number, name, now, json.dumps(context)):
                log.info("certificate %s re-issued with the corrected name", record.number)
                count += 1
        return count

    def sync_tab(self, now: datetime) -> bool:
        """Rewrite the Verifikasi tab when its rows changed; True when it was written."""
        if self.sheet is None:
            return False
        retry = self.store.retries().get(VERIFY_STEP)
        if retry is not None and retry.next_at > now:
            return False
        rows = verification_rows(self.store.certificates(), self.design.revoked)
        fingerprint = rows_fingerprint(rows)
        if len(rows) == 1 or fingerprint == self.store.meta_value(VERIFY_FP_KEY):
            return False
        try:
            self.sheet.write_verification(self.design.verify_tab, rows)
        except WorkerError as exc:
            attempts = retry.attempts if retry else 0
            self.store.record_failure(*VERIFY_STEP, str(exc), now + VERIFY_BACKOFF * (2 ** min(attempts, 4)))
            if not attempts:
                log.error("the %s tab could not be written (will retry): %s", self.design.verify_tab, exc)
            return False
        self.store.set_meta_value(VERIFY_FP_KEY, fingerprint)
        if self.store.clear_failure(*VERIFY_STEP):
            log.info("writing the %s tab recovered", self.design.verify_tab)
        return True


def mail_values(record: CertificateRecord, attended_minutes: int, timezone: str) -> dict[str, Any]:
    """The outbox context of a thank-you mail carrying ``record``."""
    issued = datetime.fromisoformat(record.issued_at).astimezone(ZoneInfo(timezone)).date()
    return {"minutes": attended_minutes, "certificate_number": record.number, "issued_on": issued.isoformat()}
