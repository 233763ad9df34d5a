"""The season report the office head forwards upward: numbers, a chart and a table, in Indonesian.

Pure statistics (:func:`season_stats`) are kept apart from drawing (:func:`attendance_chart_png`)
and from the one self-contained HTML file (:func:`render_report_html`), so each can be tested
alone. The HTML has no external files: inline CSS and the chart as a ``data:`` URI, so it can be
forwarded by mail or WhatsApp and read on a phone.
"""
from __future__ import annotations

import base64
import io
import logging
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from babel.dates import format_date
from babel.numbers import format_decimal

from worker.core import terms
from worker.core.certnumber import CertificateRecord
from worker.core.mailkinds import MailKind, MailStatus
from worker.core.model import UTC, Attendee, Recipient, Session
from worker.core.records import AttendanceState
from worker.mail.render import format_clock, zone_abbreviation

if TYPE_CHECKING:
    from worker.store.state import StateStore

log = logging.getLogger(__name__)

ATTENDANCE_KNOWN = (AttendanceState.STORED, AttendanceState.SYNCED)  # once Zoom's report was stored
PENDING_TEXT = terms.WAITING_FOR_DATA  # shown instead of numbers for a session whose attendance is not in yet


@dataclass(frozen=True)
class SessionAttendance:
    """One session of the season with the people who came to it."""

    session: Session  # the session as planned
    attendees: tuple[Attendee, ...]  # unique attendees, rejoins already merged
    invited: int  # people an invitation was sent to
    cancelled: bool  # True when the session did not take place
    pending: bool = False  # True when it ended but its attendance has not been fetched from Zoom yet
    registered: int = 0  # people registered on Zoom (invitees and self-registered); 0 without registration

    @property
    def identified(self) -> int:
        """Attendees tied to a known person (0 for a cancelled or pending session)."""
        return 0 if self.cancelled or self.pending else sum(1 for a in self.attendees if a.identified)

    @property
    def guests(self) -> int:
        """Attendees nobody could be tied to: counted, not named."""
        return self.attended - self.identified

    @property
    def attended(self) -> int:
        """Number of attendees (0 for a cancelled session or one still waiting for its data)."""
        return 0 if self.cancelled or self.pending else len(self.attendees)

    @property
    def average_minutes(self) -> float:
        """Mean minutes per attendee; 0 when nobody came."""
        if not self.attended:
            return 0.0
        return sum(a.minutes for a in self.attendees) / self.attended


@dataclass(frozen=True)
class SeasonStats:
    """The headline numbers of a season."""

    sessions_held: int  # sessions that took place and whose attendance is known
    total_attendance: int  # attendances summed over held sessions (one person twice counts twice)
    unique_attendees: int  # different people (by e-mail, else by name) over the season
    returning_attendees: int  # people who came to two or more sessions
    average_minutes: float  # mean minutes per attendance, 0 when nobody came
    average_attendees: float  # mean attendees per held session, 0 when none was held
    best_session: SessionAttendance | None  # the held session with most attendees (earliest on a tie)
    sessions_pending: int = 0  # sessions that ended but wait for Zoom's attendance data (not counted above)
    identified: int = 0  # attendances tied to a known person (the rest are guests)


@dataclass(frozen=True)
class PersonRow:
    """One identified person's season: for the office head's per-person table."""

    name: str  # registered name (else the name Zoom showed)
    group: str  # audience group from the recipient list ("" = none)
    sessions: int  # held sessions attended
    minutes: int  # minutes attended in total
    jp: int  # hours ("jam pelajaran") of the certificates earned


# -- statistics (pure) -------------------------------------------------------------
def person_key(attendee: Attendee) -> str:
    """Who an attendee is across sessions: the lower-cased e-mail, else the normalised name."""
    email = attendee.email.strip().lower()
    if email:
        return f"email:{email}"
    name = " ".join(unicodedata.normalize("NFKC", attendee.name).casefold().split())
    return f"name:{name}"


