"""Who gets the series' mail: inline addresses, CSV files and Google Sheet ranges, merged.

Lists come from people (a Google Form, a spreadsheet exported from Excel), so reading is
careful: a header row names the columns in English or Indonesian, and the usual Form headers
are recognised (``Alamat email``/``Email Address``/``Surel``; ``Nama Lengkap (sesuai
sertifikat)`` before a plain ``Nama``; ``Kelompok``/``Kategori peserta``/``Instansi`` for the
group), unless ``mail.recipients.columns`` names them; :class:`ColumnChoice` says which was taken. CSV files follow RFC 4180 quoting
whatever the delimiter (comma, semicolon as Indonesian Excel writes, or tab; detected from
the header outside quotes) and may start with a BOM. Each physical line is one row: a
line that does not parse (an unbalanced quote, a quote inside an unquoted field, more
cells than the header, a NUL) is reported with its file and line and skipped, never merged
into the next; a record with a line break inside a quoted field is refused whole. A bad address is reported and skipped; names are
cleaned of control characters and capped (:mod:`worker.core.cleaning`). The rest of the
list is used. Addresses are compared case-insensitively; the first occurrence wins.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from worker.core.cleaning import NAME_MAX, clean_cell, clean_email, clean_name, email_problem, shown
from worker.core.model import Recipient
from worker.core.schema import RecipientColumns
from worker.errors import NotConfiguredError

# Header words, as a Google Form (Indonesian or English interface) or a hand-made sheet writes them,
# each with a rank: when two columns fit, the higher rank wins (then the leftmost).
EMAIL_HEADERS = {"alamat email": 100, "email address": 95, "email": 90, "e mail": 90, "surel": 90,
                 "alamat e mail": 90, "alamat surel": 90, "alamat email aktif": 85, "email aktif": 85}
NAME_HEADERS = {"nama lengkap sesuai sertifikat": 100, "nama lengkap beserta gelar": 95,
                "nama lengkap dan gelar": 95, "nama lengkap": 90, "full name": 90, "nama peserta": 85,
                "nama": 80, "name": 80}
GROUP_HEADERS = {"group": 100, "grup": 100, "kelompok": 100, "kategori peserta": 90, "kategori": 85,
                 "status peserta": 80, "status": 75, "peran": 70, "profesi": 70, "pekerjaan": 65,
                 "asal instansi": 60, "instansi": 60, "nama instansi": 60, "asal lembaga": 55, "lembaga": 55}
# Words that make a "nama ..." header name something other than the person (an institution, a school).
NOT_A_PERSON = ("instansi", "lembaga", "sekolah", "organisasi", "kantor", "perusahaan", "unit", "kota",
                "kabupaten", "panggilan", "pengguna", "ibu kandung", "anak", "email", "e mail", "surel")
DELIMITERS = (",", ";", "\t")  # the separators people's spreadsheets write
MAX_LIST_BYTES = 20 * 1024 * 1024  # a recipient or unsubscribe file larger than this is refused
_ANY_EMAIL = re.compile(r"[^\s,;<>\"'()]+@[^\s,;<>\"'()]+")  # addresses inside a line that does not parse


class ListFileError(Exception):
    """A list file that cannot be read at all (internal: turned into a problem or NotConfiguredError)."""


@dataclass(frozen=True)
class BadLine:
    """A line or sheet row that does not parse: why, and its raw text."""

    reason: str  # shown after "file:line:"
    raw: str = ""  # the line as read (the unsubscribe reader still blocks addresses in it)


@dataclass
class RecipientLoad:
    """The merged list and what was wrong with the sources."""

    recipients: list[Recipient] = field(default_factory=list)  # deduplicated, unsubscribed removed
    problems: list[str] = field(default_factory=list)  # "daftar.csv:7: 'budi@' is not a valid email address"
    unreadable: list[str] = field(default_factory=list)  # files that could not be read at all (check: exit 2)
    columns: list[ColumnChoice] = field(default_factory=list)  # per CSV file or sheet range: the headers taken


@dataclass(frozen=True)
class Columns:
    """Where the email, name and group are in a table's rows (-1 when absent)."""

    email: int  # index of the address column
    name: int = -1  # index of the name column
    group: int = -1  # index of the group column


@dataclass(frozen=True)
class ColumnChoice:
    """Which header of one list was taken for e-mail, name and group ("" when none), for ``check`` to show."""

    label: str  # the list as problems name it ("daftar.csv", "sheet range 1")
    email: str = ""  # the header text taken for the address
    email_index: int = -1  # its column (0 = A)
    name: str = ""  # the header text taken for the name
    name_index: int = -1
    group: str = ""  # the header text taken for the group
    group_index: int = -1


