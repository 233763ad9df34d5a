"""The ``plan`` table: the season's dates in order and when each thing happens (pure).

Two layouts from the same rows. The default fits a terminal (80 columns): one line of dates
and moments per session with its topic wrapped on the line below, moments on the session's
own day shown as a bare time. ``wide`` is one long line per session with the full topic and
every moment as a full date and time, for a wide window or a file.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

from worker.core.moments import Policy, moments
from worker.outputs.columns import WIDTH, wrap_line
from worker.core.planner import SeasonPlan
from worker.core.model import Session
from worker.i18n import Translator

KEEP_DAYS = 2  # a session that ended longer ago than this is left out
TOPIC_INDENT = 12  # the topic line starts under the second column, so the dates stand out on the left
TOPIC_LINES = 2  # a longer topic is shortened with "…" (--wide shows it whole)


@dataclass(frozen=True)
class _Row:
    """One date of the table: a session, a skipped date or a series date without a topic."""

    day: date  # the date, for the one chronological order
    session: Session | None = None  # the session on this date, if any
    note: str = ""  # for a date without a session: what to say instead (already translated)


def plan_lines(plan: SeasonPlan, policy: Policy, *, title: str, zone: str, now: datetime, t: Translator,
               width: int = WIDTH, wide: bool = False) -> list[str]:
    """The ``plan`` table as lines: a heading, a column header and every date still to come, in order.

    ``now`` is aware; moments at or before it read "now". Without ``wide`` no line is longer than ``width``.
    """
    tz = ZoneInfo(zone)
    rows = _rows(plan, now, tz, t)
    local_now = now.astimezone(tz)
    moment = _day_name(local_now.date(), t) + local_now.strftime(" %Y-%m-%d %H:%M")
    heading = t._("{title} — times in {zone}; now is {moment}", title=title, zone=zone, moment=moment)
    if wide:
        return [heading, *_wide_table(rows, policy, now, tz, t)]
    return [*wrap_line(heading, width, 0), *_narrow_table(rows, policy, now, tz, t, width)]


def _rows(plan: SeasonPlan, now: datetime, tz: ZoneInfo, t: Translator) -> list[_Row]:
    """Sessions, skipped dates and dates without a topic in one chronological order, recent past left out."""
    horizon = now - timedelta(days=KEEP_DAYS)
    rows = [_Row(s.date, session=s) for s in plan.sessions if s.end_utc >= horizon]
    first_day = horizon.astimezone(tz).date()
    rows += [_Row(day, note=t._("skipped: {reason}", reason=reason) if reason else t._("skipped"))
             for day, reason in plan.skipped if day >= first_day]
    rows += [_Row(day, note=t._("no topic yet: not scheduled")) for day in plan.without_topic if day >= first_day]
    return sorted(rows, key=lambda r: r.day)


def _headers(t: Translator) -> list[str]:
    return [t._("Date"), t._("Start"), t._("Min"), t._("Meeting+event"), t._("Invitations"), t._("Reminder"),
            t._("Attendance")]


def _cells(session: Session, policy: Policy, now: datetime, tz: ZoneInfo, t: Translator, full: bool) -> list[str]:
    """Start, minutes and the four moments of one session (or "cancelled" in place of the moments)."""
    start = [f"{session.start:%H:%M}", str(session.duration_minutes)]
    if session.cancelled:
        return [*start, t._("cancelled")]
    when = moments(session, policy)
    return [*start, *(_moment(m, session.date, now, tz, t, full)
                      for m in (when.meeting_due, when.invitations_due, when.reminder_due, when.attendance_due))]


def _moment(moment: datetime, day: date, now: datetime, tz: ZoneInfo, t: Translator, full: bool) -> str:
    """``now`` when due; else ``07:00`` on the session's day, ``7 Jan 09:00`` on another (full: ISO date and time)."""
    if moment <= now:
        return t._("now")
    local = moment.astimezone(tz)
    if full:
        return f"{local:%Y-%m-%d %H:%M}"
    if local.date() == day:
        return f"{local:%H:%M}"
    # "d MMM" names the month: 01-07 would read as the 1st of July to an Indonesian reader.
    return f"{format_date(local.date(), 'd MMM', locale=t.language)} {local:%H:%M}"


def _narrow_table(rows: list[_Row], policy: Policy, now: datetime, tz: ZoneInfo, t: Translator,
                  width: int) -> list[str]:
    headers = _headers(t)
    cells = {id(r): [r.day.isoformat(), *_cells(r.session, policy, now, tz, t, full=False)]
             for r in rows if r.session}
    widths = [max([len(h)] + [len(c[i]) for c in cells.values() if i < len(c)]) for i, h in enumerate(headers)]
    gap = 2 if sum(widths) + 2 * (len(widths) - 1) <= width else 1  # a longer lead time's cells may need the room
    right = {2}  # minutes are numbers

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))]
        return (" " * gap).join(parts).rstrip()

    lines = [line(headers), " " * TOPIC_INDENT + t._("Topic")]  # the header has two rows, as each session has
    for row in rows:
        if row.session is None:
            lines += wrap_line(f"{row.day.isoformat()}  {row.note}", width, TOPIC_INDENT)
            continue
        lines.append(line(cells[id(row)]))
        lines += _shorten(row.session.topic, width, TOPIC_INDENT)
    lines.append(t._("A time alone is on the session's day. --wide: the full table."))
    return [piece for text in lines for piece in wrap_line(text, width, 0)]


def _wide_table(rows: list[_Row], policy: Policy, now: datetime, tz: ZoneInfo, t: Translator) -> list[str]:
    headers = _headers(t)
    headers.insert(3, t._("Topic"))
    cells = {id(r): [r.day.isoformat(), *_cells(r.session, policy, now, tz, t, full=True)]
             for r in rows if r.session}
    for row in rows:
        if row.session:
            cells[id(row)].insert(3, row.session.topic)
    widths = [max([len(h)] + [len(c[i]) for c in cells.values() if i < len(c)]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if i == 2 else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    return [line(headers)] + [line(cells[id(r)]) if r.session else f"{r.day.isoformat()}  {r.note}" for r in rows]


def _shorten(text: str, width: int, indent: int) -> list[str]:
    """``text`` wrapped under the indent to at most TOPIC_LINES lines, the last ending in "…" when cut."""
    return textwrap.wrap(" ".join(text.split()), width, initial_indent=" " * indent,
                         subsequent_indent=" " * indent, max_lines=TOPIC_LINES, placeholder=" …") or [""]


def _day_name(day: date, t: Translator) -> str:
    """``Jum`` / ``Fri``: the short day name in the reader's language."""
    return format_date(day, "EEE", locale=t.language)
