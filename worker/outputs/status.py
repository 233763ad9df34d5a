"""The ``status`` report: per session, what exists, what was sent, what is pending, the last error."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from worker.core.mailkinds import MAIL_KINDS
from worker.core.model import SessionKey
from worker.core.planner import plan_season
from worker.core.records import iso
from worker.core.schema import Settings
from worker.i18n import N_, Translator, translator
from worker.outputs.columns import fit, wrap_line
from worker.store.health import read_heartbeat
from worker.store.state import StateStore

STATUS_ALERTS_KEY = "alerts"  # meta key the alert book keeps its open incidents under (worker.run.alerts)

KINDS = MAIL_KINDS  # the registry in worker.core.mailkinds, in its order


MAIL_KIND_NAMES = {"invitation": N_("invitation"), "reminder": N_("reminder"), "change": N_("change"),
                   "cancellation": N_("cancellation"), "thankyou": N_("thankyou"), "alert": N_("alert")}
MAIL_STATUS_NAMES = {"pending": N_("pending"), "sending": N_("sending"), "sent": N_("sent"), "failed": N_("failed"),
                     "skipped": N_("skipped")}


def render_status(settings: Settings, store: StateStore, now: datetime, t: Translator | None = None,
                  width: int | None = None) -> str:
    """A plain-text report, one block per session known to the settings or the state, in ``t``'s language.

    With ``width`` every line is wrapped to it (the command passes 80; ``--wide`` passes None).
    """
    t = t or translator("en")
    zone = ZoneInfo(settings.series.timezone)
    planned = {s.uid: s for s in plan_season(settings).sessions}
    rows = store.sessions()
    counts = store.mail_counts()
    retries = store.retries()
    lines = [t._("{title} — status at {moment}", title=settings.series.title,
                 moment=now.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"))]
    for uid in sorted(set(planned) | set(rows), key=lambda u: SessionKey.parse(u).date):
        session, row = planned.get(uid), rows.get(uid)
        lines.append("")
        lines += _session_lines(uid, session, row, counts.get(uid, {}), retries, now, zone, t, width)
    for (r_uid, step), retry in sorted(retries.items()):
        if r_uid == "*":
            lines.append("")
            lines.append(t._("{step}: {attempts} failure(s), next try {moment}: {error}", step=step,
                             attempts=retry.attempts, moment=_when(retry.next_at, zone), error=retry.last_error))
    return "\n".join(fit(lines + _mail_limit_lines(store, now, zone, t), width))


def _session_lines(uid: str, session, row, counts: dict, retries: dict, now: datetime, zone: ZoneInfo,
                   t: Translator, width: int | None) -> list[str]:
    """One session's block: its date and topic, then what exists, the mail, the attendance and any error."""
    topic = session.topic if session else (row.session().topic if row and row.session() else "?")
    flag = t._("CANCELLED") if session and session.cancelled else (t._("removed from settings") if not session else "")
    # a long topic continues under itself, so the date stays alone on the left
    lines = wrap_line(f"{SessionKey.parse(uid).day}  {topic}" + (f" [{flag}]" if flag else ""), width, 12)
    if row is None:
        return lines + ["  " + t._("nothing done yet")] + _retry_lines(uid, retries, zone, t)
    meeting = t._("none") if not row.meeting_id else (
        t._("{meeting} (deleted)", meeting=row.meeting_id) if row.meeting_deleted else row.meeting_id)
    event = t._("none") if not row.event_id else (t._("cancelled") if row.event_cancelled else t._("written"))
    lines.append("  " + t._("zoom meeting: {meeting}   calendar event: {event}   ics sequence: {sequence}",
                            meeting=meeting, event=event, sequence=row.sequence))
    mail = [f"{t._(MAIL_KIND_NAMES.get(k, k))}: " + ", ".join(
        f"{n} {t._(MAIL_STATUS_NAMES.get(st, st))}" for (kk, st), n in sorted(counts.items()) if kk == k)
        for k in KINDS if any(kk == k for kk, _ in counts)]
    lines.append("  " + t._("mail: {summary}", summary="; ".join(mail) if mail else t._("none yet")))
    cancelled = (session.cancelled if session else False) or bool(row.meeting_deleted)
    waiting = t._("not fetched (cancelled)") if cancelled else (
        t._("not yet") if session is None or now < session.end_utc else t._("due: waiting for Zoom's report"))
    attendance = {"": waiting,
                  "stored": t._("{count} people stored, sheet pending", count=row.attendees),
                  "synced": t._("{count} people, in the sheet", count=row.attendees)}.get(row.attendance_state,
                                                                                         row.attendance_state)
    lines.append("  " + t._("attendance: {summary}", summary=attendance))
    if row.note:
        lines.append("  " + t._("note: {note}", note=row.note))
    return lines + _retry_lines(uid, retries, zone, t)