# -- reading tables --------------------------------------------------------------
def normalise_header(text: object) -> str:
    """``"Nama Lengkap (sesuai sertifikat)*"`` -> ``"nama lengkap sesuai sertifikat"``: lower case, words only."""
    words = re.sub(r"[^\w]+|_", " ", str(text).lower())
    return " ".join(words.split())


def _email_rank(name: str) -> int:
    if name in EMAIL_HEADERS:
        return EMAIL_HEADERS[name]
    padded = f" {name} "
    if any(f" {w} " in padded for w in ("email", "e mail", "surel")):
        return 50
    return 40 if "email" in name.replace(" ", "") else 0  # "EmailAddress", "alamatemail"


def _name_rank(name: str) -> int:
    if name in NAME_HEADERS:
        return NAME_HEADERS[name]
    padded = f" {name} "
    if not (padded.startswith((" nama ", " name ")) or " full name " in padded):
        return 0
    if "sertifikat" in padded or "gelar" in padded:  # the name as it must be printed on the certificate
        return 97
    if any(f" {w} " in padded for w in NOT_A_PERSON):
        return 0
    return 60  # "Nama (wajib diisi)", "Nama lengkap Bapak/Ibu"


def _group_rank(name: str) -> int:
    if name in GROUP_HEADERS:
        return GROUP_HEADERS[name]
    padded = f" {name} "
    for word, rank in (("kategori", 50), ("kelompok", 50), ("instansi", 40), ("status", 30)):
        if f" {word} " in padded:
            return rank
    return 0


def _best(names: Sequence[str], rank, taken: set[int]) -> int:
    scored = [(rank(n), -i) for i, n in enumerate(names) if i not in taken and n]
    best = max(scored, default=(0, 0))
    return -best[1] if best[0] > 0 else -1


def find_columns(header: Sequence[str], explicit: RecipientColumns | None = None) -> Columns | None:
    """Which columns hold email, name and group; None when there is no email column.

    A column named in ``explicit`` wins; otherwise the usual Form headers are ranked
    ("Nama Lengkap (sesuai sertifikat)" beats a plain "Nama", Google's own "Alamat email"
    beats an "Email" question), and one column is never taken for two things.
    """
    if any(clean_email(str(c)) for c in header):  # a row of data (a list without a header), not a header
        return None
    names = [normalise_header(c) for c in header]
    explicit = explicit or RecipientColumns()

    def named(wanted: str) -> int:
        key = normalise_header(wanted)
        return next((i for i, n in enumerate(names) if key and n == key), -1)

    email = named(explicit.email) if explicit.email else -1
    if email < 0:
        email = _best(names, _email_rank, set())
    if email < 0:
        return None
    name = named(explicit.name) if explicit.name else -1
    if name < 0:
        name = _best(names, _name_rank, {email})
    group = named(explicit.group) if explicit.group else -1
    if group < 0:
        group = _best(names, _group_rank, {email, name})
    return Columns(email=email, name=name, group=group)


def column_letter(index: int) -> str:
    """``0`` -> ``A``, ``25`` -> ``Z``, ``26`` -> ``AA``: the column as a spreadsheet shows it."""
    letters = ""
    index += 1
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_choice(label: str, header: Sequence[str], columns: Columns | None) -> ColumnChoice:
    """What ``check`` shows about one list's header: the header text taken for each role."""
    def text(i: int) -> str:
        return clean_cell(header[i], 80) if 0 <= i < len(header) else ""

    if columns is None:
        return ColumnChoice(label)
    return ColumnChoice(label, text(columns.email), columns.email, text(columns.name), columns.name,
                        text(columns.group), columns.group)


def read_list_text(path: Path, limit: int = MAX_LIST_BYTES) -> str:
    """A list file's text, read with a size cap (``/dev/zero`` or a huge file is refused, not read)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except IsADirectoryError:
        raise ListFileError(f"{path}: is a folder, expected a CSV or text file") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ListFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ListFileError(f"{path}: is larger than {limit // (1024 * 1024)} MiB; expected a CSV or text file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" is UTF-16 with a BOM
        return data.decode("utf-16", errors="replace")
    if data.count(b"\x00") > max(16, len(data) // 100):  # a stray NUL is one bad line; many mean a binary file
        raise ListFileError(f"{path}: is a binary file, not CSV or text (save it as CSV UTF-8)")
    return decode_text(data)


def detect_delimiter(header: str) -> str:
    """The separator used most in the header line outside quotes; a comma when none is used."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def strict_line_pattern(delimiter: str) -> re.Pattern[str]:
    """A record of RFC 4180 fields: quoted (``""`` inside, line breaks allowed) or without quotes and line breaks."""
    d = re.escape(delimiter)
    fld = rf'(?:"(?:[^"]|"")*"|[^"{d}\n]*)'
    return re.compile(rf"{fld}(?:{d}{fld})*")


