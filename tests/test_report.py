"""The season report: numbers a head of office can trust, one HTML file that opens anywhere."""
from __future__ import annotations

import base64
import re
from datetime import date, datetime, time, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.helpers_report import tile
from worker.core.model import Attendee, Recipient, Session
from worker.outputs.report import (SessionAttendance, attendance_chart_png, person_key, render_report_html,
                           season_items, season_stats, write_report)
from worker.core.records import session_to_json
from worker.store.state import StateStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZONE = "Asia/Makassar"
HOSTILE_TOPIC = 'Anak & Buku <script>alert("x")</script>'


def session(day: date, topic: str, speaker: str = "", cancelled: bool = False) -> Session:
    """A 09.00 WITA session on ``day``."""
    start = datetime.combine(day, time(9, 0), ZoneInfo(ZONE))
    return Session(series="webinar-kamis", date=day, start=start, duration_minutes=90, timezone=ZONE,
                   topic=topic, speaker=speaker, cancelled=cancelled)


def attendee(name: str, email: str, minutes: int) -> Attendee:
    """One attendee who stayed ``minutes`` in one go."""
    joined = datetime(2027, 1, 14, 1, 0, tzinfo=timezone.utc)
    return Attendee(name=name, email=email, first_join=joined, last_leave=joined + timedelta(minutes=minutes),
                    minutes=minutes, joins=1)


@pytest.fixture
def season() -> list[SessionAttendance]:
    """Three held sessions and one cancelled: Ani returns by e-mail (other case), Budi by name only."""
    return [
        SessionAttendance(session(date(2027, 1, 14), HOSTILE_TOPIC, "Dr. Sari"), (
            attendee("Ani Lestari", "ani@example.org", 80),
            attendee("Budi", "", 60),
            attendee("Citra", "citra@example.org", 40),
        ), invited=120, cancelled=False),
        SessionAttendance(session(date(2027, 1, 21), "Dongeng Nusantara"), (
            attendee("ani l.", "ANI@Example.org", 70),
            attendee("  BUDI ", "", 50),
        ), invited=118, cancelled=False),
        SessionAttendance(session(date(2027, 1, 28), "Sesi yang batal", cancelled=True), (),
                          invited=119, cancelled=True),
        SessionAttendance(session(date(2027, 2, 4), "Literasi Digital"), (
            attendee("Dewi", "dewi@example.org", 30),
        ), invited=121, cancelled=False),
    ]


# -- statistics ----------------------------------------------------------------------
def test_season_stats_count_people_across_sessions(season: list[SessionAttendance]) -> None:
    stats = season_stats(season)
    assert stats.sessions_held == 3  # the cancelled date is not a session held
    assert stats.total_attendance == 6
    assert stats.unique_attendees == 4  # Ani, Budi, Citra, Dewi
    assert stats.returning_attendees == 2  # Ani (by e-mail, case aside) and Budi (by name)
    assert stats.average_minutes == pytest.approx(330 / 6)
    assert stats.average_attendees == pytest.approx(2.0)
    assert stats.best_session is season[0]


def test_people_are_matched_by_email_case_insensitively_else_by_name() -> None:
    assert person_key(attendee("Ani", "ANI@example.org", 1)) == person_key(attendee("Other", "ani@example.org", 1))
    assert person_key(attendee("  Budi  Santoso", "", 1)) == person_key(attendee("budi santoso", "", 1))
    assert person_key(attendee("Budi", "", 1)) != person_key(attendee("Budi", "budi@example.org", 1))


def test_an_empty_season_has_zeros_not_errors() -> None:
    stats = season_stats([])
    assert (stats.sessions_held, stats.total_attendance, stats.unique_attendees) == (0, 0, 0)
    assert (stats.average_minutes, stats.average_attendees, stats.best_session) == (0.0, 0.0, None)


def test_the_earliest_session_wins_a_tie(season: list[SessionAttendance]) -> None:
    tied = [season[1], SessionAttendance(session(date(2027, 2, 11), "Kemudian"),
                                         (attendee("X", "", 1), attendee("Y", "", 1)), 10, False)]
    assert season_stats(list(reversed(tied))).best_session is season[1]


# -- chart ---------------------------------------------------------------------------
def test_chart_is_a_png(season: list[SessionAttendance]) -> None:
    assert attendance_chart_png(season).startswith(PNG_SIGNATURE)
    assert attendance_chart_png([]).startswith(PNG_SIGNATURE)


