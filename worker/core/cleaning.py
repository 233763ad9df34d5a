"""Cleaning text that comes from outside: e-mail addresses, display names, spreadsheet cells.

Pure functions, no I/O. Everything typed by the public (Form rows, CSV rows, Zoom display
names and e-mails) goes through here where it enters the worker, so the rest of the code
can put a name in a header, a sheet or a certificate without thinking about CR/LF,
bidi overrides or a 10,000-character "name".
"""
from __future__ import annotations

import re
import unicodedata

NAME_MAX = 200  # characters kept of a display name (headers, sheets, certificates)
EMAIL_MAX = 254  # RFC 5321 path limit minus the brackets
LOCAL_MAX = 64  # RFC 5321 local-part limit
CELL_MAX = 1000  # characters kept of any other cell read from a list
# Characters that change how the surrounding text is shown: bidi embeddings/overrides
# (U+202A-U+202E), isolates (U+2066-U+2069), marks (U+200E/F, U+061C) and zero-width ones.
_INVISIBLE = {0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x061C, 0x2028, 0x2029, 0xFEFF,
              *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
EMAIL_PATTERN = re.compile(rf"{_LOCAL}@{_DOMAIN}")  # dot-atom local part, a dotted domain
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection: cells a spreadsheet may run


def strip_controls(text: str) -> str:
    """``text`` without C0/C1 control characters and bidi/zero-width format characters.

    Line breaks and tabs become spaces (they separate words); everything else is dropped.
    """
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch in "\r\n\t\v\f\x85":
            out.append(" ")
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in _INVISIBLE:
            continue
        elif unicodedata.category(ch) in ("Cs", "Co", "Cn"):  # lone surrogates, private use, unassigned
            continue
        else:
            out.append(ch)
    return "".join(out)


def clean_name(text: object, limit: int = NAME_MAX) -> str:
    """A display name safe for a header, a sheet cell or a certificate: one line, no controls, capped."""
    if text is None:
        return ""
    cleaned = " ".join(strip_controls(str(text)).split())
    if len(cleaned) > limit:
        cleaned = cleaned[:limit - 1].rstrip() + "…"
    return cleaned


def clean_cell(text: object, limit: int = CELL_MAX) -> str:
    """Any other cell (a group, a header): like :func:`clean_name` with a larger cap."""
    return clean_name(text, limit)


def email_problem(text: object) -> str | None:
    """Why ``text`` is not a usable e-mail address, or None when it is one."""
    if not isinstance(text, str):
        return "is not text"
    raw = text.strip()
    if not raw:
        return "is empty"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        return "contains a line break or other control characters"
    if any(ch.isspace() for ch in raw):
        return "contains a space"
    candidate = raw.lower().removeprefix("mailto:")
    if candidate.count("@") != 1:
        return "must contain exactly one @"
    if len(candidate) > EMAIL_MAX:
        return f"is longer than {EMAIL_MAX} characters"
    local, _, domain = candidate.partition("@")
    if len(local) > LOCAL_MAX:
        return f"has a part before the @ longer than {LOCAL_MAX} characters"
    if not EMAIL_PATTERN.fullmatch(candidate):
        return "is not a valid email address"
    return None


def clean_email(text: object) -> str | None:
    """The address trimmed and lower-cased (``mailto:`` removed), or None when it is not valid."""
    if email_problem(text) is not None:
        return None
    return str(text).strip().lower().removeprefix("mailto:")


def shown(text: object, limit: int = 60) -> str:
    """A value quoted for a problem message: controls made visible, long text cut."""
    value = str(text)
    value = value if len(value) <= limit else value[:limit] + "…"
    return repr(value)


def neutralise_formula(text: str) -> str:
    """A cell a spreadsheet will show as text: a leading ``= + - @`` tab or CR gets a ``'`` in front (OWASP)."""
    return "'" + text if isinstance(text, str) and text.startswith(FORMULA_PREFIXES) else text


def safe_link(url: str, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    """True when ``url`` is one line, has no spaces or controls and uses one of ``schemes``."""
    if not isinstance(url, str) or not url or url != url.strip():
        return False
    if any(ord(ch) < 0x21 or 0x7F <= ord(ch) <= 0x9F or ord(ch) in _INVISIBLE for ch in url):
        return False
    scheme, sep, rest = url.partition(":")
    if not sep or scheme.lower() not in schemes:
        return False
    if scheme.lower() in ("http", "https"):
        return re.match(r"//[^/?#@\s]+", rest) is not None
    return bool(rest)
