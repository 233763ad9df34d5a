"""Alerts by mail to the operator (``worker.alert_to``): one mail when a problem starts, one when it clears.

A *concern* is a problem as seen now (a rejected settings edit, a step failing again and again,
a refused credential, a worker that had stopped ticking). The :class:`AlertBook` compares the
concerns of this tick with the incidents it keeps open in the state store (``meta`` key
``alerts``): new ones open an incident and queue one "start" mail, vanished ones close it and
queue one "clear" mail. Several that start (or clear) together go out as one digest. Alert
mail uses the same outbox table (kind ``alert``, uid ``alert:<series>/<date>``) and the same
SMTP transport as the series mail; rows are claimed before they go to SMTP, like the engine's.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Iterable, Mapping, Sequence

from worker.core.derive import series_info
from worker.core.mailkinds import MailKind
from worker.core.model import Recipient
from worker.core.records import Retry, iso, parse_iso
from worker.core.schema import Settings
from worker.errors import IntegrationError, PermanentMailError, SettingsError, TemplateError, TemporaryMailError
from worker.i18n import Translator, translator
from worker.mail.messages import address
from worker.mail.render import Renderer, format_when, one_line

log = logging.getLogger(__name__)

META_KEY = "alerts"  # meta row holding the open incidents and the mail counter
UID_PREFIX = "alert:"  # outbox uids of alert mail: alert:<series>/<YYYY-MM-DD>
SETTINGS = "settings"  # concern key of a rejected settings edit
STALE = "stale"  # concern key of a worker that had not completed a tick
MAIL_LANGUAGE = "id"  # alert mail is read by library staff: Indonesian (there is no operator-language setting)


def _staff(t: Translator | None) -> Translator:
    """The language of alert text: ``t`` when a caller gives one, else the staff's Indonesian."""
    return t or translator(MAIL_LANGUAGE)


@dataclass(frozen=True)
class Concern:
    """One problem as seen now; ``key`` names it across ticks (the same key is the same incident)."""

    key: str  # e.g. "settings", "step:create_meeting", "credential:zoom", "stale"
    title: str  # one line, in the staff's language (from the catalog)
    details: tuple[str, ...] = ()  # lines shown as they are (for settings: exactly as `check` prints them)
    todo: str = ""  # what the operator should do, in the staff's language
    since: datetime | None = None  # when it began, if known better than "now"
    steps: tuple[tuple[str, str], ...] = ()  # (uid, step kind) pairs behind a step or credential concern


@dataclass
class Changes:
    """What one observation changes: incidents that start and incidents that clear."""

    started: list[Concern] = field(default_factory=list)  # new keys
    cleared: list[dict] = field(default_factory=list)  # the stored records of keys that vanished


# -- pure: which concerns exist ------------------------------------------------------
def settings_problem_text(exc: SettingsError, t: Translator | None = None) -> str:
    """A rejected settings file's problems, one a line as ``check`` prints them, in the staff's language."""
    t = _staff(t)
    return "\n".join(t.problem(p) for p in exc.problems) or str(exc)


def settings_concern(problem_text: str, path: str, t: Translator | None = None) -> Concern:
    """A rejected settings edit; ``problem_text`` is the error exactly as ``check`` prints it."""
    t = _staff(t)
    return Concern(SETTINGS, t._("The edit of {file} was rejected; the worker keeps using the last good settings",
                                 file=path),
                   tuple(problem_text.splitlines()),
                   t._("Fix the lines named above, then run `webinar-worker check`. The worker loads the corrected "
                       "file by itself."))


def step_concerns(retries: Mapping[tuple[str, str], Retry], threshold: int,
                  refused: Iterable[tuple[str, str, str]], open_records: Mapping[str, dict],
                  t: Translator | None = None) -> list[Concern]:
    """Steps failing ``threshold`` times in a row (one concern per step kind) and refused credentials.

    ``refused`` holds (uid, step kind, service) of steps whose credentials were refused this tick;
    an open credential incident stays open while any of its steps still has a failure recorded.
    """
    t = _staff(t)
    by_kind: dict[str, list[Retry]] = {}
    for (uid, kind), retry in sorted(retries.items()):
        if retry.attempts >= threshold and not retry.last_error.startswith("waiting"):
            by_kind.setdefault(kind, []).append(retry)
    concerns = [Concern(f"step:{kind}", t.n_("Step {kind} failed {count} time in a row",
                                              "Step {kind} failed {count} times in a row",
                                              max(r.attempts for r in rs), kind=kind),
                        tuple(f"{r.uid}: {r.last_error}" for r in rs),
                        t._("Read the error message; run `webinar-worker status` and `webinar-worker doctor`. "
                            "The worker keeps trying again, waiting longer each time."),
                        steps=tuple((r.uid, kind) for r in rs))
                for kind, rs in by_kind.items()]
    services: dict[str, list[tuple[str, str]]] = {}
    for uid, kind, service in refused:
        services.setdefault(service, []).append((uid, kind))
    for key, record in open_records.items():
        if key.startswith("credential:") and key[len("credential:"):] not in services:
            still = [(u, k) for u, k in record.get("steps", []) if (u, k) in retries]
            if still:
                services[key[len("credential:"):]] = still
    for service, steps in sorted(services.items()):
        errors = sorted({retries[s].last_error for s in steps if s in retries})
        concerns.append(Concern(f"credential:{service}", t._("The {service} credentials were refused",
                                                             service=service), tuple(errors),
                                t._("Check the secrets in .env (client id, secret, key file) and their access "
                                    "rights; `webinar-worker doctor` tries every service."), steps=tuple(steps)))
    return concerns


