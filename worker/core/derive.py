"""Values derived from the settings: who sends the series' mail, and the lead times that decide when."""
from __future__ import annotations

from worker.core.model import SeriesInfo
from worker.core.moments import Policy
from worker.core.schema import Settings


def series_info(settings: Settings) -> SeriesInfo:
    """What templates need to know about the series and its sender."""
    s, m = settings.series, settings.mail
    return SeriesInfo(series=s.id, title=s.title, organizer=s.organizer, contact=s.contact, locale=s.locale,
                      timezone=s.timezone, sender_name=m.sender_name or s.organizer or s.title,
                      sender_address=m.sender_address, reply_to=m.reply_to, unsubscribe_url=m.unsubscribe_url,
                      tone=m.tone, also_zones=s.also_show_zones)


def policy(settings: Settings) -> Policy:
    """Lead times from settings."""
    return Policy(planning_days=settings.worker.planning_days,
                  invitation_days=settings.mail.invitation_days_before,
                  reminder_hours=settings.mail.reminder_hours_before,
                  attendance_delay_minutes=settings.attendance.delay_minutes,
                  attendance_give_up_hours=settings.attendance.give_up_hours,
                  followup=settings.followup.enabled, registration=settings.zoom.registration)
