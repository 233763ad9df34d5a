"""Load and check ``settings.yaml`` into frozen dataclasses.

Every problem is collected (not only the first) and names the file, the line, the key
path and what was expected, because the people who edit this file are not programmers.
Secrets never live here: they come from the environment (see :mod:`worker.config.envfile`).
"""
from __future__ import annotations

import difflib
import re
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, UnknownLocaleError

from worker.config.textfile import TextRules, read_capped_text
from worker.config.yamlsource import Located, join_path, load_yaml
from worker.core.cleaning import email_problem, safe_link
from worker.core.model import Recipient
from worker.core.certnumber import number_format_issue
from worker.core.schema import (MEETING_SETTING_KINDS, AttendanceSettings, CertificateSettings, FollowupSettings, GoogleSettings,
                                MailSettings, RecipientColumns, RecipientSources, SeriesSettings, TONE_ALIASES, TONES, ZONE_NAMES, Settings, SignatureSettings, SkipDate, SmtpSettings,
                                TopicEntry, WorkerSettings, ZoomSettings, default_of)
from worker.errors import Problem, SettingsError
from worker.i18n import N_, Text

ZOOM_TOPIC_MAX = 200  # Zoom refuses longer meeting topics
WEEKDAYS = {  # English and Indonesian names -> Python weekday number
    "monday": 0, "senin": 0, "tuesday": 1, "selasa": 1, "wednesday": 2, "rabu": 2,
    "thursday": 3, "kamis": 3, "friday": 4, "jumat": 4, "jum'at": 4,
    "saturday": 5, "sabtu": 5, "sunday": 6, "minggu": 6, "ahad": 6,
}
WEEKDAY_NAMES = [N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
                 N_("Sunday")]  # English, translated where shown
NUMBER_RANGE = N_("expected a number from {low} to {high}, got {got}")  # for whole and decimal numbers alike
MAX_SETTINGS_BYTES = 1024 * 1024  # a settings file larger than this is refused unread (the shipped one is ~10 KiB)
MAX_PROBLEMS = 200  # problems listed for one file; the rest are counted
FIRST_YEAR, LAST_YEAR = 2000, 2100  # dates outside these years are typing mistakes (and overflow date arithmetic)


SETTINGS_RULES = TextRules(
    limit=MAX_SETTINGS_BYTES, expected=N_("the settings file (settings.yaml)"),
    unreadable_fix=N_("check the path and its permissions"),
    big_hint=N_("a settings file is a few KiB (is this the right file?)"),
    binary_hint=N_("it is a binary file, not YAML text (is this the right file?)"),
    encoding_fix=N_("save it as UTF-8 in your editor"))


def read_settings_text(path: Path) -> str:
    """The file's text: at most MAX_SETTINGS_BYTES, UTF-8 (a BOM is fine), no NUL bytes; else SettingsError."""
    return read_capped_text(path, SETTINGS_RULES)


def load_settings(path: str | Path) -> Settings:
    """Read and check the settings file; raise SettingsError listing every problem."""
    path = Path(path)
    return load_settings_text(read_settings_text(path), path)


def load_settings_text(text: str, path: str | Path) -> Settings:
    """Check settings ``text`` as if it were the file ``path`` (relative paths resolve against its folder)."""
    path = Path(path)
    name = path.name
    try:
        located = load_yaml(text, name)
        return _Checker(name, located, path.resolve().parent).settings(path)
    except (RecursionError, OverflowError, MemoryError, ValueError) as exc:
        # A safety net: the checks above should refuse such a file first, with its line.
        raise SettingsError([Problem(name, None, "", N_("cannot be checked ({error}); compare it with the shipped "
                                                        "settings.yaml"),
                                     {"error": f"{type(exc).__name__}: {exc}"})]) from None


