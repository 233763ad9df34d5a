"""Benchmark (issue 18): remote calls over an 8-session season against the issue's minimum.

The season runs the real worker (runner, engine, clients) in this process against the Zoom and
Google emulators and a real SMTP server, on a simulated clock, one tick an hour: 8 Thursday
sessions, 7 held (P people join each), 1 edited after the invitations went out (topic and
time), 1 cancelled after the invitations went out. Every request the emulators receive is
counted by route; SMTP is not counted (it is not a metered API).

The minimum, as the issue defines it, is computed from the same run's numbers:
- per session made: 1 meeting create and 1 event insert;
- per held session: 1 instance lookup, ceil(P / 300) participant pages and at most 2 sheet
  writes for its sync;
- per edit: 1 meeting patch and 1 event patch; per cancellation: 1 meeting delete and 1 event delete;
- tokens: at most 1 an hour per service, i.e. one per simulated hour in which the minimal calls
  above reached that service (both clients' token clocks run on the simulated clock here, so a
  token lives one simulated hour, as in production).

Run: python bench/bench_calls.py
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integrations.sandbox.google_server import GoogleEmulator  # noqa: E402
from integrations.sandbox.smtp_server import SandboxSmtpServer  # noqa: E402
from integrations.sandbox.zoom_server import ZoomEmulator  # noqa: E402
from worker.config.envfile import Secrets  # noqa: E402
from worker.config.settings import load_settings  # noqa: E402
from worker.core.clock import FixedClock  # noqa: E402
from worker.core.model import meeting_marker  # noqa: E402
from worker.run.runner import Runner  # noqa: E402
from worker.run.wiring import build_engine, build_integrations  # noqa: E402
from worker.store.state import StateStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WITA = ZoneInfo("Asia/Makassar")
UTC = timezone.utc
CALENDAR_ID = "webinar.calls@group.calendar.google.com"
SPREADSHEET_ID = "calls-kehadiran"
PAGE = 300  # Zoom's participant page size
FORM_TAB = "Jawaban Formulir 1"  # where a Google Form writes its answers
ZOOM_MINIMAL = ("create_meeting", "patch_meeting", "delete_meeting", "instances", "report_participants",
                "batch_registrants", "list_registrants")
REGISTER_BATCH = 30  # Zoom registers at most 30 people a call
GOOGLE_MINIMAL = ("events.insert", "events.patch", "events.delete", "spreadsheets.batchUpdate", "values.batchUpdate")

SETTINGS = """\
series:
  id: {series}
  title: Webinar Kamis {series}
  organizer: Perpustakaan Kota
  contact: "WA 0811"
  weekday: kamis
  start_time: "09:00"
  duration_minutes: 90
  timezone: Asia/Makassar
  first_date: {first}
  last_date: {last}
topics:
{topics}zoom:
  api_base_url: {zoom_api}
  oauth_url: {zoom_oauth}
google:
  calendar_id: {calendar_id}
  spreadsheet_id: {spreadsheet_id}
  summary_tab: {summary_tab}
  credentials_file: {key_file}
  api_endpoint: {google_root}
mail:
  sender_name: Perpustakaan
  sender_address: webinar@perpustakaan.example
  invitation_days_before: 7
  reminder_hours_before: 2
  templates_dir: {templates}
  smtp:
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    per_minute: 0
  recipients:
{people}
attendance:
  delay_minutes: 30
  give_up_hours: 24
followup:
  min_minutes: 30
worker:
  state_file: {state}
  planning_days: 14
"""


@dataclass
class Series:
    """One series of the season: its settings file, its dates and what staff do to it."""

    name: str  # series id
    folder: Path  # settings.yaml lives here
    dates: list[date]  # the Thursdays
    edit: date | None = None  # topic and time edited after the invitations
    cancel: date | None = None  # cancelled after the invitations
    edited: bool = False  # the edit is in the settings file
    cancelled: bool = False  # the cancellation is in the settings file

    @property
    def settings_path(self) -> Path:
        """The series' settings file."""
        return self.folder / f"{self.name}.yaml"


