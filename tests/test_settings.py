"""Settings errors are exact, located and complete; a valid file loads into typed values."""
from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from tests.helpers_settings import BASE, write_settings
from worker.errors import SettingsError
from worker.config.settings import load_settings


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_settings(write_settings(tmp_path, text))
    return [str(p) for p in info.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_valid_file_loads(tmp_path):
    s = load_settings(write_settings(tmp_path))
    assert s.series.id == "webinar-kamis"
    assert s.series.weekday == 3 and s.series.start_time == time(9, 0)
    assert [t.date for t in s.topics] == [date(2027, 1, 7), date(2027, 1, 14), date(2027, 1, 21), date(2027, 2, 4)]
    assert s.topics[1].start_time == time(13, 30)
    assert s.topics[3].cancelled is True
    assert s.mail.smtp.port == 2525 and s.mail.smtp.security == "none"
    assert s.mail.recipients.inline[1].email == "umum@example.org"
    assert s.worker.state_file == tmp_path / "state.db"


def test_shipped_settings_file_is_valid():
    s = load_settings(Path(__file__).parent.parent / "settings.yaml")
    assert s.series.timezone == "Asia/Makassar"
    assert any(t.cancelled for t in s.topics)
    assert any(t.start_time for t in s.topics)


def test_impossible_date(tmp_path):
    text = BASE.replace("date: 2027-01-21", "date: 2027-02-30")
    assert problems_of(tmp_path, text) == [f"settings.yaml:{line_of(text, '2027-02-30')} topics[3].date: 2027-02-30 is not a date"]


def test_port_not_a_number(tmp_path):
    text = BASE.replace("port: 2525", "port: abc")
    assert problems_of(tmp_path, text) == [
        f'settings.yaml:{line_of(text, "port: abc")} mail.smtp.port: expected a number from 1 to 65535, got "abc"']


def test_unknown_key_suggests_nearest(tmp_path):
    text = BASE.replace("  title: Webinar", "  titel: Webinar")
    msgs = problems_of(tmp_path, text)
    assert f"settings.yaml:{line_of(text, 'titel')} series.titel: unknown key 'titel'; did you mean 'title'?" in msgs
    assert any("series: 'title' is required" in m for m in msgs)


def test_date_not_on_series_weekday(tmp_path):
    text = BASE.replace("date: 2027-01-21", "date: 2027-01-20")
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{line_of(text, '2027-01-20')} topics[3].date: 2027-01-20 is a Wednesday, not a Thursday (series.weekday)"]


def test_same_date_twice(tmp_path):
    text = BASE.replace("date: 2027-01-21", "date: 2027-01-14")
    first = line_of(text, "date: 2027-01-14")
    msgs = problems_of(tmp_path, text)
    assert msgs == [f"settings.yaml:{first + 4} topics[3].date: 2027-01-14 already appears at line {first}; each date may appear once"]


def test_last_date_before_first(tmp_path):
    text = BASE.replace("last_date: 2027-02-04", "last_date: 2026-12-31")
    msgs = problems_of(tmp_path, text)
    assert f"settings.yaml:{line_of(text, 'last_date')} series.last_date: 2026-12-31 is before series.first_date 2027-01-07" in msgs


def test_unknown_time_zone(tmp_path):
    text = BASE.replace("timezone: Asia/Makassar", "timezone: Asia/Makasar")
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{line_of(text, 'timezone')} series.timezone: \"Asia/Makasar\" is not a known time zone "
        f"(expected a name like Asia/Makassar); did you mean 'Asia/Makassar'?"]


def test_topic_longer_than_zoom_allows(tmp_path):
    text = BASE.replace("topic: Bedah Buku", "topic: " + "x" * 201)
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{line_of(text, 'x' * 201)} topics[2].topic: is 201 characters long; Zoom allows at most 200"]


def test_every_error_is_reported_in_line_order(tmp_path):
    text = (BASE.replace("port: 2525", "port: 99999").replace("date: 2027-01-21", "date: 2027-13-01")
            .replace("start_time: \"13:30\"", "start_time: \"25:00\"").replace("weekday: kamis", "weekday: caturday"))
    msgs = problems_of(tmp_path, text)
    assert len(msgs) == 4
    lines = [int(m.split()[0].split(":")[1]) for m in msgs]
    assert lines == sorted(lines)
    assert any("series.weekday: expected a day name such as thursday or kamis" in m for m in msgs)
    assert any('topics[2].start_time: expected a time written HH:MM such as "09:00", got "25:00"' in m for m in msgs)


def test_topic_on_a_skip_date_and_outside_range(tmp_path):
    text = BASE.replace("date: 2027-01-21", "date: 2027-01-28").replace("date: 2027-02-04\n    topic: Arsip",
                                                                      "date: 2027-03-04\n    topic: Arsip")
    msgs = problems_of(tmp_path, text)
    assert any("topics[3].date: 2027-01-28 is listed in series.skip_dates" in m for m in msgs)
    assert any("topics[4].date: 2027-03-04 is outside the series (2027-01-07 to 2027-02-04)" in m for m in msgs)


