"""Secrets from the environment, optionally seeded from a ``.env`` file beside the settings."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from worker.errors import Problem, SettingsError

SECRET_NAMES = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "GOOGLE_APPLICATION_CREDENTIALS",
                "SMTP_USERNAME", "SMTP_PASSWORD")
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines (``#`` comments, optional quotes, optional ``export``)."""
    values: dict[str, str] = {}
    problems = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            problems.append(Problem(path.name, number, "", "expected NAME=value"))
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    if problems:
        raise SettingsError(problems)
    return values


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
        """Environment variables win over the ``.env`` file."""
        merged = dict(read_env_file(env_file)) if env_file and env_file.is_file() else {}
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

