"""Secrets from the environment and .env, and the log filter that keeps them out of logs."""
from __future__ import annotations

import io
import logging

from worker.config.envfile import RedactingFilter, Secrets

SECRET = "s3cr3t-client-value"


def logger_with_filter() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(Secrets({"ZOOM_CLIENT_SECRET": SECRET, "SMTP_PASSWORD": "app-pass-123"})))
    logger = logging.getLogger(f"test-redact-{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    return logger, stream


def test_secret_values_are_masked_in_messages_and_arguments():
    logger, stream = logger_with_filter()
    logger.warning("login with %s failed; password %s", SECRET, "app-pass-123")
    assert stream.getvalue() == "WARNING login with *** failed; password ***\n"


def test_secret_values_are_masked_in_a_logged_traceback():
    logger, stream = logger_with_filter()
    try:
        raise RuntimeError(f"the server echoed {SECRET}")
    except RuntimeError:
        logger.exception("tick failed")
    text = stream.getvalue()
    assert "Traceback" in text and "the server echoed ***" in text and SECRET not in text
