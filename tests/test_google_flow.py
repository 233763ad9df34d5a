"""The real Google Calendar and Sheets clients, driven by the engine, against the Google emulator over 127.0.0.1."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from integrations.google_auth import CALENDAR_SERVICE, SHEETS_SERVICE, execute
from integrations.sandbox.google_server import SERVICE_ACCOUNT_EMAIL
from tests.helpers_worlds import CALENDAR, SHEET, GoogleWorld, live_events
from worker.config.settings import load_settings
from worker.core.model import Attendee, SummaryRow, calendar_event_id
from worker.errors import AccessDeniedError, IntegrationError, RateLimitError
from worker.run.engine import Integrations

UTC = timezone.utc
FORMULA = '=HYPERLINK("http://x","y")'


@pytest.fixture
def world(tmp_path, google):
    w = GoogleWorld(tmp_path, google)
    yield w
    w.store.close()


def stored_event(emulator, session_key):
    """The emulator's copy of a session's event."""
    wanted = calendar_event_id("webinar-kamis", session_key)
    return next(e for e in emulator.events(CALENDAR) if e["id"] == wanted)


def test_season_creates_one_event_per_session_and_a_quiet_rerun_writes_nothing(world):
    world.tick()
    events = live_events(world.emulator)
    assert len(events) == 3 and world.emulator.calls["events.insert"] == 3
    wanted = {calendar_event_id(s.series, s.key) for s in world.sessions if not s.cancelled}
    assert {e["id"] for e in events} == wanted
    first = next(e for e in events if e["id"] == calendar_event_id("webinar-kamis", "2027-01-07"))
    assert first["extendedProperties"]["private"]["session"] == "2027-01-07"
    assert first["start"]["timeZone"] == "Asia/Makassar" and first["location"].startswith("https://")
    world.emulator.reset_calls()
    world.tick()
    assert sum(world.emulator.calls.values()) == 0  # a quiet tick makes no remote call at all


def test_time_change_patches_and_cancellation_deletes(world):
    world.tick()
    world.emulator.reset_calls()
    moved = world.sessions[1].start + timedelta(hours=1)
    world.sessions[1] = replace(world.sessions[1], start=moved)
    world.tick()
    assert world.emulator.calls["events.patch"] == 1 and len(live_events(world.emulator)) == 3
    event = stored_event(world.emulator, "2027-01-14")
    assert datetime.fromisoformat(event["start"]["dateTime"]) == moved

    world.sessions[2] = replace(world.sessions[2], cancelled=True)
    world.tick()
    assert world.emulator.calls["events.delete"] == 1
    assert len(live_events(world.emulator)) == 2


def attendees(day: int, n: int, extra: tuple[str, ...] = ()) -> list[Attendee]:
    start = datetime(2027, 1, day, 1, 0, tzinfo=UTC)
    names = [f"Peserta {i}" for i in range(n)] + list(extra)
    return [Attendee(name, f"p{i}@example.org" if not name.startswith("=") else "", start,
                     start + timedelta(minutes=60), 60 - i % 7, 1 + i % 2) for i, name in enumerate(names)]


def test_three_sessions_give_three_tabs_summary_rows_and_one_chart_after_three_reruns(world):
    days = {"2027-01-07": (7, 5, ()), "2027-01-14": (14, 8, (FORMULA,)), "2027-01-21": (21, 3, ())}
    layout = None  # what the engine keeps in the state between syncs
    for rerun in range(3):
        for tab, (day, n, extra) in days.items():
            before = world.emulator.writes()
            people = attendees(day, n, extra)
            layout = world.sheets.sync_session(tab, people, SummaryRow(datetime(2027, 1, day).date(), f"Topik {day}",
                                                                       "Andi", 10, len(people), 57.5), layout=layout)
            assert world.emulator.writes() - before <= 2
    titles = world.emulator.sheet_titles(SHEET)
    assert [t for t in titles if t.startswith("2027")] == list(days)
    assert "Ringkasan" in titles
    summary = world.emulator.sheet_values(SHEET, "Ringkasan")
    assert [row[0] for row in summary[1:] if row and row[0]] == list(days)
    assert [row[4] for row in summary[1:] if row and row[0]] == [5, 9, 3]
    assert len(world.emulator.charts(SHEET)) == 1
    tab = world.emulator.sheet_values(SHEET, "2027-01-14")
    assert len([r for r in tab[1:] if r and r[1]]) == 9  # column B: the Zoom display name
    assert any(r[1] == FORMULA for r in tab)  # stored as the literal text
    assert world.emulator.formula_cells(SHEET, "2027-01-14") == []


def test_a_shorter_rerun_leaves_no_stale_rows(world):
    summary = SummaryRow(datetime(2027, 1, 7).date(), "Topik", "Andi", 10, 6, 50.0)
    world.sheets.sync_session("2027-01-07", attendees(7, 6), summary)
    world.sheets.sync_session("2027-01-07", attendees(7, 2), replace(summary, attended=2))
    rows = [r for r in world.emulator.sheet_values(SHEET, "2027-01-07") if any(c not in ("", None) for c in r)]
    assert len(rows) == 3  # header + 2


def test_attendance_step_writes_the_sheet_through_the_engine(world):
    world.tick()
    session = world.sessions[0]
    meeting_id = world.store.session(session.uid).meeting_id
    world.zoom.attendance[meeting_id] = attendees(7, 4, (FORMULA,))
    world.clock.set(session.end_utc + timedelta(minutes=45))
    world.tick()
    assert world.store.session(session.uid).attendance_state == "synced"
    tab = world.emulator.sheet_values(SHEET, "2027-01-07")
    assert [r[1] for r in tab[1:] if r and r[1]].count(FORMULA) == 1  # column B: the Zoom display name
    world.emulator.reset_calls()
    world.tick()
    assert world.emulator.writes() == 0


def test_429_500_and_rate_limit_403_bursts_end_with_everything_written_once(world):
    world.emulator.fail_next("events.insert", 429, times=2)
    world.emulator.fail_next("events.insert", 500, times=2)
    world.emulator.fail_next("events.patch", 403, times=1, reason="rateLimitExceeded")
    world.tick()
    world.clock.set(world.clock.now() + timedelta(hours=1))
    world.tick()
    assert len(live_events(world.emulator)) == 3
    assert world.sleeps  # the retries waited through the injected sleep, not real time
    assert world.emulator.pending_faults() == {"events.patch": 1}  # nothing has been patched yet

    world.emulator.reset_calls()
    sleeps = len(world.sleeps)
    moved = world.sessions[1].start + timedelta(hours=1)
    world.sessions[1] = replace(world.sessions[1], start=moved, topic="Bedah Buku (jam baru)")
    report = world.tick()
    assert [s.kind for s, _ in report.failed] == []
    assert (world.emulator.calls["events.insert"], world.emulator.calls["events.get"],
            world.emulator.calls["events.patch"]) == (0, 0, 2)  # the id is known: one patch, refused once + its retry
    assert len(world.sleeps) == sleeps + 1
    event = stored_event(world.emulator, "2027-01-14")
    assert datetime.fromisoformat(event["start"]["dateTime"]) == moved
    assert event["summary"].endswith("Bedah Buku (jam baru)")

    world.emulator.fail_next("values.batchUpdate", 429, times=2)
    world.emulator.fail_next("spreadsheets.batchUpdate", 500, times=5)  # more than the client retries
    session = world.sessions[0]
    world.zoom.attendance[world.store.session(session.uid).meeting_id] = attendees(7, 4)
    for hours in range(1, 6):
        world.clock.set(session.end_utc + timedelta(hours=hours))
        world.tick()
    assert world.store.session(session.uid).attendance_state == "synced"
    assert [t for t in world.emulator.sheet_titles(SHEET) if t.startswith("2027")] == ["2027-01-07"]
    assert len([r for r in world.emulator.sheet_values(SHEET, "Ringkasan")[1:] if r and r[0]]) == 1
    assert len(world.emulator.charts(SHEET)) == 1
    assert not world.store.retries()
    assert world.emulator.pending_faults() == {}  # every queued fault was met


def test_403_user_rate_limit_is_retried_and_each_event_is_written_once(world):
    world.emulator.fail_next("events.insert", 403, times=2, reason="userRateLimitExceeded")
    report = world.tick()
    assert report.failed == []
    assert world.emulator.calls["events.insert"] == 5  # the first event: 2 refusals and a retry; then 2 more
    assert len(world.sleeps) == 2
    events = live_events(world.emulator)
    assert sorted(e["id"] for e in events) == sorted({calendar_event_id(s.series, s.key)
                                                      for s in world.sessions if not s.cancelled})
    assert not world.store.retries()
    assert world.emulator.pending_faults() == {}


def _forbidden_calendar(world) -> str:
    world.sessions = world.sessions[:1]
    world.emulator.fail_next("events.insert", 403, reason="forbidden")
    return "events.insert"


def _forbidden_sheet(world) -> str:
    world.tick()
    session = world.sessions[0]
    world.zoom.attendance[world.store.session(session.uid).meeting_id] = attendees(7, 3)
    world.clock.set(session.end_utc + timedelta(minutes=45))
    world.emulator.reset_calls()
    world.emulator.fail_next("values.batchUpdate", 403, reason="forbidden")
    return "values.batchUpdate"


@pytest.mark.parametrize("arrange, step, target", [
    (_forbidden_calendar, "upsert_event", f"calendar {CALENDAR}"),  # Calendar v3 error shape
    (_forbidden_sheet, "sync_sheet", f"spreadsheet {SHEET}"),  # Sheets v4 error shape
])
def test_403_forbidden_is_not_retried_and_the_failure_names_the_service_account(world, arrange, step, target):
    route = arrange(world)
    report = world.tick()
    assert world.emulator.calls[route] == 1  # refused once, never retried
    assert world.sleeps == []
    (failed, message), = report.failed
    assert failed.kind == step and failed.uid == world.sessions[0].uid
    assert "(HTTP 403, forbidden)" in message  # the reason was read from the error body
    assert f"share {target} with {SERVICE_ACCOUNT_EMAIL}" in message
    retry = world.store.retries()[(failed.uid, step)]
    assert retry.attempts == 1 and SERVICE_ACCOUNT_EMAIL in retry.last_error


@pytest.mark.parametrize("route, status, reason, expected, code, daily", [
    ("events.list", 403, "userRateLimitExceeded", RateLimitError, "userRateLimitExceeded", False),
    ("events.list", 403, "quotaExceeded", RateLimitError, "quotaExceeded", True),
    ("events.list", 403, "forbidden", AccessDeniedError, "forbidden", None),
    ("values.get", 429, None, RateLimitError, "RATE_LIMIT_EXCEEDED", False),
    ("values.get", 403, "quotaExceeded", RateLimitError, "quotaExceeded", True),
    ("values.get", 403, "forbidden", AccessDeniedError, "forbidden", None),
])
def test_the_clients_read_the_reason_from_both_error_shapes(world, route, status, reason, expected, code, daily):
    world.emulator.fail_next(route, status, reason=reason)
    if route == "events.list":
        request, service = world.calendar.service.events().list(calendarId=CALENDAR, maxResults=1), CALENDAR_SERVICE
    else:
        request = world.sheets.service.spreadsheets().values().get(spreadsheetId=SHEET, range="Sheet1!A1")
        service = SHEETS_SERVICE
    with pytest.raises(IntegrationError) as caught:
        execute(request, service, num_retries=0)  # the error as it first comes, before any retry
    assert type(caught.value) is expected and (caught.value.status, caught.value.code) == (status, code)
    if daily is not None:
        assert caught.value.daily is daily


def test_recipients_from_a_form_responses_range_are_read_through_the_sheets_client(world, tmp_path):
    from worker.run.wiring import recipient_source

    service = world.sheets.service
    service.spreadsheets().batchUpdate(spreadsheetId=SHEET, body={"requests": [
        {"addSheet": {"properties": {"title": "Form Responses 1"}}}]}).execute()
    service.spreadsheets().values().batchUpdate(spreadsheetId=SHEET, body={"valueInputOption": "RAW", "data": [
        {"range": "'Form Responses 1'!A1:D4", "values": [
            ["Timestamp", "email", "name", "group"],
            ["2027-01-02 10:00", "Guru.Tk@Example.org", "Bu Ani", "guru-paud"],
            ["2027-01-02 11:00", "bukan-alamat", "Salah Ketik", ""],
            ["2027-01-03 09:00", "mhs@example.org", "Rudi", "mahasiswa"]]}]}).execute()
    text = (tmp_path / "settings.yaml").read_text(encoding="utf-8").replace(
        "      - umum@example.org\n", "      - umum@example.org\n    sheet_ranges: [\"'Form Responses 1'!B:D\"]\n")
    (tmp_path / "settings.yaml").write_text(text, encoding="utf-8")
    settings = load_settings(tmp_path / "settings.yaml")
    source = recipient_source(settings, Integrations(sheets=world.sheets), world.clock)
    emails = [r.email for r in source(world.sessions[0])]
    assert emails == ["guru@example.org", "umum@example.org", "guru.tk@example.org", "mhs@example.org"]
    world.emulator.reset_calls()
    source(world.sessions[1])
    assert world.emulator.calls["values.get"] == 0  # re-read at most every 30 minutes
