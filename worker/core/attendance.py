"""Attendance: one row per person, however often they dropped out and came back.

Pure functions over :class:`~worker.core.model.ParticipantRecord`; the vendor's JSON is parsed
in the integration (``integrations/zoom.py``), never here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from worker.core.cleaning import clean_email, clean_name
from worker.core.model import Attendee, ParticipantRecord


def person_key(record: ParticipantRecord) -> str:
    """Who a record belongs to: the e-mail address, else the participant id, else the display name."""
    email = clean_email(record.email) or ""
    if email:
        return f"email:{email}"
    if record.participant_id.strip():
        return f"id:{record.participant_id.strip()}"
    return f"name:{clean_name(record.name).casefold()}"


@dataclass
class _Stays:
    """The stays of one person collected so far."""

    name: str  # display name of the first record seen
    email: str  # lower-cased e-mail, "" when none was given
    first_join: datetime  # earliest join time (aware)
    last_leave: datetime  # latest leave time (aware)
    seconds: int = 0  # seconds over all stays
    joins: int = 0  # number of stays


def merge_participants(records: Iterable[ParticipantRecord]) -> list[Attendee]:
    """Merge rejoins into one Attendee per person, sorted by first join, then name.

    First join and last leave span all stays; minutes are the rounded sum of the stays'
    seconds; ``joins`` counts the stays. The name is the one first seen.
    """
    people: dict[str, _Stays] = {}
    for record in records:
        key = person_key(record)
        stays = people.get(key)
        if stays is None:
            # Zoom names and e-mails are typed by the public: cleaned and capped here, where they
            # enter; an invalid address is dropped (the person is still counted by name).
            stays = people[key] = _Stays(name=clean_name(record.name), email=clean_email(record.email) or "",
                                         first_join=record.join_time, last_leave=record.leave_time)
        stays.first_join = min(stays.first_join, record.join_time)
        stays.last_leave = max(stays.last_leave, record.leave_time)
        stays.seconds += max(0, int(record.duration_seconds))
        stays.joins += 1
    rows = [Attendee(name=s.name, email=s.email, first_join=s.first_join, last_leave=s.last_leave,
                     minutes=round(s.seconds / 60), joins=s.joins) for s in people.values()]
    return sorted(rows, key=lambda a: (a.first_join, a.name.casefold()))
