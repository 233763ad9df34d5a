"""Keep the message catalogs in step with the code, with Babel (a developer's tool, not used at run time).

    python -m worker.catalogs update    # extract the marked messages and merge them into every .po
    python -m worker.catalogs compile   # write the .mo files the worker reads
    python -m worker.catalogs check     # exit 1 when a catalog is out of date or a message is untranslated

The .po files are sorted by message and carry no line numbers, so two branches adding
messages rarely touch the same lines (``.gitattributes`` merges them as a union); after a
merge, ``update`` then ``compile`` puts them right.
"""
from __future__ import annotations

import io
from datetime import datetime, timezone
import re
import string
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from worker.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent  # the checkout: worker/ and integrations/ are scanned
SCANNED = ("worker", "integrations")  # packages whose user-facing text is marked
KEYWORDS = {"_": None, "N_": None, "n_": (1, 2)}  # t._("..."), N_("..."), t.n_("one", "many", n)
METHOD_MAP = [("**/sandbox/**.py", "ignore"), ("**.py", "python")]  # the emulators speak the vendors' English
FIXED_DATE = datetime(2026, 12, 3, tzinfo=timezone.utc)  # written in the header instead of "now"
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")  # English is the source language


def extract() -> Catalog:
    """Every marked message in the code, as a template catalog."""
    template = Catalog(project="webinar-worker", domain=DOMAIN, fuzzy=False)
    for package in SCANNED:
        for _name, _line, message, _comments, _context in extract_from_dir(
                ROOT / package, METHOD_MAP, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)):
            template.add(message, None, flags=("python-brace-format",) if _has_fields(message) else ())
    return template


def po_path(language: str) -> Path:
    """The editable catalog of ``language``."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    """The compiled catalog the worker reads."""
    return po_path(language).with_suffix(".mo")


def read(language: str) -> Catalog:
    """The .po of ``language`` (an empty catalog when there is none yet)."""
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN, project="webinar-worker")
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def update() -> None:
    """Merge the extracted messages into every .po (new ones untranslated, gone ones dropped)."""
    template = extract()
    for language in TRANSLATED:
        catalog = read(language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()  # a removed message is not kept around as "#~" noise
        _steady_header(catalog)
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        write_po(buffer, catalog, omit_header=False, sort_output=True, no_location=True, width=100)
        path.write_bytes(buffer.getvalue())


def _steady_header(catalog: Catalog) -> None:
    """A header that does not change on every update (no dates, no placeholders), so merges stay clean."""
    catalog.fuzzy = False  # a fuzzy header would be left out of the .mo, and with it the charset
    catalog.project, catalog.version = "webinar-worker", "1"
    catalog.creation_date = catalog.revision_date = FIXED_DATE
    catalog.last_translator = catalog.language_team = "webinar-worker contributors"
    catalog.msgid_bugs_address = ""
    catalog.copyright_holder = "webinar-worker contributors"


def compile_all() -> None:
    """Write the .mo of every translated language from its .po."""
    for language in TRANSLATED:
        buffer = io.BytesIO()
        write_mo(buffer, read(language), use_fuzzy=False)
        mo_path(language).write_bytes(buffer.getvalue())


def problems() -> list[str]:
    """What is out of date: messages missing from a .po, stale ones, untranslated or fuzzy ones,
    placeholders that differ, and a .mo that does not match its .po."""
    found: list[str] = []
    wanted = {m.id for m in extract() if m.id}
    for language in TRANSLATED:
        catalog = read(language)
        have = {m.id for m in catalog if m.id}
        found += [f"{language}: not in the catalog (run update): {m!r}" for m in sorted(wanted - have, key=str)]
        found += [f"{language}: no longer in the code (run update): {m!r}" for m in sorted(have - wanted, key=str)]
        for message in catalog:
            if not message.id:
                continue
            found += _message_problems(language, message)
        found += _mo_problems(language, catalog)
    return found


def _message_problems(language: str, message) -> list[str]:
    ids = message.id if isinstance(message.id, tuple) else (message.id,)
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    if message.fuzzy or not all(strings):
        return [f"{language}: untranslated: {ids[0]!r}"]
    wanted = _fields(ids[-1]) | _fields(ids[0])
    return [f"{language}: placeholders differ in {ids[0]!r}: {sorted(_fields(s))} vs {sorted(wanted)}"
            for s in strings if not _fields(s) <= wanted or not _fields(s) >= _fields(ids[0]) - {"count"}]


def _mo_problems(language: str, catalog: Catalog) -> list[str]:
    path = mo_path(language)
    if not path.exists():
        return [f"{language}: {path.name} is missing (run compile)"]
    with path.open("rb") as handle:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
    source = {_key(m.id): _key(m.string) for m in catalog if m.id and not m.fuzzy and all(
        m.string if isinstance(m.string, (tuple, list)) else (m.string,))}
    return [] if compiled == source else [f"{language}: {path.name} does not match its .po (run compile)"]


def _key(value):
    """A message id or string as a hashable value (read_mo gives a plural's forms as a list)."""
    return tuple(value) if isinstance(value, (tuple, list)) else value


def _fields(text: str) -> set[str]:
    try:
        return {name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name}
    except ValueError:
        return {"<unbalanced braces>"}


def _has_fields(message) -> bool:
    texts = message if isinstance(message, tuple) else (message,)
    return any(re.search(r"\{[a-z_]+", t) for t in texts)


def main(argv: list[str]) -> int:
    """``update``, ``compile`` or ``check``; prints what is wrong and exits 1 when ``check`` finds it."""
    command = argv[0] if argv else "check"
    if command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "check":
        found = problems()
        print("\n".join(found) if found else "catalogs are up to date")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
