"""A small valid settings file for tests, and a writer for variations of it."""
from __future__ import annotations

import shutil
from pathlib import Path

BASE = """\
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
  last_date: 2027-02-04
  skip_dates:
    - date: 2027-01-28
      reason: Libur
topics:
  - date: 2027-01-07
    topic: Menulis Cerita Pendek
    speaker: Andi
  - date: 2027-01-14
    topic: Bedah Buku
    speaker: Rahmat
    start_time: "13:30"
  - date: 2027-01-21
    topic: Mendongeng
    groups: [guru-paud]
  - date: 2027-02-04
    topic: Arsip Keluarga
    cancelled: true
mail:
  sender_name: Perpustakaan
  sender_address: webinar@perpustakaan.example
  invitation_days_before: 7
  reminder_hours_before: 2
  smtp:
    host: 127.0.0.1
    port: 2525
    security: none
  recipients:
    inline:
      - email: guru@example.org
        name: Bu Guru
        group: guru-paud
      - umum@example.org
worker:
  state_file: state.db
"""


TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def write_settings(folder: Path, text: str = BASE, name: str = "settings.yaml") -> Path:
    """Write ``text`` as a settings file in ``folder`` (with a copy of the templates) and return its path."""
    if not (folder / "templates").exists():
        shutil.copytree(TEMPLATES, folder / "templates")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
