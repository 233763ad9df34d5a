"""The settings as frozen dataclasses: what ``settings.yaml`` asks for, already checked.

Pure values (no YAML, no files): the planner and the mail layer read these; the loader in
:mod:`worker.config.settings` builds them. The defaults declared here are the only ones:
the loader takes every default it needs from these dataclasses (:func:`default_of`).
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import date, time
from pathlib import Path

from worker.core.model import Recipient


@dataclass(frozen=True)
class SkipDate:
    """A date inside the series' range on which no session is held (a public holiday)."""

    date: date  # the skipped date
    reason: str = ""  # shown in ``plan``


@dataclass(frozen=True)
class TopicEntry:
    """One dated entry of ``topics``: the session content and per-date overrides."""

    date: date  # session date; the session key
    topic: str  # title (<= 200 characters)
    speaker: str = ""  # speaker name(s)
    audience: str = ""  # who it is for
    description: str = ""  # longer text
    groups: tuple[str, ...] = ()  # recipient groups to invite; empty = everyone
    start_time: time | None = None  # overrides series.start_time
    duration_minutes: int | None = None  # overrides series.duration_minutes
    cancelled: bool = False  # True cancels the session
    recording_url: str = ""  # recording link for the follow-up mail
    line: int | None = None  # line of the entry in the file


@dataclass(frozen=True)
class SeriesSettings:
    """The rules of the weekly series."""

    id: str  # short id used in keys and markers, e.g. "webinar-kamis"
    title: str  # shown to people
    organizer: str = ""  # the library's name
    contact: str = ""  # contact line for mails
    weekday: int = 3  # 0 = Monday ... 3 = Thursday
    start_time: time = time(9, 0)  # usual local start
    duration_minutes: int = 90  # usual length
    timezone: str = "Asia/Makassar"  # IANA zone name
    locale: str = "id_ID"  # babel locale for dates
    first_date: date = date.min  # first session date (date.min: not given)
    last_date: date = date.min  # last session date (date.min: not given)
    skip_dates: tuple[SkipDate, ...] = ()  # holidays inside the range
    also_show_zones: tuple[str, ...] = ()  # other zones (IANA names) the time is shown in: "09.00 WITA / 08.00 WIB"


@dataclass(frozen=True)
class ZoomSettings:
    """Where Zoom is and how meetings are set up (credentials come from the environment)."""

    api_base_url: str = "https://api.zoom.us/v2"  # zoomgov: https://api.zoomgov.com/v2
    oauth_url: str = "https://zoom.us/oauth/token"  # zoomgov: https://zoomgov.com/oauth/token
    user_id: str = "me"  # host user id or email
    waiting_room: bool = True  # people wait until the host admits them
    join_before_host: bool = False  # nobody gets in before the host
    mute_upon_entry: bool = True  # everyone joins muted
    passcode_length: int = 8  # length of the generated passcode
    registration: bool = True  # register invitees on Zoom and send personal links (needs a licensed host)
    staff: tuple[str, ...] = ()  # addresses of staff: shown in attendance, not counted, no certificate
    meeting_settings: dict[str, object] = field(default_factory=dict)  # overrides of the explicit meeting settings


MEETING_SETTING_KINDS: dict[str, object] = {
    # zoom.meeting_settings keys: bool, a (low, high) range of whole numbers, or a tuple of words
    "auto_start_meeting_summary": bool, "auto_start_ai_companion_questions": bool, "question_and_answer": bool,
    "watermark": bool, "meeting_authentication": bool, "allow_multiple_devices": bool, "host_video": bool,
    "participant_video": bool, "who_will_receive_summary": (1, 4), "who_can_ask_questions": (1, 5),
    "auto_recording": ("none", "local", "cloud"),
}
"""What ``zoom.meeting_settings`` may override, and what each value must be."""