@dataclass
class SeasonCalls:
    """What a season run counted."""

    zoom: Counter = field(default_factory=Counter)  # route -> requests
    google: Counter = field(default_factory=Counter)  # route -> requests
    zoom_hours: set = field(default_factory=set)  # (series, simulated hour) in which a minimal Zoom call was made
    google_hours: set = field(default_factory=set)  # same for Google
    held: int = 0  # sessions held (attendance fetched)
    made: int = 0  # sessions whose meeting was made
    edits: int = 0  # sessions edited
    cancels: int = 0  # sessions cancelled
    participants: list[int] = field(default_factory=list)  # P per held session
    ticks: int = 0  # ticks run
    idle_tick_calls: int = -1  # calls made by a tick with nothing due (measured after the season)
    sessions: int = 0  # sessions in the season (all series)
    registered: int = 0  # sessions whose invitees were registered on Zoom (invitation window reached)
    people: int = 0  # invitees per session
    range_reads: list = field(default_factory=list)  # ticks that read a sheet range (recipients from a Form)

    @property
    def product(self) -> int:
        """Every counted request."""
        return sum(self.zoom.values()) + sum(self.google.values())

    def minimum(self) -> Counter:
        """The issue's minimum, by kind, from this run's numbers."""
        want: Counter = Counter()
        want["zoom create_meeting"] = self.made
        want["zoom patch_meeting"] = self.edits
        want["zoom delete_meeting"] = self.cancels
        want["zoom instances"] = self.held
        want["zoom report_participants"] = sum(max(1, math.ceil(p / PAGE)) for p in self.participants)
        # Registration (on by default; not in the list, which predates it): ceil(N/30) batch calls per
        # session invited, and one registrant list per held session (people who registered on Zoom's page).
        want["zoom batch_registrants"] = self.registered * math.ceil(self.people / REGISTER_BATCH)
        want["zoom list_registrants"] = self.held
        want["zoom token"] = len(self.zoom_hours)
        want["google events.insert"] = self.made
        want["google events.patch"] = self.edits
        want["google events.delete"] = self.cancels
        want["google sheet writes"] = 2 * self.held
        want["google token"] = len(self.google_hours)
        return +want

    def by_kind(self) -> Counter:
        """The product's calls by kind, named as in :meth:`minimum` (Sheets writes as one kind)."""
        got: Counter = Counter({f"zoom {k}": v for k, v in self.zoom.items()})
        for route, n in self.google.items():
            kind = "sheet writes" if route in ("spreadsheets.batchUpdate", "values.batchUpdate") else route
            got[f"google {kind}"] += n
        return +got


class _TokenAge:
    """A Google credentials object whose token is dropped once it is a simulated hour old."""

    LIFE = timedelta(minutes=56)  # an hour less google-auth's refresh margin (3 min 45 s)

    def __init__(self, credentials):
        self.credentials = credentials  # google-auth credentials shared by the Calendar and Sheets services
        self.token = None  # the token last seen
        self.since: datetime | None = None  # simulated moment it was first seen

    def expire_if_old(self, now: datetime) -> None:
        """Drop the token when it has lived its simulated hour (the next call asks for a new one)."""
        if self.since is not None and now - self.since >= self.LIFE:
            self.credentials.token = None

    def note(self, now: datetime) -> None:
        """Remember when a new token arrived."""
        if self.credentials.token and self.credentials.token != self.token:
            self.token, self.since = self.credentials.token, now


