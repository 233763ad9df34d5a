"""Mail and calendar text from the staff-editable Jinja2 templates in ``templates/``.

Each mail kind has three templates: ``{kind}.subject.txt.j2``, ``{kind}.txt.j2`` and
``{kind}.html.j2``; the calendar event uses ``event_description.txt.j2``. Staff edit these
files, so they run in Jinja2's ``ImmutableSandboxedEnvironment`` without the ``lipsum``,
``cycler``, ``joiner`` and ``namespace`` globals (whose ``__globals__`` reach ``os`` and the
secrets), and ``check`` refuses a template that touches an unsafe attribute by reading its
syntax tree, never by running it (:func:`unsafe_uses`). Only ``.html.j2`` templates are autoescaped, and ``StrictUndefined`` turns a misspelt variable into an error
that names the template and line instead of an empty gap in a mail sent to hundreds.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from babel.dates import format_date, format_time, get_timezone_name
from jinja2 import meta, nodes
from markupsafe import Markup, escape

from worker.core.cleaning import clean_name
from worker.core.mailkinds import MAIL_KINDS
from worker.core.model import MeetingInfo, Recipient, SeriesInfo, Session
from worker.core.schema import ZONE_NAMES
from worker.errors import TemplateError

KINDS = MAIL_KINDS  # mail kinds with templates: the registry in worker.core.mailkinds
MAIL_PARTS = ("subject.txt", "txt", "html")  # the three templates of every kind
EVENT_DESCRIPTION = "event_description.txt.j2"  # the Google Calendar event description
DEFAULT_LOCALE = "id_ID"  # dates in Indonesian unless the series says otherwise
# Indonesia's zones by their everyday names; babel knows them for id_ID, but not for every locale.
REMOVED_GLOBALS = ("lipsum", "cycler", "joiner", "namespace")  # not needed; each is a way to Python internals
UNSAFE_ATTRIBUTES = frozenset({"mro", "format", "format_map", "func_globals", "func_code", "gi_frame", "gi_code",
                               "cr_frame", "cr_code", "ag_frame", "ag_code", "f_globals", "f_locals", "f_builtins",
                               "tb_frame"})  # besides every name starting with "_"
ZONE_ABBREVIATIONS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
                      "Asia/Jayapura": "WIT"}


@dataclass(frozen=True)
class RenderedMail:
    """The three rendered parts of one mail, plus the calendar description for its .ics."""

    subject: str  # one line, never contains CR/LF
    text: str  # text/plain body
    html: str  # text/html body
    event_description: str = ""  # DESCRIPTION of the attached .ics


# -- formatting helpers ---------------------------------------------------------
def format_when(dt: datetime, tz: str, locale: str = DEFAULT_LOCALE, also_zones: Sequence[str] = ()) -> str:
    """``Kamis, 14 Januari 2027, pukul 09.00 WITA``: a moment as people in the series' zone read it.

    With ``also_zones`` the clock is written in those zones too: ``pukul 09.00 WITA / 08.00 WIB``.
    """
    local = dt.astimezone(ZoneInfo(tz))
    at = "pukul" if (locale or DEFAULT_LOCALE).startswith("id") else "at"
    return f"{format_day(local, locale)}, {at} {clock_in_zones(dt, tz, locale, also_zones)}"


def other_zones(tz: str, also_zones: Sequence[str], moment: datetime) -> list[ZoneInfo]:
    """The zones of ``also_zones`` whose abbreviation differs from the series' own (WIB once, not twice)."""
    seen = {zone_abbreviation(moment.astimezone(ZoneInfo(tz)))}
    zones = []
    for name in also_zones:
        zone = ZoneInfo(name)
        abbreviation = zone_abbreviation(moment.astimezone(zone))
        if abbreviation not in seen:
            seen.add(abbreviation)
            zones.append(zone)
    return zones


def clock_in_zones(dt: datetime, tz: str, locale: str = DEFAULT_LOCALE, also_zones: Sequence[str] = ()) -> str:
    """``09.00 WITA / 08.00 WIB``: the start in the series' zone, then in each other zone."""
    zones = [ZoneInfo(tz), *other_zones(tz, also_zones, dt)]
    return " / ".join(f"{format_clock(dt.astimezone(z), locale)} {zone_abbreviation(dt.astimezone(z), locale)}"
                      for z in zones)


