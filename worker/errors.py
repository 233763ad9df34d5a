"""The project's one exception hierarchy, rooted in :class:`WorkerError`.

Integrations translate every vendor error into one of these in a single place,
so the engine can decide "retry later" versus "give up" without knowing vendors.
Messages never contain credentials.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Mapping


class WorkerError(Exception):
    """Base class of every error this project raises on purpose.

    The message is an English ``str.format`` template marked with ``N_`` and its named
    ``params``; ``str(exc)`` is the English text, and ``Translator.error(exc)`` shows it in
    the reader's language (see :mod:`worker.i18n`).
    """

    prefix = ""  # put before the message in either language (an integration's "zoom: ")

    def __init__(self, message: str = "", /, **params: object):
        self.template = message  # the English template, looked up in the catalog when shown
        self.params = params  # its placeholders' values
        super().__init__(self.prefix + (message.format(**params) if params else message))


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a settings file: where it is and what was expected."""

    file: str  # file name as given by the user
    line: int | None  # 1-based line of the offending key, None when unknown
    path: str  # key path such as "topics[2].date"
    message: str  # what is wrong and what was expected: an English template marked with N_
    params: Mapping[str, object] = field(default_factory=dict, compare=False)  # the template's placeholders
    column: int | None = field(default=None, compare=False)  # 1-based column of the mistake in ``excerpt``
    excerpt: str = field(default="", compare=False)  # the offending line as written, quoted under the message
    suggestion: str = field(default="", compare=False)  # that line as it should be written ("" when unsure)
    detail: str = field(default="", compare=False)  # the parser's own words, shown only with ``check --verbose``

    @property
    def text(self) -> str:
        """The message in English with its placeholders filled in."""
        return self.message.format(**self.params) if self.params else self.message

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.text}" if self.path else f"{where}: {self.text}"

    def quoted(self) -> list[str]:
        """The offending line behind its number, and a caret under the mistake: ``  48 |     speaker ...``.

        Empty when the problem carries no excerpt. Tabs show as ``→`` (a tab is often the mistake, and
        a terminal would expand it and push the caret off its spot); a very long line is cut around
        the caret.
        """
        if not self.excerpt:
            return []
        shown, caret = _visible(self.excerpt, self.column)
        number = str(self.line or "")
        lines = [f"  {number} | {shown}"]
        if caret is not None:
            lines.append(f"  {' ' * len(number)} | {' ' * caret}^")
        return lines

    def quoted_suggestion(self) -> list[str]:
        """The suggested line in the same frame as :meth:`quoted`, so the two read as before and after."""
        if not self.suggestion:
            return []
        shown, _ = _visible(self.suggestion, None)
        return [f"  {self.line or ''} | {shown}"]


_EXCERPT_WIDTH = 100  # characters of a quoted line; longer lines are cut around the caret


