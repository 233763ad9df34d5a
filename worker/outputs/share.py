"""The WhatsApp pack (``webinar-worker share DATE``): ready-to-paste messages for one session.

In Indonesia a session's link travels mostly through WhatsApp groups; staff used to retype
it. The pack holds four messages (the announcement a week before, the day before, the day
itself, the thank-you), each rendered from a staff-editable ``whatsapp_*.txt.j2`` template
in the same sandboxed Jinja environment as the mails, followed by a
``https://wa.me/?text=...`` link that opens WhatsApp with the text filled in.

The only link in a message is the meeting's public one: the registration page when Zoom
registration is on, else the meeting's own join link; never a registrant's personal link
(those live in another table and are not read here). When the meeting does not exist yet
the messages say the link will follow, and :attr:`SharePack.link` is "" so the command can
say so plainly: an announcement without a link is still worth posting, a made-up link is not.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from worker.core.model import SeriesInfo, Session
from worker.core.records import SessionState
from worker.i18n import N_, Translator
from worker.mail.render import WHATSAPP_TEMPLATES, Renderer, whatsapp_context

WA_ME = "https://wa.me/?text="  # WhatsApp's click-to-chat link; without a number it asks whom to send to
MESSAGE_MAX = 1000  # characters: longer messages are cut in WhatsApp's preview and tire readers
MOMENTS = (  # (template, title shown to staff, days before the session it is meant to be posted)
    (WHATSAPP_TEMPLATES[0], N_("Announcement (a week before)"), 7),
    (WHATSAPP_TEMPLATES[1], N_("Reminder (the day before)"), 1),
    (WHATSAPP_TEMPLATES[2], N_("On the day (before the start)"), 0),
    (WHATSAPP_TEMPLATES[3], N_("Thank-you (after the session)"), 0),
)


@dataclass(frozen=True)
class ShareMessage:
    """One ready-to-paste WhatsApp message."""

    title: str  # English template of the moment's title (translated when shown)
    post_on: date  # the day it is meant to be posted
    text: str  # the message, plain WhatsApp text
    wa_link: str  # https://wa.me/?text=<the text, URL-encoded>


@dataclass(frozen=True)
class SharePack:
    """The four messages of one session and the public link they carry."""

    session: Session  # the session
    link: str  # the public registration or join link; "" when the meeting does not exist yet
    messages: tuple[ShareMessage, ...]  # in posting order


def wa_me_link(text: str) -> str:
    """``https://wa.me/?text=...``: every character but letters, digits and ``-._~`` percent-encoded (UTF-8)."""
    return WA_ME + quote(text, safe="")


def public_link(state: SessionState | None) -> tuple[str, bool]:
    """(link, True when it is a registration page) from the session's stored meeting; ("", False) when none."""
    if state is None or not state.meeting_id or state.meeting_deleted:
        return "", False
    if state.registration_url:
        return state.registration_url, True
    return state.join_url, False


def build_pack(renderer: Renderer, session: Session, series: SeriesInfo, state: SessionState | None, *,
               min_minutes: int = 30, certificate: bool = True) -> SharePack:
    """The four messages for ``session``; a template problem raises TemplateError naming the template."""
    link, registration = public_link(state)
    context = whatsapp_context(session, series, link=link, registration=registration,
                               meeting_id=state.meeting_id if state and link else "",
                               passcode=state.passcode if state and link else "", min_minutes=min_minutes,
                               certificate=certificate)
    messages = []
    for template, title, days in MOMENTS:
        text = tidy(renderer.render(template, context))
        messages.append(ShareMessage(title, session.date - timedelta(days=days), text, wa_me_link(text)))
    return SharePack(session, link, tuple(messages))


def tidy(text: str) -> str:
    """Trailing spaces off every line, at most one empty line in a row, no empty lines at either end."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()


def pack_text(pack: SharePack, series: SeriesInfo, t: Translator, format_day: Callable[[date], str]) -> str:
    """The pack as staff read it in the terminal and in ``whatsapp-DATE.txt``; ``format_day`` writes a date."""
    out = [t._("WhatsApp messages: {title}, {day}", title=series.title, day=format_day(pack.session.date)),
           t._("Copy one message (between the lines) into the WhatsApp group, or open its wa.me link on a "
               "phone or in WhatsApp Web."),
           ""]
    if not pack.link:
        out += [t._("Note: the Zoom meeting does not exist yet, so the messages say the link will follow. "
                    "Run share again after the worker has created the meeting."), ""]
    for number, message in enumerate(pack.messages, start=1):
        when = t._("post on {day}", day=format_day(message.post_on))
        out += [f"=== {number}. {t._(message.title)} — {when} ===",
                message.text, "---", t._("Open in WhatsApp:"), message.wa_link, ""]
    return "\n".join(out)


def write_pack(folder: Path, pack: SharePack, text: str) -> Path:
    """Write ``folder/whatsapp-YYYY-MM-DD.txt`` (UTF-8) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"whatsapp-{pack.session.date.isoformat()}.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def templates_for_share(folder: Path, shipped: Path) -> Path:
    """``folder`` when it has the WhatsApp templates, else the shipped ones (a folder made before the pack)."""
    return folder if (Path(folder) / WHATSAPP_TEMPLATES[0]).is_file() else shipped


def too_long(pack: SharePack) -> list[ShareMessage]:
    """The messages longer than MESSAGE_MAX characters (an edited template or a very long description)."""
    return [m for m in pack.messages if len(m.text) > MESSAGE_MAX]
