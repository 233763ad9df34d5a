"""Who gets the series' mail: inline addresses, CSV files and Google Sheet ranges, merged.

Lists come from people (a Google Form, a spreadsheet exported from Excel), so reading is
forgiving: a header row names the columns in English or Indonesian (``email``/``surel``,
``name``/``nama``, ``group``/``grup``/``kelompok``), CSV files may be comma-, semicolon- or
tab-separated (Indonesian Excel writes semicolons) and may start with a BOM. A bad
address is reported with its file and line and skipped; the rest of the list is used.
Addresses are compared case-insensitively; the first occurrence wins.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from worker.core.model import Recipient
from worker.errors import NotConfiguredError

EMAIL_HEADERS = ("email", "e-mail", "surel", "alamat email", "alamat e-mail", "alamat surel", "email address")
NAME_HEADERS = ("name", "nama", "nama lengkap", "full name")
GROUP_HEADERS = ("group", "grup", "kelompok")
_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
EMAIL_PATTERN = re.compile(rf"{_LOCAL}@{_DOMAIN}")  # dot-atom local part, a dotted domain


@dataclass
class RecipientLoad:
    """The merged list and what was wrong with the sources."""

    recipients: list[Recipient] = field(default_factory=list)  # deduplicated, unsubscribed removed
    problems: list[str] = field(default_factory=list)  # "daftar.csv:7: 'budi@' is not a valid email address"


@dataclass(frozen=True)
class Columns:
    """Where the email, name and group are in a table's rows (-1 when absent)."""

    email: int  # index of the address column
    name: int = -1  # index of the name column
    group: int = -1  # index of the group column


def normalise_email(text: str) -> str | None:
    """The address trimmed and lower-cased, or None when it is not a plausible address."""
    if not isinstance(text, str):
        return None
    candidate = text.strip().lower()
    if candidate.startswith("mailto:"):
        candidate = candidate[len("mailto:"):]
    if not candidate or len(candidate) > 254 or not EMAIL_PATTERN.fullmatch(candidate):
        return None
    return candidate


# -- reading tables --------------------------------------------------------------
def find_columns(header: Sequence[str]) -> Columns | None:
    """Which columns hold email, name and group; None when there is no email column."""
    names = [" ".join(str(cell).split()).lower() for cell in header]

    def first(candidates: Sequence[str]) -> int:
        return next((i for i, n in enumerate(names) if n in candidates), -1)

    email = first(EMAIL_HEADERS)
    if email < 0:  # a Google Form says "Alamat email" or "Email Address"; accept any header naming email
        email = next((i for i, n in enumerate(names) if "email" in n or "e-mail" in n), -1)
    if email < 0:
        return None
    return Columns(email=email, name=first(NAME_HEADERS), group=first(GROUP_HEADERS))


def read_csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for every row of a CSV file, sniffing the delimiter from the first line."""
    text = decode_text(path.read_bytes())
    first_line = text.split("\n", 1)[0]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(first_line, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    for row in reader:
        yield reader.line_num, row


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM); Windows-1252 as a fallback for files saved by older Excel."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def numbered(rows: Sequence[Sequence[str]]) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for rows read from a sheet range; row 1 is the header."""
    for number, row in enumerate(rows, start=1):
        yield number, [str(cell) for cell in row]


def cell(row: Sequence[str], index: int) -> str:
    """The stripped cell, or "" when the row is shorter."""
    return " ".join(row[index].split()) if 0 <= index < len(row) else ""


def table_recipients(label: str, rows: Iterable[tuple[int, list[str]]], load: RecipientLoad,
                     ) -> Iterator[Recipient]:
    """The recipients of one table whose first row is a header; problems go into ``load``."""
    columns = None
    for line, row in rows:
        if not any(c.strip() for c in row):
            continue
        if columns is None:
            columns = find_columns(row)
            if columns is None:
                found = ", ".join(c.strip() for c in row if c.strip())
                load.problems.append(f"{label}:{line}: no email column in the header row "
                                     f"(expected a column named 'email'; found: {found})")
                return
            continue
        raw = cell(row, columns.email)
        address = normalise_email(raw)
        if address is None:
            what = f"{raw!r} is not a valid email address" if raw else "the email cell is empty"
            load.problems.append(f"{label}:{line}: {what}")
            continue
        yield Recipient(email=address, name=cell(row, columns.name), group=cell(row, columns.group))


