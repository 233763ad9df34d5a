"""How many recipients the season will mail in any 24 hours, from the recipient lists and the lead times (pure).

Providers count recipients over a rolling 24 hours (Gmail: 500 on a free account, 2,000 on Workspace,
https://support.google.com/a/answer/166852), so the estimate looks at every 24-hour window that ends
at a mailing moment, not at calendar days. Invitations and reminders are counted; change notices and
cancellations cannot be foreseen, and thank-yous may wait (they go last and have no deadline).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

from worker.core.mailkinds import MailKind
from worker.core.model import Session
from worker.core.moments import Policy, moments

WINDOW = timedelta(hours=24)  # the providers' rolling window


@dataclass(frozen=True, slots=True)
class Burst:
    """The mail of one kind for one session, all queued at one moment."""

    at: datetime  # when it is queued (aware UTC)
    kind: MailKind  # invitation or reminder
    session: str  # the session's key, e.g. 2027-01-14
    recipients: int  # how many people


@dataclass(frozen=True, slots=True)
class Overload:
    """A 24-hour window that holds more recipients than the cap."""

    day: date  # the local day the window ends on
    recipients: int  # recipients in that window
    cap: int  # mail.smtp.per_day
    bursts: tuple[Burst, ...]  # what falls in the window

    def describe(self) -> str:
        """One line for ``plan`` and ``check``: the day, the numbers, what is in it, what to do."""
        parts = ", ".join(f"{b.recipients} {b.kind.value} for {b.session}" for b in self.bursts)
        return (f"mail: about {self.recipients} recipients in the 24 hours up to {self.day} ({parts}) but "
                f"mail.smtp.per_day is {self.cap}; the rest waits for the window to pass. Send invitations "
                f"earlier (mail.invitation_days_before) so they do not meet the reminders, or use a larger "
                f"account or a relay")


def bursts(sessions: Sequence[Session], policy: Policy, audience: Callable[[Session], int],
           now: datetime) -> list[Burst]:
    """The invitations and reminders still to come for sessions that have not started, in time order.

    A moment already past counts at ``now``: the worker sends such mail as soon as it can.
    """
    found: list[Burst] = []
    for s in sessions:
        if s.cancelled or s.start_utc <= now:
            continue
        people = audience(s)
        if people <= 0:
            continue
        when = moments(s, policy)
        found.append(Burst(max(when.invitations_due, now), MailKind.INVITATION, s.key, people))
        found.append(Burst(max(when.reminder_due, now), MailKind.REMINDER, s.key, people))
    return sorted(found, key=lambda b: b.at)


def overloads(found: Sequence[Burst], per_day: int, zone: str) -> list[Overload]:
    """The busiest over-cap window ending on each local day (none when ``per_day`` is 0: no cap)."""
    if per_day <= 0:
        return []
    worst: dict[date, Overload] = {}
    for end in found:
        inside = tuple(b for b in found if end.at - WINDOW < b.at <= end.at)
        total = sum(b.recipients for b in inside)
        day = end.at.astimezone(ZoneInfo(zone)).date()
        if total > per_day and (day not in worst or total > worst[day].recipients):
            worst[day] = Overload(day, total, per_day, inside)
    return [worst[d] for d in sorted(worst)]