def range_in_zones(start: datetime, end: datetime, tz: str, locale: str = DEFAULT_LOCALE,
                   also_zones: Sequence[str] = ()) -> str:
    """``09.00–10.30 WITA / 08.00–09.30 WIB``: start and end in the series' zone, then in each other zone."""
    zones = [ZoneInfo(tz), *other_zones(tz, also_zones, start)]
    return " / ".join(f"{format_clock(start.astimezone(z), locale)}–{format_clock(end.astimezone(z), locale)} "
                      f"{zone_abbreviation(start.astimezone(z), locale)}" for z in zones)


def format_day(local: datetime | date, locale: str = DEFAULT_LOCALE) -> str:
    """``Kamis, 14 Januari 2027``."""
    return format_date(local, "EEEE, d MMMM y", locale=locale or DEFAULT_LOCALE)


def format_clock(local: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """``09.00`` (Indonesian writes a dot between hours and minutes)."""
    pattern = "HH.mm" if (locale or DEFAULT_LOCALE).startswith("id") else "HH:mm"
    return format_time(local, pattern, locale=locale or DEFAULT_LOCALE)


def zone_abbreviation(local: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """WIB/WITA/WIT for Indonesia's zones, else babel's short name (CET, EST) or ``UTC+05.30``."""
    key = getattr(local.tzinfo, "key", "")
    if key in ZONE_ABBREVIATIONS:
        return ZONE_ABBREVIATIONS[key]
    if key in ("UTC", "Etc/UTC"):
        return "UTC"
    name = get_timezone_name(local, "short", locale=locale or DEFAULT_LOCALE) if key else ""
    if name and name[0].isalpha() and not name.startswith(("GMT", "UTC")):
        return name
    return utc_offset_name(local.utcoffset() or timedelta())


def utc_offset_name(offset: timedelta) -> str:
    """``UTC+8``, ``UTC+05.30``, ``UTC-3``."""
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" if not rest else f"UTC{sign}{hours:02d}.{rest:02d}"


def format_meeting_id(meeting_id: str) -> str:
    """Zoom's way of showing an id: ``123 4567 8901`` (11 digits), ``123 456 7890`` (10), ``123 456 789``."""
    digits = meeting_id.replace(" ", "")
    groups = {11: (3, 4, 4), 10: (3, 3, 4), 9: (3, 3, 3)}.get(len(digits))
    if not digits.isdigit() or groups is None:
        return meeting_id
    parts, at = [], 0
    for size in groups:
        parts.append(digits[at:at + size])
        at += size
    return " ".join(parts)


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines, CR, tabs) to one space, and trim."""
    return " ".join(text.split())


def nl2br(value: Any) -> Markup:
    """Jinja filter for HTML: escape the text, then keep its line breaks as ``<br>``."""
    lines = str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br>\n").join(escape(line) for line in lines)


# -- the context templates see --------------------------------------------------
def session_values(session: Session, locale: str, also_zones: Sequence[str] = ()) -> dict[str, Any]:
    """What templates know about a session: topic, people and the time in several shapes.

    ``also_zones`` (series.also_show_zones) adds the clock in other zones to ``when``,
    ``time_range`` and ``start_times``: ``09.00 WITA / 08.00 WIB``.
    """
    zone = ZoneInfo(session.timezone)
    start, end = session.start.astimezone(zone), session.end.astimezone(zone)
    abbreviation = zone_abbreviation(start, locale)
    return {
        "session_key": session.key, "topic": session.topic, "speaker": session.speaker,
        "audience": session.audience, "description": session.description,
        "recording_url": session.recording_url, "duration_minutes": session.duration_minutes,
        "date_text": format_day(start, locale), "weekday": format_date(start, "EEEE", locale=locale),
        "start_time": format_clock(start, locale),
        "end_time": format_clock(end, locale), "zone": abbreviation,
        "when": format_when(session.start, session.timezone, locale, also_zones),
        "time_range": range_in_zones(start, end, session.timezone, locale, also_zones),
        "start_times": clock_in_zones(start, session.timezone, locale, also_zones),
    }


def change_values(session: Session, previous: Session | None, locale: str,
                  also_zones: Sequence[str] = ()) -> dict[str, Any]:
    """``old_*`` values and ``*_changed`` flags for a change notice (flags are False otherwise)."""
    before = session_values(previous or session, locale, also_zones)
    now = session_values(session, locale, also_zones)
    return {
        "old_topic": before["topic"], "old_speaker": before["speaker"], "old_when": before["when"],
        "old_time_range": before["time_range"], "old_date_text": before["date_text"],
        "topic_changed": before["topic"] != now["topic"],
        "speaker_changed": before["speaker"] != now["speaker"],
        "time_changed": (before["when"], before["time_range"]) != (now["when"], now["time_range"]),
    }


def mail_context(kind: str, session: Session, meeting: MeetingInfo, series: SeriesInfo, recipient: Recipient,
                 previous: Session | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every variable a mail template may use (see README "Templates" for the list)."""
    locale = series.locale or DEFAULT_LOCALE
    context: dict[str, Any] = {
        "kind": kind, "series_title": series.title, "organizer": series.organizer,
        "contact": series.contact, "reply_to": series.reply_to, "unsubscribe_url": series.unsubscribe_url,
        "join_url": meeting.join_url, "meeting_id": format_meeting_id(meeting.meeting_id),
        "passcode": meeting.passcode, "recipient_name": clean_name(recipient.name),
        "recipient_email": recipient.email, "minutes": 0, "certificate": True,
        "certificate_number": "", "corrected": False,         "waiting_room": True, "registration_url": meeting.registration_url,
        # True when join_url is this person's own registrant link (it must not be forwarded)
        "personal_link": bool(meeting.registration_url) and meeting.join_url != meeting.registration_url,
        # alert mail (worker.run.alerts): "start" or "clear", and one item per problem
        "alert_event": "start", "alert_items": [],
        # mail.tone: "ramah" greets "Halo, Budi," and signs "Salam hangat,"; "resmi" greets
        # "Yth. Bapak/Ibu Budi," and signs "Hormat kami," (the wording is in the templates)
        "tone": tone_of(series),
    }
    zones = series_zones(series)
    context.update(session_values(session, locale, zones))
    context.update(change_values(session, previous, locale, zones))
    context.update(extra or {})
    return context


def tone_of(series: SeriesInfo) -> str:
    """``ramah`` or ``resmi``: the series' tone (anything else reads as the friendly default)."""
    tone = getattr(series, "tone", "ramah")
    return tone if tone in ("ramah", "resmi") else "ramah"


def series_zones(series: SeriesInfo) -> tuple[str, ...]:
    """The other zones the series' times are written in; names ZoneInfo does not know are left out."""
    zones = []
    for name in getattr(series, "also_zones", ()) or ():
        name = ZONE_NAMES.get(str(name).upper(), name)  # WIB, WITA, WIT as settings allow them
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError):  # settings refuse these; a hand-made SeriesInfo may not
            continue
        zones.append(name)
    return tuple(zones)


