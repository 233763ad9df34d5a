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
from worker.i18n import N_, Translator, translator
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


def diagnose(settings: Settings, io: Integrations, recipients: Callable[[], object],
             t: Translator | None = None) -> list[Finding]:
    """One finding per integration the settings use (``recipients`` loads every recipient source),
    its lines in ``t``'s language (English when none is given)."""
    t = t or translator("en")
    findings = [_zoom(settings, io, t), _calendar(io, t), _sheets(io, t), _mail(io, t)]
    findings.append(_recipients(recipients, t))
    return findings


def _tried(finding: Finding, attempt: Callable[[], None], t: Translator) -> Finding:
    try:
        attempt()
    except WorkerError as exc:
        finding.fail(t._("FAILED: {message}", message=t.error(exc)))
    return finding


def _not_configured(found: Finding, io: Integrations, t: Translator, default: str) -> Finding:
    found.fail(t._("not configured: {why}", why=t.error(io.missing.get(found.name, "")) or t._(default)))
    return found


def _zoom(settings: Settings, io: Integrations, t: Translator) -> Finding:
    found = Finding("zoom")
    if io.zoom is None:
        return _not_configured(found, io, t, N_("Zoom is not configured"))

    def attempt() -> None:
        from integrations.zoom import USER_TYPES, scope_gaps

        granted = io.zoom.granted_scopes()  # type: ignore[union-attr]
        found.lines.append(t.n_("token: granted ({count} scope: {scopes})", "token: granted ({count} scopes: {scopes})",
                                len(granted), scopes=" ".join(sorted(granted)) or t._("none named")))
        gaps = scope_gaps(granted, settings.zoom.registration)
        for gap in gaps:
            if gap.startswith("attendance reports"):  # the worker falls back to past_meetings without it
                found.lines.append(t._("warning: scope missing (attendance falls back to past meetings): {gap}",
                                       gap=gap))
            else:
                found.fail(t._("scope missing: {gap}; add it to the Server-to-Server OAuth app and activate it again",
                               gap=gap))
        if not gaps:
            found.lines.append(t._("scopes: everything the worker needs is granted"))
        user = io.zoom.host_user()  # type: ignore[union-attr]
        kind = USER_TYPES.get(int(user.get("type", 0)), f"type {user.get('type')}")
        found.lines.append(t._("host user: {user} ({kind})", user=user.get("email", settings.zoom.user_id), kind=kind))
        if settings.zoom.registration and int(user.get("type", 0)) != 2:
            found.fail(t._("registration (zoom.registration) needs a Licensed host user; assign a licence in the "
                           "Zoom admin portal or set zoom.user_id to a licensed user"))

    return _tried(found, attempt, t)


def _calendar(io: Integrations, t: Translator) -> Finding:
    found = Finding("calendar")
    if io.calendar is None:
        return _not_configured(found, io, t, N_("Google Calendar is not configured"))

    def attempt() -> None:
        role = io.calendar.access_role()  # type: ignore[union-attr]
        if role in WRITABLE_ROLES:
            found.lines.append(t._("calendar: the service account may change events (role {role})", role=role))
        else:
            found.fail(t._("calendar: the service account may not change events (role {role}); share the calendar "
                           "with it with \"Make changes to events\"", role=role or t._("none")))

    return _tried(found, attempt, t)


def _sheets(io: Integrations, t: Translator) -> Finding:
    found = Finding("sheets")
    if io.sheets is None:
        return _not_configured(found, io, t, N_("Google Sheets is not configured"))
    return _tried(found, lambda: found.lines.append(t._(
        "spreadsheet \"{title}\": the service account can edit it",
        title=io.sheets.prove_edit())), t)  # type: ignore[union-attr]


def _mail(io: Integrations, t: Translator) -> Finding:
    found = Finding("mail")
    if io.mail is None:
        return _not_configured(found, io, t, N_("SMTP is not configured"))

    def attempt() -> None:
        with io.mail.connect():  # type: ignore[union-attr]
            pass
        found.lines.append(t._("SMTP: connected and logged in (no mail sent)"))

    return _tried(found, attempt, t)


def _recipients(load: Callable[[], object], t: Translator) -> Finding:
    found = Finding("recipients")

    def attempt() -> None:
        result = load()
        people = getattr(result, "recipients", [])
        found.lines.append(t.n_("{count} recipient read from every source", "{count} recipients read from every source",
                                len(people)))
        for problem in getattr(result, "problems", []):
            found.lines.append(t._("warning: {problem} (not sent to)", problem=t.error(problem)))
        for unreadable in getattr(result, "unreadable", []):
            found.fail(t._("cannot read: {what}", what=t.error(unreadable)))

    return _tried(found, attempt, t)


def default_recipients(settings: Settings, io: Integrations) -> Callable[[], object]:
    """The worker's own recipient loader, sheet ranges included."""
    from worker.run.wiring import RecipientLists

    return lambda: RecipientLists(settings, io, SystemClock()).load(sheets=True)
