"""The sessions the settings ask for (pure: no I/O, no clock)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from worker.core.model import Session
from worker.core.schema import Settings


@dataclass(frozen=True)
class SeasonPlan:
    """The planned sessions plus the series dates that have no topic yet."""

    sessions: tuple[Session, ...]  # one per topic entry, in date order (cancelled ones included)
    skipped: tuple[tuple[date, str], ...]  # (date, reason) for series.skip_dates
    without_topic: tuple[date, ...]  # series dates with no entry in topics: not scheduled


def series_dates(first: date, last: date, weekday: int) -> list[date]:
    """Every ``weekday`` from ``first`` to ``last`` inclusive."""
    if first > last:
        return []
    day = first + timedelta(days=(weekday - first.weekday()) % 7)
    result = []
    while day <= last:
        result.append(day)
        day += timedelta(days=7)
    return result


def local_start(day: date, at: time, zone: str) -> datetime:
    """The aware start of a session at local time ``at`` on ``day``.

    A local time that does not exist (a daylight-saving gap) moves forward by the gap,
    as clocks do; an ambiguous one (the repeated hour) takes the first occurrence.
    """
    tz = ZoneInfo(zone)
    # fold=0 reads a gap time with the offset before the jump, so the UTC round trip lands
    # after the gap (02:30 -> 03:30); in the repeated hour it picks the first occurrence.
    naive = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    return naive.astimezone(timezone.utc).astimezone(tz)


def plan_season(settings: Settings) -> SeasonPlan:
    """Turn the series rules and topic entries into sessions."""
    series = settings.series
    sessions = []
    for entry in settings.topics:
        start = local_start(entry.date, entry.start_time or series.start_time, series.timezone)
        sessions.append(Session(
            series=series.id, date=entry.date, start=start,
            duration_minutes=entry.duration_minutes or series.duration_minutes,
            timezone=series.timezone, topic=entry.topic, speaker=entry.speaker,
            audience=entry.audience, description=entry.description, groups=entry.groups,
            cancelled=entry.cancelled, recording_url=entry.recording_url))
    skip = {s.date: s.reason for s in series.skip_dates}
    with_topic = {e.date for e in settings.topics}
    missing = tuple(d for d in series_dates(series.first_date, series.last_date, series.weekday)
                    if d not in skip and d not in with_topic)
    return SeasonPlan(tuple(sessions), tuple(sorted(skip.items())), missing)