def stale_concern(last_tick: datetime | None, now: datetime, tick_seconds: int, stale_after_ticks: int,
                  zone: str, locale: str, t: Translator | None = None) -> Concern | None:
    """A concern when the last completed tick is older than ``stale_after_ticks`` intervals."""
    if last_tick is None or now - last_tick <= timedelta(seconds=tick_seconds * stale_after_ticks):
        return None
    t = _staff(t)
    return Concern(STALE, t._("The worker has not completed a single tick for a long time"),
                   (t._("Last completed tick: {when}", when=format_when(last_tick, zone, locale)),),
                   t._("Check that the service is running (systemctl status / docker ps) and read its log."),
                   since=last_tick)


def quota_concerns(held: Sequence[tuple[str, datetime, str]], retries: Mapping[tuple[str, str], Retry],
                   open_records: Mapping[str, dict], zone: str, locale: str,
                   t: Translator | None = None) -> list[Concern]:
    """Zoom's daily limit holding work back: raised when a tick hit it, open while held steps still wait."""
    t = _staff(t)
    if held:
        kinds = {kind for kind, _, _ in held}
        until = max(u for _, u, _ in held)
        steps = tuple(key for key in sorted(retries) if key[1] in kinds)
        return [Concern("quota:zoom", t._("Zoom's daily limit was reached; some work is waiting"),
                        tuple(sorted({why for _, _, why in held}))
                        + (t._("Tried again: {when}", when=format_when(until, zone, locale)),),
                        t._("Nothing to do if it happens only now and then; if it happens often, edit the schedule "
                            "less or ask the Zoom admin about the quota."), steps=steps)]
    record = open_records.get("quota:zoom")
    if record and any(tuple(s) in retries for s in record.get("steps", [])):
        return [Concern("quota:zoom", record["title"], tuple(record["details"]), record["todo"],
                        steps=tuple(tuple(s) for s in record["steps"]))]
    return []


def mail_hold_concern(until: datetime | None, reason: str, now: datetime, zone: str, locale: str,
                      t: Translator | None = None) -> list[Concern]:
    """The outbox held by the mail provider's limit or the daily cap: one incident until the hold ends."""
    if until is None or until <= now:
        return []
    t = _staff(t)
    return [Concern("quota:mail", t._("Sending mail is held because of the mail provider's limit"),
                    (reason, t._("Sent again from: {when}", when=format_when(until, zone, locale)),
                     t._("No recipient was marked failed; every mail keeps waiting.")),
                    t._("Nothing to do if it happens only now and then. If it happens often, send the invitations "
                        "earlier (mail.invitation_days_before), raise mail.smtp.per_day to what the account allows, "
                        "or use a bigger account or relay."))]


def changes(open_records: Mapping[str, dict], concerns: Sequence[Concern]) -> Changes:
    """New concerns start; open incidents whose key is no longer a concern clear."""
    keys = {c.key for c in concerns}
    return Changes(started=[c for c in concerns if c.key not in open_records],
                   cleared=[dict(r, key=k) for k, r in open_records.items() if k not in keys])


