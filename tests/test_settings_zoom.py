"""The ``zoom`` keys of issue 13: registration, staff, meeting_settings; and what ``check`` says about scopes."""
from __future__ import annotations

import pytest

from tests.helpers_settings import BASE, write_settings
from worker.cli import main
from worker.config.settings import load_settings
from worker.errors import SettingsError

ZOOM = """zoom:
  registration: false
  staff: [Operator@Perpustakaan.example]
  meeting_settings:
    question_and_answer: true
    who_will_receive_summary: 2
    auto_recording: cloud
"""


def test_defaults_register_and_send_explicit_settings(tmp_path) -> None:
    z = load_settings(write_settings(tmp_path)).zoom
    assert z.registration is True and z.staff == () and z.meeting_settings == {}


def test_zoom_keys_are_read(tmp_path) -> None:
    z = load_settings(write_settings(tmp_path, BASE.replace("mail:\n", ZOOM + "mail:\n", 1))).zoom
    assert z.registration is False and z.staff == ("operator@perpustakaan.example",)
    assert z.meeting_settings == {"question_and_answer": {"enable": True}, "who_will_receive_summary": 2,
                                  "auto_recording": "cloud"}


@pytest.mark.parametrize("text, message", [
    ("  registration: ya\n", "zoom.registration: expected true or false"),
    ("  staff: [bukan-alamat]\n", "zoom.staff[0]: \"bukan-alamat\" is not an email address"),
    ("  meeting_settings:\n    watermak: true\n", "did you mean 'watermark'?"),
    ("  meeting_settings:\n    who_will_receive_summary: 9\n", "expected a number from 1 to 4"),
    ("  meeting_settings:\n    auto_recording: awan\n", "expected one of none, local, cloud"),
])
def test_bad_zoom_keys_are_named(tmp_path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write_settings(tmp_path, BASE.replace("mail:\n", "zoom:\n" + text + "mail:\n", 1)))
    assert message in str(caught.value)


def test_check_names_the_zoom_scopes(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ZOOM_ACCOUNT_ID", "a")
    monkeypatch.setenv("ZOOM_CLIENT_ID", "b")
    monkeypatch.setenv("ZOOM_CLIENT_SECRET", "sekret-zoom-xyz")
    assert main(["check", "--offline-ok", "--settings", str(write_settings(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "meeting:write:batch_registrants:admin" in out and "report:read:list_meeting_participants:admin" in out
    assert "licensed (Pro or higher) host" in out and "sekret-zoom-xyz" not in out
