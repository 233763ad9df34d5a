"""The long-running loop: ``schedule`` decides when ticks happen; each tick reconciles once.

A failing tick is logged and the loop goes on. SIGTERM/SIGINT set a flag that the engine
checks between steps, so the worker stops cleanly without cutting a step in half.
An edited settings file is reloaded on the next tick; an edit that fails in any way (an
invalid value, or anything the loader or the engine raises) is logged and the last good
settings stay in force.
"""
from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import schedule

from worker.config.settings import load_settings
from worker.core.clock import Clock
from worker.core.planner import plan_season
from worker.core.schema import Settings
from worker.errors import SettingsError
from worker.run.engine import Engine, TickReport

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    settings: Settings  # last good settings
    mtime: float  # file modification time they were read at
    engine: Engine  # engine built for them


class Runner:
    """Owns the settings file, the engine and the schedule; ``run_once`` is one tick."""

    def __init__(self, settings_path: Path, make_engine: Callable[[Settings], Engine], clock: Clock,
                 settings: Settings | None = None, stop_event: threading.Event | None = None):
        self.settings_path = settings_path  # file watched for edits
        self.make_engine = make_engine  # builds an engine for a settings value
        self.clock = clock  # source of "now"
        self.stop_event = stop_event or threading.Event()  # set by signals or stop()
        self._bad_mtime: float | None = None  # mtime of an invalid edit already reported
        first = settings or load_settings(settings_path)
        self._loaded = _Loaded(first, self._mtime(), make_engine(first))

    @property
    def settings(self) -> Settings:
        """The settings in force (the last good ones)."""
        return self._loaded.settings

    def stop(self) -> None:
        """Ask the loop to stop after the current step."""
        self.stop_event.set()

    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self.stop_event.is_set()

    def _mtime(self) -> float:
        try:
            return self.settings_path.stat().st_mtime
        except OSError:
            return 0.0

    def reload_if_changed(self) -> None:
        """Reload an edited settings file; keep the last good one if the edit is invalid."""
        mtime = self._mtime()
        if mtime == self._loaded.mtime or mtime == self._bad_mtime:
            return
        try:
            settings = load_settings(self.settings_path)
            plan_season(settings)  # an edit the planner cannot use is refused here, not on every tick
            engine = self.make_engine(settings)
        except SettingsError as exc:
            self._bad_mtime = mtime
            log.error("settings edit ignored, keeping the last good settings:\n%s", exc)
            return
        except Exception as exc:  # noqa: BLE001 - whatever an edit raises, the worker keeps its last good settings
            self._bad_mtime = mtime
            log.error("settings edit ignored, keeping the last good settings: %s: %s", type(exc).__name__, exc)
            return
        self._bad_mtime = None
        before = self._loaded.settings.worker
        for key in ("state_file", "log_level"):
            if getattr(settings.worker, key) != getattr(before, key):
                log.warning("worker.%s changed: it takes effect when the worker is restarted (still %s)",
                            key, getattr(before, key))
        self._loaded = _Loaded(settings, mtime, engine)
        log.info("settings reloaded from %s", self.settings_path)

    def run_once(self, dry_run: bool = False) -> TickReport:
        """One tick: reload settings if edited, plan the season, reconcile."""
        self.reload_if_changed()
        sessions = plan_season(self._loaded.settings).sessions
        return self._loaded.engine.tick(sessions, dry_run=dry_run)

    def _safe_tick(self) -> None:
        try:
            report = self.run_once()
        except Exception:  # noqa: BLE001 - the loop must survive any failing tick
            log.exception("tick failed; the next tick will try again")
            return
        if report.done or report.failed:
            log.info("tick: %d step(s) done, %d failed, %d blocked", len(report.done), len(report.failed),
                     len(report.blocked))

    def run_forever(self, install_signals: bool = True) -> None:
        """Tick now and then every ``worker.tick_seconds`` until stopped."""
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        scheduler = schedule.Scheduler()
        interval = self._loaded.settings.worker.tick_seconds
        scheduler.every(interval).seconds.do(self._safe_tick)
        log.info("webinar-worker running; ticking every %d s", interval)
        try:
            self._safe_tick()
            while not self.stopping():
                if self._loaded.settings.worker.tick_seconds != interval:  # an edit changed the interval
                    interval = self._loaded.settings.worker.tick_seconds
                    scheduler.clear()
                    scheduler.every(interval).seconds.do(self._safe_tick)
                    log.info("now ticking every %d s", interval)
                scheduler.run_pending()
                idle = scheduler.idle_seconds
                self.stop_event.wait(timeout=min(max(idle or 1.0, 0.05), 1.0))
        finally:
            scheduler.clear()
            log.info("webinar-worker stopped")
