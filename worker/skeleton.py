"""What ships inside the package for a new installation, and ``init``, which writes it into a folder.

The templates and the commented example settings are package data, so ``pip install .`` or a
wheel has them; ``init DIR`` copies them (the templates for staff to edit), adds a ``.env`` with
the secrets' names (mode 0600) and a systemd unit pointing at DIR.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from worker.errors import WorkerError

PACKAGE = Path(__file__).resolve().parent  # the installed worker package
PACKAGE_TEMPLATES = PACKAGE / "templates"  # the Indonesian templates as shipped
EXAMPLE_SETTINGS = PACKAGE / "settings.example.yaml"  # the commented example settings.yaml

ENV_EXAMPLE = """\
# Rahasia webinar-worker. Berkas ini hanya boleh dibaca pemiliknya (chmod 600).
# Jalur relatif di sini diambil dari folder settings.yaml, sama seperti di settings.yaml.
ZOOM_ACCOUNT_ID=
ZOOM_CLIENT_ID=
ZOOM_CLIENT_SECRET=
# Berkas kunci akun layanan Google (JSON), mis. kunci/akun-layanan.json
GOOGLE_APPLICATION_CREDENTIALS=
SMTP_USERNAME=
SMTP_PASSWORD=
"""

UNIT = """\
# systemd unit written by `webinar-worker init`. Install it with:
#   sudo useradd --system --home-dir {folder} --shell /usr/sbin/nologin webinar
#   sudo chown -R webinar:webinar {folder}
#   sudo cp {unit_path} /etc/systemd/system/webinar-worker.service
#   sudo systemctl daemon-reload && sudo systemctl enable --now webinar-worker
[Unit]
Description=webinar-worker ({folder})
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
WatchdogSec=10min
User=webinar
Group=webinar
WorkingDirectory={folder}
ExecStart={python} -m worker run --settings {folder}/settings.yaml
Restart=always
RestartSec=30
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
ReadWritePaths={folder}
PrivateTmp=true

[Install]
WantedBy=multi-user.target
"""


@dataclass
class InitResult:
    """What ``init`` wrote and what it left alone."""

    written: list[Path] = field(default_factory=list)  # files created
    kept: list[Path] = field(default_factory=list)  # files that existed and were not overwritten


def init_folder(folder: Path, *, python: str = sys.executable) -> InitResult:
    """Write settings.yaml, templates/, .env (0600) and webinar-worker.service into ``folder``; never overwrite."""
    if not EXAMPLE_SETTINGS.is_file() or not PACKAGE_TEMPLATES.is_dir():
        raise WorkerError(f"the package is incomplete: {EXAMPLE_SETTINGS} or {PACKAGE_TEMPLATES} is missing; "
                          f"reinstall webinar-worker")
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    result = InitResult()

    def write(path: Path, text: str | None = None, source: Path | None = None, mode: int | None = None) -> None:
        if path.exists():
            result.kept.append(path)
            return
        if source is not None:
            shutil.copyfile(source, path)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode or 0o644)  # 0600 from the first byte
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text or "")
        if mode is not None:
            path.chmod(mode)
        result.written.append(path)

    write(folder / "settings.yaml", source=EXAMPLE_SETTINGS)
    (folder / "templates").mkdir(exist_ok=True)
    for template in sorted(PACKAGE_TEMPLATES.iterdir()):
        if template.is_file() and template.suffix == ".j2":
            write(folder / "templates" / template.name, source=template)
    write(folder / ".env", ENV_EXAMPLE, mode=0o600)
    unit = folder / "webinar-worker.service"
    write(unit, UNIT.format(folder=folder, python=python, unit_path=unit))
    return result
