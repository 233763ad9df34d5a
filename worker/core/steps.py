"""The step kinds: each declares, in one place, the integration it calls and its order.

Pure data. The planner (worker.core.reconcile) emits steps of these kinds, a session's steps in
declaration order; the engine (worker.run.engine) binds one handler per kind in a table that is
checked when it is imported, so a kind without a handler fails loudly at start-up.
"""
from __future__ import annotations

from enum import StrEnum


class StepKind(StrEnum):
    """What a step does; its value is what ``retries.step`` stores. Declaration order is step order."""

    # name = (stored value, integration it calls; "" = local only)
    CREATE_MEETING = ("create_meeting", "zoom")
    UPDATE_MEETING = ("update_meeting", "zoom")
    UPSERT_EVENT = ("upsert_event", "calendar")
    DELETE_MEETING = ("delete_meeting", "zoom")
    CANCEL_EVENT = ("cancel_event", "calendar")
    QUEUE_CHANGE = ("queue_change", "")
    REGISTER_INVITEES = ("register_invitees", "zoom")  # after the meeting exists, before invitations (personal links)
    CANCEL_REGISTRATIONS = ("cancel_registrations", "zoom")  # people who left the list lose their registration
    QUEUE_INVITATIONS = ("queue_invitations", "")
    QUEUE_REMINDERS = ("queue_reminders", "")
    QUEUE_CANCELLATION = ("queue_cancellation", "")
    EXPIRE_MAIL = ("expire_mail", "")
    SKIP_INVITATIONS = ("skip_invitations", "")
    FETCH_ATTENDANCE = ("fetch_attendance", "zoom")
    SYNC_SHEET = ("sync_sheet", "sheets")
    QUEUE_THANKYOU = ("queue_thankyou", "")
    SEND_MAIL = ("send_mail", "mail")

    def __new__(cls, value: str, needs: str) -> "StepKind":
        member = str.__new__(cls, value)
        member._value_ = value
        member.needs = needs  # the integration this kind calls ("" for local steps)
        member.order = len(cls.__members__)  # position among the kinds: a session's steps run in this order
        return member
