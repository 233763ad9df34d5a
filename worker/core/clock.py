"""Where "now" comes from. Every component takes a clock; nothing calls datetime.now() itself."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current moment from the operating system, in UTC."""
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that stays where it is told (``once --now`` and tests)."""

    def __init__(self, moment: datetime):
        if moment.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._moment = moment.astimezone(timezone.utc)  # the moment reported by now()

    def now(self) -> datetime:
        """The fixed moment, in UTC."""
        return self._moment

    def set(self, moment: datetime) -> None:
        """Move the clock to ``moment`` (aware)."""
        self._moment = moment.astimezone(timezone.utc)


def parse_moment(text: str, default_zone: str | None = None) -> datetime:
    """Parse an ISO-8601 moment such as ``2027-01-14T08:00+08:00``.

    A value without an offset is read in ``default_zone`` (the series' zone) when given.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO date-time such as 2027-01-14T08:00+08:00") from exc
    if moment.tzinfo is None:
        if default_zone is None:
            raise ValueError(f"{text!r} has no UTC offset; write it like 2027-01-14T08:00+08:00")
        moment = moment.replace(tzinfo=ZoneInfo(default_zone))
    return moment.astimezone(timezone.utc)
