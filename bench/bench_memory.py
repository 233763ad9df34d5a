"""Benchmark (issue 18): resident memory of an idle ``webinar-worker run`` after one busy tick.

The busy tick happens in the measured process itself, against the emulators and a real SMTP server
on 127.0.0.1: it fetches a held session's attendance, writes the spreadsheet, queues and sends the
thank-you mails with their PDF certificates, creates the next session's meeting and calendar event
and mails its invitations. A ``once`` run before it (another process) made the held session's
meeting. Once the thank-yous are delivered and two more ticks have passed with nothing to do, the
worker's RSS (``/proc/PID/status`` VmRSS) is compared with a bare ``python`` sleeping.

Run: python bench/bench_memory.py
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integrations.sandbox.google_server import GoogleEmulator  # noqa: E402
from integrations.sandbox.smtp_server import SandboxSmtpServer  # noqa: E402
from integrations.sandbox.zoom_server import ZoomEmulator  # noqa: E402
from worker.store import health  # noqa: E402
from worker.store.state import StateStore  # noqa: E402
from bench.common import print_rows  # noqa: E402

PEOPLE = tuple((f"peserta{n}@example.org", f"Peserta Nomor {n}") for n in range(1, 9))
TICK_SECONDS = 2  # the run's tick interval: short, so the idle ticks come quickly
HANG_GUARD = 180.0  # seconds before the bench gives up on the worker (it is hung, not slow)
MIB = 1024 * 1024

SETTINGS = """\
series:
  id: bench
  title: Webinar Bench
  organizer: Perpustakaan Kota
  contact: "WA 0811"
  weekday: {weekday}
  start_time: "{start}"
  duration_minutes: 60
  timezone: UTC
  first_date: {first}
  last_date: {second}
topics:
  - date: {first}
    topic: Menulis Cerita Pendek
    speaker: Andi
  - date: {second}
    topic: Bedah Buku
    speaker: Rahmat
zoom:
  api_base_url: {zoom_api}
  oauth_url: {zoom_oauth}
  registration: false
google:
  calendar_id: bench@group.calendar.google.com
  spreadsheet_id: bench-kehadiran
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
  delay_minutes: 1
followup:
  min_minutes: 30
worker:
  state_file: {state}
  planning_days: 14
  tick_seconds: {tick}
"""


def rss_mib(pid: int) -> float:
    """The process's resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MIB
    raise RuntimeError(f"no VmRSS for {pid}")


def wait_for(condition, what: str) -> None:
    """Poll ``condition``; fail naming ``what`` past the hang guard."""
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {HANG_GUARD:g} s and still not: {what}")
        time.sleep(0.2)


def bare_python_rss() -> float:
    """RSS of ``python -c "import time; time.sleep(5)"`` once it sleeps."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(5)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        time.sleep(0.3)
        return rss_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def idle_run_rss() -> tuple[float, float, int]:
    """(idle RSS after the busy tick, peak RSS seen during it, thank-you mails delivered)."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=75)  # held: ended 15 minutes ago, attendance is due
    if start.date() != now.date():  # just after midnight: keep the session on one day
        start = now.replace(hour=0, minute=0)
        now_for_run = start + timedelta(minutes=75)
        raise RuntimeError(f"run the memory bench after 01:20 UTC (it needs a session earlier today, "
                           f"before {now_for_run:%H:%M})")
    first, second = start.date(), start.date() + timedelta(days=7)
    weekday = ["senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"][first.weekday()]
    with tempfile.TemporaryDirectory() as folder, ZoomEmulator() as zoom, GoogleEmulator() as google, \
            SandboxSmtpServer() as smtp:
        folder_path = Path(folder)
        key = folder_path / "service-account.json"
        google.write_service_account_key(key)
        google.share_calendar("bench@group.calendar.google.com", time_zone="UTC")
        google.create_spreadsheet(spreadsheet_id="bench-kehadiran")
        people = "\n".join(f"      - email: {e}\n        name: {n}" for e, n in PEOPLE)
        state = folder_path / "state.db"
        settings = folder_path / "settings.yaml"
        settings.write_text(SETTINGS.format(
            weekday=weekday, start=f"{start:%H:%M}", first=first, second=second, zoom_api=zoom.api_base_url,
            zoom_oauth=zoom.oauth_url, key_file=key, google_root=google.root_url, templates=ROOT / "templates",
            smtp_port=smtp.port, people=people, state=state, tick=TICK_SECONDS), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "SMTP_", "GOOGLE_"))}
        env.update(PYTHONPATH=str(ROOT), ZOOM_ACCOUNT_ID=zoom.account_id, ZOOM_CLIENT_ID=zoom.client_id,
                   ZOOM_CLIENT_SECRET=zoom.client_secret, LANG="en_US.UTF-8")
        before = (start - timedelta(hours=1)).isoformat()
        for _ in range(3):  # the held session's meeting, event, invitations and reminders, as they were
            subprocess.run([sys.executable, "-m", "worker", "once", "--settings", str(settings), "--now", before],
                           env=env, cwd=folder, capture_output=True, text=True, check=True)
        with StateStore(state) as store:
            meeting_id = store.session(f"bench/{first}").meeting_id
        zoom.end_meeting(meeting_id, started_at=start, ended_at=start + timedelta(minutes=60))
        zoom.add_participants(meeting_id, [{"name": name, "join_time": start + timedelta(minutes=n),
                                            "leave_time": start + timedelta(minutes=55)}
                                           for n, (_, name) in enumerate(PEOPLE)])
        sent_before = len(smtp.messages)
        proc = subprocess.Popen([sys.executable, "-m", "worker", "run", "--settings", str(settings)], env=env,
                                cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0.0
        try:
            def thanked() -> bool:
                nonlocal peak
                peak = max(peak, rss_mib(proc.pid))
                assert proc.poll() is None, f"the worker exited with {proc.returncode}"
                return sum(b"application/pdf" in m.data for m in smtp.messages[sent_before:]) >= len(PEOPLE)

            wait_for(thanked, "every attendee got a thank-you")
            started = datetime.now(timezone.utc)

            def idle_twice() -> bool:
                with StateStore(state) as store:
                    beat = health.read_heartbeat(store)
                return beat is not None and beat.at > started + timedelta(seconds=TICK_SECONDS) \
                    and beat.outcome == "idle"

            wait_for(idle_twice, "two quiet ticks after the busy one")
            time.sleep(TICK_SECONDS)
            idle = rss_mib(proc.pid)
            delivered = len(smtp.messages) - sent_before
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return idle, max(peak, idle), delivered


def measure() -> list[dict]:
    """The row: idle ``run`` RSS after one busy tick vs a bare python sleeping (goal: under 80 MB)."""
    idle, peak, delivered = idle_run_rss()
    bare = bare_python_rss()
    ratio = idle / bare
    return [{"figure": "idle `run` after one busy tick, RSS", "product": round(idle, 1), "baseline": round(bare, 1),
             "baseline_label": "bare `python` sleeping", "unit": "MiB", "ratio": round(ratio, 1),
             "goal": "< 80 MB", "met": idle * MIB < 80_000_000,
             "note": f"peak while busy {peak:.0f} MiB; {delivered} mails sent in the busy tick"}]


def main() -> None:
    """Print the rows."""
    print_rows(measure())


if __name__ == "__main__":
    main()