# -- WhatsApp messages (webinar-worker share) ---------------------------------------
WHATSAPP_TEMPLATES = ("whatsapp_pengumuman.txt.j2", "whatsapp_h-1.txt.j2", "whatsapp_hari-h.txt.j2",
                      "whatsapp_terima-kasih.txt.j2")  # the four moments, in the order they are posted
WHATSAPP_MARKS = str.maketrans({"*": "", "_": "", "~": "", "`": ""})  # WhatsApp's bold, italic, strike, code
DESCRIPTION_MAX = 300  # characters of the description kept in a WhatsApp announcement


def whatsapp_text(value: object, limit: int | None = None) -> str:
    """Staff text made safe inside a WhatsApp message: one line, none of WhatsApp's format characters, capped.

    WhatsApp has no escape for ``*`` or ``_``: one inside a topic would end the bold around
    it, so they are dropped; a line break would split the layout, so lines are joined.
    """
    text = one_line(clean_name(str(value or ""), 10_000).translate(WHATSAPP_MARKS))
    if limit and len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text


def whatsapp_context(session: Session, series: SeriesInfo, *, link: str, registration: bool,
                     meeting_id: str = "", passcode: str = "", min_minutes: int = 30,
                     certificate: bool = True) -> dict[str, Any]:
    """What the WhatsApp templates see: the session (staff text cleaned for WhatsApp) and the public link only."""
    locale = series.locale or DEFAULT_LOCALE
    values = session_values(session, locale, series_zones(series))
    context: dict[str, Any] = {
        "kind": "whatsapp", "series_title": whatsapp_text(series.title), "organizer": whatsapp_text(series.organizer),
        "contact": whatsapp_text(series.contact), "tone": tone_of(series),
        "link": one_line(link), "registration": bool(registration and link),
        # Without registration the meeting's own join link is public anyway; with it, the id alone
        # would let people skip the sign-up page, so it is not shown.
        "meeting_id": "" if registration else format_meeting_id(meeting_id),
        "passcode": "" if registration else one_line(passcode), "min_minutes": min_minutes,
        "certificate": certificate, "recording_url": one_line(session.recording_url),
    }
    for key in ("date_text", "weekday", "start_time", "end_time", "zone", "when", "time_range", "start_times"):
        context[key] = values[key]
    context.update(topic=whatsapp_text(session.topic), speaker=whatsapp_text(session.speaker),
                   audience=whatsapp_text(session.audience),
                   description=whatsapp_text(session.description, DESCRIPTION_MAX))
    return context


