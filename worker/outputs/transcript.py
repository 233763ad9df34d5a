"""The season transcript: one numbered, verifiable summary certificate per person who came often.

Built from the session certificates in the state store (so only attendance that earned a
certificate counts): everyone with at least ``certificate.transcript_min_sessions`` of them
gets a transcript listing each session's date, topic and JP, and the total. The transcript
takes a running number the same way (``certificate.transcript_number_format``); running it
again keeps the number and refreshes the list.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Sequence
from zoneinfo import ZoneInfo

from worker.core.certnumber import CertificateRecord, format_number
from worker.core.model import SeriesInfo
from worker.core.schema import CertificateSettings
from worker.store.state import StateStore

TRANSCRIPT_KIND = "transcript"


@dataclass(frozen=True)
class Transcript:
    """One person's transcript: the record (number, name, totals) and the sessions it lists."""

    record: CertificateRecord  # the transcript's own certificate record
    sessions: tuple[CertificateRecord, ...]  # the session certificates it sums up, by date


def season_subject(series: str) -> str:
    """The ``subject`` of a series' transcripts in the certificates table."""
    return f"season:{series}"


def eligible(records: Sequence[CertificateRecord], series: str, min_sessions: int,
             revoked: Sequence[str] = ()) -> dict[str, list[CertificateRecord]]:
    """Per e-mail, the person's valid session certificates of ``series`` when there are at least ``min_sessions``."""
    by_person: dict[str, list[CertificateRecord]] = {}
    for record in records:
        if record.kind == "session" and record.subject.startswith(f"{series}/") and record.number not in revoked:
            by_person.setdefault(record.email, []).append(record)
    return {email: sorted(found, key=lambda r: r.held_on)
            for email, found in sorted(by_person.items()) if len(found) >= min_sessions}


def issue_transcripts(store: StateStore, design: CertificateSettings, series: SeriesInfo,
                      now: datetime) -> list[Transcript]:
    """Allocate (or refresh) the transcript of every eligible person; the transcripts, by number."""
    issued_on = now.astimezone(ZoneInfo(series.timezone)).date()
    result = []
    for email, sessions in eligible(store.certificates("session"), series.series, design.transcript_min_sessions,
                                    design.revoked).items():
        detail = json.dumps([{"date": s.held_on.isoformat(), "topic": s.title, "jp": s.jp, "number": s.number}
                             for s in sessions], ensure_ascii=False)
        minutes, jp = sum(s.minutes for s in sessions), sum(s.jp for s in sessions)
        name = design.correction_for(email) or sessions[-1].name
        record = store.issue_certificate(
            kind=TRANSCRIPT_KIND, subject=season_subject(series.series), email=email, name=name, title=series.title,
            held_on=issued_on, minutes=minutes, jp=jp, detail=detail, now=now,
            number_for=lambda seq: format_number(design.transcript_number_format, seq, issued_on, series.series))
        if record.detail != detail:
            store.update_certificate(record.number, minutes=minutes, jp=jp, detail=detail)
            record = store.certificate(record.number) or record
        if name != record.name:
            store.reissue_certificate(record.number, name, now, "")
            record = store.certificate(record.number) or record
        result.append(Transcript(record, tuple(sessions)))
    return sorted(result, key=lambda t: t.record.seq)


def write_transcripts(out_dir: Path, transcripts: Sequence[Transcript], *, template_dir: Path,
                      series: SeriesInfo, design: CertificateSettings) -> list[Path]:
    """One PDF per transcript in ``out_dir``; a transcript whose name cannot be drawn is skipped (logged)."""
    # fpdf, fontTools and HarfBuzz load only when a transcript is drawn
    from worker.mail.certificate import CertificateHeldError, FontSet, Holder, render_transcript

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fonts, written = FontSet(), []
    for t in transcripts:
        holder = Holder(name=t.record.name, number=t.record.number, minutes=0,
                        issued_on=_issued(t.record, series.timezone))
        rows = [{"date": s.held_on, "topic": s.title, "jp": s.jp, "number": s.number} for s in t.sessions]
        try:
            pdf = render_transcript(template_dir, series=series, holder=holder, sessions=rows, design=design,
                                    fonts=fonts)
        except CertificateHeldError:
            continue
        path = out_dir / f"transkrip-{t.record.slug}.pdf"
        path.write_bytes(pdf)
        written.append(path)
    return written


def _issued(record: CertificateRecord, timezone: str) -> date:
    return datetime.fromisoformat(record.issued_at).astimezone(ZoneInfo(timezone)).date()
