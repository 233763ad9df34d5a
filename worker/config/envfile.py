"""Secrets from the environment, optionally seeded from a ``.env`` file beside the settings."""
from __future__ import annotations

import logging
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from worker.config.textfile import TextRules, read_capped_text
from worker.errors import Problem, SettingsError
from worker.i18n import N_

SECRET_NAMES = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "GOOGLE_APPLICATION_CREDENTIALS",
                "SMTP_USERNAME", "SMTP_PASSWORD")
MAX_ENV_BYTES = 64 * 1024  # a .env file holds a few lines; anything larger is the wrong file
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines (``#`` comments, optional quotes, optional ``export``).

    An unreadable, oversized, binary or non-UTF-8 file is a SettingsError naming the file
    (and the line of the first bad byte); a value is never shown.
    """
    values: dict[str, str] = {}
    problems = []
    for number, raw in enumerate(read_env_text(path).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            problems.append(Problem(path.name, number, "", N_("expected NAME=value")))
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    if problems:
        raise SettingsError(problems)
    return values


ENV_RULES = TextRules(
    limit=MAX_ENV_BYTES, expected=N_("a file of NAME=value lines"),
    unreadable_fix=N_("give the worker's user read permission (chmod 600, owned by that user)"),
    big_hint=N_("expected a few NAME=value lines"), binary_hint=N_("a binary file; expected NAME=value lines"))


def read_env_text(path: Path) -> str:
    """The text of ``path``, read with a size cap; SettingsError with the file, line and fix otherwise."""
    return read_capped_text(path, ENV_RULES)


def permission_warnings(paths: Mapping[str, Path | None]) -> list[str]:
    """One warning per secret file (by label) that the group or others may read: it should be 0600."""
    warnings = []
    for label, path in paths.items():
        try:
            mode = path.stat().st_mode if path else None
        except OSError:
            continue
        if mode is not None and stat.S_ISREG(mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(f"{label} {path} can be read by other users (mode {stat.S_IMODE(mode):04o}); "
                            f"it holds secrets: run chmod 600 {path}")
    return warnings


PATH_NAMES = ("GOOGLE_APPLICATION_CREDENTIALS",)  # secrets that are file paths


@dataclass(frozen=True)
class Secrets:
    """Credentials, read once from the environment; repr never shows values."""

    values: Mapping[str, str] = field(default_factory=dict)  # variable -> value

    def get(self, name: str) -> str:
        """The value of ``name`` or ""."""
        return self.values.get(name, "")

    def __repr__(self) -> str:
        return f"Secrets(set={sorted(k for k, v in self.values.items() if v)})"

    @classmethod
    def load(cls, env: Mapping[str, str], env_file: Path | None) -> "Secrets":
        """Environment variables win over the ``.env`` file.

        A relative path in the ``.env`` file (``GOOGLE_APPLICATION_CREDENTIALS``) is taken from the
        file's folder, the settings folder, as relative paths in settings.yaml are; one set in the
        environment is left as it is (the environment has no folder of its own).
        """
        merged = dict(read_env_file(env_file)) if env_file and env_file.is_file() else {}
        for name in PATH_NAMES:
            value = merged.get(name, "")
            if value and env_file is not None and not Path(value).expanduser().is_absolute():
                merged[name] = str(env_file.resolve().parent / Path(value).expanduser())
        merged.update({k: v for k, v in env.items() if k in SECRET_NAMES or k.startswith(("ZOOM_", "SMTP_", "GOOGLE_"))})
        return cls({k: v for k, v in merged.items() if k in SECRET_NAMES})


class RedactingFilter(logging.Filter):
    """Replaces secret values in log records with ``***`` (defence in depth)."""

    def __init__(self, secrets: Secrets):
        super().__init__()
        self._values = [v for k, v in secrets.values.items()
                        if v and len(v) >= 4 and k != "GOOGLE_APPLICATION_CREDENTIALS"]  # values to hide

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the rendered message and any traceback; always keeps the record."""
        if self._values:
            record.msg, record.args = self.redact(record.getMessage()), ()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
        return True

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        for value in self._values:
            text = text.replace(value, "***")
        return text