class _Checker:
    """Walks the parsed document, collecting problems and building dataclasses."""

    def __init__(self, file_name: str, located: Located, base_dir: Path):
        self.file = file_name  # file name used in messages
        self.doc = located  # parsed document with line numbers
        self.base = base_dir  # relative paths are resolved against this
        self.problems: list[Problem] = list(located.problems)  # everything found so far, from the reader on
        self.dropped = 0  # problems found beyond MAX_PROBLEMS and not listed

    # -- reporting -------------------------------------------------------
    def problem(self, path: str, message: str, /, **params: object) -> None:
        """Record one problem at ``path``: ``message`` is an English template marked with ``N_``, filled from
        ``params`` when shown (past MAX_PROBLEMS, only count it: a broken file is not a flood)."""
        if len(self.problems) >= MAX_PROBLEMS:
            self.dropped += 1
            return
        self.problems.append(Problem(self.file, self.doc.line(path), path, message, params))

    def section(self, parent: dict, parent_path: str, key: str, allowed: tuple[str, ...],
                required: bool = False) -> dict:
        """The mapping under ``key``; unknown keys inside it are reported with a suggestion."""
        path = join_path(parent_path, key)
        value = parent.get(key)
        if value is None:
            if required:
                self.problem(parent_path or key, N_("the section '{key}' is missing"), key=key)
            return {}
        if not isinstance(value, dict):
            self.problem(path, N_("expected a section with keys ({keys}), got {got}"), keys=", ".join(allowed),
                         got=_show(value))
            return {}
        self.unknown_keys(value, path, allowed)
        return value

    def unknown_keys(self, mapping: dict, path: str, allowed: tuple[str, ...]) -> None:
        """Report keys of ``mapping`` that are not in ``allowed``."""
        for key in mapping:
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                if near:
                    self.problem(join_path(path, key), N_("unknown key '{key}'; did you mean '{near}'?"),
                                 key=key, near=near[0])
                else:
                    self.problem(join_path(path, key), N_("unknown key '{key}'; valid keys are: {keys}"),
                                 key=key, keys=", ".join(allowed))

    # -- typed getters ---------------------------------------------------
    def text(self, m: dict, path: str, key: str, default: str = "", required: bool = False,
             max_len: int | None = None) -> str:
        """A text value."""
        value = m.get(key)
        where = join_path(path, key)
        if value is None:
            if required:
                self.problem(path or where, N_("'{key}' is required"), key=key)
            return default
        if isinstance(value, (dict, list)):
            self.problem(where, N_("expected text, got {got}"), got=_show(value))
            return default
        result = str(value).strip() if not isinstance(value, bool) else str(value).lower()
        if required and not result:
            self.problem(where, N_("'{key}' must not be empty"), key=key)
        if max_len is not None and len(result) > max_len:
            self.problem(where, N_("is {length} characters long; Zoom allows at most {limit}"), length=len(result),
                         limit=max_len)
        return result

    def integer(self, m: dict, path: str, key: str, default: int, low: int, high: int) -> int:
        """A whole number within [low, high]."""
        value = m.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(join_path(path, key), NUMBER_RANGE, low=low, high=high, got=_show(value))
            return default
        return value

    def number(self, m: dict, path: str, key: str, default: float, low: float, high: float) -> float:
        """A number (whole or decimal) within [low, high]."""
        value = m.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            self.problem(join_path(path, key), NUMBER_RANGE, low=f"{low:g}", high=f"{high:g}", got=_show(value))
            return default
        return float(value)

    def flag(self, m: dict, path: str, key: str, default: bool) -> bool:
        """A yes/no value."""
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(join_path(path, key), N_("expected true or false, got {got}"), got=_show(value))
            return default
        return value

    def day(self, m: dict, path: str, key: str, required: bool = False) -> date | None:
        """A calendar date written YYYY-MM-DD."""
        value = m.get(key)
        if value is None:
            if required:
                self.problem(path, N_("'{key}' is required (a date such as 2027-01-14)"), key=key)
            return None
        return self.parse_day(value, join_path(path, key))

    def parse_day(self, value: object, where: str) -> date | None:
        """Parse one date value, reporting at ``where``."""
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            self.problem(where, N_("expected a date written YYYY-MM-DD (for example 2027-01-14), got {got}"),
                         got=_show(value))
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            self.problem(where, N_("{day} is not a date"), day=text)
            return None
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            self.problem(where, N_("{day} is outside the years {first} to {last}; check the year"), day=text,
                         first=FIRST_YEAR, last=LAST_YEAR)
            return None
        return day

    def clock_time(self, m: dict, path: str, key: str, default: time | None) -> time | None:
        """A local time written HH:MM (24-hour)."""
        value = m.get(key)
        if value is None:
            return default
        text = str(value).strip()
        match = re.fullmatch(r"(\d{1,2})[:.](\d{2})", text)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            self.problem(join_path(path, key), N_('expected a time written HH:MM such as "09:00", got {got}'),
                         got=_show(value))
            return default
        return time(int(match[1]), int(match[2]))

    def choice(self, m: dict, path: str, key: str, default: str, options: tuple[str, ...]) -> str:
        """One of a fixed set of words."""
        value = m.get(key)
        if value is None:
            return default
        text = str(value).strip().lower()
        if text not in options:
            self.problem(join_path(path, key), N_("expected one of {options}, got {got}"), options=", ".join(options),
                         got=_show(value))
            return default
        return text

    def text_list(self, m: dict, path: str, key: str) -> list[str]:
        """A list of text values (a single value is accepted as a list of one)."""
        value = m.get(key)
        if value is None:
            return []
        if isinstance(value, (str, int, float)):
            return [str(value).strip()]
        if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
            self.problem(join_path(path, key), N_("expected a list of text values, got {got}"), got=_show(value))
            return []
        return [str(v).strip() for v in value if v is not None]

    def path_value(self, value: str) -> Path:
        """A file path; relative paths are taken from the settings file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def email(self, value: str, where: str) -> None:
        """Report ``value`` when it is not an email address."""
        if value and email_problem(value) is not None:
            self.problem(where, N_("{value} is not an email address"), value=_show(value))

    def series_day(self, where: str, day: date, weekday: int, first: date | None = None,
                   last: date | None = None) -> bool:
        """True when ``day`` can be a session of the series; otherwise report why at ``where``.

        The range is only checked when both ends are known and in order (a reversed range
        is reported once, at series.last_date, not again at every date).
        """
        if weekday >= 0 and day.weekday() != weekday:
            self.problem(where, N_("{day} is a {actual}, not a {wanted} (series.weekday)"), day=day,
                         actual=Text(WEEKDAY_NAMES[day.weekday()]), wanted=Text(WEEKDAY_NAMES[weekday]))
            return False
        if first and last and first <= last and not first <= day <= last:
            self.problem(where, N_("{day} is outside the series ({first} to {last})"), day=day, first=first, last=last)
            return False
        return True

    # -- sections --------------------------------------------------------
    def settings(self, path: Path) -> Settings:
        """Check the whole document and build :class:`Settings`."""
        root = self.doc.value
        if not isinstance(root, dict):
            self.problems.append(Problem(self.file, 1, "", N_("expected sections series, topics, zoom, google, mail, "
                                                              "attendance, worker; got {got}"), {"got": _show(root)}))
            raise SettingsError(self.problems)
        self.unknown_keys(root, "", ("series", "topics", "zoom", "google", "mail", "attendance", "followup",
                                      "certificate", "worker"))
        series = self.series(root)
        topics = self.topics(root, series)
        settings = Settings(path=path, series=series, topics=topics, zoom=self.zoom(root),
                            google=self.google(root), mail=self.mail(root),
                            attendance=self.attendance(root), worker=self.worker(root),
                            followup=self.followup(root), certificate=self.certificate(root))
        if self.problems:
            self.problems.sort(key=lambda p: (p.line or 0))
            if self.dropped:
                self.problems.append(Problem(self.file, None, "", N_("... and {count} more problem(s) not listed; "
                                                                    "fix these first and check again"),
                                             {"count": self.dropped}))
            raise SettingsError(self.problems)
        return settings

    def series(self, root: dict) -> SeriesSettings:
        """The ``series`` section."""
        p = "series"
        m = self.section(root, "", p, ("id", "title", "organizer", "contact", "weekday", "start_time",
                                      "duration_minutes", "timezone", "locale", "first_date",
                                      "last_date", "skip_dates", "also_show_zones"), required=True)
        d = {f: default_of(SeriesSettings, f) for f in ("weekday", "start_time", "duration_minutes", "timezone",
                                                        "locale", "organizer", "contact")}
        series_id = self.text(m, p, "id", required=True)
        if series_id and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", series_id):
            self.problem(f"{p}.id", N_("expected lower-case letters, digits and dashes (like webinar-kamis), "
                                       "got {got}"),
                         got=_show(series_id))
        weekday_text = self.text(m, p, "weekday", WEEKDAY_NAMES[d["weekday"]]).lower()
        weekday = WEEKDAYS.get(weekday_text)
        if weekday is None:
            self.problem(f"{p}.weekday", N_("expected a day name such as thursday or kamis, got {got}"),
                         got=_show(weekday_text))
            weekday = -1  # unknown: dates are not checked against it (one problem, not one per date)
        zone = self.text(m, p, "timezone", d["timezone"])
        if not _valid_zone(zone):
            near = difflib.get_close_matches(zone, sorted(available_timezones()), n=1)
            if near:
                self.problem(f"{p}.timezone", N_("{zone} is not a known time zone (expected a name like "
                                                 "Asia/Makassar); did you mean '{near}'?"),
                             zone=_show(zone), near=near[0])
            else:
                self.problem(f"{p}.timezone", N_("{zone} is not a known time zone (expected a name like "
                                                 "Asia/Makassar)"),
                             zone=_show(zone))
            zone = "UTC"
        first = self.day(m, p, "first_date", required=True)
        last = self.day(m, p, "last_date", required=True)
        if first and last and last < first:
            self.problem(f"{p}.last_date", N_("{last} is before series.first_date {first}"), last=last, first=first)
        for key, value in (("first_date", first), ("last_date", last)):
            if value:
                self.series_day(f"{p}.{key}", value, weekday)
        return SeriesSettings(
            id=series_id, title=self.text(m, p, "title", required=True),
            organizer=self.text(m, p, "organizer", d["organizer"]), contact=self.text(m, p, "contact", d["contact"]),
            weekday=weekday, start_time=self.clock_time(m, p, "start_time", d["start_time"]),
            duration_minutes=self.integer(m, p, "duration_minutes", d["duration_minutes"], 5, 24 * 60),
            timezone=zone, locale=self.locale(m, p, d["locale"]),
            first_date=first or date.min, last_date=last or date.min,
            skip_dates=self.skip_dates(m, p, weekday, first, last), also_show_zones=self.also_show_zones(m, p))

    def also_show_zones(self, m: dict, p: str) -> tuple[str, ...]:
        """``series.also_show_zones``: WIB, WITA, WIT or IANA zone names, kept as IANA names."""
        zones: list[str] = []
        for index, value in enumerate(self.text_list(m, p, "also_show_zones")):
            zone = ZONE_NAMES.get(value.upper(), value)
            if not _valid_zone(zone):
                self.problem(join_path(join_path(p, "also_show_zones"), index),
                             f"{_show(value)} is not a time zone; expected WIB, WITA, WIT or a name like Asia/Jakarta")
            elif zone not in zones:
                zones.append(zone)
        return tuple(zones)

    def locale(self, m: dict, p: str, default: str) -> str:
        """``series.locale``: a locale Babel knows (dates and weekdays in mails are written in it)."""
        value = self.text(m, p, "locale", default)
        try:
            Locale.parse(value)
        except (ValueError, TypeError, UnknownLocaleError):
            self.problem(join_path(p, "locale"), N_("{value} is not a known locale; expected a code such as id_ID "
                                                    "(Indonesian) or en_US"), value=_show(value))
            return default
        return value

    def skip_dates(self, m: dict, p: str, weekday: int, first: date | None,
                   last: date | None) -> tuple[SkipDate, ...]:
        """``series.skip_dates``: plain dates or {date, reason} entries, each a date of the series."""
        raw = m.get("skip_dates") or []
        where = f"{p}.skip_dates"
        if not isinstance(raw, list):
            self.problem(where, N_("expected a list of dates, got {got}"), got=_show(raw))
            return ()
        result: list[SkipDate] = []
        seen: dict[date, str] = {}  # date -> the item path that first listed it
        for index, item in enumerate(raw):
            ipath = join_path(where, index)
            reason = ""
            if isinstance(item, dict):
                self.unknown_keys(item, ipath, ("date", "reason"))
                reason = self.text(item, ipath, "reason")
                day = self.day(item, ipath, "date", required=True)
                dpath = join_path(ipath, "date")
            else:
                day = self.parse_day(item, ipath)
                dpath = ipath
            if day is None:
                continue
            if day in seen:
                self.problem(dpath, N_("{day} already appears at line {line}; list each date once"), day=day,
                             line=self.doc.line(seen[day]))
                continue
            seen[day] = ipath
            self.series_day(dpath, day, weekday, first, last)
            result.append(SkipDate(day, reason))
        return tuple(result)

    def topics(self, root: dict, series: SeriesSettings) -> tuple[TopicEntry, ...]:
        """The ``topics`` list: one entry per session date."""
        raw = root.get("topics")
        if raw is None:
            self.problem("topics", N_("the section 'topics' is missing (one entry per session date)"))
            return ()
        if not isinstance(raw, list):
            self.problem("topics", N_("expected a list of sessions, each starting with '- date:', got {got}"),
                         got=_show(raw))
            return ()
        allowed = ("date", "topic", "speaker", "audience", "description", "groups", "start_time",
                   "duration_minutes", "cancelled", "recording_url")
        entries: list[TopicEntry] = []
        seen: dict[date, str] = {}
        skipped = {s.date: s for s in series.skip_dates}
        # date.min stands for a first or last date that was missing or wrong (already reported)
        first = series.first_date if series.first_date != date.min else None
        last = series.last_date if series.last_date != date.min else None
        for index, item in enumerate(raw):
            path = join_path("topics", index)
            if not isinstance(item, dict):
                self.problem(path, N_("expected an entry with keys date, topic, speaker, ..., got {got}"),
                             got=_show(item))
                continue
            self.unknown_keys(item, path, allowed)
            day = self.day(item, path, "date", required=True)
            entry = TopicEntry(
                date=day or date.min,
                topic=self.text(item, path, "topic", required=True, max_len=ZOOM_TOPIC_MAX),
                speaker=self.text(item, path, "speaker"), audience=self.text(item, path, "audience"),
                description=self.text(item, path, "description"),
                groups=tuple(self.text_list(item, path, "groups")),
                start_time=self.clock_time(item, path, "start_time", None),
                duration_minutes=self.integer(item, path, "duration_minutes", 0, 5, 24 * 60) or None,
                cancelled=self.flag(item, path, "cancelled", default_of(TopicEntry, "cancelled")),
                recording_url=self.url(item, path, "recording_url", strip=False),
                line=self.doc.line(path))
            if day is None:
                continue
            dpath = f"{path}.date"
            if day in seen:
                self.problem(dpath, N_("{day} already appears at line {line}; each date may appear once"), day=day,
                             line=seen[day])
                continue
            seen[day] = self.doc.line(path)
            if self.series_day(dpath, day, series.weekday, first, last) and day in skipped:
                # the planner would hold the session anyway, against what skip_dates says
                self.problem(dpath, N_("{day} is listed in series.skip_dates; remove it there or here"), day=day)
            entries.append(entry)
        return tuple(sorted(entries, key=lambda e: e.date))

    def zoom(self, root: dict) -> ZoomSettings:
        """The ``zoom`` section."""
        p = "zoom"
        m = self.section(root, "", p, ("api_base_url", "oauth_url", "user_id", "waiting_room",
                                      "join_before_host", "mute_upon_entry", "passcode_length", "registration",
                                      "staff", "meeting_settings"))
        d = ZoomSettings()
        staff = [e.lower() for e in self.text_list(m, p, "staff")]
        for index, address in enumerate(staff):
            self.email(address, f"{p}.staff[{index}]")
        return ZoomSettings(
            api_base_url=self.url(m, p, "api_base_url", d.api_base_url),
            oauth_url=self.url(m, p, "oauth_url", d.oauth_url),
            user_id=self.text(m, p, "user_id", d.user_id),
            waiting_room=self.flag(m, p, "waiting_room", d.waiting_room),
            join_before_host=self.flag(m, p, "join_before_host", d.join_before_host),
            mute_upon_entry=self.flag(m, p, "mute_upon_entry", d.mute_upon_entry),
            passcode_length=self.integer(m, p, "passcode_length", d.passcode_length, 6, 10),
            registration=self.flag(m, p, "registration", d.registration),
            staff=tuple(staff), meeting_settings=self.meeting_settings(m, p))

    def meeting_settings(self, m: dict, p: str) -> dict[str, object]:
        """``zoom.meeting_settings``: overrides of the Zoom settings the worker always sends."""
        section = self.section(m, p, "meeting_settings", tuple(MEETING_SETTING_KINDS))
        path = join_path(p, "meeting_settings")
        result: dict[str, object] = {}
        for key, kind in MEETING_SETTING_KINDS.items():
            if key not in section:
                continue
            if kind is bool:
                value = self.flag(section, path, key, False)
                result[key] = {"enable": value} if key == "question_and_answer" else value
            elif isinstance(kind, tuple) and isinstance(kind[0], int):
                result[key] = self.integer(section, path, key, kind[0], kind[0], kind[1])
            else:
                result[key] = self.choice(section, path, key, kind[0], kind)  # type: ignore[arg-type]
        return result

    def url(self, m: dict, p: str, key: str, default: str = "", schemes: tuple[str, ...] = ("http", "https"),
            strip: bool = True) -> str:
        """A link using one of ``schemes`` (never ``javascript:`` or ``data:``), with no spaces or line breaks."""
        value = self.text(m, p, key, default)
        if value and not safe_link(value, schemes):
            wanted = [f"{s}:" if s == "mailto" else f"{s}://" for s in reversed(schemes)]
            if len(wanted) > 1:
                self.problem(join_path(p, key), N_("expected a link starting with {schemes} or {last}, got {got}"),
                             schemes=", ".join(wanted[:-1]), last=wanted[-1], got=_show(value))
            else:
                self.problem(join_path(p, key), N_("expected a link starting with {last}, got {got}"),
                             last=wanted[-1], got=_show(value))
            return default
        return value.rstrip("/") if strip else value

    def google(self, root: dict) -> GoogleSettings:
        """The ``google`` section."""
        p = "google"
        m = self.section(root, "", p, ("calendar_id", "spreadsheet_id", "credentials_file",
                                      "api_endpoint", "subject", "summary_tab"))
        d = GoogleSettings()
        endpoint = self.url(m, p, "api_endpoint", d.api_endpoint)
        return GoogleSettings(
            calendar_id=self.text(m, p, "calendar_id", d.calendar_id),
            spreadsheet_id=self.text(m, p, "spreadsheet_id", d.spreadsheet_id),
            credentials_file=str(self.path_value(c)) if (c := self.text(m, p, "credentials_file")) else "",
            api_endpoint=endpoint + "/" if endpoint else "",
            subject=self.text(m, p, "subject", d.subject),
            summary_tab=self.text(m, p, "summary_tab", d.summary_tab) or d.summary_tab)

    def mail(self, root: dict) -> MailSettings:
        """The ``mail`` section."""
        p = "mail"
        m = self.section(root, "", p, ("sender_name", "sender_address", "reply_to", "unsubscribe_url",
                                      "invitation_days_before", "reminder_hours_before", "batch_size",
                                      "templates_dir", "smtp", "recipients", "tone"))
        d = MailSettings()
        sender = self.text(m, p, "sender_address", d.sender_address)
        self.email(sender, f"{p}.sender_address")
        reply_to = self.text(m, p, "reply_to")
        self.email(reply_to, f"{p}.reply_to")
        unsub = self.url(m, p, "unsubscribe_url", d.unsubscribe_url, schemes=("mailto", "http", "https"), strip=False)
        templates = self.text(m, p, "templates_dir", str(d.templates_dir))
        return MailSettings(
            sender_name=self.text(m, p, "sender_name", d.sender_name), sender_address=sender, reply_to=reply_to,
            unsubscribe_url=unsub,
            invitation_days_before=self.integer(m, p, "invitation_days_before", d.invitation_days_before, 0, 60),
            reminder_hours_before=self.integer(m, p, "reminder_hours_before", d.reminder_hours_before, 0, 72),
            batch_size=self.integer(m, p, "batch_size", d.batch_size, 1, 2000),
            templates_dir=self.path_value(templates),
            smtp=self.smtp(m, p), recipients=self.recipients(m, p), tone=self.tone(m, p, d.tone))

    def tone(self, m: dict, p: str, default: str) -> str:
        """``mail.tone``: ramah or resmi (friendly and formal are accepted for them)."""
        value = m.get("tone")
        word = TONE_ALIASES.get(str(value).strip().lower(), str(value).strip().lower()) if value is not None else default
        if word not in TONES:
            self.problem(join_path(p, "tone"), f"expected ramah (friendly) or resmi (formal), got {_show(value)}")
            return default
        return word

    def smtp(self, parent: dict, parent_path: str) -> SmtpSettings:
        """``mail.smtp``."""
        p = f"{parent_path}.smtp"
        m = self.section(parent, parent_path, "smtp", ("host", "port", "security", "per_minute", "per_day", "timeout"))
        d = SmtpSettings()
        return SmtpSettings(
            host=self.text(m, p, "host", d.host), port=self.integer(m, p, "port", d.port, 1, 65535),
            security=self.choice(m, p, "security", d.security, ("starttls", "ssl", "none")),
            per_minute=self.integer(m, p, "per_minute", d.per_minute, 0, 10000),
            per_day=self.integer(m, p, "per_day", d.per_day, 0, 1_000_000),
            timeout=self.number(m, p, "timeout", d.timeout, 1, 600))

    def recipients(self, parent: dict, parent_path: str) -> RecipientSources:
        """``mail.recipients``: inline addresses, CSV files, sheet ranges and unsubscribe lists."""
        p = f"{parent_path}.recipients"
        m = self.section(parent, parent_path, "recipients", ("inline", "csv_files", "sheet_ranges",
                                                            "unsubscribe_files", "unsubscribe_sheet_ranges", "columns"))
        inline = []
        raw = m.get("inline") or []
        if not isinstance(raw, list):
            self.problem(f"{p}.inline", N_("expected a list of addresses, got {got}"), got=_show(raw))
            raw = []
        for index, item in enumerate(raw):
            ipath = join_path(f"{p}.inline", index)
            if isinstance(item, dict):
                self.unknown_keys(item, ipath, ("email", "name", "group"))
                address = self.text(item, ipath, "email", required=True)
                name, group = self.text(item, ipath, "name"), self.text(item, ipath, "group")
            else:
                address, name, group = str(item).strip(), "", ""
            self.email(address, ipath)
            if address:
                inline.append(Recipient(address.lower(), name, group))
        return RecipientSources(
            inline=tuple(inline),
            csv_files=tuple(self.path_value(v) for v in self.text_list(m, p, "csv_files")),
            sheet_ranges=tuple(self.text_list(m, p, "sheet_ranges")),
            unsubscribe_files=tuple(self.path_value(v) for v in self.text_list(m, p, "unsubscribe_files")),
            unsubscribe_sheet_ranges=tuple(self.text_list(m, p, "unsubscribe_sheet_ranges")),
            columns=self.recipient_columns(m, p))

    def recipient_columns(self, parent: dict, parent_path: str) -> RecipientColumns:
        """``mail.recipients.columns``: the header text of the email, name and group columns."""
        p = f"{parent_path}.columns"
        m = self.section(parent, parent_path, "columns", ("email", "name", "group"))
        return RecipientColumns(email=self.text(m, p, "email"), name=self.text(m, p, "name"),
                                group=self.text(m, p, "group"))

    def attendance(self, root: dict) -> AttendanceSettings:
        """The ``attendance`` section."""
        p = "attendance"
        m = self.section(root, "", p, ("delay_minutes", "give_up_hours"))
        d = AttendanceSettings()
        return AttendanceSettings(delay_minutes=self.integer(m, p, "delay_minutes", d.delay_minutes, 0, 24 * 60),
                                  give_up_hours=self.integer(m, p, "give_up_hours", d.give_up_hours, 1, 24 * 14))

    def followup(self, root: dict) -> FollowupSettings:
        """The ``followup`` section."""
        p = "followup"
        m = self.section(root, "", p, ("enabled", "min_minutes", "certificate"))
        d = FollowupSettings()
        return FollowupSettings(enabled=self.flag(m, p, "enabled", d.enabled),
                                min_minutes=self.integer(m, p, "min_minutes", d.min_minutes, 0, 24 * 60),
                                certificate=self.flag(m, p, "certificate", d.certificate))

    def certificate(self, root: dict) -> CertificateSettings:
        """The ``certificate`` section: design, numbering, verification, corrections, transcript."""
        p = "certificate"
        m = self.section(root, "", p, ("number_format", "transcript_number_format", "verify_url", "minutes_per_jp",
                                      "logo", "signature", "corrections", "revoked", "transcript_min_sessions",
                                      "verify_tab"))
        d = CertificateSettings()
        formats = {}
        for key, default in (("number_format", d.number_format),
                             ("transcript_number_format", d.transcript_number_format)):
            formats[key] = self.text(m, p, key, default) or default
            if issue := number_format_issue(formats[key]):
                self.problem(f"{p}.{key}", issue[0], **issue[1])
        verify_url = self.text(m, p, "verify_url")
        if verify_url and (not re.match(r"^https?://[^\s/]+", verify_url)
                           or ("{number}" not in verify_url and "{slug}" not in verify_url)):
            self.problem(f"{p}.verify_url", N_("expected a URL starting with https:// that contains {{number}} or "
                                               "{{slug}}, got {got}"), got=_show(verify_url))
        logo = self.text(m, p, "logo")
        return CertificateSettings(
            number_format=formats["number_format"], transcript_number_format=formats["transcript_number_format"],
            verify_url=verify_url, minutes_per_jp=self.integer(m, p, "minutes_per_jp", 45, 5, 240),
            logo=self.image_path(logo, f"{p}.logo") if logo else None, signature=self.signature(m, p),
            corrections=self.corrections(m, p), revoked=tuple(self.text_list(m, p, "revoked")),
            transcript_min_sessions=self.integer(m, p, "transcript_min_sessions", 3, 1, 100),
            verify_tab=self.text(m, p, "verify_tab", "Verifikasi") or "Verifikasi")

    def image_path(self, value: str, where: str) -> Path:
        """A PNG or JPEG file that must exist."""
        path = self.path_value(value)
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            self.problem(where, N_("expected a .png or .jpg image, got {got}"), got=_show(value))
        elif not path.is_file():
            self.problem(where, N_("image file {path} not found"), path=path)
        return path

    def signature(self, parent: dict, parent_path: str) -> SignatureSettings:
        """``certificate.signature``: place, position, name, NIP and an optional signature image."""
        p = f"{parent_path}.signature"
        m = self.section(parent, parent_path, "signature", ("place", "position", "name", "nip", "image"))
        nip = self.text(m, p, "nip")
        if nip and not re.fullmatch(r"[0-9 ]{8,25}", nip):
            self.problem(f"{p}.nip", N_("expected the NIP as digits (spaces allowed), got {got}"), got=_show(nip))
        image = self.text(m, p, "image")
        return SignatureSettings(place=self.text(m, p, "place"), position=self.text(m, p, "position"),
                                 name=self.text(m, p, "name"), nip=nip,
                                 image=self.image_path(image, f"{p}.image") if image else None)

    def corrections(self, parent: dict, parent_path: str) -> tuple[tuple[str, str], ...]:
        """``certificate.corrections``: e-mail -> the name as it should be printed."""
        p = f"{parent_path}.corrections"
        raw = parent.get("corrections") or {}
        if not isinstance(raw, dict):
            self.problem(p, N_('expected entries written email: "Nama Benar", got {got}'), got=_show(raw))
            return ()
        result: dict[str, str] = {}
        for address, name in raw.items():
            where = join_path(p, str(address))
            email = str(address).strip().lower()
            self.email(email, where)
            text = "" if name is None or isinstance(name, (dict, list, bool)) else " ".join(str(name).split())
            if not text or len(text) > 120:
                self.problem(where, N_("expected the corrected name (1 to 120 characters), got {got}"), got=_show(name))
                continue
            result[email] = text
        return tuple(sorted(result.items()))

    def worker(self, root: dict) -> WorkerSettings:
        """The ``worker`` section."""
        p = "worker"
        m = self.section(root, "", p, ("state_file", "tick_seconds", "planning_days", "log_level",
                                          "step_timeout_seconds", "alert_to", "alert_after_failures",
                                          "stale_after_ticks"))
        d = WorkerSettings()
        alert_to = [e.lower() for e in self.text_list(m, p, "alert_to")]
        for index, address in enumerate(alert_to):
            self.email(address, f"{p}.alert_to[{index}]")
        return WorkerSettings(
            state_file=self.path_value(self.text(m, p, "state_file", str(d.state_file)) or str(d.state_file)),
            tick_seconds=self.integer(m, p, "tick_seconds", d.tick_seconds, 1, 3600),
            planning_days=self.integer(m, p, "planning_days", d.planning_days, 1, 90),
            log_level=self.choice(m, p, "log_level", d.log_level.lower(), ("debug", "info", "warning", "error")).upper(),
            step_timeout_seconds=self.integer(m, p, "step_timeout_seconds", d.step_timeout_seconds, 1, 3600),
            alert_to=tuple(alert_to),
            alert_after_failures=self.integer(m, p, "alert_after_failures", d.alert_after_failures, 1, 100),
            stale_after_ticks=self.integer(m, p, "stale_after_ticks", d.stale_after_ticks, 2, 1000))


def _valid_zone(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _show(value: object) -> str:
    if isinstance(value, str):
        value = value if len(value) <= 80 else value[:80] + "…"
        return repr(value) if not value.isprintable() else f'"{value}"'
    if isinstance(value, dict):
        return Text(N_("a section"))
    if isinstance(value, list):
        return Text(N_("a list"))
    if value is None:
        return Text(N_("nothing"))
    return str(value).lower() if isinstance(value, bool) else str(value)
