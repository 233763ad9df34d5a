"""Remote calls at the minimum (issue 18), counted where they arrive: at the Zoom and Google emulators.

A season of the real worker makes exactly the minimum the issue defines, kind by kind; a tick with
nothing due makes none; a create whose answer was lost is found by the lookup instead of made twice;
a sheet tab someone deleted is made again; a Form's answers are read when an invitation window opens
and then at most every ``Policy.recipients_refresh``, never while no session can take a late sign-up.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from bench.bench_calls import CallSeason
from bench.bench_scale import scale_check
from tests.helpers_worlds import GoogleWorld, ZoomWorld
from worker.core.model import SummaryRow
from worker.core.moments import Policy, moments
from worker.core.planner import plan_season
from worker.config.settings import load_settings

UTC = timezone.utc


def run_season(tmp_path, **kwargs):
    season = CallSeason(tmp_path, **kwargs)
    season.finish_counts()
    return season, season.run()


def test_a_season_makes_exactly_the_minimum_by_kind_and_an_idle_tick_none(tmp_path):
    season, calls = run_season(tmp_path, people=2)  # the bench's season (8 sessions), with fewer mails to draw
    assert (calls.held, calls.edits, calls.cancels, calls.made) == (7, 1, 1, 8)
    assert calls.by_kind() == calls.minimum()
    assert "zoom list_meetings" not in calls.by_kind()  # no lookup: no create answer was ever lost
    for read in ("google events.get", "google spreadsheets.get", "google values.get"):
        assert read not in calls.by_kind()  # an edit is one patch; a sync reads nothing
    assert calls.idle_tick_calls == 0
    # What the office head reads is all there: a tab per held session and one summary row each.
    titles = season.google.sheet_titles("calls-kehadiran-webinar-kamis")
    assert len([t for t in titles if t.startswith("2027-")]) == 7 and "Ringkasan" in titles
    summary = season.google.sheet_values("calls-kehadiran-webinar-kamis", "Ringkasan")
    assert len([r for r in summary[1:] if r and r[0]]) == 7


def test_a_create_whose_answer_was_lost_is_found_not_made_again(tmp_path, zoom):
    emulator = zoom  # the conftest fixture
    world = ZoomWorld(tmp_path, emulator)
    first, second = world.sessions[0], world.sessions[1]
    world.clock.set(first.start_utc - timedelta(days=20))  # only the first is within the 21 planning days
    emulator.fail_after_commit("create_meeting", "drop")  # Zoom makes it; the answer never arrives
    world.tick()
    row = world.store.session(first.uid)
    assert row.create_started_at is not None and not row.meeting_id  # "create attempted", saved before
    world.restart()
    emulator.reset_calls()
    world.clock.set(world.clock.now() + timedelta(minutes=5))
    world.tick()
    assert world.store.session(first.uid).meeting_id
    marker = first.marker()
    assert len([m for m in emulator.meetings.values() if marker in (m.get("agenda") or "")]) == 1
    assert emulator.calls["list_meetings"] == 1 and emulator.calls["create_meeting"] == 0  # found, adopted
    assert world.store.session(first.uid).create_started_at is None  # the answer is saved: marker cleared
    # The next session's create had no lost answer before it: no lookup, one create.
    emulator.reset_calls()
    world.clock.set(second.start_utc - timedelta(days=20))
    world.tick()
    assert (emulator.calls["create_meeting"], emulator.calls["list_meetings"]) == (1, 0)


def test_a_deleted_sheet_tab_is_made_again_and_the_sync_still_writes_everything(tmp_path, google):
    emulator = google  # the conftest fixture: SHEET shared with the service account
    world = GoogleWorld(tmp_path, emulator)
    sheet = world.sheets.spreadsheet_id
    from tests.test_google_flow import attendees  # the same people the Google flow tests use

    def summary(day, people):
        return SummaryRow(datetime(2027, 1, day).date(), f"Topik {day}", "Andi", 10, len(people), 50.0)

    layout = world.sheets.sync_session("2027-01-07", attendees(7, 4), summary(7, attendees(7, 4)))
    layout = world.sheets.sync_session("2027-01-14", attendees(14, 3), summary(14, attendees(14, 3)),
                                       layout=layout)
    emulator.delete_sheet(sheet, "Ringkasan")  # someone tidied the spreadsheet
    emulator.delete_sheet(sheet, "2027-01-14")
    emulator.reset_calls()
    layout = world.sheets.sync_session("2027-01-14", attendees(14, 5), summary(14, attendees(14, 5)),
                                       layout=layout)
    titles = emulator.sheet_titles(sheet)
    assert "Ringkasan" in titles and "2027-01-14" in titles
    assert len([r for r in emulator.sheet_values(sheet, "2027-01-14")[1:] if r and r[1]]) == 5
    assert [r[0] for r in emulator.sheet_values(sheet, "Ringkasan")[1:] if r and r[0]] == ["2027-01-14"]
    assert len(emulator.charts(sheet)) == 1
    assert emulator.calls["spreadsheets.get"] == 1  # read once, because the write was refused
    # The repaired layout is what the next sync uses: its writes only.
    emulator.reset_calls()
    world.sheets.sync_session("2027-01-07", attendees(7, 4), summary(7, attendees(7, 4)), layout=layout)
    assert emulator.calls["spreadsheets.get"] == 0 and emulator.calls["values.get"] == 0
    assert emulator.writes() == 1  # its tab, the summary and the chart are all there: values only


def test_the_form_is_read_when_a_window_opens_then_at_most_every_refresh_and_never_when_no_one_can_sign_up(
        tmp_path):
    season, calls = run_season(tmp_path, weeks=2, edit_week=None, cancel_week=None, form=True, people=2)
    settings = load_settings(season.series[0].settings_path)
    policy = Policy(invitation_days=settings.mail.invitation_days_before)
    windows = [(moments(s, policy).invitations_due, s.start_utc) for s in plan_season(settings).sessions]
    reads = calls.range_reads
    assert reads
    for moment in reads:  # only while some session can take a late sign-up
        assert any(opens <= moment < starts for opens, starts in windows)
    for opens, _ in windows:  # each window's opening tick reads the list (its invitations need it)
        assert min(r for r in reads if r >= opens) - opens < timedelta(hours=1)
    openings = {min(r for r in reads if r >= opens) for opens, _ in windows}
    for before, after in zip(reads, reads[1:]):
        assert after - before >= policy.recipients_refresh or after in openings
    hours_in_windows = sum((starts - opens) / timedelta(hours=1) for opens, starts in windows)
    assert len(reads) <= hours_in_windows / 3 + len(windows)  # not on every hourly tick
    assert calls.by_kind()["zoom batch_registrants"] == 2  # everyone on the Form was registered, once a session
    extra = {"google values.get", "google token"}  # the Form's reads, and the tokens of hours with only a read
    assert {k: n for k, n in calls.by_kind().items() if k not in extra} \
        == {k: n for k, n in calls.minimum().items() if k not in extra}
    assert calls.by_kind()["google values.get"] == len(reads)  # one range read a reading tick, no sheet reads


def test_many_series_in_one_process_make_the_same_calls_per_session_as_one(tmp_path):
    # bench/bench_scale.py runs 50 series of 2 sessions; here 8 series of 1 session and 1 invitee keep it fast
    # (each series builds its own clients and state file, and every mail's .ics costs a tenth of a second).
    one, many = scale_check(tmp_path, series=8, weeks=1, people=1, participants=3)
    assert (many.sessions, one.sessions, many.held) == (8, 1, 8)
    assert many.by_kind() == Counter({kind: 8 * n for kind, n in one.by_kind().items()})  # per session unchanged
    assert many.by_kind() == many.minimum()
    assert many.idle_tick_calls == 0


def test_a_calendar_edit_is_one_patch_and_an_event_gone_for_good_is_written_again(tmp_path, google):
    from tests.test_google_flow import stored_event

    world = GoogleWorld(tmp_path, google)
    world.tick()  # meetings (fake Zoom) and their events
    google.reset_calls()
    moved = world.sessions[1].start + timedelta(hours=1)
    world.sessions[1] = replace(world.sessions[1], start=moved, topic="Bedah Buku (jam baru)")
    world.tick()
    assert {k: n for k, n in google.calls.items() if n} == {"events.patch": 1}  # the id is in the state
    # Someone removed the next edit's event for good: Google answers 404, the worker writes it again.
    google.reset_calls()
    google.fail_next("events.patch", 404, reason="notFound")
    world.sessions[1] = replace(world.sessions[1], topic="Bedah Buku (ruang baru)")
    report = world.tick()
    assert report.failed == []
    assert google.calls["events.patch"] >= 1 and google.calls["events.insert"] == 1
    event = stored_event(google, world.sessions[1].key)
    assert event["summary"].endswith("Bedah Buku (ruang baru)") and event.get("status") != "cancelled"
    assert datetime.fromisoformat(event["start"]["dateTime"]) == moved
