"""The long-running loop: ``schedule`` decides when ticks happen; each tick reconciles once.

A failing tick is logged and the loop goes on. SIGTERM/SIGINT set a flag that the engine
checks between steps, so the worker stops cleanly without cutting a step in half.
An edited settings file is reloaded on the next tick; an edit that fails in any way (an
invalid value, or anything the loader or the engine raises) is logged and the last good
settings stay in force.

With a state store the runner also keeps, after each tick, a heartbeat (worker.run.health) and
the last good settings' text, and tells the operator by mail (worker.run.alerts) when an edit is
rejected, a step keeps failing, a credential is refused, or the worker had stopped ticking.
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
from worker.store import health
from worker.run.alerts import (AlertBook, Concern, mail_hold_concern, quota_concerns, settings_concern,
                               settings_problem_text, stale_concern, step_concerns)
from worker.run.engine import Engine, TickReport
from worker.run.notify import Notifier

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    settings: Settings  # last good settings
    mtime: float  # file modification time they were read at
    engine: Engine  # engine built for them


class Runner:
    """Owns the settings file, the engine and the schedule; ``run_once`` is one tick."""

    def __init__(self, settings_path: Path, make_engine: Callable[[Settings], Engine], clock: Clock,
                 settings: Settings | None = None, stop_event: threading.Event | None = None,
                 store=None, settings_problem: str | None = None, notifier: Notifier | None = None):
        self.settings_path = settings_path  # file watched for edits
        self.make_engine = make_engine  # builds an engine for a settings value
        self.clock = clock  # source of "now"
        self.stop_event = stop_event or threading.Event()  # set by signals or stop()
        self._bad_mtime: float | None = None  # mtime of an invalid edit already reported
        self.notifier = notifier or Notifier()  # systemd Type=notify and watchdog ($NOTIFY_SOCKET); no-op outside
        self.store = store  # StateStore for heartbeat, last good settings and alerts; None = none of these
        self.alerts = AlertBook(store, clock) if store is not None else None  # operator mail
        self._problem = settings_problem  # the rejected edit's problems, as `check` prints them; None = file good
        self._started = False  # the first tick looks for a stale heartbeat first
        self._kept_mtime: float | None = None  # mtime of the settings last kept in the store as "last good"
        first = settings or load_settings(settings_path)
        self._loaded = _Loaded(first, 0.0 if settings_problem else self._mtime(), make_engine(first))
        if settings_problem:  # started on the last good copy: the broken file counts as already reported
            self._bad_mtime = self._mtime()

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
            # Staff read these lines in the alert mail and in `status`: in their language, like `check` says them.
            self._problem = settings_problem_text(exc)
            log.error("settings edit ignored, keeping the last good settings:\n%s", exc)
            return
        except Exception as exc:  # noqa: BLE001 - whatever an edit raises, the worker keeps its last good settings
            self._bad_mtime = mtime
            self._problem = f"{type(exc).__name__}: {exc}"
            log.error("settings edit ignored, keeping the last good settings: %s: %s", type(exc).__name__, exc)
            return
        self._bad_mtime = None
        self._problem = None
        before = self._loaded.settings.worker
        for key in ("state_file", "log_level"):
            if getattr(settings.worker, key) != getattr(before, key):
                log.warning("worker.%s changed: it takes effect when the worker is restarted (still %s)",
                            key, getattr(before, key))
        self._loaded = _Loaded(settings, mtime, engine)
        log.info("settings reloaded from %s", self.settings_path)

    @property
    def settings_problem(self) -> str | None:
        """The problems of the settings file when it is not the one in force; None when it is."""
        return self._problem

    def run_once(self, dry_run: bool = False) -> TickReport:
        """One tick: reload settings if edited, plan the season, reconcile; then heartbeat and alerts."""
        self.reload_if_changed()
        if not self._started and not dry_run and self.store is not None:
            self._started = True
            self._notice_stale()
        sessions = plan_season(self._loaded.settings).sessions
        report = self._loaded.engine.tick(sessions, dry_run=dry_run)
        if not dry_run and self.store is not None:
            health.write_heartbeat(self.store, self.clock.now(), report, settings_problem=self._problem)
            if self._problem is None and self._kept_mtime != self._loaded.mtime:
                health.keep_good_settings(self.store, self.settings_path)
                self._kept_mtime = self._loaded.mtime
            self._observe(self._concerns(report))
        return report

    def _concerns(self, report: TickReport | None) -> list[Concern]:
        """Every problem the operator should hear about, as seen now."""
        assert self.alerts is not None and self.store is not None
        settings = self._loaded.settings
        found = [settings_concern(self._problem, self.settings_path.name)] if self._problem else []
        refused = [(step.uid, step.kind, service) for step, service in (report.refused if report else [])]
        retries, open_records = self.store.retries(), self.alerts.open_incidents()
        found += step_concerns(retries, settings.worker.alert_after_failures, refused, open_records)
        found += quota_concerns(report.held if report else [], retries, open_records, settings.series.timezone,
                                settings.series.locale)
        until, why = self.store.mail_hold()
        found += mail_hold_concern(until, why, self.clock.now(), settings.series.timezone, settings.series.locale)
        return found

    def _observe(self, concerns: list[Concern]) -> None:
        """Hand the concerns to the alert book; mail problems never stop the loop."""
        assert self.alerts is not None
        try:
            self.alerts.observe(self._loaded.settings, concerns, getattr(self._loaded.engine.io, "mail", None))
        except Exception:  # noqa: BLE001 - an alert that cannot be queued or sent must not stop the work
            log.exception("alert mail could not be handled; the next tick tries again")

    def _notice_stale(self) -> None:
        """At start: a heartbeat older than a few tick intervals opens a "stale" incident (closed by this tick)."""
        assert self.store is not None
        settings = self._loaded.settings
        beat = health.read_heartbeat(self.store)
        concern = stale_concern(beat.completed_at if beat else None, self.clock.now(), settings.worker.tick_seconds,
                                settings.worker.stale_after_ticks, settings.series.timezone, settings.series.locale)
        if concern is not None:
            self._observe(self._concerns(None) + [concern])

    def _safe_tick(self) -> None:
        try:
            report = self.run_once()
        except Exception:  # noqa: BLE001 - the loop must survive any failing tick
            log.exception("tick failed; the next tick will try again")
            return
        finally:
            self.notifier.ping()
        if report.done or report.failed:
            log.info("tick: %d step(s) done, %d failed, %d blocked", len(report.done), len(report.failed),
                     len(report.blocked))
        else:
            log.debug("tick: nothing to do (%d blocked)", len(report.blocked))

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
            self.notifier.ready(f"ticking every {interval} s")
            while not self.stopping():
                self.notifier.ping()
                if self._loaded.settings.worker.tick_seconds != interval:  # an edit changed the interval
                    interval = self._loaded.settings.worker.tick_seconds
                    scheduler.clear()
                    scheduler.every(interval).seconds.do(self._safe_tick)
                    log.info("now ticking every %d s", interval)
                scheduler.run_pending()
                idle = scheduler.idle_seconds
                self.stop_event.wait(timeout=min(max(idle or 1.0, 0.05), 1.0))
        finally:
            self.notifier.stopping()
            scheduler.clear()
            log.info("webinar-worker stopped")
