"""The mail kinds: each declares, in one place, its templates, its .ics, who gets it and until when.

Pure data. Rendering (worker.mail), the engine, the state store and ``status`` read this table;
adding a kind means a new entry here and its three templates (``<kind>.subject.txt.j2``,
``<kind>.txt.j2``, ``<kind>.html.j2``), plus a step that queues it.
"""
from __future__ import annotations

from enum import Enum, StrEnum


class Audience(Enum):
    """Who a mail kind goes to."""

    LIST = "list"  # everyone on the session's recipient list (groups applied; with registration, once registered)
    INVITED = "invited"  # those the invitation was sent to
    ATTENDEES = "attendees"  # identified non-staff attendees who stayed long enough (worker.core.attendance.thanked)
    OPERATOR = "operator"  # the operator addresses in ``worker.alert_to`` (not tied to a session)


class Until(Enum):
    """Until when a queued mail of a kind may still be sent."""

    START = "start"  # pointless once the session began: dropped then
    ANY_TIME = "any_time"  # sent whenever the outbox gets to it


class MailKind(StrEnum):
    """A kind of mail; its value is what ``outbox.kind`` stores and the templates' prefix."""

    # name = (value = template prefix, .ics METHOD or None, .ics file name, audience, until, own SEQUENCE,
    #         certificate, urgency: lower goes first when not everything can be sent now)
    INVITATION = ("invitation", "REQUEST", "undangan.ics", Audience.LIST, Until.START, False, False, 2)
    REMINDER = ("reminder", "REQUEST", "undangan.ics", Audience.INVITED, Until.START, False, False, 1)
    CHANGE = ("change", "REQUEST", "undangan.ics", Audience.INVITED, Until.START, True, False, 0)
    CANCELLATION = ("cancellation", "CANCEL", "pembatalan.ics", Audience.INVITED, Until.START, True, False, 0)
    THANKYOU = ("thankyou", None, "", Audience.ATTENDEES, Until.ANY_TIME, False, True, 3)
    ALERT = ("alert", None, "", Audience.OPERATOR, Until.ANY_TIME, False, False, 0)  # worker.run.alerts sends it

    def __new__(cls, value: str, ics_method: str | None, ics_filename: str, audience: Audience, until: Until,
                own_sequence: bool, certificate: bool, urgency: int) -> "MailKind":
        member = str.__new__(cls, value)
        member._value_ = value
        member.ics_method = ics_method  # METHOD of the attached .ics; None = no .ics
        member.ics_filename = ics_filename  # the attachment's name recipients see
        member.audience = audience  # who gets it
        member.until = until  # until when it may be sent
        member.own_sequence = own_sequence  # it raises the iCalendar SEQUENCE: its outbox round is its SEQUENCE
        member.certificate = certificate  # a PDF certificate may be attached
        member.urgency = urgency  # send order under a cap or hold: 0 first (then the nearest session first)
        return member

    @property
    def templates(self) -> tuple[str, str, str]:
        """Its three template names: subject, plain text, HTML."""
        return (f"{self.value}.subject.txt.j2", f"{self.value}.txt.j2", f"{self.value}.html.j2")


MAIL_KINDS: tuple[str, ...] = tuple(kind.value for kind in MailKind)  # every kind, in declaration order
BEFORE_START_KINDS: tuple[str, ...] = tuple(k.value for k in MailKind if k.until is Until.START)  # dropped at the start
ICS_KINDS: dict[str, str] = {k.value: k.ics_method for k in MailKind if k.ics_method}  # kind -> .ics METHOD


class MailStatus(StrEnum):
    """Where one outbox row stands."""

    PENDING = "pending"  # waiting to be sent (perhaps deferred until ``next_at``)
    SENDING = "sending"  # claimed by one process, on its way to the SMTP server (``claim_mail``)
    SENT = "sent"  # the SMTP server accepted it
    FAILED = "failed"  # refused for good
    SKIPPED = "skipped"  # dropped: its moment passed, the session was cancelled, or unsubscribed