MAX_RECORD_LINES = 50  # a quoted field spanning more lines than this is taken for a quote left open


def split_rows(text: str, delimiter: str | None = None) -> Iterator[tuple[int, list[str] | BadLine]]:
    """(line number, cells) per physical line, or (line number, BadLine) for a line that does not parse.

    A quoted field with a line break (what a spreadsheet exports for a name typed with Enter)
    makes its whole record refused, every line of it: read line by line, the lines inside the
    field could otherwise pass for rows of their own (``x,victim@example.org,umum``). A quote
    that is never properly closed refuses only its own line, so the rows after a typo are kept.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    delimiter = delimiter or detect_delimiter(next((ln for ln in lines if ln.strip()), ""))
    pattern = strict_line_pattern(delimiter)
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        nul = "\x00" in line
        if nul or not pattern.fullmatch(line):
            span = _multiline_record(lines, index - 1, pattern)
            if span:
                last = index - 1 + span
                reason = f"is part of a record with a line break inside a field (lines {number}-{last})"
                for n in range(number, last + 1):
                    yield n, BadLine(reason, lines[n - 1])
                index = last
                continue
            if nul:
                yield number, BadLine("contains a NUL character", line.replace("\x00", ""))
                continue
            yield number, BadLine("does not parse as CSV (a quote that is not closed, or a quote inside an unquoted "
                                  "field: write it doubled inside a quoted field, as \"Eve \"\"\"\"\")", line)
            continue
        try:
            row = next(csv.reader([line], delimiter=delimiter, quotechar='"', doublequote=True, strict=True), [])
        except csv.Error as exc:
            yield number, BadLine(f"does not parse as CSV ({exc})", line)
            continue
        yield number, row


def _multiline_record(lines: Sequence[str], start: int, pattern: re.Pattern[str]) -> int:
    """How many lines from ``start`` form one well-formed record with a line break in a quoted field (0: none)."""
    if lines[start].count('"') % 2 == 0:
        return 0  # the line does not leave a quote open
    joined = lines[start]
    for extra in range(1, min(MAX_RECORD_LINES, len(lines) - start)):
        joined += "\n" + lines[start + extra]
        if lines[start + extra].count('"') % 2 == 1:  # the quote closes on this line
            return extra + 1 if pattern.fullmatch(joined.replace("\x00", "")) else 0
    return 0


def read_csv_rows(path: Path) -> Iterator[tuple[int, list[str] | BadLine]]:
    """(line number, cells or the reason the line does not parse) for every line of a CSV file."""
    yield from split_rows(read_list_text(Path(path)))


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM); Windows-1252 as a fallback for files saved by older Excel."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def numbered(rows: Sequence[Sequence[object]]) -> Iterator[tuple[int, list[str] | BadLine]]:
    """(row number, cells) for rows read from a sheet range (row 1 is the header); a bad row gives a reason."""
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, (list, tuple)):
            yield number, BadLine("is not a row of cells", str(row))
            continue
        if any(isinstance(c, (list, dict, tuple)) for c in row):
            yield number, BadLine("has a cell that is not text", str(row))
            continue
        yield number, ["" if c is None else str(c) for c in row]


def cell(row: Sequence[str], index: int, limit: int | None = None) -> str:
    """The cleaned cell (one line, no control characters, capped), or "" when the row is shorter."""
    if not 0 <= index < len(row):
        return ""
    return clean_name(row[index], limit) if limit else clean_cell(row[index])


def table_recipients(label: str, rows: Iterable[tuple[int, list[str] | BadLine]], load: RecipientLoad,
                     explicit: RecipientColumns | None = None) -> Iterator[Recipient]:
    """The recipients of one table whose first row is a header; problems go into ``load``.

    One bad row (does not parse, more cells than the header, a bad address) is reported
    with ``label`` and its line and skipped; the rows after it are still read.
    """
    columns = None
    width = 0
    for line, row in rows:
        if isinstance(row, BadLine):
            load.problems.append(f"{label}:{line}: {row.reason}; row skipped")
            continue
        if not any(c.strip() for c in row):
            continue
        if columns is None:
            columns = find_columns(row, explicit)
            width = len(row)
            load.columns.append(column_choice(label, row, columns))
            if columns is None:
                found = ", ".join(clean_cell(c, 60) for c in row if c.strip())
                load.problems.append(f"{label}:{line}: no email column in the header row "
                                     f"(expected a column named 'email'; found: {found})")
                return
            continue
        if any(c.strip() for c in row[width:]):
            load.problems.append(f"{label}:{line}: has {len(row)} cells but the header has {width}; row skipped "
                                 f"(a separator inside a name must be inside quotes)")
            continue
        raw = row[columns.email] if columns.email < len(row) else ""
        if email_problem(raw) is not None:
            what = f"{shown(raw)} is not a valid email address" if raw.strip() else "the email cell is empty"
            load.problems.append(f"{label}:{line}: {what}")
            continue
        yield Recipient(email=clean_email(raw) or "", name=cell(row, columns.name, limit=NAME_MAX),
                        group=cell(row, columns.group))


def csv_recipients(path: Path, load: RecipientLoad, explicit: RecipientColumns | None = None) -> Iterator[Recipient]:
    """The recipients in one CSV file; a missing or unreadable file is one problem."""
    try:
        rows = list(read_csv_rows(path))
    except FileNotFoundError:
        load.problems.append(f"{path}: file not found")
        load.unreadable.append(f"{path}: file not found (fix mail.recipients.csv_files)")
        return
    except ListFileError as exc:
        load.problems.append(str(exc))
        load.unreadable.append(f"{exc} (fix mail.recipients.csv_files)")
        return
    yield from table_recipients(path.name, rows, load, explicit)


def inline_recipients(inline: Sequence[Recipient], load: RecipientLoad) -> Iterator[Recipient]:
    """The addresses written in settings.yaml, normalised."""
    for index, given in enumerate(inline, start=1):
        address = clean_email(given.email)
        if address is None:
            load.problems.append(f"mail.recipients.inline[{index}]: {shown(given.email)} is not a valid email address")
            continue
        yield Recipient(email=address, name=clean_name(given.name), group=clean_cell(given.group))


# -- public API -------------------------------------------------------------------
def load_recipients(inline: Sequence[Recipient], csv_paths: Sequence[Path],
                    sheet_rows: Sequence[Sequence[Sequence[str]]], unsubscribed: set[str], *,
                    sheet_labels: Sequence[str] = (), columns: RecipientColumns | None = None) -> RecipientLoad:
    """Merge all sources in order (inline, CSV files, sheet ranges); first occurrence of an address wins.

    ``sheet_labels`` names each sheet range in problems (default ``sheet range 1``, ...);
    ``columns`` names the header of each role when staff set ``mail.recipients.columns``.
    """
    load = RecipientLoad()
    blocked = {a for a in (clean_email(u) for u in unsubscribed) if a}
    seen: set[str] = set()
    sources: list[Iterator[Recipient]] = [inline_recipients(inline, load)]
    sources += [csv_recipients(Path(p), load, columns) for p in csv_paths]
    sources += [table_recipients(_sheet_label(sheet_labels, i), numbered(rows), load, columns)
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

    A missing or unreadable file raises NotConfiguredError: mailing people who asked to stop
    is worse than a late mail. A line that does not parse still blocks every address in it.
    """
    addresses: set[str] = set()
    for path in paths:
        try:
            addresses |= unsubscribe_addresses(read_csv_rows(Path(path)))
        except FileNotFoundError as exc:
            raise NotConfiguredError(f"{path}: unsubscribe list not found; no mail is sent until it exists "
                                     f"(fix mail.recipients.unsubscribe_files)") from exc
        except ListFileError as exc:
            raise NotConfiguredError(f"{exc}; no mail is sent until it can be read "
                                     f"(fix mail.recipients.unsubscribe_files)") from None
    for rows in sheet_rows:
        addresses |= unsubscribe_addresses(numbered(rows))
    return addresses


def unsubscribe_addresses(rows: Iterable[tuple[int, list[str] | BadLine]]) -> set[str]:
    """The addresses of one unsubscribe table: its email column, or the first cell of every line.

    Fail-safe: a line that does not parse blocks every address-like text in it.
    """
    found: set[str] = set()
    column = 0
    first = True
    for _, row in rows:
        if isinstance(row, BadLine):
            found |= {a for a in (clean_email(m) for m in _ANY_EMAIL.findall(row.raw)) if a}
            continue
        if not any(c.strip() for c in row):
            continue
        if row[0].lstrip().startswith("#"):
            continue
        if first and (columns := find_columns(row)) is not None:
            column = columns.email
            first = False
            continue
        first = False
        address = clean_email(row[column] if column < len(row) else "")
        if address:
            found.add(address)
        else:  # a shifted or odd row: block whatever looks like an address anywhere in it
            found |= {a for a in (clean_email(m) for c in row for m in _ANY_EMAIL.findall(c)) if a}
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