def test_yaml_syntax_error_names_line(tmp_path):
    text = BASE.replace("  title: Webinar Kamis Perpustakaan", "  title: [Webinar")
    msgs = problems_of(tmp_path, text)
    assert msgs == [f"settings.yaml:{line_of(text, 'title: [Webinar')}: the bracket [ opened here is not closed; "
                    f"end the list with ] on the same line"]


def test_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_invalid_email_and_bool(tmp_path):
    text = BASE.replace("      - umum@example.org", "      - umum-at-example.org").replace("cancelled: true", "cancelled: maybe")
    msgs = problems_of(tmp_path, text)
    assert any('mail.recipients.inline[2]: "umum-at-example.org" is not an email address' in m for m in msgs)
    assert any('topics[4].cancelled: expected true or false, got "maybe"' in m for m in msgs)


def test_repeated_key_is_one_problem_and_the_rest_is_still_checked(tmp_path):
    text = (BASE.replace("port: 2525", "port: 99999").replace("date: 2027-01-21", "date: 2027-01-20")
            .replace("    speaker: Rahmat\n", "    speaker: Rahmat\n    speaker: Rahmat lagi\n")
            .replace("  state_file: state.db\n", "  state_file: state.db\n  tick_seconds: 60\n  tick_seconds: 30\n"))
    speaker, tick = line_of(text, "speaker: Rahmat lagi") - 1, line_of(text, "tick_seconds: 60")
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{speaker + 1} topics[2].speaker: this key appears twice (first on line {speaker}); keep only one",
        f"settings.yaml:{line_of(text, '2027-01-20')} topics[3].date: 2027-01-20 is a Wednesday, not a Thursday (series.weekday)",
        f"settings.yaml:{line_of(text, 'port: 99999')} mail.smtp.port: expected a number from 1 to 65535, got 99999",
        f"settings.yaml:{tick + 1} worker.tick_seconds: this key appears twice (first on line {tick}); keep only one"]


def with_skip_dates(*items: str) -> str:
    """BASE with these lines added under series.skip_dates (after its 2027-01-28 entry)."""
    return BASE.replace("      reason: Libur\n", "      reason: Libur\n" + "".join(f"    - {i}\n" for i in items))


def test_skip_date_not_on_series_weekday(tmp_path):
    text = with_skip_dates("2027-01-27", "date: 2027-02-03\n      reason: Rabu")
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{line_of(text, '2027-01-27')} series.skip_dates[2]: 2027-01-27 is a Wednesday, not a Thursday (series.weekday)",
        f"settings.yaml:{line_of(text, '2027-02-03')} series.skip_dates[3].date: 2027-02-03 is a Wednesday, not a Thursday (series.weekday)"]


def test_skip_date_outside_the_series(tmp_path):
    text = with_skip_dates("2026-12-31", "2027-02-11")
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{line_of(text, '2026-12-31')} series.skip_dates[2]: 2026-12-31 is outside the series (2027-01-07 to 2027-02-04)",
        f"settings.yaml:{line_of(text, '2027-02-11')} series.skip_dates[3]: 2027-02-11 is outside the series (2027-01-07 to 2027-02-04)"]


def test_skip_date_listed_twice_names_the_first(tmp_path):
    text = with_skip_dates("2027-01-28")
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{line_of(text, '- 2027-01-28')} series.skip_dates[2]: 2027-01-28 already appears at line "
        f"{line_of(text, 'date: 2027-01-28')}; list each date once"]


def test_topic_on_a_skip_date_is_refused_even_when_cancelled(tmp_path):
    # the planner would hold (or cancel) the session regardless of skip_dates, so staff must choose
    for topic in ("topic: Mendongeng", "topic: Mendongeng\n    cancelled: true"):
        text = BASE.replace("date: 2027-01-21\n    topic: Mendongeng", f"date: 2027-01-28\n    {topic}")
        assert problems_of(tmp_path, text) == [
            f"settings.yaml:{line_of(text, 'topic: Mendongeng') - 1} topics[3].date: 2027-01-28 is listed in "
            f"series.skip_dates; remove it there or here"]


def test_reversed_series_range_is_reported_once(tmp_path):
    text = BASE.replace("last_date: 2027-02-04", "last_date: 2026-12-31")
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{line_of(text, 'last_date')} series.last_date: 2026-12-31 is before series.first_date 2027-01-07"]


def test_a_misspelt_weekday_is_one_problem_not_one_per_date(tmp_path):
    text = BASE.replace("weekday: kamis", "weekday: selasaa")  # meant: selasa (Tuesday)
    for thursday, tuesday in (("2027-01-07", "2027-01-05"), ("2027-01-14", "2027-01-12"), ("2027-01-21", "2027-01-19"),
                              ("2027-01-28", "2027-01-26"), ("2027-02-04", "2027-02-02")):
        text = text.replace(thursday, tuesday)
    assert problems_of(tmp_path, text) == [
        f"settings.yaml:{line_of(text, 'weekday: selasaa')} series.weekday: expected a day name such as thursday "
        f"or kamis, got \"selasaa\""]
