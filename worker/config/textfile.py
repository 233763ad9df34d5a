"""Reading a file staff or the IT person wrote: capped in size, UTF-8 (a BOM is fine), never binary.

Every refusal is a SettingsError naming the file, the line where it matters, and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worker.errors import Problem, SettingsError
from worker.i18n import N_, Text


@dataclass(frozen=True)
class TextRules:
    """What one kind of file may be, and the words that tell its reader how to fix it."""

    limit: int  # bytes; a larger file is refused
    # The words below are English marked with N_ and translated where shown.
    expected: str  # what the file should be, e.g. "a file of NAME=value lines"
    unreadable_fix: str  # what to do when the file cannot be opened
    big_hint: str  # said after "is larger than N KiB; "
    binary_hint: str  # said after "contains NUL bytes: "
    encoding_fix: str = N_("save it as UTF-8")  # said after "is not UTF-8 text"


def read_capped_text(path: Path, rules: TextRules) -> str:
    """The text of ``path`` by ``rules``; SettingsError with the file, line and fix otherwise."""
    def refuse(message: str, line: int | None = None, **params: object) -> SettingsError:
        return SettingsError([Problem(str(path), line, "", message, params)])

    try:
        with open(path, "rb") as handle:
            data = handle.read(rules.limit + 1)
    except FileNotFoundError:
        raise refuse(N_("file not found")) from None
    except IsADirectoryError:
        raise refuse(N_("is a folder; expected {expected}"), expected=Text(rules.expected)) from None
    except OSError as exc:
        raise refuse(N_("cannot be read ({reason}); {fix}"), reason=exc.strerror or type(exc).__name__,
                     fix=Text(rules.unreadable_fix)) from None
    if len(data) > rules.limit:
        raise refuse(N_("is larger than {size} KiB; {hint}"), size=rules.limit // 1024, hint=Text(rules.big_hint))
    if b"\x00" in data:
        raise refuse(N_("contains NUL bytes: {hint}"), data[:data.index(b"\x00")].count(b"\n") + 1,
                     hint=Text(rules.binary_hint))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(N_("is not UTF-8 text (byte {byte}); {fix}"), data[:exc.start].count(b"\n") + 1,
                     byte=f"0x{data[exc.start]:02x}", fix=Text(rules.encoding_fix)) from None