# -- sample data for `check` and `preview` --------------------------------------
SAMPLE_ALERT: dict[str, Any] = {  # an alert with every field filled, for the template check
    "alert_event": "start",
    "alert_items": [{"title": "Suntingan settings.yaml ditolak", "since": "Kam 14-01-2027 08.00 WITA",
                     "details": ["settings.yaml:12: series.title: wajib diisi"],
                     "todo": "Perbaiki baris yang disebut, lalu jalankan `webinar-worker check`."}],
}


def sample_series() -> SeriesInfo:
    """A series like the example settings, for renders that have no settings."""
    return SeriesInfo(series="webinar-kamis", title="Webinar Kamis Perpustakaan",
                      organizer="Dinas Perpustakaan dan Kearsipan Kota Makassar",
                      contact="WhatsApp 0811-4000-123 (Senin–Jumat, 08.00–15.00 WITA)", locale=DEFAULT_LOCALE,
                      timezone="Asia/Makassar", sender_name="Perpustakaan Kota Makassar",
                      sender_address="webinar@perpustakaan.example.go.id",
                      reply_to="layanan@perpustakaan.example.go.id",
                      unsubscribe_url="mailto:layanan@perpustakaan.example.go.id?subject=berhenti")


def sample_session(series: SeriesInfo | None = None) -> Session:
    """A Thursday session in the series' zone, with every field filled."""
    zone = (series or sample_series()).timezone
    day = date(2027, 1, 14)
    return Session(series=(series or sample_series()).series, date=day,
                   start=datetime.combine(day, time(9, 0), ZoneInfo(zone)), duration_minutes=90, timezone=zone,
                   topic="Membacakan Buku Cerita untuk Anak Usia Dini", speaker="Dr. Sari Wulandari, M.Pd.",
                   audience="Guru PAUD, orang tua, dan masyarakat umum",
                   description="Cara memilih buku yang sesuai usia anak.\nPraktik membaca nyaring bersama.",
                   groups=(), recording_url="https://example.org/rekaman/2027-01-14")


def sample_meeting() -> MeetingInfo:
    """A Zoom meeting with an 11-digit id and a passcode."""
    return MeetingInfo(meeting_id="85012345678", join_url="https://zoom.us/j/85012345678?pwd=contoh",
                       passcode="Baca2027", registration_url="https://zoom.us/meeting/register/contoh")


def sample_recipient() -> Recipient:
    """A named recipient."""
    return Recipient(email="contoh.peserta@example.org", name="Contoh Peserta", group="guru-paud")


def sample_previous(session: Session) -> Session:
    """The session as it was before a sample change: other topic, an hour earlier."""
    return replace(session, topic="Judul Lama Sesi Ini", start=session.start - timedelta(hours=1))