class CallSeason:
    """Emulators, settings files and a simulated clock; ``run()`` plays the season and counts calls."""

    def __init__(self, folder: Path, *, series: int = 1, weeks: int = 8, participants: int = 40,
                 people: int = 6, edit_week: int | None = 2, cancel_week: int | None = 5,
                 form: bool = False, sparse: bool = False, on_tick: Callable[[datetime], None] | None = None):
        self.folder = folder  # settings, state, key file
        self.weeks = weeks  # sessions per series
        self.participants = participants  # P: people joining each held session
        self.people = [(f"peserta{n}@example.org", f"Peserta {n}") for n in range(1, people + 1)]
        self.clock = FixedClock(datetime(2027, 1, 7, 9, tzinfo=WITA) - timedelta(days=15))
        self.on_tick = on_tick or (lambda moment: None)  # e.g. sample memory
        self.form = form  # recipients come from a Form's answers in the series' spreadsheet (not inline)
        self.sparse = sparse  # tick only around the sessions' moments (the scale check: 50 series stay fast)
        first = date(2027, 1, 7)
        dates = [first + timedelta(weeks=i) for i in range(weeks)]
        self.series = [Series(f"seri-{i:02d}" if series > 1 else "webinar-kamis", folder, dates,
                              edit=dates[edit_week] if edit_week is not None else None,
                              cancel=dates[cancel_week] if cancel_week is not None else None)
                       for i in range(series)]
        self.calls = SeasonCalls(sessions=series * weeks, people=people)
        self.zoom = ZoomEmulator()
        self.google = GoogleEmulator()
        self.smtp: SandboxSmtpServer | None = None
        self.runners: list[Runner] = []
        self.stores: list[StateStore] = []
        self._ended: set[tuple[str, date]] = set()
        self._google_tokens: list[_TokenAge] = []  # each series' Google credentials and when its token came

    # -- set-up ---------------------------------------------------------------------------------
    def _topics(self, s: Series) -> str:
        lines = []
        for d in s.dates:
            lines.append(f"  - date: {d.isoformat()}\n    topic: Topik {d.isoformat()}\n    speaker: Narasumber")
            if s.edited and d == s.edit:
                lines[-1] = (f"  - date: {d.isoformat()}\n    topic: Topik baru {d.isoformat()}\n"
                             f"    speaker: Narasumber\n    start_time: \"10:00\"")
            if s.cancelled and d == s.cancel:
                lines[-1] += "\n    cancelled: true"
        return "\n".join(lines) + "\n"

    def write_settings(self, s: Series) -> None:
        """Write (or rewrite) a series' settings file; a rewrite gets a newer mtime so the runner sees it."""
        if self.form:  # the list is a Google Form's answers sheet: a remote read
            people = f"    sheet_ranges: [\"'{FORM_TAB}'!A:C\"]"
        else:
            people = "    inline:\n" + "\n".join(f"      - email: {e}\n        name: {n}" for e, n in self.people)
        existed = s.settings_path.exists()
        s.settings_path.write_text(SETTINGS.format(
            series=s.name, first=s.dates[0].isoformat(), last=s.dates[-1].isoformat(), topics=self._topics(s),
            zoom_api=self.zoom.api_base_url, zoom_oauth=self.zoom.oauth_url, calendar_id=CALENDAR_ID,
            spreadsheet_id=f"{SPREADSHEET_ID}-{s.name}", summary_tab="Ringkasan",
            key_file=(self.folder / "service-account.json").resolve(), google_root=self.google.root_url,
            templates=ROOT / "templates", smtp_port=self.smtp.port if self.smtp else 0, people=people,
            state=(self.folder / f"{s.name}.db").resolve()), encoding="utf-8")
        if existed:
            mtime = s.settings_path.stat().st_mtime + 1
            os.utime(s.settings_path, (mtime, mtime))

    def _runner(self, s: Series, stack: ExitStack) -> Runner:
        settings = load_settings(s.settings_path)
        secrets = Secrets({"ZOOM_ACCOUNT_ID": self.zoom.account_id, "ZOOM_CLIENT_ID": self.zoom.client_id,
                           "ZOOM_CLIENT_SECRET": self.zoom.client_secret})
        io = build_integrations(settings, secrets, self.clock)
        if io.missing:
            raise RuntimeError(f"not wired: {io.missing}")
        # The Zoom token's lifetime runs on the simulated clock, as a long-running worker's would.
        io.zoom._client.monotonic = lambda: self.clock.now().timestamp()  # type: ignore[union-attr]
        # google-auth times its token on the real clock (and the emulator checks the JWT's times against it),
        # so the bench drops the token once it is a simulated hour old, as a long-running worker's would expire.
        self._google_tokens.append(_TokenAge(io.calendar._client.service._http.credentials))  # type: ignore[union-attr]
        store = StateStore(settings.worker.state_file)
        stack.callback(store.close)
        self.stores.append(store)
        return Runner(s.settings_path, lambda st: build_engine(st, secrets, store, self.clock, integrations=io),
                      self.clock, settings=settings)

    # -- the season -------------------------------------------------------------------------------
    def run(self) -> SeasonCalls:
        """Play the season, one tick an hour until the day after the last session; count every call."""
        with ExitStack() as stack:
            self.zoom.start()
            stack.callback(self.zoom.stop)
            self.google.start()
            stack.callback(self.google.stop)
            self.smtp = SandboxSmtpServer(now=lambda: self.clock.now().timestamp())
            self.smtp.start()
            stack.callback(self.smtp.stop)
            self.google.write_service_account_key(self.folder / "service-account.json")
            self.google.share_calendar(CALENDAR_ID)
            for s in self.series:
                self.google.share_spreadsheet(f"{SPREADSHEET_ID}-{s.name}", title=f"Kehadiran {s.name}")
                if self.form:  # the Form's answers tab lives in the series' spreadsheet
                    self.google.set_values(f"{SPREADSHEET_ID}-{s.name}", FORM_TAB,
                                           [["email", "name", "group"]] + [[e, n, ""] for e, n in self.people])
                self.write_settings(s)
            self.runners = [self._runner(s, stack) for s in self.series]
            end = datetime.combine(self.series[0].dates[-1] + timedelta(days=1), datetime.min.time(), WITA) \
                + timedelta(hours=12)
            for moment in self.moments(end):
                self.tick(moment)
            self.calls.idle_tick_calls = self.idle_tick(end + timedelta(days=1))
        return self.calls

    def moments(self, end: datetime) -> list[datetime]:
        """Every hour from the start to ``end``; ``sparse``: only the hours around each session's moments
        (meeting due, invitations due, the session and its attendance), where anything can be due."""
        start = self.clock.now()
        hours = [start + timedelta(hours=n) for n in range(int((end - start) / timedelta(hours=1)) + 1)]
        if not self.sparse:
            return hours
        busy = []
        for d in self.series[0].dates:
            at9 = datetime.combine(d, datetime.min.time(), WITA).replace(hour=9)
            busy += [(at9 - timedelta(days=14), at9 - timedelta(days=14, hours=-3)),
                     (at9 - timedelta(days=7), at9 - timedelta(days=7, hours=-3)),
                     (at9 - timedelta(hours=3), at9 + timedelta(hours=6))]
        return [h for h in hours if any(a <= h <= b for a, b in busy)]

    def tick(self, moment: datetime) -> None:
        """Staff actions due by ``moment``, meetings that ended, then one tick of every series."""
        self.clock.set(moment)
        for s, runner in zip(self.series, self.runners):
            invited = lambda d: moment >= datetime.combine(d, datetime.min.time(), WITA) - timedelta(days=6)  # noqa: E731
            if s.edit and not s.edited and invited(s.edit):
                s.edited = True
                self.calls.edits += 1
                self.write_settings(s)
            if s.cancel and not s.cancelled and invited(s.cancel):
                s.cancelled = True
                self.calls.cancels += 1
                self.write_settings(s)
            self._end_meetings(s, moment)
        reads = False
        for s, runner, token in zip(self.series, self.runners, self._google_tokens):
            before_z, before_g = Counter(self.zoom.calls), Counter(self.google.calls)
            token.expire_if_old(moment)
            runner.run_once()
            token.note(moment)
            dz, dg = Counter(self.zoom.calls) - before_z, Counter(self.google.calls) - before_g
            self.calls.zoom.update(dz)
            self.calls.google.update(dg)
            # Each series has its own clients and tokens (a library's own Zoom and Google accounts).
            if any(dz[k] for k in ZOOM_MINIMAL):
                self.calls.zoom_hours.add((s.name, moment))
            if any(dg[k] for k in GOOGLE_MINIMAL):
                self.calls.google_hours.add((s.name, moment))
            reads = reads or bool(dg["values.get"])
        self.calls.ticks += 1
        if reads:
            self.calls.range_reads.append(moment)
        self.on_tick(moment)

    def _end_meetings(self, s: Series, moment: datetime) -> None:
        """Sessions whose time is over: end the meeting with P people in it."""
        for d in s.dates:
            if (s.name, d) in self._ended or (s.cancelled and d == s.cancel):
                continue
            start = datetime.combine(d, datetime.min.time(), WITA).replace(hour=10 if s.edited and d == s.edit else 9)
            if moment < start + timedelta(minutes=90):
                continue
            marker = meeting_marker(s.name, d.isoformat())
            found = [m for m in self.zoom.meetings.values() if marker in (m.get("agenda") or "")]
            if not found:
                continue
            self._ended.add((s.name, d))
            self.zoom.end_meeting(found[0]["id"], started_at=start, ended_at=start + timedelta(minutes=90))
            self.zoom.simulate_attendance(found[0]["id"], self.participants, seed=d.toordinal())
            self.calls.held += 1
            self.calls.participants.append(self.participants)

    def idle_tick(self, moment: datetime) -> int:
        """Remote calls made by one tick with nothing due."""
        self.clock.set(moment)
        before = sum(self.zoom.calls.values()) + sum(self.google.calls.values())
        for runner in self.runners:
            runner.run_once()
        return sum(self.zoom.calls.values()) + sum(self.google.calls.values()) - before

    def finish_counts(self) -> None:
        """Sessions whose meeting was made and whose invitees were registered: every session of the season
        (the cancelled one is cancelled after its invitations)."""
        self.calls.made = self.calls.registered = sum(len(s.dates) for s in self.series)


