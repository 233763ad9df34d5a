"""``doctor``: try each integration the settings use, for real, and say in plain words what works.

Unlike ``check`` (offline), this asks Zoom for a token and reads the scopes it was granted and the
host user's licence, lists the calendar to learn the service account's role on it, makes an edit
that changes nothing in the spreadsheet, logs in to the SMTP server, and reads every recipient
source. Nothing a participant can see is created, and no mail is sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from worker.core.clock import SystemClock
from worker.core.schema import Settings
from worker.errors import WorkerError
from worker.run.engine import Integrations

WRITABLE_ROLES = ("owner", "writer")  # Calendar accessRole values that may change events


@dataclass
class Finding:
    """What one integration's try found."""

    name: str  # "zoom", "calendar", "sheets", "mail", "recipients"
    ok: bool = True  # it works as the settings need
    lines: list[str] = field(default_factory=list)  # plain words: what was tried, what came back, what to do

    def fail(self, text: str) -> None:
        """Record a problem that stops the worker from doing its job."""
        self.ok = False
        self.lines.append(text)


def diagnose(settings: Settings, io: Integrations, recipients: Callable[[], object]) -> list[Finding]:
    """One finding per integration the settings use (``recipients`` loads every recipient source)."""
    findings = [_zoom(settings, io), _calendar(io), _sheets(io), _mail(io)]
    findings.append(_recipients(recipients))
    return findings


def _tried(finding: Finding, attempt: Callable[[], None]) -> Finding:
    try:
        attempt()
    except WorkerError as exc:
        finding.fail(f"FAILED: {exc}")
    return finding


def _zoom(settings: Settings, io: Integrations) -> Finding:
    found = Finding("zoom")
    if io.zoom is None:
        found.fail(f"not configured: {io.missing.get('zoom', 'Zoom is not configured')}")
        return found

    def attempt() -> None:
        from integrations.zoom import USER_TYPES, scope_gaps

        granted = io.zoom.granted_scopes()  # type: ignore[union-attr]
        found.lines.append(f"token: granted ({len(granted)} scope(s): {' '.join(sorted(granted)) or 'none named'})")
        gaps = scope_gaps(granted, settings.zoom.registration)
        for gap in gaps:
            if gap.startswith("attendance reports"):  # the worker falls back to past_meetings without it
                found.lines.append(f"warning: scope missing (attendance falls back to past meetings): {gap}")
            else:
                found.fail(f"scope missing: {gap}; add it to the Server-to-Server OAuth app and activate it again")
        if not gaps:
            found.lines.append("scopes: everything the worker needs is granted")
        user = io.zoom.host_user()  # type: ignore[union-attr]
        kind = USER_TYPES.get(int(user.get("type", 0)), f"type {user.get('type')}")
        found.lines.append(f"host user: {user.get('email', settings.zoom.user_id)} ({kind})")
        if settings.zoom.registration and int(user.get("type", 0)) != 2:
            found.fail("registration (zoom.registration) needs a Licensed host user; assign a licence in the "
                       "Zoom admin portal or set zoom.user_id to a licensed user")

    return _tried(found, attempt)


def _calendar(io: Integrations) -> Finding:
    found = Finding("calendar")
    if io.calendar is None:
        found.fail(f"not configured: {io.missing.get('calendar', 'Google Calendar is not configured')}")
        return found

    def attempt() -> None:
        role = io.calendar.access_role()  # type: ignore[union-attr]
        if role in WRITABLE_ROLES:
            found.lines.append(f"calendar: the service account may change events (role {role})")
        else:
            found.fail(f"calendar: the service account may not change events (role {role or 'none'}); share the "
                       f"calendar with it with \"Make changes to events\"")

    return _tried(found, attempt)


def _sheets(io: Integrations) -> Finding:
    found = Finding("sheets")
    if io.sheets is None:
        found.fail(f"not configured: {io.missing.get('sheets', 'Google Sheets is not configured')}")
        return found
    return _tried(found, lambda: found.lines.append(
        f"spreadsheet \"{io.sheets.prove_edit()}\": the service account can edit it"))  # type: ignore[union-attr]


def _mail(io: Integrations) -> Finding:
    found = Finding("mail")
    if io.mail is None:
        found.fail(f"not configured: {io.missing.get('mail', 'SMTP is not configured')}")
        return found

    def attempt() -> None:
        with io.mail.connect():  # type: ignore[union-attr]
            pass
        found.lines.append("SMTP: connected and logged in (no mail sent)")

    return _tried(found, attempt)


def _recipients(load: Callable[[], object]) -> Finding:
    found = Finding("recipients")

    def attempt() -> None:
        result = load()
        people = getattr(result, "recipients", [])
        found.lines.append(f"{len(people)} recipient(s) read from every source")
        for problem in getattr(result, "problems", []):
            found.lines.append(f"warning: {problem} (not sent to)")
        for unreadable in getattr(result, "unreadable", []):
            found.fail(f"cannot read: {unreadable}")

    return _tried(found, attempt)


def default_recipients(settings: Settings, io: Integrations) -> Callable[[], object]:
    """The worker's own recipient loader, sheet ranges included."""
    from worker.run.wiring import RecipientLists

    return lambda: RecipientLists(settings, io, SystemClock()).load(sheets=True)
