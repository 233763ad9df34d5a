"""A small season against the Zoom and Google emulators and a real SMTP server, driven through real
``webinar-worker once --now T`` subprocesses: shared by the crash suite and the two-workers tests.

Three Thursday sessions, six people on the list: 7 January (held, attendance), 14 January (its
topic is edited after the invitations went out, then held) and 21 January (cancelled after the
invitations went out).
"""
from __future__ import annotations

import email
import email.policy
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from integrations.sandbox.google_server import GoogleEmulator
from integrations.sandbox.smtp_server import SandboxSmtpServer
from integrations.sandbox.zoom_server import ZoomEmulator
from worker.core.model import meeting_marker

ROOT = Path(__file__).resolve().parent.parent
WITA = ZoneInfo("Asia/Makassar")
SERIES = "webinar-kamis"
CALENDAR_ID = "webinar.crash@group.calendar.google.com"
SPREADSHEET_ID = "crash-kehadiran"
PEOPLE = tuple((f"peserta{n}@example.org", f"Peserta {n}") for n in range(1, 7))  # (email, name)
ATTENDING = {"2027-01-07": PEOPLE[:4], "2027-01-14": PEOPLE[2:]}  # who stays long enough for a thank-you
KEYS = ("2027-01-07", "2027-01-14", "2027-01-21")
LIVE = ("2027-01-07", "2027-01-14")  # sessions not cancelled at the end

TOPICS = """\
topics:
  - date: 2027-01-07
    topic: Menulis Cerita Pendek
    speaker: Andi
  - date: 2027-01-14
    topic: {second}
    speaker: Rahmat
  - date: 2027-01-21
    topic: Mendongeng{cancelled}
"""

SETTINGS = """\
series:
  id: webinar-kamis
  title: Webinar Kamis Perpustakaan
  organizer: Perpustakaan Kota
  contact: "WA 0811"
  weekday: kamis
  start_time: "09:00"
  duration_minutes: 90
  timezone: Asia/Makassar
  first_date: 2027-01-07
  last_date: 2027-01-21
{topics}zoom:
  api_base_url: {zoom_api}
  oauth_url: {zoom_oauth}
google:
  calendar_id: {calendar_id}
  spreadsheet_id: {spreadsheet_id}
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
    inline:
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


def at(text: str) -> datetime:
    """A WITA wall-clock moment, ``2027-01-07 12:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=WITA)


@dataclass
class Run:
    """One finished ``webinar-worker once`` process."""

    now: datetime  # the --now it ran at
    crashpoint: str  # the armed crash point, "" for none
    returncode: int  # -9 when it was killed
    out: str  # stdout
    err: str  # stderr

    @property
    def killed(self) -> bool:
        """True when SIGKILL ended it."""
        return self.returncode == -9


