"""Attendance: one row per person, however often they dropped out and came back, tied to who they are.

Pure functions over :class:`~worker.core.model.ParticipantRecord`; the vendor's JSON is parsed
in the integration (``integrations/zoom.py``), never here.

Who a participant is (Zoom's rules, see integrations/zoom.py): a guest's e-mail is hidden unless
they registered, and the reports blank a guest's ``id``. So a person is known by the
``registrant_id`` of the personal link they joined with, else by the e-mail Zoom shows (users of
the host's account), else - only when ``zoom.registration`` is off - by a display name that
matches exactly one listed name once titles, case and spaces are set aside. Everyone else is a
guest: counted, shown, but not named.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable, Sequence

from worker.core.cleaning import clean_email, clean_name
from worker.core.model import Attendee, ParticipantRecord, Recipient, Registrant

# Honorifics before a name and academic titles after it, as Indonesians write them ("Dr. Rahmat
# Hidayat", "Andi Nurhayati, S.Pd.", "Ibu Dewi"); compared without dots and case.
_HONORIFICS = frozenset({"dr", "drs", "dra", "ir", "h", "hj", "prof", "bapak", "ibu", "pak", "bu", "kak", "mas",
                         "mbak", "sdr", "sdri", "tn", "ny", "nn"})
_TITLE = re.compile(r"^[a-z]{1,3}(\.[a-z]{1,5}){1,2}\.?$", re.IGNORECASE)  # "S.Pd.", "M.Hum", "S.Pd.I"; needs a dot


def person_key(record: ParticipantRecord) -> str:
    """Who a record belongs to: the registrant id, else the e-mail, else the participant id, else the name."""
    return _person_key(record, clean_email(record.email) or "")


def _person_key(record: ParticipantRecord, email: str) -> str:
    """:func:`person_key` with the record's cleaned e-mail already known."""
    if record.registrant_id.strip():
        return f"reg:{record.registrant_id.strip()}"
    if email:
        return f"email:{email}"
    if record.participant_id.strip():
        return f"id:{record.participant_id.strip()}"
    return f"name:{clean_name(record.name).casefold()}"


@dataclass(slots=True)
class _Stays:
    """The stays of one person collected so far."""

    name: str  # display name of the first record seen
    email: str  # lower-cased e-mail, "" when none was given
    first_join: datetime  # earliest join time (aware)
    last_leave: datetime  # latest leave time (aware)
    seconds: int = 0  # seconds over all stays
    joins: int = 0  # number of stays
    registrant_id: str = ""  # registrant id, when the records carry one
    internal: bool = False  # any record says internal user


def merge_participants(records: Iterable[ParticipantRecord]) -> list[Attendee]:
    """Merge rejoins into one Attendee per person, sorted by first join, then name.

    First join and last leave span all stays; minutes are the rounded sum of the stays'
    seconds; ``joins`` counts the stays. The name is the one first seen.
    """
    people: dict[str, _Stays] = {}
    cleaned: dict[str, str] = {}  # raw e-mail -> cleaned ("" when invalid): a person's rejoins repeat it
    for record in records:
        email = cleaned.get(record.email)
        if email is None:
            email = cleaned[record.email] = clean_email(record.email) or ""
        key = _person_key(record, email)
        stays = people.get(key)
        if stays is None:
            # Zoom names and e-mails are typed by the public: cleaned and capped here, where they
            # enter; an invalid address is dropped (the person is still counted by name).
            stays = people[key] = _Stays(name=clean_name(record.name), email=email,
                                         first_join=record.join_time, last_leave=record.leave_time,
                                         registrant_id=record.registrant_id.strip())
        else:
            stays.first_join = min(stays.first_join, record.join_time)
            stays.last_leave = max(stays.last_leave, record.leave_time)
            stays.email = stays.email or email
        stays.seconds += max(0, int(record.duration_seconds))
        stays.joins += 1
        stays.internal = stays.internal or record.internal
    rows = [Attendee(name=s.name, email=s.email, first_join=s.first_join, last_leave=s.last_leave,
                     minutes=round(s.seconds / 60), joins=s.joins, registrant_id=s.registrant_id,
                     internal=s.internal) for s in people.values()]
    return sorted(rows, key=lambda a: (a.first_join, a.name.casefold()))