# -- the renderer ----------------------------------------------------------------
class Renderer:
    """Renders mails and event descriptions from one templates folder."""

    def __init__(self, template_dir: Path):
        template_dir = Path(template_dir)
        if not template_dir.is_dir():
            raise TemplateError(f"{template_dir}: templates folder not found")
        self.template_dir = template_dir  # where staff keep the templates
        self.env = ImmutableSandboxedEnvironment(  # edits are picked up on the next render (auto_reload)
            loader=jinja2.FileSystemLoader(str(template_dir), encoding="utf-8"),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), disabled_extensions=(),
                                                default_for_string=False, default=False),
            keep_trailing_newline=True)
        self.env.filters["nl2br"] = nl2br
        self._trees: dict[tuple[str, str], nodes.Template] = {}  # (name, source) -> syntax tree, read-only uses
        for name in REMOVED_GLOBALS:
            self.env.globals.pop(name, None)

    def render_mail(self, kind: str, session: Session, meeting: MeetingInfo, series: SeriesInfo,
                    recipient: Recipient, previous: Session | None = None, *,
                    extra: dict[str, Any] | None = None) -> RenderedMail:
        """Subject (one line), text and HTML of mail ``kind`` for one recipient."""
        if kind not in KINDS:
            raise TemplateError(f"unknown mail kind {kind!r} (expected one of {', '.join(KINDS)})")
        context = mail_context(kind, session, meeting, series, recipient, previous, extra)
        return RenderedMail(subject=one_line(self.render(f"{kind}.subject.txt.j2", context)),
                            text=self.render(f"{kind}.txt.j2", context).rstrip() + "\n",
                            html=self.render(f"{kind}.html.j2", context).rstrip() + "\n",
                            event_description=self.render(EVENT_DESCRIPTION, context).strip() + "\n")

    def render_event_description(self, session: Session, meeting: MeetingInfo, series: SeriesInfo) -> str:
        """The Google Calendar event description (no recipient: the event is shared)."""
        context = mail_context("event", session, meeting, series, Recipient(email=""))
        return self.render(EVENT_DESCRIPTION, context).strip() + "\n"

    def render(self, name: str, context: dict[str, Any]) -> str:
        """Render one template; any failure becomes a TemplateError naming the template and line."""
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"{self.shown(exc.name or name)}: template not found") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{self.shown(exc.name or name)}:{exc.lineno}: {exc.message}") from exc
        except Exception as exc:  # staff-edited templates can fail in any way; name where
            raise TemplateError(f"{self.where(exc, name)}: {exc}") from exc

    def check_templates(self, series: SeriesInfo | None = None) -> list[str]:
        """Render every template with sample data; one line per problem, naming template and line."""
        series = series or sample_series()
        session = sample_session(series)
        context_for = {kind: mail_context(kind, session, sample_meeting(), series, sample_recipient(),
                                          sample_previous(session) if kind == "change" else None,
                                          {"minutes": 75} if kind == "thankyou" else
                                          SAMPLE_ALERT if kind == "alert" else None)
                       for kind in KINDS}
        names = [(f"{kind}.{part}.j2", context_for[kind]) for kind in KINDS for part in MAIL_PARTS]
        names.append((EVENT_DESCRIPTION, mail_context("event", session, sample_meeting(), series,
                                                      Recipient(email=""))))
        meeting = sample_meeting()
        whatsapp = whatsapp_context(session, series, link=meeting.registration_url, registration=True)
        names += [(name, whatsapp) for name in WHATSAPP_TEMPLATES if (self.template_dir / name).is_file()]
        problems = []
        for name, context in names:
            problem = self.check_one(name, context)
            if problem and problem not in problems:  # a broken shared macro shows up once
                problems.append(problem)
        # Rendering only visits the branches the sample takes; a name in another branch
        # ({% if speaker_changed %}...) is checked against the variables the worker provides.
        known = {name: set(context) for name, context in names}
        shared = set().union(*known.values())
        partials = sorted(p.name for p in self.template_dir.glob("_*.j2"))
        for name in [n for n, _ in names] + partials:
            for problem in self.undeclared(name, known.get(name, shared)):
                where, _, what = problem.partition(": ")
                seen = any(p.startswith(where.rsplit(":", 1)[0] + ":") and p.endswith(what) for p in problems)
                if not seen:  # the render check may have named it already
                    problems.append(problem)
        return problems

    def unsafe_problems(self) -> list[str]:
        """``templates/_footer.txt.j2:3: ...`` for every unsafe use in every template of the folder, found statically."""
        problems: list[str] = []
        for path in sorted(self.template_dir.rglob("*.j2")):
            name = path.relative_to(self.template_dir).as_posix()
            try:
                tree = self.tree(name)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(f"{self.shown(name)}:{exc.lineno}: {exc.message}")
                continue
            except (jinja2.TemplateError, OSError, UnicodeDecodeError) as exc:
                problems.append(f"{self.shown(name)}: cannot be read ({exc})")
                continue
            problems.extend(f"{self.shown(name)}:{line}: {what}" for line, what in unsafe_uses(tree))
        return problems

    def undeclared(self, name: str, known: set[str]) -> list[str]:
        """``templates/x.j2:17: 'speker' is undefined`` for each variable no context provides, in any branch."""
        try:
            tree = self.tree(name)
        except (jinja2.TemplateError, OSError, UnicodeDecodeError):
            return []  # a missing or broken template is reported by the render check
        imported = {n.target for n in tree.find_all(nodes.Import)}  # `import ... as m` seen from blocks too
        imported |= {name if isinstance(name, str) else name[1] for n in tree.find_all(nodes.FromImport)
                     for name in n.names}
        missing = meta.find_undeclared_variables(tree) - known - set(self.env.globals) - imported
        lines = {}
        for node in tree.find_all(nodes.Name):
            if node.name in missing and node.ctx == "load":
                lines.setdefault(node.name, node.lineno)
        return [f"{self.shown(name)}:{lines.get(var, 0)}: '{var}' is undefined" for var in sorted(missing)]

    def tree(self, name: str) -> nodes.Template:
        """The syntax tree of template ``name`` as it is on disk now, parsed once for the static checks
        (``check`` reads every template twice: for unsafe uses and for undeclared names)."""
        source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        key = (name, source)
        if key not in self._trees:
            self._trees[key] = self.env.parse(source, name=name)
        return self._trees[key]

    def check_one(self, name: str, context: dict[str, Any]) -> str | None:
        """The problem with one template, or None when it renders and is not empty."""
        try:
            rendered = self.render(name, context)
        except TemplateError as exc:
            return str(exc)
        if not rendered.strip():
            return f"{self.shown(name)}: renders as empty text"
        return None

    def shown(self, name: str) -> str:
        """A template name as staff see it: ``templates/invitation.html.j2``."""
        return f"{self.template_dir.name}/{name}"

    def where(self, exc: BaseException, fallback: str) -> str:
        """``templates/x.html.j2:12``: the deepest template frame of the error's traceback."""
        root = self.template_dir.resolve()
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            path = Path(frame.filename)
            if path.suffix == ".j2" and path.resolve().is_relative_to(root):
                return f"{self.shown(path.resolve().relative_to(root).as_posix())}:{frame.lineno}"
        return self.shown(fallback)


