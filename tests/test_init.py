"""`init DIR` writes what a new installation starts from and never overwrites what staff already have."""
from __future__ import annotations

import stat

from worker.cli import main
from worker.skeleton import PACKAGE_TEMPLATES


def test_init_writes_settings_templates_env_and_unit_and_keeps_existing_files(tmp_path, capsys):
    folder = tmp_path / "perpustakaan"
    assert main(["init", str(folder)]) == 0
    names = sorted(p.name for p in (folder / "templates").iterdir())
    assert names == sorted(p.name for p in PACKAGE_TEMPLATES.iterdir() if p.suffix == ".j2")
    assert stat.S_IMODE((folder / ".env").stat().st_mode) == 0o600
    assert "ZOOM_CLIENT_SECRET=" in (folder / ".env").read_text(encoding="utf-8")
    unit = (folder / "webinar-worker.service").read_text(encoding="utf-8")
    assert f"WorkingDirectory={folder.resolve()}" in unit and "Type=notify" in unit and "WatchdogSec=" in unit
    assert "useradd --system" in unit and f"chown -R webinar:webinar {folder.resolve()}" in unit
    assert main(["check", "--offline-ok", "--settings", str(folder / "settings.yaml")]) == 0
    (folder / "settings.yaml").write_text("# edited by staff\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["init", str(folder)]) == 0
    assert f"kept   {folder.resolve() / 'settings.yaml'} (exists)" in capsys.readouterr().out
    assert (folder / "settings.yaml").read_text(encoding="utf-8") == "# edited by staff\n"
