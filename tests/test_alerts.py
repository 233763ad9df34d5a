"""Alerts to the operator: one mail when a problem starts, one when it clears, through the outbox and a real SMTP server."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from integrations.sandbox.zoom_server import ZoomEmulator
from tests.helpers_settings import BASE, write_settings
from tests.helpers_smtp import parse
from worker.config.envfile import Secrets
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.records import Retry
from worker.errors import SettingsError
from worker.run.alerts import UID_PREFIX, AlertBook, Concern, changes, settings_problem_text, step_concerns
from worker.run.runner import Runner
from worker.run.wiring import build_engine
from worker.store.health import HEARTBEAT_KEY, read_heartbeat
from worker.store.state import StateStore

START = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)  # long before the season: nothing else is due
OPERATOR = "it@perpustakaan.example"


def _text(server, port: int, extra: str = "") -> str:
    return (BASE.replace("    port: 2525", f"    port: {port}")
            .replace("  state_file: state.db", f"  state_file: state.db\n  alert_to: [{OPERATOR}]\n"
                                               f"  alert_after_failures: 3{extra}"))


def _touch_later(path: Path, seconds: int) -> None:
    """Give an edit a new modification time (the runner reloads on a changed mtime)."""
    os.utime(path, (time.time() + seconds, time.time() + seconds))


def _alerts(server) -> list:
    return [parse(m.data) for m in server.messages if OPERATOR in m.rcpt_tos]


def _body(message) -> str:
    return message.get_body(("plain",)).get_content()


def _runner(path: Path, store: StateStore, clock: FixedClock, secrets: Secrets | None = None) -> Runner:
    secrets = secrets or Secrets({})
    return Runner(path, lambda s: build_engine(s, secrets, store, clock), clock, store=store)


def test_a_broken_edit_while_running_sends_one_alert_with_its_line_and_one_recovery(tmp_path, smtp_server):
    path = write_settings(tmp_path, _text(smtp_server, smtp_server.port))
    clock = FixedClock(START)
    with StateStore(tmp_path / "state.db") as store:
        runner = _runner(path, store, clock)
        runner.run_once()
        assert _alerts(smtp_server) == []
        path.write_text(_text(smtp_server, smtp_server.port).replace("  weekday: kamis", "  weekday: caturday"),
                        encoding="utf-8")
        _touch_later(path, 5)
        with pytest.raises(SettingsError) as raised:  # what `check` prints for this file
            load_settings(path)
        for minute in range(1, 6):  # five ticks with the file still broken: no storm
            clock.set(START + timedelta(minutes=minute))
            runner.run_once()
        assert runner.settings.series.weekday == 3  # the last good settings stay in force
        (alert,) = _alerts(smtp_server)
        assert alert["Subject"].startswith("[Webinar Kamis Perpustakaan] PERINGATAN: Suntingan settings.yaml ditolak")
        shown = settings_problem_text(raised.value)  # the problems and their lines, as `check` prints them to staff
        assert shown in _body(alert)
        assert "settings.yaml baris 6" in _body(alert) and "series.weekday" in _body(alert)
        assert "nama hari" in shown  # in the staff's words, not the English source
        assert alert["Auto-Submitted"] == "auto-generated"
        assert read_heartbeat(store).settings_problem == shown

        path.write_text(_text(smtp_server, smtp_server.port), encoding="utf-8")  # staff fix the file
        _touch_later(path, 10)
        for minute in range(6, 9):
            clock.set(START + timedelta(minutes=minute))
            runner.run_once()
        first, recovery = _alerts(smtp_server)
        assert recovery["Subject"].startswith("[Webinar Kamis Perpustakaan] Pulih: Suntingan settings.yaml ditolak")
        assert "sudah teratasi" in _body(recovery)
        assert read_heartbeat(store).settings_problem == ""
        rows = store.mail_counts()
        assert sum(n for uid, c in rows.items() if uid.startswith(UID_PREFIX) for n in c.values()) == 2


def test_a_refused_zoom_credential_alerts_at_once_and_clears_when_the_step_works_again(tmp_path, smtp_server):
    with ZoomEmulator() as zoom:
        text = _text(smtp_server, smtp_server.port, "\n  stale_after_ticks: 1000") + (
            f"zoom:\n  api_base_url: {zoom.api_base_url}\n  oauth_url: {zoom.oauth_url}\n"
            f"  user_id: {zoom.host_email}\n")
        path = write_settings(tmp_path, text)
        good = {"ZOOM_ACCOUNT_ID": zoom.account_id, "ZOOM_CLIENT_ID": zoom.client_id,
                "ZOOM_CLIENT_SECRET": zoom.client_secret}
        clock = FixedClock(datetime(2026, 12, 28, tzinfo=timezone.utc))  # the first meeting is due
        with StateStore(tmp_path / "state.db") as store:
            runner = _runner(path, store, clock, Secrets(good | {"ZOOM_CLIENT_SECRET": "wrong"}))
            report = runner.run_once()
            assert report.refused and report.refused[0][1] == "zoom"
            clock.set(clock.now() + timedelta(hours=1))
            runner.run_once()  # refused again (or still backing off): still one incident
            (alert,) = _alerts(smtp_server)
            assert "Kredensial zoom ditolak" in alert["Subject"]
            assert "zoom:" in _body(alert) and "doctor" in _body(alert)

            runner = _runner(path, store, clock, Secrets(good))  # the operator fixed .env and restarted
            clock.set(clock.now() + timedelta(hours=12))  # past every backoff
            runner.run_once()
            assert store.retries() == {}
            first, recovery = _alerts(smtp_server)
            assert "Pulih: Kredensial zoom ditolak" in recovery["Subject"]


def test_a_step_failing_n_times_in_a_row_is_one_incident_per_step_kind():
    now = START
    retries = {("s/2027-01-07", "sync_sheet"): Retry("s/2027-01-07", "sync_sheet", 3, now, "google-sheets: 500"),
               ("s/2027-01-14", "sync_sheet"): Retry("s/2027-01-14", "sync_sheet", 4, now, "google-sheets: 500"),
               ("s/2027-01-14", "upsert_event"): Retry("s/2027-01-14", "upsert_event", 2, now, "calendar: 500"),
               ("s/2027-01-21", "fetch_attendance"): Retry("s/2027-01-21", "fetch_attendance", 9, now,
                                                           "waiting: Zoom has no attendance report yet")}
    (concern,) = step_concerns(retries, 3, [], {})
    assert concern.key == "step:sync_sheet" and "4 kali" in concern.title
    assert concern.details == ("s/2027-01-07: google-sheets: 500", "s/2027-01-14: google-sheets: 500")
    found = changes({"step:sync_sheet": {"title": "x"}, "stale": {"title": "y"}}, [concern])
    assert found.started == [] and [r["key"] for r in found.cleared] == ["stale"]


def test_problems_that_start_together_go_out_as_one_digest_and_nothing_is_sent_without_alert_to(tmp_path, smtp_server):
    path = write_settings(tmp_path, _text(smtp_server, smtp_server.port))
    settings = load_settings(path)
    clock = FixedClock(START)
    from worker.run.wiring import build_integrations

    transport = build_integrations(settings, Secrets({})).mail
    with StateStore(tmp_path / "state.db") as store:
        book = AlertBook(store, clock)
        two = [Concern("a", "Masalah A", ("baris A",)), Concern("b", "Masalah B", ("baris B",))]
        book.observe(settings, two, transport)
        book.observe(settings, two, transport)
        (digest,) = _alerts(smtp_server)
        assert "2 masalah" in digest["Subject"] and "Masalah A" in _body(digest) and "Masalah B" in _body(digest)
        quiet = load_settings(write_settings(tmp_path / "quiet", BASE))  # no worker.alert_to
        AlertBook(store, clock).observe(quiet, [], transport)  # both clear: logged, not mailed
        assert len(_alerts(smtp_server)) == 1 and book.open_incidents() == {}


def test_a_stale_heartbeat_is_noticed_at_start_and_cleared_by_the_first_tick(tmp_path, smtp_server):
    path = write_settings(tmp_path, _text(smtp_server, smtp_server.port))
    clock = FixedClock(START)
    with StateStore(tmp_path / "state.db") as store:
        _runner(path, store, clock).run_once()
        assert read_heartbeat(store).at == START
        clock.set(START + timedelta(hours=3))  # the worker was down for three hours (ticks are 60 s)
        _runner(path, store, clock).run_once()
        stuck, recovered = _alerts(smtp_server)
        assert "tidak menyelesaikan satu tick" in stuck["Subject"]
        assert "Tick terakhir yang selesai" in _body(stuck) and "pukul 09.00 WITA" in _body(stuck)
        assert "Pulih" in recovered["Subject"]
        assert store.meta_value(HEARTBEAT_KEY)


def test_zoom_s_daily_limit_alerts_once_and_clears_when_the_held_work_is_done(tmp_path, smtp_server):
    with ZoomEmulator() as zoom:
        text = _text(smtp_server, smtp_server.port, "\n  stale_after_ticks: 1000") + (
            f"zoom:\n  api_base_url: {zoom.api_base_url}\n  oauth_url: {zoom.oauth_url}\n"
            f"  user_id: {zoom.host_email}\n")
        path = write_settings(tmp_path, text)
        secrets = Secrets({"ZOOM_ACCOUNT_ID": zoom.account_id, "ZOOM_CLIENT_ID": zoom.client_id,
                           "ZOOM_CLIENT_SECRET": zoom.client_secret})
        zoom.fail_next("create_meeting", 429, daily=True)
        clock = FixedClock(datetime(2026, 12, 28, 10, 0, tzinfo=timezone.utc))
        with StateStore(tmp_path / "state.db") as store:
            runner = _runner(path, store, clock, secrets)
            report = runner.run_once()
            assert report.held and report.held[0][0] == "create_meeting"
            clock.set(clock.now() + timedelta(hours=1))
            runner.run_once()  # still held until the reset: the same incident, no new mail
            (alert,) = _alerts(smtp_server)
            assert "Batas harian Zoom tercapai" in alert["Subject"] and "Dicoba lagi" in _body(alert)
            clock.set(datetime(2026, 12, 29, 0, 5, tzinfo=timezone.utc))  # after 00:00 UTC
            runner.run_once()
            first, recovery = _alerts(smtp_server)
            assert "Pulih: Batas harian Zoom tercapai" in recovery["Subject"]
            assert zoom.calls["create_meeting"] >= 2


def test_a_mail_hold_alerts_the_operator_once_and_clears_when_the_hold_ends(tmp_path, smtp_server):
    path = write_settings(tmp_path, _text(smtp_server, smtp_server.port, "\n  stale_after_ticks: 1000"))
    clock = FixedClock(START)
    with StateStore(tmp_path / "state.db") as store:
        runner = _runner(path, store, clock)
        runner.run_once()
        store.hold_mail(START + timedelta(hours=24), "batas harian akun tercapai: 550 5.4.5")  # as the send path does
        for hours in (1, 2, 12):  # still held: the same incident, no new mail
            clock.set(START + timedelta(hours=hours))
            runner.run_once()
        (alert,) = _alerts(smtp_server)
        assert "ditahan" in alert["Subject"] and "5.4.5" in _body(alert) and "Dikirim lagi mulai" in _body(alert)
        clock.set(START + timedelta(hours=24, minutes=5))
        runner.run_once()
        first, recovery = _alerts(smtp_server)
        assert "Pulih" in recovery["Subject"]