def season_calls(folder: Path, **kwargs) -> SeasonCalls:
    """Run one season and return its counts."""
    season = CallSeason(folder, **kwargs)
    season.finish_counts()
    return season.run()


def measure() -> list[dict]:
    """Rows for bench/run_all.py: calls over the season against the issue's minimum."""
    with tempfile.TemporaryDirectory() as tmp:
        calls = season_calls(Path(tmp))
    minimum = sum(calls.minimum().values())
    return [{"figure": "remote calls over an 8-session season (7 held, 1 edit, 1 cancel)",
             "product": float(calls.product), "baseline": float(minimum),
             "baseline_label": "the minimum: 1 create, 1 event insert, 1 instance lookup, ceil(P/300) pages, "
                               "<= 2 sheet writes per sync, <= 1 token an hour",
             "unit": "calls", "ratio": round(calls.product / minimum, 2), "goal": "1.00",
             "met": calls.product <= minimum},
            {"figure": "remote calls of an idle tick", "product": float(calls.idle_tick_calls), "baseline": 0.0,
             "baseline_label": "none", "unit": "calls", "ratio": float(calls.idle_tick_calls), "goal": "0",
             "met": calls.idle_tick_calls == 0}]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        calls = season_calls(Path(tmp))
    got, want = calls.by_kind(), calls.minimum()
    print(f"{'kind':34} {'product':>8} {'minimum':>8}")
    for kind in sorted(set(got) | set(want)):
        print(f"{kind:34} {got[kind]:>8} {want[kind]:>8}")
    minimum = sum(want.values())
    print(f"total: {calls.product} calls, minimum {minimum}, ratio {calls.product / minimum:.2f} (goal 1.00); "
          f"P={calls.participants[0] if calls.participants else 0}, {calls.ticks} ticks; "
          f"idle tick: {calls.idle_tick_calls} calls (goal 0)")


if __name__ == "__main__":
    main()
