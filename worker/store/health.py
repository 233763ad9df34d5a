"""Health kept in the state store: a heartbeat per tick and the last settings that passed the checks.

Both live in the store's ``meta`` table, so ``status`` (another process) reads them without a lock,
and a restart with a broken settings file can go on with the last good copy.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from worker.config.settings import load_settings_text, read_settings_text
from worker.core.records import iso, parse_iso
from worker.errors import SettingsError

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "heartbeat"  # meta key of the last tick's heartbeat
GOOD_SETTINGS_KEY = "last_good_settings"  # meta key of the last good settings (JSON: text, path, kept_at)
MAX_ERRORS = 5  # errors kept in a heartbeat


@dataclass(frozen=True)
class Heartbeat:
    """What the last tick did, and when."""

    at: datetime  # when the tick ended (UTC)
    outcome: str  # "ok", "failed" (some step failed), "blocked" (only blocked steps), "idle" (nothing to do)
    done: int = 0  # steps done
    failed: int = 0  # steps failed
    blocked: int = 0  # steps blocked (integration not configured)
    errors: tuple[str, ...] = ()  # the first few errors of failed steps
    settings_problem: str = ""  # the settings file's problems when it is not the one in force
    completed_at: datetime | None = field(default=None)  # the tick completed (it always did when written)

    def to_json(self) -> dict:
        """The heartbeat as plain JSON values (``status --json``)."""
        values = asdict(self)
        values["at"] = iso(self.at)
        values["completed_at"] = iso(self.completed_at) if self.completed_at else ""
        values["errors"] = list(self.errors)
        return values


def outcome_of(report) -> str:
    """One word for a tick's report."""
    if report.failed:
        return "failed"
    if report.done:
        return "ok"
    return "blocked" if report.blocked else "idle"


def write_heartbeat(store, now: datetime, report, settings_problem: str | None = None) -> Heartbeat:
    """Keep this tick's heartbeat in the store."""
    beat = Heartbeat(at=now, outcome=outcome_of(report), done=len(report.done), failed=len(report.failed),
                     blocked=len(report.blocked), errors=tuple(why[:300] for _, why in report.failed[:MAX_ERRORS]),
                     settings_problem=settings_problem or "", completed_at=now)
    store.set_meta_value(HEARTBEAT_KEY, json.dumps(beat.to_json(), ensure_ascii=False))
    return beat


def read_heartbeat(store) -> Heartbeat | None:
    """The last heartbeat, or None when no tick has completed yet."""
    text = store.meta_value(HEARTBEAT_KEY)
    if not text:
        return None
    v = json.loads(text)
    return Heartbeat(at=parse_iso(v["at"]), outcome=v["outcome"], done=v["done"], failed=v["failed"],
                     blocked=v["blocked"], errors=tuple(v["errors"]), settings_problem=v.get("settings_problem", ""),
                     completed_at=parse_iso(v["completed_at"]) if v.get("completed_at") else None)


def keep_good_settings(store, path: Path) -> bool:
    """Keep the settings file's text as the last good copy, if it still passes the checks; True when kept."""
    try:
        text = read_settings_text(path)
        load_settings_text(text, path)
    except SettingsError:
        return False
    store.set_meta_value(GOOD_SETTINGS_KEY, json.dumps({"text": text, "path": str(Path(path).resolve())},
                                                       ensure_ascii=False))
    return True


def last_good_settings_text(store) -> str | None:
    """The text of the last good settings kept in the store, or None."""
    raw = store.meta_value(GOOD_SETTINGS_KEY)
    return json.loads(raw)["text"] if raw else None
