"""The planner: skips, overrides, cancellations, DST zones and year ends."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from tests.helpers_settings import BASE, write_settings
from worker.core.planner import local_start, plan_season, series_dates
from worker.config.settings import load_settings


def test_sessions_keys_overrides_and_cancellation(tmp_path):
    plan = plan_season(load_settings(write_settings(tmp_path)))
    assert [s.key for s in plan.sessions] == ["2027-01-07", "2027-01-14", "2027-01-21", "2027-02-04"]
    first, second, third, fourth = plan.sessions
    assert first.uid == "webinar-kamis/2027-01-07"
    assert first.start.isoformat() == "2027-01-07T09:00:00+08:00"
    assert first.start_utc == datetime(2027, 1, 7, 1, 0, tzinfo=timezone.utc)
    assert first.end - first.start == timedelta(minutes=90)
    assert second.start.time() == time(13, 30)
    assert third.groups == ("guru-paud",)
    assert fourth.cancelled is True
    assert plan.skipped == ((date(2027, 1, 28), "Libur"),)
    assert plan.without_topic == ()


def test_key_is_stable_when_topic_and_time_change(tmp_path):
    a = plan_season(load_settings(write_settings(tmp_path))).sessions[0]
    edited = BASE.replace("topic: Menulis Cerita Pendek\n    speaker: Andi",
                          "topic: Menulis Cerpen\n    speaker: Budi\n    start_time: \"10:00\"")
    b = plan_season(load_settings(write_settings(tmp_path, edited))).sessions[0]
    assert a.uid == b.uid and a.topic != b.topic and a.start != b.start


def test_dates_without_topic_are_listed_not_scheduled(tmp_path):
    text = BASE.replace("  - date: 2027-01-21\n    topic: Mendongeng\n    groups: [guru-paud]\n", "")
    plan = plan_season(load_settings(write_settings(tmp_path, text)))
    assert plan.without_topic == (date(2027, 1, 21),)
    assert date(2027, 1, 21) not in [s.date for s in plan.sessions]


def test_dst_zone_keeps_local_wall_time():
    # New York switches to daylight time on 2027-03-14: 09:00 local stays 09:00, the UTC time moves.
    before = local_start(date(2027, 3, 11), time(9, 0), "America/New_York")
    after = local_start(date(2027, 3, 18), time(9, 0), "America/New_York")
    assert before.hour == after.hour == 9
    assert before.astimezone(timezone.utc).hour == 14 and after.astimezone(timezone.utc).hour == 13


def test_dst_gap_moves_forward():
    # 02:30 does not exist in New York on 2027-03-14; clocks jump to 03:30.
    start = local_start(date(2027, 3, 14), time(2, 30), "America/New_York")
    assert start.astimezone(timezone.utc) == datetime(2027, 3, 14, 7, 30, tzinfo=timezone.utc)


def test_dst_series_in_settings(tmp_path):
    text = (BASE.replace("timezone: Asia/Makassar", "timezone: Europe/Berlin")
            .replace("first_date: 2027-01-07", "first_date: 2027-03-18")
            .replace("last_date: 2027-02-04", "last_date: 2027-04-01")
            .replace("date: 2027-01-28", "date: 2027-03-25"))
    text = text.split("topics:")[0] + "topics:\n  - date: 2027-03-18\n    topic: A\n  - date: 2027-04-01\n    topic: B\n" \
        + "mail:" + text.split("\nmail:")[1]
    a, b = plan_season(load_settings(write_settings(tmp_path, text))).sessions
    assert a.start.hour == b.start.hour == 9
    assert a.start_utc.hour == 8 and b.start_utc.hour == 7  # CET then CEST (switch on 2027-03-28)


def test_season_across_year_end():
    days = series_dates(date(2026, 12, 17), date(2027, 1, 14), 3)
    assert days == [date(2026, 12, 17), date(2026, 12, 24), date(2026, 12, 31), date(2027, 1, 7), date(2027, 1, 14)]
    assert series_dates(date(2027, 1, 15), date(2027, 1, 1), 3) == []


def test_calendar_event_id_uses_only_base32hex_and_is_stable():
    import re

    from worker.core.model import calendar_event_id

    ids = {calendar_event_id("webinar-kamis", f"2027-01-{d:02d}") for d in range(1, 29)}
    assert len(ids) == 28
    assert all(re.fullmatch(r"[0-9a-v]{5,1024}", i) for i in ids)  # Google's rule for client-chosen ids
    # Pinned: events already in staff calendars carry this id, so a change would orphan them all.
    assert calendar_event_id("webinar-kamis", "2027-01-14") == "tcfq5ttetv5aimc97ifcci71d49apg65"
    assert calendar_event_id("webinar-jumat", "2027-01-14") != calendar_event_id("webinar-kamis", "2027-01-14")
