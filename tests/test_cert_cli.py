"""`verify`, `publish-verify`, `transcript` and the report's per-person table, as a user runs them."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.helpers_settings import BASE, write_settings
from worker.cli import main
from worker.config.settings import load_settings
from worker.core.certnumber import format_number
from worker.core.model import Attendee
from worker.core.planner import plan_season
from worker.core.records import session_to_json
from worker.store.state import StateStore

NOW = datetime(2027, 1, 22, tzinfo=timezone.utc)
SETTINGS = BASE + """certificate:
  revoked: ["002/SERT/WEBINAR/I/2027"]
  transcript_min_sessions: 2
"""


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    """Settings plus a state file in which Ani holds two certificates and Budi one (revoked: 002)."""
    path = write_settings(tmp_path, SETTINGS)
    settings = load_settings(path)
    sessions = [s for s in plan_season(settings).sessions if not s.cancelled]
    held = [(sessions[0], [("ani@example.org", "Ani Lestari", 80), ("budi@example.org", "Budi", 60)]),
            (sessions[1], [("ani@example.org", "Ani Lestari", 90), ("cici@example.org", "", 10)])]
    with StateStore(settings.worker.state_file) as store:
        for session, people in held:
            t = session.start_utc
            store.update_session(session.uid, NOW, snapshot=session_to_json(session))
            store.store_attendance(session.uid, [Attendee(n or e, e, t, t, m, 1) for e, n, m in people], NOW)
            for email, name, minutes in people:
                if minutes >= 30:
                    store.issue_certificate(
                        kind="session", subject=session.uid, email=email, name=name, title=session.topic,
                        held_on=session.date, minutes=90, jp=2, now=NOW,
                        number_for=lambda seq, d=session.date: format_number(settings.certificate.number_format, seq,
                                                                             d, "webinar-kamis"))
    return path


def test_verify_answers_from_the_state(settings_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["verify", "--lang", "id", "--settings", str(settings_path), "001/SERT/WEBINAR/I/2027"]) == 0
    out = capsys.readouterr().out
    assert "Status    : SAH" in out and "Ani Lestari" in out and "Menulis Cerita Pendek" in out
    assert "@" not in out
    assert main(["verify", "--lang", "id", "--settings", str(settings_path), "002-SERT-WEBINAR-I-2027"]) == 1  # by slug; revoked
    assert "DICABUT" in capsys.readouterr().out
    assert main(["verify", "--lang", "id", "--settings", str(settings_path), "999/SERT/WEBINAR/I/2027"]) == 1
    assert "TIDAK DITEMUKAN" in capsys.readouterr().out


def test_publish_verify_writes_a_page_per_number_and_an_index(settings_path: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "situs"
    assert main(["publish-verify", "--settings", str(settings_path), "--out", str(out)]) == 0
    assert "3 certificate pages" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["001-SERT-WEBINAR-I-2027.html", "002-SERT-WEBINAR-I-2027.html",
                                                     "003-SERT-WEBINAR-I-2027.html", "index.html"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="002-SERT-WEBINAR-I-2027.html"' in index and "Dicabut" in index and "example.org" not in index


def test_transcript_numbers_and_draws_the_frequent_attendees(settings_path: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "transkrip"
    args = ["transcript", "--lang", "id", "--settings", str(settings_path), "--now", "2027-02-05T10:00+08:00", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "004/TRANSKRIP/WEBINAR/2027  Ani Lestari: 2 sesi, 4 JP" in printed
    [pdf] = out.glob("*.pdf")
    text = "\n".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert "Menulis Cerita Pendek" in text and "Bedah Buku" in text and "4 JP" in text
    assert main(args) == 0 and "004/TRANSKRIP" in capsys.readouterr().out  # the same number again
    assert main(["verify", "--lang", "id", "--settings", str(settings_path), "004/TRANSKRIP/WEBINAR/2027"]) == 0
    assert "Transkrip kegiatan" in capsys.readouterr().out


def test_the_report_has_tables_per_person_and_per_group(settings_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "laporan"
    assert main(["report", "--settings", str(settings_path), "--now", "2027-01-22T08:00+08:00", "--out", str(out)]) == 0
    html = (out / "laporan-musim.html").read_text(encoding="utf-8")
    assert "Rekap per peserta" in html and "Rekap per kelompok" in html
    row = html.split("<td>Ani Lestari</td>", 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">2</td><td class="num">170</td><td class="num">4</td>' in row