@dataclass
class Season:
    """The emulators, the SMTP server, the settings file and a way to run the real worker against them."""

    folder: Path  # holds settings.yaml, the key file and state.db
    zoom: ZoomEmulator = field(default_factory=ZoomEmulator)  # Zoom API + OAuth
    google: GoogleEmulator = field(default_factory=GoogleEmulator)  # Calendar + Sheets + token
    smtp: SandboxSmtpServer = field(default_factory=SandboxSmtpServer)  # real aiosmtpd
    runs: list[Run] = field(default_factory=list)  # every process run so far
    ended: set[str] = field(default_factory=set)  # sessions whose Zoom meeting was ended

    def __enter__(self) -> "Season":
        self.zoom.start()
        self.google.start()
        self.smtp.start()
        key_file = self.folder / "service-account.json"
        self.google.write_service_account_key(key_file)
        self.google.share_calendar(CALENDAR_ID)
        self.google.share_spreadsheet(SPREADSHEET_ID, title="Kehadiran")
        self.write_settings(edited=False, cancelled=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self.smtp.stop()
        self.google.stop()
        self.zoom.stop()

    @property
    def settings_path(self) -> Path:
        """The settings file the worker reads."""
        return self.folder / "settings.yaml"

    @property
    def state_file(self) -> Path:
        """The worker's SQLite state."""
        return self.folder / "state.db"

    def write_settings(self, *, edited: bool, cancelled: bool) -> None:
        """The settings as staff leave them: the 14 January topic edited, 21 January cancelled."""
        topics = TOPICS.format(second="Bedah Buku Laskar Pelangi" if edited else "Bedah Buku",
                               cancelled="\n    cancelled: true" if cancelled else "")
        people = "\n".join(f"      - email: {e}\n        name: {n}" for e, n in PEOPLE)
        self.settings_path.write_text(SETTINGS.format(
            topics=topics, zoom_api=self.zoom.api_base_url, zoom_oauth=self.zoom.oauth_url,
            calendar_id=CALENDAR_ID, spreadsheet_id=SPREADSHEET_ID,
            key_file=(self.folder / "service-account.json").resolve(), google_root=self.google.root_url,
            templates=ROOT / "templates", smtp_port=self.smtp.port, people=people,
            state=self.state_file.resolve()), encoding="utf-8")

    def env(self, crashpoint: str = "") -> dict[str, str]:
        """The environment of a worker process: the sandbox's Zoom credentials, maybe a crash point."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ZOOM_", "SMTP_", "GOOGLE_", "WEBINAR_WORKER_"))}
        env.update(PYTHONPATH=str(ROOT), ZOOM_ACCOUNT_ID=self.zoom.account_id, ZOOM_CLIENT_ID=self.zoom.client_id,
                   ZOOM_CLIENT_SECRET=self.zoom.client_secret)
        if crashpoint:
            env["WEBINAR_WORKER_CRASHPOINT"] = crashpoint
        return env

    def command(self, now: datetime, *extra: str) -> list[str]:
        """``webinar-worker once --settings ... --now ...`` as a real process."""
        return [sys.executable, "-m", "worker", "once", "--settings", str(self.settings_path),
                "--now", now.isoformat(), *extra]

    def once(self, now: datetime, crashpoint: str = "") -> Run:
        """Run one tick in a new process and wait for it (it either finishes or is killed)."""
        proc = subprocess.run(self.command(now), env=self.env(crashpoint), cwd=self.folder, capture_output=True,
                              text=True, timeout=300)
        run = Run(now, crashpoint, proc.returncode, proc.stdout, proc.stderr)
        self.runs.append(run)
        return run

    def settle(self, now: datetime, limit: int = 6) -> list[Run]:
        """Run ticks at ``now`` until one has nothing to do; each must succeed."""
        runs = []
        for _ in range(limit):
            run = self.once(now)
            runs.append(run)
            assert run.returncode == 0, f"tick at {now} failed:\n{run.out}\n{run.err}"
            if run.out.strip() == "nothing to do":
                return runs
        raise AssertionError(f"still work to do at {now} after {limit} ticks:\n{runs[-1].out}")

    # -- what happens in the world ----------------------------------------------------------
    def meetings_for(self, key: str) -> list[dict]:
        """Live Zoom meetings carrying the session's marker."""
        marker = meeting_marker(SERIES, key)
        return [m for m in self.zoom.meetings.values() if marker in (m.get("agenda") or "")]

    def hold(self, key: str) -> None:
        """The session took place: end its meeting with the attending people (and a walk-in) in it."""
        (meeting,) = self.meetings_for(key)
        start = at(f"{key} 09:00")
        self.zoom.end_meeting(meeting["id"], started_at=start, ended_at=start + timedelta(minutes=90))
        # As on the real Zoom: invitees come in through the personal link the worker registered for them,
        # under a phone's display name, and give no e-mail at the door; the link is what ties them to a person.
        links = {r["email"]: r["join_url"] for r in self.zoom.registrants(meeting["id"])}
        people = [{"name": f"HP {name.split()[0]}", "join_url": links[address], "join_time": start + timedelta(minutes=2),
                   "leave_time": start + timedelta(minutes=80)} for address, name in ATTENDING[key]]
        people.append({"name": "iPhone Tamu", "email": "", "join_time": start, "leave_time": start + timedelta(minutes=20)})
        self.zoom.add_participants(meeting["id"], people)
        self.ended.add(key)

    # -- what came out ----------------------------------------------------------------------------
    def delivered(self) -> Counter:
        """(session key, kind, recipient) -> how many times the SMTP server accepted it."""
        counts: Counter = Counter()
        for received in self.smtp.messages:
            message = email.message_from_bytes(received.data, policy=email.policy.default)
            key = str(message.get("X-Webinar-Session", "")).rpartition("/")[2]
            for rcpt in received.rcpt_tos:
                counts[(key, str(message.get("X-Webinar-Kind", "")), rcpt)] += 1
        return counts

    def integrity(self) -> str:
        """``PRAGMA integrity_check`` of the state file."""
        db = sqlite3.connect(self.state_file)
        try:
            return db.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            db.close()


def expected_mail() -> set[tuple[str, str, str]]:
    """Every mail the season must deliver: (session key, kind, recipient)."""
    everyone = [e for e, _ in PEOPLE]
    wanted = {(k, kind, e) for k in LIVE for kind in ("invitation", "reminder") for e in everyone}
    wanted |= {("2027-01-14", "change", e) for e in everyone}
    wanted |= {("2027-01-21", kind, e) for kind in ("invitation", "cancellation") for e in everyone}
    wanted |= {(k, "thankyou", e) for k in LIVE for e, _ in ATTENDING[k]}
    return wanted
