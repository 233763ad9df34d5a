"""A relative path in .env resolves against the settings folder, as relative paths in settings.yaml do."""
from __future__ import annotations

from worker.config.envfile import Secrets


def test_a_relative_key_file_in_env_is_taken_from_the_settings_folder(tmp_path, monkeypatch):
    folder = tmp_path / "perpustakaan"
    folder.mkdir()
    (folder / ".env").write_text("GOOGLE_APPLICATION_CREDENTIALS=kunci/akun-layanan.json\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the current directory is not the settings folder
    secrets = Secrets.load({}, folder / ".env")
    assert secrets.get("GOOGLE_APPLICATION_CREDENTIALS") == str(folder.resolve() / "kunci" / "akun-layanan.json")


def test_an_absolute_key_file_and_one_from_the_environment_stay_as_they_are(tmp_path):
    (tmp_path / ".env").write_text("GOOGLE_APPLICATION_CREDENTIALS=/etc/webinar/kunci.json\n", encoding="utf-8")
    assert Secrets.load({}, tmp_path / ".env").get("GOOGLE_APPLICATION_CREDENTIALS") == "/etc/webinar/kunci.json"
    env = {"GOOGLE_APPLICATION_CREDENTIALS": "relatif.json"}
    assert Secrets.load(env, tmp_path / ".env").get("GOOGLE_APPLICATION_CREDENTIALS") == "relatif.json"