@dataclass(frozen=True)
class GoogleSettings:
    """Google Calendar and Sheets targets (the key file path may also come from the environment)."""

    calendar_id: str = ""  # shared calendar id
    spreadsheet_id: str = ""  # attendance spreadsheet id
    credentials_file: str = ""  # service-account key; GOOGLE_APPLICATION_CREDENTIALS otherwise
    api_endpoint: str = ""  # root URL override (emulator, private gateway); "" = Google
    subject: str = ""  # user to impersonate with domain-wide delegation; "" = none
    summary_tab: str = "Ringkasan"  # name of the season summary tab


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server (login comes from SMTP_USERNAME / SMTP_PASSWORD)."""

    host: str = ""  # "" means mail is not configured
    port: int = 587  # 587 STARTTLS, 465 SSL, 25 plain
    security: str = "starttls"  # starttls | ssl | none
    per_minute: int = 60  # at most this many messages a minute; 0 = no cap
    per_day: int = 0  # at most this many recipients in any 24 hours (Gmail 500, Workspace 2000); 0 = no cap
    timeout: float = 30.0  # seconds


@dataclass(frozen=True)
class RecipientColumns:
    """Header names staff wrote in ``mail.recipients.columns``; "" = recognise the usual Form headers."""

    email: str = ""  # e.g. "Alamat email"
    name: str = ""  # e.g. "Nama Lengkap (sesuai sertifikat)"
    group: str = ""  # e.g. "Kategori peserta"


@dataclass(frozen=True)
class RecipientSources:
    """Where the mailing list comes from; any mix is allowed."""

    inline: tuple[Recipient, ...] = ()  # addresses written in settings.yaml
    csv_files: tuple[Path, ...] = ()  # CSV files with an email column
    sheet_ranges: tuple[str, ...] = ()  # Google Sheet ranges (e.g. a Form's responses)
    unsubscribe_files: tuple[Path, ...] = ()  # addresses that must never get mail
    unsubscribe_sheet_ranges: tuple[str, ...] = ()  # same, kept in a sheet
    columns: RecipientColumns = field(default_factory=RecipientColumns)  # explicit header names (win over guessing)


@dataclass(frozen=True)
class MailSettings:
    """Invitations: who sends, when, and to whom."""

    sender_name: str = ""  # From display name
    sender_address: str = ""  # From address
    reply_to: str = ""  # Reply-To address
    unsubscribe_url: str = ""  # mailto: or https: link for List-Unsubscribe
    invitation_days_before: int = 7  # send invitations this many days before
    reminder_hours_before: int = 2  # send a reminder this many hours before
    batch_size: int = 100  # mails sent per connection per tick
    templates_dir: Path = Path("templates")  # Jinja2 templates
    smtp: SmtpSettings = field(default_factory=SmtpSettings)  # server
    recipients: RecipientSources = field(default_factory=RecipientSources)  # list sources
    tone: str = "ramah"  # "ramah" (friendly: "Halo, ...") or "resmi" (formal: "Yth. Bapak/Ibu ...", "Hormat kami,")


@dataclass(frozen=True)
class AttendanceSettings:
    """When to pull attendance after a session."""

    delay_minutes: int = 30  # wait this long after the end
    give_up_hours: int = 24  # stop waiting for the report after this long; record 0


@dataclass(frozen=True)
class FollowupSettings:
    """The thank-you mail after a session, with a PDF certificate of attendance."""

    enabled: bool = True  # send thank-you mails at all
    min_minutes: int = 30  # only to attendees who stayed at least this long
    certificate: bool = True  # attach a PDF "sertifikat"


@dataclass(frozen=True)
class SignatureSettings:
    """Who signs the certificates: the block at the bottom right of the page."""

    place: str = ""  # city written before the date, e.g. "Makassar"
    position: str = ""  # the official's position, e.g. "Kepala Dinas Perpustakaan"
    name: str = ""  # the official's name
    nip: str = ""  # civil-servant number (Nomor Induk Pegawai); "" = no NIP line
    image: Path | None = None  # a PNG/JPEG of the signature (and stamp); None = space to sign by hand


DEFAULT_NUMBER_FORMAT = "{seq:03d}/SERT/WEBINAR/{month_roman}/{year}"
DEFAULT_TRANSCRIPT_FORMAT = "{seq:03d}/TRANSKRIP/WEBINAR/{year}"


@dataclass(frozen=True)
class CertificateSettings:
    """The e-certificate: design, running numbers, verification, corrections and the season transcript."""

    number_format: str = DEFAULT_NUMBER_FORMAT  # running number; {seq}, {year}, {month}, {month_roman}, {day}, {series}
    transcript_number_format: str = DEFAULT_TRANSCRIPT_FORMAT  # the same, for season transcripts
    verify_url: str = ""  # URL in the QR code: {number} (URL-encoded) or {slug} (file-safe); "" = no QR
    minutes_per_jp: int = 45  # one "jam pelajaran" (JP) is this many minutes of the session
    logo: Path | None = None  # the library's logo (PNG/JPEG), top centre
    signature: SignatureSettings = field(default_factory=SignatureSettings)  # the signing official
    corrections: tuple[tuple[str, str], ...] = ()  # (lower-case e-mail, corrected name): re-issue with the same number
    revoked: tuple[str, ...] = ()  # certificate numbers shown as revoked ("dicabut")
    transcript_min_sessions: int = 3  # a season transcript for people with at least this many certificates
    verify_tab: str = "Verifikasi"  # spreadsheet tab listing every certificate (no e-mail)

    def correction_for(self, email: str) -> str:
        """The corrected name for ``email``, or ""."""
        wanted = email.strip().lower()
        return next((name for address, name in self.corrections if address == wanted), "")


@dataclass(frozen=True)
class WorkerSettings:
    """How the worker itself runs."""

    state_file: Path = Path("state.db")  # SQLite state
    tick_seconds: int = 60  # how often ``run`` reconciles
    planning_days: int = 14  # create meetings and events this many days ahead
    log_level: str = "INFO"  # DEBUG, INFO, WARNING, ERROR
    step_timeout_seconds: int = 120  # overall limit of one remote call of a step, retries included
    alert_to: tuple[str, ...] = ()  # operator addresses that get alert mail; empty = alerts only in the log
    alert_after_failures: int = 3  # a step failing this many times in a row raises an alert
    stale_after_ticks: int = 5  # no completed tick for this many intervals: the worker counts as stuck


TONES = ("ramah", "resmi")  # mail.tone values
TONE_ALIASES = {"friendly": "ramah", "formal": "resmi"}  # English words accepted for them
ZONE_NAMES = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}  # series.also_show_zones


def default_of(cls: type, name: str) -> object:
    """The default declared for field ``name`` of dataclass ``cls`` (KeyError when it has none)."""
    for f in fields(cls):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
            break
    raise KeyError(f"{cls.__name__}.{name} has no default")


@dataclass(frozen=True)
class Settings:
    """Everything ``settings.yaml`` says, checked."""

    path: Path  # the settings file
    series: SeriesSettings  # series rules
    topics: tuple[TopicEntry, ...]  # dated entries, in date order
    zoom: ZoomSettings  # Zoom
    google: GoogleSettings  # Google
    mail: MailSettings  # mail
    attendance: AttendanceSettings  # attendance
    worker: WorkerSettings  # worker
    followup: FollowupSettings = field(default_factory=FollowupSettings)  # thank-you mails
    certificate: CertificateSettings = field(default_factory=CertificateSettings)  # e-certificates

    def topic_for(self, day: date) -> TopicEntry | None:
        """The topic entry for ``day``, if any."""
        return next((t for t in self.topics if t.date == day), None)