def test_chart_leaves_out_cancelled_sessions(season: list[SessionAttendance], monkeypatch) -> None:
    from matplotlib.axes import Axes

    drawn: dict[str, object] = {}
    original = Axes.set_xticks

    def spy(self, ticks, labels=None, **kw):  # records the labels, then draws as usual
        drawn["labels"] = list(labels or [])
        return original(self, ticks, labels, **kw)

    monkeypatch.setattr(Axes, "set_xticks", spy)
    attendance_chart_png(season)
    assert drawn["labels"] == ["14 Jan", "21 Jan", "4 Feb"]


# -- HTML ----------------------------------------------------------------------------
@pytest.fixture
def html(season: list[SessionAttendance]) -> str:
    """The report of the sample season."""
    return render_report_html(season, title="Laporan Musim Januari–Februari 2027",
                              organizer="Dinas Perpustakaan Kota Makassar",
                              generated_at=datetime(2027, 2, 5, 10, 5, tzinfo=ZoneInfo(ZONE)), timezone=ZONE)


class _TableReader(HTMLParser):
    """Collects the text of every ``<td>`` of the report's table body, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []  # cell texts per <tr> inside <tbody>
        self.in_body = False  # inside <tbody>
        self.cell: list[str] | None = None  # text pieces of the open <td>

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.rows.append([])
        elif tag == "td" and self.in_body:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self.in_body = False
        elif tag == "td" and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    """The per-session table as a reader sees it: Tanggal, Topik, Narasumber, Diundang, Hadir, Rata-rata lama hadir (menit)."""
    reader = _TableReader()
    reader.feed(html)
    return reader.rows


def indonesian(value: float) -> str:
    """A mean as the report should print it: one decimal with a comma, none when whole (``52,5``, ``62``)."""
    return f"{value:.1f}".replace(".", ",").removesuffix(",0")


def test_report_shows_the_headline_numbers(html: str) -> None:
    assert tile(html, "Sesi terlaksana") == "3"
    assert tile(html, "Total kehadiran") == "6"
    assert tile(html, "Jumlah peserta (tanpa ganda)") == "4"
    assert tile(html, "Hadir lebih dari sekali") == "2"
    assert tile(html, "Rata-rata lama hadir (menit)") == "55"
    assert "Dinas Perpustakaan Kota Makassar" in html and "Dibuat 5 Februari 2027, pukul 10.05 WITA" in html


def test_the_time_made_is_shown_in_the_series_zone_with_its_name(season: list[SessionAttendance]) -> None:
    late_evening_utc = datetime(2027, 2, 4, 20, 5, tzinfo=timezone.utc)  # already the 5th in Makassar
    html = render_report_html(season, title="Laporan", organizer="Perpustakaan", generated_at=late_evening_utc,
                              timezone=ZONE)
    assert "Dibuat 5 Februari 2027, pukul 04.05 WITA" in html
    jakarta = render_report_html(season, title="Laporan", organizer="Perpustakaan",
                                 generated_at=late_evening_utc, timezone="Asia/Jakarta")
    assert "Dibuat 5 Februari 2027, pukul 03.05 WIB" in jakarta


def test_report_has_one_table_row_per_session(html: str) -> None:
    for header in ("Tanggal", "Topik", "Narasumber", "Diundang", "Terdaftar", "Hadir", "Teridentifikasi", "Tamu",
                   "Rata-rata lama hadir (menit)"):
        assert f">{header}</th>" in html
    assert "14 Januari 2027" in html and "Dongeng Nusantara" in html and "Dr. Sari" in html
    # invited, registered (none: no registration in this season), attended, identified, guests, minutes
    assert ('<td class="num">120</td><td class="num">–</td><td class="num">3</td><td class="num">0</td>'
            '<td class="num">3</td><td class="num">60</td>') in html
    assert "Sesi yang batal <span" in html and "(dibatalkan)" in html


def test_report_escapes_staff_text(html: str) -> None:
    assert "<script>" not in html
    assert "Anak &amp; Buku &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_report_embeds_a_decodable_png(html: str) -> None:
    found = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert found, "no embedded chart"
    assert base64.b64decode(found[1], validate=True).startswith(PNG_SIGNATURE)


def test_report_is_self_contained_and_phone_friendly(html: str) -> None:
    assert 'name="viewport"' in html
    assert not re.search(r'(?:src|href)="(?!data:)', html), "the report must not load other files"


def test_write_report_writes_the_file(tmp_path: Path, season: list[SessionAttendance]) -> None:
    path = write_report(tmp_path / "out", season, title="Laporan", organizer="Perpustakaan",
                        generated_at=datetime(2027, 2, 5, 2, 5, tzinfo=timezone.utc), timezone=ZONE)
    assert path == tmp_path / "out" / "laporan-musim.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Sesi terlaksana" in text
    assert "pukul 10.05 WITA" in text


# -- from the state store --------------------------------------------------------------
def test_season_items_come_from_the_state_store(tmp_path: Path) -> None:
    now = datetime(2027, 1, 29, 12, 0, tzinfo=timezone.utc)
    past, dropped, future = (session(date(2027, 1, 14), "Lalu"), session(date(2027, 1, 21), "Dihapus"),
                             session(date(2027, 2, 4), "Nanti"))
    with StateStore(tmp_path / "state.sqlite") as store:
        for s in (past, dropped, future):
            store.update_session(s.uid, now, snapshot=session_to_json(s))
        store.update_session(dropped.uid, now, meeting_deleted=1)
        store.queue_mail(past.uid, "invitation", 0, [Recipient("a@example.org"), Recipient("b@example.org")], now)
        store.mark_mail(store.pending_mail(1)[0].id, "sent", now)
        store.store_attendance(past.uid, [attendee("Ani", "ani@example.org", 80)], now)
        items = season_items(store, now)

    assert [(i.session.topic, i.cancelled, i.invited, len(i.attendees)) for i in items] == [
        ("Lalu", False, 1, 1), ("Dihapus", True, 0, 0)]


def test_a_session_waiting_for_its_attendance_is_not_counted_as_held_with_nobody(
        season: list[SessionAttendance]) -> None:
    waiting = SessionAttendance(session(date(2027, 2, 11), "Belum ada datanya"), (), invited=90,
                                cancelled=False, pending=True)
    stats = season_stats(season + [waiting])
    assert (stats.sessions_held, stats.total_attendance) == (3, 6)  # as without it
    assert stats.average_attendees == pytest.approx(2.0) and stats.average_minutes == pytest.approx(330 / 6)
    assert stats.sessions_pending == 1

    html = render_report_html(season + [waiting], title="Laporan", organizer="Perpustakaan",
                              generated_at=datetime(2027, 2, 12, tzinfo=timezone.utc), timezone=ZONE)
    assert table_rows(html)[-1] == ["11 Februari 2027", "Belum ada datanya", "–", "90", "–", "menunggu data", "–",
                                    "–", "–"]
    assert tile(html, "Sesi terlaksana") == "3"
    assert "1 sesi lagi menunggu data dari Zoom" in html


# -- from the state store: what the office head reads against what was stored ----------
NOW = datetime(2027, 2, 5, 12, 0, tzinfo=timezone.utc)  # after the 4 February session ended


@pytest.fixture
def stored_season(tmp_path: Path) -> tuple[list[SessionAttendance], dict[str, list[Attendee]], str]:
    """A season in a real state store: two sessions with people, one fetched with nobody, one whose
    Zoom report is not in yet, one cancelled. Returns the items, the stored attendance and the report."""
    fetched = {
        session(date(2027, 1, 14), "Membaca Nyaring", "Dr. Sari"): [
            attendee("Ani", "ani@example.org", 80), attendee("Budi", "", 45), attendee("Citra", "c@example.org", 61)],
        session(date(2027, 1, 21), "Dongeng Nusantara", "Pak Rahmat"): [
            attendee("Ani", "ani@example.org", 70), attendee("Dewi", "d@example.org", 35)],
        session(date(2027, 1, 28), "Sesi Sepi"): [],  # Zoom's report came, and nobody was there
    }
    waiting = session(date(2027, 2, 4), "Laporan Zoom Belum Ada")
    cancelled = session(date(2027, 2, 11), "Dibatalkan Staf", cancelled=True)
    with StateStore(tmp_path / "state.sqlite") as store:
        for s in [*fetched, waiting, cancelled]:
            store.update_session(s.uid, NOW, snapshot=session_to_json(s))
        for number, s in enumerate([*fetched, waiting], start=1):
            store.queue_mail(s.uid, "invitation", 0, [Recipient(f"p{i}@example.org") for i in range(10 * number)], NOW)
        for row in store.pending_mail(1000):
            store.mark_mail(row.id, "sent", NOW)
        for s, people in fetched.items():
            store.store_attendance(s.uid, people, NOW)
        items = season_items(store, NOW)
        stored = {s.uid: store.attendance(s.uid) for s in [*fetched, waiting]}
    html = render_report_html(items, title="Laporan", organizer="Perpustakaan", generated_at=NOW, timezone=ZONE)
    return items, stored, html


def test_the_report_numbers_match_the_stored_attendance(stored_season) -> None:
    items, stored, html = stored_season
    minutes = [a.minutes for people in stored.values() for a in people]

    assert tile(html, "Sesi terlaksana") == "3"  # the two with people and the one with nobody
    assert tile(html, "Total kehadiran") == str(len(minutes)) == "5"
    assert tile(html, "Rata-rata lama hadir (menit)") == indonesian(sum(minutes) / len(minutes)) == "58,2"
    assert "rata-rata 1,7 peserta per sesi" in html  # 5 attendances over 3 sessions held


def test_each_table_row_matches_the_stored_attendance_of_its_session(stored_season) -> None:
    items, stored, html = stored_season
    expected = []
    for item in items:
        people = stored.get(item.session.uid, [])
        day = f"{item.session.date.day} {['Januari', 'Februari'][item.session.date.month - 1]} 2027"
        known = guests = "–"
        if item.cancelled:
            shown, average = "–", "–"
        elif item.pending:
            shown, average = "menunggu data", "–"
        else:
            shown = str(len(people))
            average = indonesian(sum(a.minutes for a in people) / len(people)) if people else "–"
            known = str(sum(1 for a in people if a.identified)) if people else "–"
            guests = str(sum(1 for a in people if not a.identified)) if people else "–"
        topic = item.session.topic + (" (dibatalkan)" if item.cancelled else "")
        expected.append([day, topic, item.session.speaker or "–", str(item.invited), "–", shown, known, guests,
                         average])

    assert table_rows(html) == expected
    assert table_rows(html) == [
        ["14 Januari 2027", "Membaca Nyaring", "Dr. Sari", "10", "–", "3", "0", "3", "62"],
        ["21 Januari 2027", "Dongeng Nusantara", "Pak Rahmat", "20", "–", "2", "0", "2", "52,5"],
        ["28 Januari 2027", "Sesi Sepi", "–", "30", "–", "0", "–", "–", "–"],
        ["4 Februari 2027", "Laporan Zoom Belum Ada", "–", "40", "–", "menunggu data", "–", "–", "–"],
        ["11 Februari 2027", "Dibatalkan Staf (dibatalkan)", "–", "0", "–", "–", "–", "–", "–"],
    ]


def test_a_session_fetched_with_nobody_counts_as_held_and_one_waiting_does_not(stored_season) -> None:
    items, _, _ = stored_season
    state = {i.session.topic: (i.cancelled, i.pending, i.attended) for i in items}
    assert state["Sesi Sepi"] == (False, False, 0)
    assert state["Laporan Zoom Belum Ada"] == (False, True, 0)
    assert season_stats(items).sessions_held == 3


def test_the_report_and_the_sheets_speak_one_vocabulary(html: str) -> None:
    """Narasumber and the plain figure names everywhere; never the words the office head found stilted."""
    from integrations.google_sheets import CHART_TITLE, SESSION_HEADER, SUMMARY_HEADER
    from worker.core import terms

    sheet_words = " | ".join([*SESSION_HEADER, *SUMMARY_HEADER, CHART_TITLE])
    for retired in terms.RETIRED:
        assert retired not in html and retired not in sheet_words, retired
    for figure in ("Jumlah peserta (tanpa ganda)", "Hadir lebih dari sekali", "Rata-rata lama hadir (menit)"):
        tile(html, figure)  # each is a headline tile
    assert "<th>Narasumber</th>" in html and "Narasumber" in SUMMARY_HEADER
    assert "Berapa kali masuk" in SESSION_HEADER and "Rata-rata lama hadir (menit)" in SUMMARY_HEADER