def held(items: Iterable[SessionAttendance]) -> list[SessionAttendance]:
    """The sessions that took place and whose attendance is known, in date order.

    A session still waiting for Zoom's report is left out: counting it as 0 people would pull
    every total and average down until the data arrives.
    """
    return sorted((i for i in items if not (i.cancelled or i.pending)), key=lambda i: i.session.date)


def sessions_per_person(items: Iterable[SessionAttendance]) -> dict[str, int]:
    """For each person (see :func:`person_key`), how many held sessions they attended."""
    counts: dict[str, int] = {}
    for item in held(items):
        for key in {person_key(a) for a in item.attendees}:
            counts[key] = counts.get(key, 0) + 1
    return counts


def person_rows(items: Iterable[SessionAttendance], recipients: Sequence[Recipient] = (),
                certificates: Sequence[CertificateRecord] = ()) -> list[PersonRow]:
    """Sessions, minutes and JP per identified person (attendees with an e-mail), most sessions first."""
    known = {r.email.lower(): r for r in recipients}
    jp: dict[str, int] = {}
    for c in certificates:
        if c.kind == "session":
            jp[c.email] = jp.get(c.email, 0) + c.jp
    seen: dict[str, list] = {}  # email -> [name, sessions, minutes]
    for item in held(items):
        for a in item.attendees:
            email = a.email.strip().lower()
            if email:
                row = seen.setdefault(email, [a.name, 0, 0])
                row[1] += 1
                row[2] += a.minutes
    rows = [PersonRow(name=(known[e].name if e in known and known[e].name else n),
                      group=known[e].group if e in known else "", sessions=k, minutes=m, jp=jp.get(e, 0))
            for e, (n, k, m) in seen.items()]
    return sorted(rows, key=lambda r: (-r.sessions, -r.jp, r.name.casefold()))


def group_rows(people: Sequence[PersonRow]) -> list[dict[str, object]]:
    """Per audience group: people, attendances and JP (people with no group under "(tanpa kelompok)")."""
    groups: dict[str, list[int]] = {}
    for p in people:
        row = groups.setdefault(p.group or "(tanpa kelompok)", [0, 0, 0])
        row[0] += 1
        row[1] += p.sessions
        row[2] += p.jp
    return [{"group": g, "people": v[0], "attendances": v[1], "jp": v[2]} for g, v in sorted(groups.items())]


def best_attended(items: Sequence[SessionAttendance]) -> SessionAttendance | None:
    """The held session with most attendees, the earliest on a tie; None when nobody came."""
    best = None
    for item in held(items):
        if item.attended and (best is None or item.attended > best.attended):
            best = item
    return best


def season_stats(items: Iterable[SessionAttendance]) -> SeasonStats:
    """Headline numbers of a season; cancelled sessions and those waiting for data count for nothing."""
    items = list(items)
    done = held(items)
    total = sum(i.attended for i in done)
    minutes = sum(a.minutes for i in done for a in i.attendees)
    people = sessions_per_person(done)
    return SeasonStats(
        sessions_held=len(done), total_attendance=total, unique_attendees=len(people),
        returning_attendees=sum(1 for n in people.values() if n >= 2),
        average_minutes=minutes / total if total else 0.0,
        average_attendees=total / len(done) if done else 0.0,
        best_session=best_attended(done), identified=sum(i.identified for i in done),
        sessions_pending=sum(1 for i in items if i.pending and not i.cancelled))