def _visible(line: str, column: int | None) -> tuple[str, int | None]:
    """``line`` made safe and readable for a terminal, and the caret's offset in display columns."""
    chars = ["→" if c == "\t" else (c if c.isprintable() else "?") for c in line.rstrip("\r\n")]
    start = 0
    index = None if column is None else max(0, min(column - 1, len(chars)))
    if len(chars) > _EXCERPT_WIDTH:
        start = 0 if index is None else max(0, min(index - _EXCERPT_WIDTH // 2, len(chars) - _EXCERPT_WIDTH))
        chars = (["…"] if start else []) + chars[start:start + _EXCERPT_WIDTH] + (
            ["…"] if start + _EXCERPT_WIDTH < len(chars) else [])
        if index is not None:
            index = index - start + (1 if start else 0)
    caret = None if index is None else sum(_width(c) for c in chars[:index])
    return "".join(chars), caret


def _width(char: str) -> int:
    """Columns ``char`` takes in a terminal: CJK and emoji take two, combining marks none."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class SettingsError(WorkerError):
    """The settings file cannot be used; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)  # all problems, in file order
        Exception.__init__(self, "\n".join(str(p) for p in self.problems))
        self.template, self.params = None, {}  # shown problem by problem (Translator.problem), not as one text


class UsageError(WorkerError, ValueError):
    """The command line asks for something that cannot be done (an unknown ``--lang``, a date that is
    not a session); exit 2. A ValueError too, so callers that expect one still catch it."""


class StateError(WorkerError):
    """The SQLite state file is unusable (corrupt, newer schema, not writable)."""


class TemplateError(WorkerError):
    """A mail or calendar template failed to load or render (names the template and line)."""


class NotConfiguredError(WorkerError):
    """An integration is needed but its settings or credentials are missing."""


class IntegrationError(WorkerError):
    """A call to an outside service failed.

    ``retryable`` tells the engine whether a later tick may succeed;
    ``retry_after`` (seconds) is the earliest sensible retry when the service said so.
    """

    retryable = False

    def __init__(self, service: str, message: str, *, retry_after: float | None = None,
                 status: int | None = None, code: str | int | None = None,
                 params: Mapping[str, object] | None = None):
        self.service = service  # "zoom", "google-calendar", "google-sheets", "smtp", ...
        self.retry_after = retry_after  # seconds to wait before retrying, if known
        self.status = status  # HTTP or SMTP status, if any
        self.code = code  # the vendor's own error code, if any
        self.prefix = f"{service}: "  # the service's name leads the message in every language
        super().__init__(message, **dict(params or {}))


class AuthError(IntegrationError):
    """Credentials were refused; the message says which variable or scope to check."""


class AccessDeniedError(IntegrationError):
    """Authenticated but not allowed (for example a calendar not shared with the service account)."""


class RemoteError(IntegrationError):
    """The service refused the request (4xx); retrying the same request will not help."""


class NotFoundError(RemoteError):
    """The remote object does not exist (HTTP 404/410)."""


class TransientError(IntegrationError):
    """A temporary failure (5xx, timeout, dropped connection); retry later."""

    retryable = True


class RateLimitError(TransientError):
    """The service asked us to slow down (HTTP 429); ``daily`` means wait for the daily reset."""

    def __init__(self, service: str, message: str, *, retry_after: float | None = None,
                 daily: bool = False, status: int | None = 429, code: str | int | None = None,
                 params: Mapping[str, object] | None = None):
        self.daily = daily  # True when a per-day quota is exhausted
        super().__init__(service, message, retry_after=retry_after, status=status, code=code, params=params)


class TemporaryMailError(TransientError):
    """The SMTP server answered 4xx or dropped the connection; the mail stays queued."""


class DeferredRecipientError(TemporaryMailError):
    """The SMTP server deferred one recipient or message (4xx to RCPT or DATA); only that row waits."""


class QuotaMailError(TemporaryMailError):
    """The SMTP server or account is over a sending limit (5.4.5, 4.7.0 rate limits, 452 too many recipients).

    Not about any one person: the batch stops, every unsent row stays pending and the outbox is held.
    ``retry_after`` is a hint in seconds; ``daily`` means the rolling 24-hour limit (wait for old sends to age out).
    """

    def __init__(self, service: str, message: str, *, retry_after: float | None = None,
                 status: int | None = None, daily: bool = False, params: Mapping[str, object] | None = None):
        super().__init__(service, message, retry_after=retry_after, status=status, params=params)
        self.daily = daily  # the rolling daily recipient limit, not a short rate limit


class PermanentMailError(RemoteError):
    """The SMTP server refused one recipient for good (5xx); that outbox row is marked failed."""


class BouncedAddressError(PermanentMailError):
    """The refusal is about the address itself (5.1.x no such user or domain, 5.2.1 disabled): it is suppressed."""


class StopRequested(BaseException):
    """A stop (SIGTERM, Ctrl-C) came during a client's wait; the step is dropped and redone on the next start.

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` or ``except WorkerError``
    on the way up may take it for a failed step (and record a retry for it).
    """


class AlreadyRunningError(WorkerError):
    """Another webinar-worker process holds the state file's lock; this one must not act."""