# -- the book: incidents in the state store, mail through the outbox --------------------------
class AlertBook:
    """Keeps the open incidents in the state store and mails the operator when they start and clear."""

    def __init__(self, store, clock):
        self.store = store  # the StateStore (meta row and outbox)
        self.clock = clock  # source of "now"

    def open_incidents(self) -> dict[str, dict]:
        """The incidents open now, by concern key."""
        return dict(self._book().get("open", {}))

    def _book(self) -> dict:
        text = self.store.meta_value(META_KEY)
        return json.loads(text) if text else {"open": {}, "round": 0}

    def observe(self, settings: Settings, concerns: Sequence[Concern], transport=None) -> Changes:
        """Record this tick's concerns; queue one start mail and one clear mail (digests); send what waits."""
        now = self.clock.now()
        book = self._book()
        found = changes(book["open"], concerns)
        zone, locale = settings.series.timezone, settings.series.locale
        for c in concerns:  # details of an open incident follow the latest observation
            if c.key in book["open"]:
                book["open"][c.key].update(details=list(c.details), steps=[list(s) for s in c.steps])
        for c in found.started:
            since = c.since or now
            book["open"][c.key] = {"title": c.title, "details": list(c.details), "todo": c.todo,
                                   "since": iso(since), "steps": [list(s) for s in c.steps]}
            log.error("alert: %s%s", c.title, "".join(f"\n  {line}" for line in c.details))
        for record in found.cleared:
            del book["open"][record["key"]]
            log.info("alert cleared: %s", record["title"])
        for event, records in (("start", [book["open"][c.key] for c in found.started]), ("clear", found.cleared)):
            if records and settings.worker.alert_to:
                book["round"] += 1
                items = [{"title": r["title"], "since": format_when(parse_iso(r["since"]), zone, locale),
                          "details": r["details"], "todo": r["todo"]} for r in records]
                self.store.queue_mail(f"{UID_PREFIX}{settings.series.id}/{now.date()}", MailKind.ALERT, book["round"],
                                      [Recipient(a) for a in settings.worker.alert_to], now,
                                      context=json.dumps({"event": event, "items": items}, ensure_ascii=False))
        if found.started or found.cleared:
            self.store.set_meta_value(META_KEY, json.dumps(book, ensure_ascii=False))
        if transport is not None:
            self.send(settings, transport)
        return found

    def send(self, settings: Settings, transport) -> int:
        """Send the waiting alert mail over one connection; a failure leaves it for the next tick."""
        rows = self.store.pending_mail(50, now=self.clock.now(), series=f"{UID_PREFIX}{settings.series.id}")
        if not rows:
            return 0
        renderer, series = Renderer(settings.mail.templates_dir), series_info(settings)
        sent = 0
        try:
            with transport.connect() as conn:
                for row in rows:
                    try:
                        message = alert_message(renderer, series, row.email, row.id, json.loads(row.context),
                                                self.clock.now())
                    except (TemplateError, PermanentMailError, ValueError) as exc:
                        self.store.mark_mail(row.id, "failed", self.clock.now(), f"cannot build the alert: {exc}")
                        log.error("alert mail to %s cannot be built: %s", row.email, exc)
                        continue
                    if not self.store.claim_mail(row.id, self.clock.now()):
                        continue
                    try:
                        conn.send(message, row.email)
                    except PermanentMailError as exc:
                        self.store.mark_mail(row.id, "failed", self.clock.now(), str(exc))
                        continue
                    except TemporaryMailError as exc:
                        self.store.mark_mail(row.id, "pending", self.clock.now(), str(exc))
                        continue
                    except BaseException:
                        self.store.mark_mail(row.id, "pending", self.clock.now(), "interrupted while sending")
                        raise
                    self.store.mark_mail(row.id, "sent", self.clock.now())
                    sent += 1
        except IntegrationError as exc:  # the server cannot be reached: the rows wait for the next tick
            log.warning("alert mail not sent yet (%d waiting): %s", len(rows) - sent, exc)
        return sent


def alert_message(renderer: Renderer, series, email: str, row_id: int, context: dict, now: datetime) -> EmailMessage:
    """One alert mail from the ``alert.*.j2`` templates; Message-ID fixed per outbox row."""
    values = {"kind": MailKind.ALERT.value, "series_title": series.title, "organizer": series.organizer,
              "contact": series.contact, "recipient_email": email, "recipient_name": "",
              "alert_event": context["event"], "alert_items": context["items"]}
    subject, text, html = (renderer.render(name, values) for name in MailKind.ALERT.templates)
    message = EmailMessage()
    message["From"] = address(series.sender_name, series.sender_address)
    message["To"] = address("", email)
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(now)
    domain = series.sender_address.rpartition("@")[2] or "webinar-worker.local"
    digest = hashlib.sha256(f"{row_id}|{email}".encode()).hexdigest()[:16]
    message["Message-ID"] = f"<alert-{digest}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a machine's alert
    message.set_content(text.rstrip() + "\n", subtype="plain", charset="utf-8")
    message.add_alternative(html.rstrip() + "\n", subtype="html", charset="utf-8")
    return message
