"""When things happen for one session: the one place that turns lead times into moments.

Pure. The planner (worker.core.reconcile), the engine, the ``plan`` command and the report read
these moments instead of each subtracting lead times from the start on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.core.model import Session


@dataclass(frozen=True)
class Policy:
    """The lead times that decide when things happen."""

    planning_days: int = 14  # create meeting and event this many days ahead
    invitation_days: int = 7  # queue invitations this many days ahead
    reminder_hours: int = 2  # queue reminders this many hours ahead
    attendance_delay_minutes: int = 30  # fetch attendance this long after the end
    attendance_give_up_hours: int = 24  # then stop waiting for the report
    followup: bool = True  # thank-you mail to attendees after the session
    registration: bool = False  # register invitees on Zoom (personal links) before inviting them
    # Recipient lists are read when an invitation window opens, then at most this often while a session can
    # still take a late sign-up: a Google Form's answers sheet is a remote read, so not on every tick.
    recipients_refresh: timedelta = timedelta(hours=3)


@dataclass(frozen=True, slots=True)
class Moments:
    """The moments of one session, all aware UTC."""

    meeting_due: datetime  # from here on: create the meeting, then the calendar event
    invitations_due: datetime  # from here on: queue invitations
    reminder_due: datetime  # from here on: queue reminders
    start: datetime  # the session starts: mail meant for before it is no longer sent
    end: datetime  # the session ends: meetings and events are no longer updated
    attendance_due: datetime  # from here on: fetch attendance
    attendance_give_up: datetime  # after this, a missing Zoom report counts as nobody


def moments(session: Session, policy: Policy) -> Moments:
    """Every moment of ``session`` under ``policy``."""
    start, end = session.start_utc, session.end_utc
    return Moments(meeting_due=start - timedelta(days=policy.planning_days),
                   invitations_due=start - timedelta(days=policy.invitation_days),
                   reminder_due=start - timedelta(hours=policy.reminder_hours),
                   start=start, end=end,
                   attendance_due=end + timedelta(minutes=policy.attendance_delay_minutes),
                   attendance_give_up=end + timedelta(hours=policy.attendance_give_up_hours))