@dataclass(frozen=True)
class Roster:
    """Who attendees can be tied to."""

    registrants: tuple[Registrant, ...] = ()  # registered on Zoom (invitees and self-registered)
    listed: tuple[Recipient, ...] = ()  # people on the mailing lists (names for e-mail and name matches)
    staff: frozenset[str] = field(default_factory=frozenset)  # lower-case addresses of staff and the host
    match_names: bool = False  # also tie a display name that matches exactly one listed name


def normalise_name(name: str) -> str:
    """A name for comparison: no titles or honorifics, no punctuation, one space, case-folded."""
    text = unicodedata.normalize("NFKC", name).split(",")[0]
    words = [w for w in re.split(r"\s+", text.strip()) if w]
    while words and words[0].rstrip(".").casefold() in _HONORIFICS:
        words = words[1:]
    words = [w for w in words if not _TITLE.match(w)]
    cleaned = " ".join(re.sub(r"[^\w]", "", w) for w in words)
    return re.sub(r"\s+", " ", cleaned).strip().casefold()


def identify(attendees: Sequence[Attendee], roster: Roster) -> list[Attendee]:
    """Tie each merged attendee to a person where Zoom's data allows it; mark staff; merge rows of one person.

    Order of evidence: ``registrant_id`` -> registrant; an e-mail Zoom showed; a unique normalised name
    (only with ``match_names``). A person found twice (a rejoin through another link) becomes one row.
    """
    by_id = {r.registrant_id: r for r in roster.registrants if r.registrant_id}
    names = {r.email.lower(): r.name for r in roster.listed if r.name}
    names.update({r.email.lower(): r.name for r in roster.registrants if r.name})
    unique = _unique_names(roster.listed) if roster.match_names else {}
    rows: dict[str, Attendee] = {}
    order: list[str] = []
    for a in attendees:
        found = by_id.get(a.registrant_id) if a.registrant_id else None
        if found is not None:
            email, registered, identified = found.email.lower(), found.name or names.get(found.email.lower(), ""), True
        elif a.email:
            email, registered, identified = a.email, names.get(a.email, ""), True
        elif (person := unique.get(normalise_name(a.name))) is not None:
            email, registered, identified = person.email.lower(), person.name, True
        else:
            email, registered, identified = a.email, "", False
        # One copy per attendee (dataclasses.replace is the costly part of this loop).
        row = replace(a, email=email, registered_name=registered, identified=identified,
                      staff=a.internal or (bool(email) and email in roster.staff))
        key = f"email:{row.email}" if row.identified and row.email else f"row:{len(order)}"
        if key in rows:
            rows[key] = _join(rows[key], row)
        else:
            rows[key] = row
            order.append(key)
    return sorted((rows[k] for k in order), key=lambda a: (a.first_join, a.name.casefold()))


def _unique_names(people: Sequence[Recipient]) -> dict[str, Recipient]:
    """Normalised name -> the one listed person with it (names shared by two people are left out)."""
    seen: dict[str, list[Recipient]] = {}
    for person in people:
        key = normalise_name(person.name)
        if key:
            seen.setdefault(key, []).append(person)
    return {k: v[0] for k, v in seen.items() if len({p.email.lower() for p in v}) == 1}


def _join(a: Attendee, b: Attendee) -> Attendee:
    """One person's two rows as one: stays added, earliest join, latest leave."""
    return replace(a, first_join=min(a.first_join, b.first_join), last_leave=max(a.last_leave, b.last_leave),
                   minutes=a.minutes + b.minutes, joins=a.joins + b.joins, staff=a.staff or b.staff,
                   internal=a.internal or b.internal, registrant_id=a.registrant_id or b.registrant_id)


def audience(attendees: Sequence[Attendee]) -> list[Attendee]:
    """The attendees who count as audience: everyone but staff and the host."""
    return [a for a in attendees if not a.staff]


def thanked(attendees: Sequence[Attendee], min_minutes: int) -> list[Attendee]:
    """Who mail of audience ``ATTENDEES`` (the thank-you, with its certificate) goes to.

    Identified people with an e-mail, never staff, who stayed at least ``min_minutes``: a guest
    nobody could tie to a person gets no certificate under a Zoom display name ("iPhone Budi").
    """
    return [a for a in audience(attendees) if a.identified and a.email and a.minutes >= min_minutes]
