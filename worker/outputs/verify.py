"""Certificate verification without a server of the library's own.

Three views of the same certificate records: rows for the spreadsheet's "Verifikasi" tab, a
static site (one small HTML page per number plus an index; plain files, no script, safe on any
static host) and the text ``webinar-worker verify NUMBER`` prints. None of them shows an
e-mail address. Every value is HTML-escaped: names are typed by the public.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path
from typing import Iterable, Sequence

from babel.dates import format_date

from worker.core.certnumber import CertificateRecord
from worker.i18n import N_, Translator, translator

VALID, REVOKED = "Sah", "Dicabut"  # status words, as a verifier reads them
VERIFY_HEADER = ("Nomor", "Nama", "Topik", "Tanggal", "JP", "Status")
KIND_WORDS = {"session": "Sertifikat peserta", "transcript": "Transkrip kegiatan"}  # on the static pages
KIND_LABELS = {"session": N_("Participant certificate"), "transcript": N_("Activity transcript")}  # in `verify`


@dataclass(frozen=True)
class SiteInfo:
    """What the static pages say about who issued the certificates."""

    title: str  # the series title
    organizer: str  # the library's name
    locale: str = "id_ID"  # babel locale for dates


def status(record: CertificateRecord, revoked: Iterable[str]) -> str:
    """``Sah`` or ``Dicabut`` (revoked by number in ``certificate.revoked``)."""
    return REVOKED if record.number in set(revoked) else VALID


def verification_rows(records: Sequence[CertificateRecord], revoked: Iterable[str]) -> list[list[object]]:
    """Header plus one row per certificate: number, name, topic, date, JP, status (no e-mail)."""
    revoked = set(revoked)
    return [list(VERIFY_HEADER)] + [[r.number, r.name, r.title, r.held_on.isoformat(), int(r.jp), status(r, revoked)]
                                    for r in records]


def rows_fingerprint(rows: list[list[object]]) -> str:
    """A short digest of the rows, so an unchanged tab is not written again."""
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()[:16]


def describe(record: CertificateRecord, revoked: Iterable[str], locale: str = "id_ID",
             t: Translator | None = None) -> str:
    """The answer of ``webinar-worker verify``: what the certificate says and whether it stands, in ``t``'s
    language (Indonesian when none is given). Values (number, name, topic) stay as they were issued."""
    t = t or translator("id")
    state = status(record, revoked)
    stands = t._("VALID") if state == VALID else t._("REVOKED") + " — " + t._("this certificate is no longer valid")
    kind = t._(KIND_LABELS[record.kind]) if record.kind in KIND_LABELS else record.kind
    rows = [(t._("Number"), record.number), (t._("Status"), stands), (t._("Kind"), kind), (t._("Name"), record.name),
            (t._("Activity"), record.title), (t._("Date"), _day(record.held_on, _babel_locale(t, locale))),
            (t._("Weight"), f"{record.jp} JP")]
    width = max(10, *(len(label) + 1 for label, _ in rows))  # the colons line up in either language
    lines = [f"{label:<{width}}: {value}" for label, value in rows]
    for item in _sessions(record):
        lines.append(" " * (width + 2) + f"- {item.get('date', '')}: {item.get('topic', '')} ({item.get('jp', 0)} JP)")
    return "\n".join(lines)


def _babel_locale(t: Translator, locale: str) -> str:
    """The series' locale for dates, unless the reader asked for English."""
    return "en_GB" if t.language == "en" else (locale or "id_ID")


def publish_site(out_dir: Path, records: Sequence[CertificateRecord], revoked: Iterable[str],
                 site: SiteInfo) -> list[Path]:
    """Write ``index.html`` and one ``<slug>.html`` per certificate into ``out_dir``; the paths written.

    Pages of numbers no longer in ``records`` are not removed: a number is never reused,
    and a static host keeps serving what it was given until told otherwise.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    revoked = set(revoked)
    written = []
    for record in records:
        path = out_dir / f"{record.slug}.html"
        path.write_text(certificate_page(record, revoked, site), encoding="utf-8")
        written.append(path)
    index = out_dir / "index.html"
    index.write_text(index_page(records, revoked, site), encoding="utf-8")
    written.append(index)
    return written


def certificate_page(record: CertificateRecord, revoked: set[str], site: SiteInfo) -> str:
    """One certificate's page."""
    state = status(record, revoked)
    color = "#b91c1c" if state == REVOKED else "#0f766e"
    note = ("Sertifikat ini telah <strong>dicabut</strong> dan tidak berlaku lagi." if state == REVOKED else
            "Sertifikat ini <strong>sah</strong> dan tercatat dalam arsip penyelenggara.")
    rows = [("Nomor", record.number), ("Jenis", KIND_WORDS.get(record.kind, record.kind)), ("Nama", record.name),
            ("Kegiatan", record.title), ("Tanggal", _day(record.held_on, site.locale)), ("Bobot", f"{record.jp} JP")]
    table = "\n".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    sessions = _sessions(record)
    if sessions:
        items = "\n".join(f"<li>{escape(str(s.get('date', '')))}: {escape(str(s.get('topic', '')))} "
                          f"({escape(str(s.get('jp', 0)))} JP)</li>" for s in sessions)
        table += f"\n<tr><th>Sesi</th><td><ul>{items}</ul></td></tr>"
    body = (f'<p class="status" style="color:{color}">{escape(state.upper())}</p>\n<p>{note}</p>\n'
            f"<table>\n{table}\n</table>\n<p><a href=\"index.html\">Semua sertifikat</a></p>")
    return _page(f"Verifikasi sertifikat {record.number}", site, body)


def index_page(records: Sequence[CertificateRecord], revoked: set[str], site: SiteInfo) -> str:
    """The list of every certificate number with its status."""
    rows = "\n".join(f'<tr><td><a href="{escape(r.slug)}.html">{escape(r.number)}</a></td><td>{escape(r.name)}</td>'
                     f"<td>{escape(r.held_on.isoformat())}</td><td>{escape(status(r, revoked))}</td></tr>"
                     for r in records)
    body = ("<p>Cari nomor sertifikat Anda di daftar ini (Ctrl+F) atau pindai kode QR pada sertifikat.</p>\n"
            f"<table>\n<tr><th>Nomor</th><th>Nama</th><th>Tanggal</th><th>Status</th></tr>\n{rows}\n</table>")
    return _page(f"Verifikasi sertifikat {site.title}", site, body)


def _page(title: str, site: SiteInfo, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1f2937}}
th{{text-align:left;padding:.3rem 1rem .3rem 0;vertical-align:top}}td{{padding:.3rem 0}}
.status{{font-size:1.6rem;font-weight:bold}}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p>{escape(site.organizer)} — {escape(site.title)}</p>
{body}
</body>
</html>
"""


def _sessions(record: CertificateRecord) -> list[dict]:
    if not record.detail:
        return []
    try:
        items = json.loads(record.detail)
    except ValueError:
        return []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _day(day: date, locale: str) -> str:
    return format_date(day, "d MMMM y", locale=locale or "id_ID")