# -- gathering from the state store --------------------------------------------------
def season_items(store: "StateStore", now: datetime, series: str | None = None) -> list[SessionAttendance]:
    """The season so far from the state store: sessions that ended before ``now`` or were cancelled.

    ``invited`` counts invitations actually sent; a session counts as cancelled when staff
    cancelled it or the worker already removed its meeting or event, and as pending while its
    attendance has not been stored (Zoom's report is not there yet, or not fetched yet).
    """
    items = []
    for state in store.sessions().values():
        session = state.session()
        if session is None or (series and session.series != series):
            continue
        cancelled = session.cancelled or bool(state.meeting_deleted or state.event_cancelled)
        if not cancelled and session.end > now:
            continue
        items.append(SessionAttendance(  # staff and the host are shown in the sheet, not counted as audience
            session=session, attendees=tuple(a for a in store.attendance(state.uid) if not a.staff),
            invited=len(store.mailed(state.uid, MailKind.INVITATION, (MailStatus.SENT,))), cancelled=cancelled,
            pending=not cancelled and state.attendance_state not in ATTENDANCE_KNOWN,
            registered=len(store.registrants(state.uid, ("approved", "self")))))
    return sorted(items, key=lambda i: i.session.date)


# -- chart ---------------------------------------------------------------------------
def short_date(day: date, locale: str = "id_ID") -> str:
    """``14 Jan``: a session date as a chart label."""
    return format_date(day, "d MMM", locale=locale)


def attendance_chart_png(items: Iterable[SessionAttendance], *, locale: str = "id_ID") -> bytes:
    """A bar chart of attendees per held session as PNG bytes (cancelled sessions left out)."""
    from matplotlib.figure import Figure  # a Figure of its own: no pyplot global state

    done = held(items)
    figure = Figure(figsize=(8, 3.6), dpi=110, layout="constrained")
    axes = figure.subplots()
    positions = range(len(done))
    bars = axes.bar(positions, [i.attended for i in done], color="#0f766e", width=0.6)
    axes.bar_label(bars, padding=2, fontsize=9)
    axes.set_xticks(list(positions), [short_date(i.session.date, locale) for i in done],
                    rotation=45 if len(done) > 10 else 0, fontsize=9)
    axes.set_ylabel(terms.ATTENDED)
    axes.set_xlabel(terms.DATE)
    axes.set_ylim(bottom=0, top=max([i.attended for i in done] + [1]) * 1.15)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    if not done:
        axes.text(0.5, 0.5, "Belum ada sesi yang terlaksana", ha="center", va="center",
                  transform=axes.transAxes, color="#6b7280")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# -- HTML ------------------------------------------------------------------------------
def number(value: float, locale: str, digits: int = 1) -> str:
    """A number as people of ``locale`` write it: ``47,5`` in Indonesian; whole numbers without decimals."""
    pattern = "#,##0" if float(value).is_integer() else "#,##0." + "0" * digits
    return format_decimal(round(value, digits), format=pattern, locale=locale)


def session_rows(items: Sequence[SessionAttendance], locale: str) -> list[dict[str, object]]:
    """One table row per session, held, cancelled or waiting for data, in date order."""
    rows = []
    for item in sorted(items, key=lambda i: i.session.date):
        if item.cancelled:
            attended = "–"
        elif item.pending:
            attended = PENDING_TEXT
        else:
            attended = number(item.attended, locale)
        rows.append({
            "date": format_date(item.session.date, "d MMMM y", locale=locale),
            "topic": item.session.topic, "speaker": item.session.speaker or "–",
            "invited": number(item.invited, locale), "cancelled": item.cancelled,
            "pending": item.pending and not item.cancelled, "attended": attended,
            "minutes": number(item.average_minutes, locale) if item.attended else "–",
            "registered": number(item.registered, locale) if item.registered else "–",
            "identified": number(item.identified, locale) if item.attended else "–",
            "guests": number(item.guests, locale) if item.attended else "–",
        })
    return rows