def _when(moment: datetime, zone: ZoneInfo) -> str:
    """A moment in the series' zone with its full ISO date (a bare 12-01 reads as January to an Indonesian)."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def _mail_limit_lines(store: StateStore, now: datetime, zone: ZoneInfo, t: Translator) -> list[str]:
    """The outbox hold (a provider's limit or mail.smtp.per_day) and the suppressed addresses."""
    lines: list[str] = []
    until, why = store.mail_hold()
    if until is not None and until > now:
        lines += ["", t._("mail held until {moment} (nothing failed, all waits): {reason}",
                          moment=until.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"), reason=why)]
    suppressed = store.suppressed()
    if suppressed:
        lines += ["", t._("suppressed addresses ({count}, bounced: no more mail to them):", count=len(suppressed))]
        lines += [f"  {email}  {uid}: {reason}" for email, (reason, uid, _) in suppressed.items()]
    return lines


def _retry_lines(uid: str, retries: dict, zone: ZoneInfo, t: Translator) -> list[str]:
    """One line per step of this session that failed or waits, with its last error."""
    lines = []
    for (r_uid, step), retry in sorted(retries.items()):
        if r_uid != uid:
            continue
        what = t._("waiting") if retry.last_error.startswith("waiting") else t._("last error")
        lines.append("  " + t._("{what} ({step}, {attempts}x, next try {moment}): {error}", what=what, step=step,
                                attempts=retry.attempts, moment=_when(retry.next_at, zone), error=retry.last_error))
    return lines


def health_report(settings: Settings, store: StateStore, now: datetime, settings_problem: str | None = None) -> dict:
    """The worker's health as plain values (``status --json``): the last tick, its age, open alerts."""
    beat = read_heartbeat(store)
    limit = settings.worker.tick_seconds * settings.worker.stale_after_ticks
    age = (now - beat.completed_at).total_seconds() if beat and beat.completed_at else None
    book = json.loads(store.meta_value(STATUS_ALERTS_KEY) or "{}")
    problem = settings_problem if settings_problem is not None else (beat.settings_problem if beat else "")
    return {"healthy": age is not None and age <= limit, "now": iso(now),
            "last_tick": beat.to_json() if beat else None, "age_seconds": age, "stale_after_seconds": limit,
            "settings_problem": problem or "",
            "open_alerts": [{"key": k, "title": r["title"], "since": r["since"]}
                            for k, r in sorted(book.get("open", {}).items())]}


def health_lines(health: dict, settings: Settings, t: Translator | None = None) -> list[str]:
    """The health report as the first lines of ``status``, in ``t``'s language (English by default)."""
    t = t or translator("en")
    zone = ZoneInfo(settings.series.timezone)
    beat = health["last_tick"]
    if beat is None:
        lines = [t._("last tick: none recorded yet (the worker has not completed a tick with this version)")]
    else:
        at = datetime.fromisoformat(beat["at"]).astimezone(zone)
        lines = [t._("last tick: {moment} ({age} ago): {outcome}", moment=at.strftime("%Y-%m-%d %H:%M:%S %Z"),
                     age=_age(health["age_seconds"], t), outcome=beat["outcome"]),
                 "  " + t._("{done} done, {failed} failed, {blocked} blocked", done=beat["done"],
                            failed=beat["failed"], blocked=beat["blocked"])]
        lines += ["  " + t._("error: {error}", error=e) for e in beat["errors"]]
    if not health["healthy"]:
        lines.append(t._("STALE: no tick completed in the last {age} (worker.stale_after_ticks x "
                         "worker.tick_seconds); is the worker running?", age=_age(health["stale_after_seconds"], t)))
    if health["settings_problem"]:
        lines.append(t._("SETTINGS FILE BROKEN: the worker runs on the last good settings kept in the state file:"))
        lines += [f"  {line}" for line in health["settings_problem"].splitlines()]
    for alert in health["open_alerts"]:
        lines.append(t._("alert open since {moment}: {title}", title=alert["title"],
                         moment=_when(datetime.fromisoformat(alert["since"]), zone)))
    return lines


def _age(seconds: float | None, t: Translator) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 120:
        return t._("{count} s", count=seconds)
    if seconds < 7200:
        return t._("{count} min", count=seconds // 60)
    return t._("{count} h", count=seconds // 3600)
