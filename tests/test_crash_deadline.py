"""Each remote call of a step has an overall deadline: a Zoom that never answers fails the step, which backs off."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from integrations.sandbox.zoom_server import ZoomEmulator
from tests.helpers_settings import BASE, write_settings
from worker.config.envfile import Secrets
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.planner import plan_season
from worker.errors import SettingsError, TransientError
from worker.run.deadline import Deadlined, StepDeadline
from worker.run.wiring import build_engine
from worker.store.state import StateStore


def test_a_zoom_that_answers_too_late_fails_the_step_at_the_deadline_and_it_backs_off(tmp_path):
    with ZoomEmulator() as zoom:
        zoom.delay_seconds = 3.0  # every answer comes 3 s late; the deadline below is 1 s
        text = (BASE.replace("  state_file: state.db", "  state_file: state.db\n  step_timeout_seconds: 1")
                + f"zoom:\n  api_base_url: {zoom.api_base_url}\n  oauth_url: {zoom.oauth_url}\n")
        settings = load_settings(write_settings(tmp_path, text))
        assert settings.worker.step_timeout_seconds == 1
        secrets = Secrets({"ZOOM_ACCOUNT_ID": zoom.account_id, "ZOOM_CLIENT_ID": zoom.client_id,
                           "ZOOM_CLIENT_SECRET": zoom.client_secret})
        now = datetime(2026, 12, 28, tzinfo=timezone.utc)
        with StateStore(settings.worker.state_file) as store:
            engine = build_engine(settings, secrets, store, FixedClock(now))
            report = engine.tick(plan_season(settings).sessions)
            ((step, why),) = report.failed
            assert step.kind == "create_meeting"
            assert "step deadline of 1 s" in why and "worker.step_timeout_seconds" in why
            retry = store.retries()[(step.uid, "create_meeting")]
            assert retry.attempts == 1 and retry.next_at > now and "step deadline" in retry.last_error
        assert zoom.calls["create_meeting"] == 0  # it never got past the token


def test_the_deadline_defaults_to_120_seconds_and_a_bad_one_names_the_key(tmp_path):
    assert load_settings(write_settings(tmp_path)).worker.step_timeout_seconds == 120
    bad = BASE.replace("  state_file: state.db", "  state_file: state.db\n  step_timeout_seconds: 0")
    with pytest.raises(SettingsError, match="worker.step_timeout_seconds"):
        load_settings(write_settings(tmp_path, bad))


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_waits_inside_a_call_end_at_its_deadline_and_nested_calls_share_one_budget():
    ticker, slept = Ticker(), []
    deadline = StepDeadline(10, monotonic=ticker)
    sleep = deadline.guard_sleep(slept.append, "zoom")
    assert deadline.remaining() is None
    sleep(50)  # no call running: no limit
    with deadline:
        ticker.t += 4
        sleep(5)
        with deadline:  # a client method calling another: still the outer budget
            assert deadline.remaining() == pytest.approx(6)
        with pytest.raises(TransientError, match="step deadline of 10 s"):
            sleep(6)
    assert slept == [50, 5] and deadline.remaining() is None


def test_the_wrapper_runs_each_public_method_under_the_deadline():
    deadline = StepDeadline(30)

    class Client:
        limit = 7

        def call(self):
            return deadline.remaining()

    wrapped = Deadlined(Client(), deadline)
    assert wrapped.limit == 7 and 0 < wrapped.call() <= 30 and deadline.remaining() is None