def headline(stats: SeasonStats, locale: str) -> list[tuple[str, str, str]]:
    """The headline tiles: label, value and a short explanation."""
    held_note = "sesi yang tidak dibatalkan"
    if stats.sessions_pending:
        held_note += f"; {number(stats.sessions_pending, locale)} sesi lagi {PENDING_TEXT} dari Zoom"
    return [
        (terms.SESSIONS_HELD, number(stats.sessions_held, locale), held_note),
        (terms.TOTAL_ATTENDANCE, number(stats.total_attendance, locale),
         f"rata-rata {number(stats.average_attendees, locale)} peserta per sesi"),
        (terms.UNIQUE_PEOPLE, number(stats.unique_attendees, locale), "satu orang dihitung sekali"),
        (terms.RETURNING, number(stats.returning_attendees, locale), "hadir di 2 sesi atau lebih"),
        (terms.AVERAGE_MINUTES, number(stats.average_minutes, locale), "per kehadiran"),
        (terms.IDENTIFIED, number(stats.identified, locale),
         f"kehadiran yang dikenali orangnya; {number(stats.total_attendance - stats.identified, locale)} tamu"),
    ]


def generated_text(moment: datetime, zone: str, locale: str) -> str:
    """``14 Januari 2027, pukul 10.05 WITA``: when the report was made, in the series' zone.

    ``moment`` comes from the clock (UTC); a naive one is taken as UTC, never as the machine's zone.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(zone))
    return (f"{format_date(local, 'd MMMM y', locale=locale)}, pukul {format_clock(local, locale)} "
            f"{zone_abbreviation(local, locale)}")


def report_context(items: Sequence[SessionAttendance], *, title: str, organizer: str,
                   generated_at: datetime, timezone: str, locale: str,
                   people: Sequence[PersonRow] = ()) -> dict[str, object]:
    """Everything the report template shows; ``timezone`` is the series' IANA zone."""
    stats = season_stats(items)
    best = stats.best_session
    chart = base64.b64encode(attendance_chart_png(items, locale=locale)).decode("ascii")
    return {
        "title": title, "organizer": organizer,
        "generated": generated_text(generated_at, timezone, locale),
        "tiles": headline(stats, locale), "rows": session_rows(items, locale),
        "chart_uri": f"data:image/png;base64,{chart}",
        "terms": {name: getattr(terms, name) for name in dir(terms) if name.isupper()},
        "people": list(people), "groups": group_rows(people),
        "best": None if best is None else {
            "topic": best.session.topic, "attended": number(best.attended, locale),
            "date": format_date(best.session.date, "d MMMM y", locale=locale)},
    }


def render_report_html(items: Iterable[SessionAttendance], *, title: str, organizer: str,
                       generated_at: datetime, timezone: str, locale: str = "id_ID",
                       people: Sequence[PersonRow] = ()) -> str:
    """The season report as one self-contained, phone-readable HTML page in Indonesian.

    ``generated_at`` is the clock's (UTC) now; it is shown in ``timezone``, the series' zone.
    """
    items = list(items)
    env = ImmutableSandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)
    context = report_context(items, title=title, organizer=organizer, generated_at=generated_at,
                             timezone=timezone, locale=locale, people=people)
    return env.from_string(report_template()).render(context)


