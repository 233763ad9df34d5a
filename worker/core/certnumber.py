"""Certificate numbers and hours, as pure functions.

Indonesian offices number letters and certificates with a running number, an office code and
the month in Roman numerals: ``007/SERT/WEBINAR/I/2027``. The format is a setting; the running
number (``seq``) is allocated by the state store, never reused, so every number is unique.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

from worker.i18n import N_

FIELDS = ("seq", "year", "month", "month_roman", "day", "series")  # what a number format may use
ROMAN_MONTHS = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
NUMBER_MAX = 80  # characters; a number is printed on one line and used in a file name


def month_roman(month: int) -> str:
    """The month in Roman numerals, as on Indonesian official letters (1 -> "I", 12 -> "XII")."""
    return ROMAN_MONTHS[month - 1]


def format_number(template: str, seq: int, on: date, series: str) -> str:
    """The certificate number for running number ``seq`` issued for ``on``."""
    return template.format(seq=seq, year=on.year, month=on.month, month_roman=month_roman(on.month),
                           day=on.day, series=series)


def number_format_problem(template: str) -> str:
    """Why ``template`` cannot be a number format (in English), or "" when it can."""
    issue = number_format_issue(template)
    return issue[0].format(**issue[1]) if issue else ""


def number_format_issue(template: str) -> tuple[str, dict[str, object]] | None:
    """Why ``template`` cannot be a number format, as an N_ template and its params (None when it can)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return N_("is not a valid format ({error}); write fields in braces, e.g. {{seq:03d}}"), {"error": exc}
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        return N_("uses unknown field {field}; valid fields are {fields}"), {
            "field": "{" + unknown[0] + "}", "fields": ", ".join("{" + f + "}" for f in FIELDS)}
    if "seq" not in names:
        return N_("must contain {seq} (the running number), or two certificates could get the same number"), {
            "seq": "{seq}"}
    try:
        sample = format_number(template, 999, date(2027, 12, 28), "webinar-kamis")
    except (ValueError, TypeError) as exc:
        return N_("cannot be filled in ({error})"), {"error": exc}
    if len(sample) > NUMBER_MAX or any(c in sample for c in "\r\n\t<>\"\\"):
        return N_("gives {sample}; expected one short line without <, >, quotes or backslashes"), {
            "sample": repr(sample)}
    return None


def number_slug(number: str) -> str:
    """A file- and URL-safe form of a number: ``007/SERT/WEBINAR/I/2027`` -> ``007-SERT-WEBINAR-I-2027``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", number).strip("-") or "sertifikat"


def verify_link(template: str, number: str, slug: str) -> str:
    """The verification URL for a certificate ("" when no URL is configured)."""
    if not template:
        return ""
    return template.replace("{number}", quote(number, safe="")).replace("{slug}", slug)


def jp_hours(minutes: int, minutes_per_jp: int) -> int:
    """Session length in "jam pelajaran" (JP), rounded half up, at least 1 for any held session."""
    if minutes <= 0:
        return 0
    return max(1, (2 * minutes + minutes_per_jp) // (2 * minutes_per_jp))


@dataclass(frozen=True)
class CertificateRecord:
    """One issued certificate (a row of ``certificates``): what a verifier may see, plus the e-mail."""

    number: str  # "007/SERT/WEBINAR/I/2027"
    seq: int  # the running number inside it
    slug: str  # file- and URL-safe form, unique
    kind: str  # "session" or "transcript"
    subject: str  # session uid, or "season:<series id>" for a transcript
    email: str  # the holder's address (never published)
    name: str  # the name printed (after any correction)
    title: str  # session topic, or the series title for a transcript
    held_on: date  # session date; for a transcript, the date it was issued
    minutes: int  # session length (a transcript: the sum)
    jp: int  # hours as "jam pelajaran"
    detail: str = ""  # transcript: JSON list of {date, topic, jp}
    issued_at: str = ""  # ISO time of first issue
    reissues: int = 0  # times re-issued after a name correction
