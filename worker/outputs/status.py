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
from worker.store.health import read_heartbeat
from worker.store.state import StateStore

STATUS_ALERTS_KEY = "alerts"  # meta key the alert book keeps its open incidents under (worker.run.alerts)

KINDS = MAIL_KINDS  # the registry in worker.core.mailkinds, in its order


def render_status(settings: Settings, store: StateStore, now: datetime) -> str:
    """A plain-text report, one block per session known to the settings or the state."""
    zone = ZoneInfo(settings.series.timezone)
    planned = {s.uid: s for s in plan_season(settings).sessions}
    rows = store.sessions()
    counts = store.mail_counts()
    retries = store.retries()
    lines = [f"{settings.series.title} — status at {now.astimezone(zone):%Y-%m-%d %H:%M %Z}"]
    for uid in sorted(set(planned) | set(rows), key=lambda u: SessionKey.parse(u).date):
        session, row = planned.get(uid), rows.get(uid)
        topic = session.topic if session else (row.session().topic if row and row.session() else "?")
        flag = " [CANCELLED]" if session and session.cancelled else (" [removed from settings]" if not session else "")
        lines.append("")
        lines.append(f"{SessionKey.parse(uid).day}  {topic}{flag}")
        if row is None:
            lines.append("  nothing done yet")
            lines += _retry_lines(uid, retries, zone)  # e.g. the first create refused: staff must see why
            continue
        meeting = "none" if not row.meeting_id else (f"{row.meeting_id} (deleted)" if row.meeting_deleted else row.meeting_id)
        event = "none" if not row.event_id else ("cancelled" if row.event_cancelled else "written")
        lines.append(f"  zoom meeting: {meeting}   calendar event: {event}   ics sequence: {row.sequence}")
        c = counts.get(uid, {})
        mail = [f"{k}: " + ", ".join(f"{n} {st}" for (kk, st), n in sorted(c.items()) if kk == k)
                for k in KINDS if any(kk == k for kk, _ in c)]
        lines.append("  mail: " + ("; ".join(mail) if mail else "none yet"))
        cancelled = (session.cancelled if session else False) or bool(row.meeting_deleted)
        waiting = "not fetched (cancelled)" if cancelled else (
            "not yet" if session is None or now < session.end_utc else "due: waiting for Zoom's report")
        attendance = {"": waiting, "stored": f"{row.attendees} people stored, sheet pending",
                      "synced": f"{row.attendees} people, in the sheet"}.get(row.attendance_state, row.attendance_state)
        lines.append(f"  attendance: {attendance}")
        if row.note:
            lines.append(f"  note: {row.note}")
        lines += _retry_lines(uid, retries, zone)
    for (r_uid, step), retry in sorted(retries.items()):
        if r_uid == "*":
            lines.append(f"\n{step}: {retry.attempts} failure(s), next try "
                         f"{retry.next_at.astimezone(zone):%m-%d %H:%M}: {retry.last_error}")
    return "\n".join(lines + _mail_limit_lines(store, now, zone))


def _mail_limit_lines(store: StateStore, now: datetime, zone: ZoneInfo) -> list[str]:
    """The outbox hold (a provider's limit or mail.smtp.per_day) and the suppressed addresses."""
    lines: list[str] = []
    until, why = store.mail_hold()
    if until is not None and until > now:
        lines.append(f"\nmail held until {until.astimezone(zone):%Y-%m-%d %H:%M %Z} (nothing failed, all waits): {why}")
    suppressed = store.suppressed()
    if suppressed:
        lines.append(f"\nsuppressed addresses ({len(suppressed)}, bounced: no more mail to them):")
        lines += [f"  {email}  {uid}: {reason}" for email, (reason, uid, _) in suppressed.items()]
    return lines


def _retry_lines(uid: str, retries: dict, zone) -> list[str]:
    """One line per step of this session that failed or waits, with its last error."""
    return [f"  {'waiting' if retry.last_error.startswith('waiting') else 'last error'} ({step}, "
            f"{retry.attempts}x, next try {retry.next_at.astimezone(zone):%m-%d %H:%M}): {retry.last_error}"
            for (r_uid, step), retry in sorted(retries.items()) if r_uid == uid]


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


def health_lines(health: dict, settings: Settings) -> list[str]:
    """The health report as the first lines of ``status``."""
    zone = ZoneInfo(settings.series.timezone)
    beat = health["last_tick"]
    if beat is None:
        lines = ["last tick: none recorded yet (the worker has not completed a tick with this version)"]
    else:
        at = datetime.fromisoformat(beat["at"]).astimezone(zone)
        lines = [f"last tick: {at:%Y-%m-%d %H:%M:%S %Z} ({_age(health['age_seconds'])} ago): {beat['outcome']}, "
                 f"{beat['done']} done, {beat['failed']} failed, {beat['blocked']} blocked"]
        lines += [f"  error: {e}" for e in beat["errors"]]
    if not health["healthy"]:
        lines.append(f"STALE: no tick completed in the last {_age(health['stale_after_seconds'])} "
                     f"(worker.stale_after_ticks x worker.tick_seconds); is the worker running?")
    if health["settings_problem"]:
        lines.append("SETTINGS FILE BROKEN: the worker runs on the last good settings kept in the state file:")
        lines += [f"  {line}" for line in health["settings_problem"].splitlines()]
    for alert in health["open_alerts"]:
        lines.append(f"alert open since {datetime.fromisoformat(alert['since']).astimezone(zone):%Y-%m-%d %H:%M}: "
                     f"{alert['title']}")
    return lines


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