def unsafe_uses(tree: nodes.Template) -> list[tuple[int, str]]:
    """(line, what) for each place a parsed template reaches for Python internals.

    Attributes and items named ``_...`` or in UNSAFE_ATTRIBUTES (``x.__class__``,
    ``x['__globals__']``, ``x|attr('mro')``) and the removed globals (``lipsum``, ...).
    Read from the syntax tree only: the template is never run.
    """
    found: list[tuple[int, str]] = []

    def unsafe(attr: object) -> bool:
        return isinstance(attr, str) and (attr.startswith("_") or attr in UNSAFE_ATTRIBUTES)

    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name, nodes.Test)):
        if isinstance(node, nodes.Getattr) and unsafe(node.attr):
            found.append((node.lineno, f"uses the attribute '{node.attr}', which templates may not touch"))
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and unsafe(node.arg.value):
            found.append((node.lineno, f"uses the item '{node.arg.value}', which templates may not touch"))
        elif (isinstance(node, nodes.Filter) and node.name in ("attr", "map", "selectattr", "rejectattr", "sort",
                                                                "groupby", "sum", "unique", "min", "max")
              and any(unsafe(v) for v in _const_strings(node))):
            found.append((node.lineno, f"passes an unsafe attribute name to the '{node.name}' filter"))
        elif isinstance(node, nodes.Name) and node.name in REMOVED_GLOBALS and node.ctx == "load":
            found.append((node.lineno, f"uses '{node.name}', which is not available in templates"))
    return sorted(set(found))


def _const_strings(node: nodes.Filter) -> list[str]:
    """The constant text arguments of a filter call (positional and keyword); dotted paths split."""
    values = [a.value for a in node.args if isinstance(a, nodes.Const)]
    values += [k.value.value for k in node.kwargs if isinstance(k.value, nodes.Const)]
    return [part for v in values if isinstance(v, str) for part in v.split(".")]