def write_report(out_dir: Path, items: Iterable[SessionAttendance], *, title: str, organizer: str,
                 generated_at: datetime, timezone: str, locale: str = "id_ID",
                 people: Sequence[PersonRow] = ()) -> Path:
    """Write ``laporan-musim.html`` into ``out_dir`` (created if needed) and return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "laporan-musim.html"
    html = render_report_html(items, title=title, organizer=organizer, generated_at=generated_at,
                              timezone=timezone, locale=locale, people=people)
    path.write_text(html, encoding="utf-8")
    log.info("Season report written to %s", path)
    return path


def report_template() -> str:
    """The report's Jinja2 source (autoescaped): inline CSS, one column, tables scroll sideways on phones."""
    return """<!DOCTYPE html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{margin:0;padding:16px;background:#f3f4f6;font-family:Arial,Helvetica,sans-serif;color:#1f2937;line-height:1.5}
main{max-width:860px;margin:0 auto;background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:20px}
h1{font-size:22px;margin:0 0 4px;color:#0f766e}
h2{font-size:17px;margin:24px 0 8px}
.meta{color:#6b7280;font-size:13px;margin:0}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.tile{flex:1 1 140px;background:#f0fdfa;border-left:4px solid #0f766e;border-radius:4px;padding:10px 12px}
.tile .label{font-size:13px;color:#374151}
.tile .value{font-size:26px;font-weight:bold;color:#111827}
.tile .note{font-size:12px;color:#6b7280}
img{max-width:100%;height:auto;display:block}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f9fafb;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
tr.cancelled td{color:#9ca3af}
tr.pending td.num{color:#6b7280;font-style:italic}
.badge{font-size:12px;color:#b91c1c}
</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
<p class="meta">{{ organizer }} · Dibuat {{ generated }}</p>
<div class="tiles">
{% for label, value, note in tiles %}<div class="tile"><div class="label">{{ label }}</div><div class="value">{{ value }}</div><div class="note">{{ note }}</div></div>
{% endfor %}</div>
{% if best %}<p>Sesi dengan peserta terbanyak: <strong>{{ best.topic }}</strong> ({{ best.date }}), {{ best.attended }} peserta.</p>{% endif %}
<h2>Kehadiran per minggu</h2>
<img src="{{ chart_uri }}" alt="Grafik jumlah peserta hadir per tanggal sesi">
<h2>Rincian per sesi</h2>
<div class="scroll">
<table>
<thead><tr><th>{{ terms.DATE }}</th><th>{{ terms.TOPIC }}</th><th>{{ terms.SPEAKER }}</th><th class="num">{{ terms.INVITED }}</th><th class="num">{{ terms.REGISTERED }}</th><th class="num">{{ terms.ATTENDED }}</th><th class="num">{{ terms.IDENTIFIED }}</th><th class="num">{{ terms.GUESTS }}</th><th class="num">{{ terms.AVERAGE_MINUTES }}</th></tr></thead>
<tbody>
{% for row in rows %}<tr{% if row.cancelled %} class="cancelled"{% elif row.pending %} class="pending"{% endif %}><td>{{ row.date }}</td><td>{{ row.topic }}{% if row.cancelled %} <span class="badge">({{ terms.CANCELLED }})</span>{% endif %}</td><td>{{ row.speaker }}</td><td class="num">{{ row.invited }}</td><td class="num">{{ row.registered }}</td><td class="num">{{ row.attended }}</td><td class="num">{{ row.identified }}</td><td class="num">{{ row.guests }}</td><td class="num">{{ row.minutes }}</td></tr>
{% else %}<tr><td colspan="9">Belum ada sesi.</td></tr>
{% endfor %}</tbody>
</table>
</div>
{% if people %}<h2>Rekap per kelompok</h2>
<div class="scroll">
<table>
<thead><tr><th>Kelompok</th><th class="num">Peserta</th><th class="num">Kehadiran</th><th class="num">JP</th></tr></thead>
<tbody>
{% for g in groups %}<tr><td>{{ g.group }}</td><td class="num">{{ g.people }}</td><td class="num">{{ g.attendances }}</td><td class="num">{{ g.jp }}</td></tr>
{% endfor %}</tbody>
</table>
</div>
<h2>Rekap per peserta</h2>
<p class="meta">Peserta yang dikenali dari emailnya; JP dihitung dari sertifikat yang diterbitkan.</p>
<div class="scroll">
<table>
<thead><tr><th>Nama</th><th>Kelompok</th><th class="num">Sesi</th><th class="num">Total menit hadir</th><th class="num">JP</th></tr></thead>
<tbody>
{% for p in people %}<tr><td>{{ p.name }}</td><td>{{ p.group }}</td><td class="num">{{ p.sessions }}</td><td class="num">{{ p.minutes }}</td><td class="num">{{ p.jp }}</td></tr>
{% endfor %}</tbody>
</table>
</div>{% endif %}
</main>
</body>
</html>
"""