def csv_recipients(path: Path, load: RecipientLoad) -> Iterator[Recipient]:
    """The recipients in one CSV file; a missing or unreadable file is one problem."""
    try:
        yield from table_recipients(path.name, read_csv_rows(path), load)
    except FileNotFoundError:
        load.problems.append(f"{path}: file not found")
    except (OSError, csv.Error) as exc:
        load.problems.append(f"{path}: cannot be read as a CSV file ({exc})")


def inline_recipients(inline: Sequence[Recipient], load: RecipientLoad) -> Iterator[Recipient]:
    """The addresses written in settings.yaml, normalised."""
    for index, given in enumerate(inline, start=1):
        address = normalise_email(given.email)
        if address is None:
            load.problems.append(f"mail.recipients.inline[{index}]: {given.email!r} is not a valid email address")
            continue
        yield Recipient(email=address, name=" ".join(given.name.split()), group=given.group.strip())


# -- public API -------------------------------------------------------------------
def load_recipients(inline: Sequence[Recipient], csv_paths: Sequence[Path],
                    sheet_rows: Sequence[Sequence[Sequence[str]]], unsubscribed: set[str], *,
                    sheet_labels: Sequence[str] = ()) -> RecipientLoad:
    """Merge all sources in order (inline, CSV files, sheet ranges); first occurrence of an address wins.

    ``sheet_labels`` names each sheet range in problems (default ``sheet range 1``, ...).
    """
    load = RecipientLoad()
    blocked = {a for a in (normalise_email(u) for u in unsubscribed) if a}
    seen: set[str] = set()
    sources: list[Iterator[Recipient]] = [inline_recipients(inline, load)]
    sources += [csv_recipients(Path(p), load) for p in csv_paths]
    sources += [table_recipients(_sheet_label(sheet_labels, i), numbered(rows), load)
                for i, rows in enumerate(sheet_rows)]
    for source in sources:
        for recipient in source:
            if recipient.email in seen or recipient.email in blocked:
                continue
            seen.add(recipient.email)
            load.recipients.append(recipient)
    return load


def _sheet_label(labels: Sequence[str], index: int) -> str:
    return labels[index] if index < len(labels) else f"sheet range {index + 1}"


def load_unsubscribed(paths: Sequence[Path], sheet_rows: Sequence[Sequence[Sequence[str]]]) -> set[str]:
    """Addresses that must never get mail: text files (one per line, ``#`` comments) or CSV/sheets with an email column.

    A missing file raises NotConfiguredError: mailing people who asked to stop is worse than a late mail.
    """
    addresses: set[str] = set()
    for path in paths:
        try:
            addresses |= unsubscribe_addresses(read_csv_rows(Path(path)))
        except FileNotFoundError as exc:
            raise NotConfiguredError(f"{path}: unsubscribe list not found; no mail is sent until it exists "
                                     f"(fix mail.recipients.unsubscribe_files)") from exc
    for rows in sheet_rows:
        addresses |= unsubscribe_addresses(numbered(rows))
    return addresses


def unsubscribe_addresses(rows: Iterable[tuple[int, list[str]]]) -> set[str]:
    """The addresses of one unsubscribe table: its email column, or the first cell of every line."""
    found: set[str] = set()
    column = 0
    for index, (_, row) in enumerate(r for r in rows if any(c.strip() for c in r[1])):
        if row[0].lstrip().startswith("#"):
            continue
        if index == 0 and (columns := find_columns(row)) is not None:
            column = columns.email
            continue
        address = normalise_email(cell(row, column))
        if address:
            found.add(address)
    return found


def group_names(text: str) -> set[str]:
    """The groups in a recipient's group cell: ``"guru-paud; orang-tua"`` -> {"guru-paud", "orang-tua"}."""
    return {part.strip().lower() for part in re.split(r"[,;]", text) if part.strip()}


def select_for_session(recipients: Sequence[Recipient], groups: tuple[str, ...]) -> list[Recipient]:
    """Everyone when ``groups`` is empty, else those in at least one of ``groups`` (case-insensitive)."""
    if not groups:
        return list(recipients)
    wanted = {g.strip().lower() for g in groups if g.strip()}
    return [r for r in recipients if group_names(r.group) & wanted]
