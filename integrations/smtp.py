"""Sending mail over SMTP: one connection per tick, a per-minute cap, one retry after a dropped connection.

The engine keeps the connection :meth:`SmtpTransport.connect` opens for the whole tick, across
batches and sessions; a connection the server drops is reopened by the next send (issue 18).
A message whose bytes are already made (worker.mail.wire) is sent as those bytes, and
:meth:`SmtpConnection.send_meanwhile` lets the engine compose its next message while the server
reads this one (the longest wait of a send).

Every ``smtplib``/socket error is turned into the project's errors in :func:`smtp_error`
and nowhere else: a 4xx becomes TemporaryMailError (the row stays queued), a 5xx refusal
of the recipient or of the message becomes PermanentMailError (that row fails, the batch
goes on), a refused login becomes AuthError. The password never appears in a message.

Two kinds of answer are read more closely (:func:`classify`), on RCPT, DATA and MAIL FROM alike:
an answer about a sending limit (Gmail's ``550 5.4.5 Daily user sending limit exceeded``,
``421 4.7.0`` temporary blocks, ``4.7.28`` rate limits, ``452 4.5.3`` too many recipients, a
421/451 that speaks of rate or quota) is QuotaMailError, which holds the whole outbox and
fails nobody; an answer about the address itself (``5.1.x`` no such user or domain, ``5.2.1``
disabled) is BouncedAddressError, which fails that person and suppresses the address.
Codes as Gmail documents them: https://support.google.com/a/answer/3726730 (Gmail SMTP errors
and codes) and https://support.google.com/a/answer/166852 (sending limits: 2,000 a day on
Workspace, 500 on a trial or free account, rolling 24 hours).
"""
from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable, Iterator

from worker.errors import (AuthError, BouncedAddressError, DeferredRecipientError, IntegrationError,
                           PermanentMailError, QuotaMailError, RemoteError, TemporaryMailError, TransientError)

log = logging.getLogger(__name__)

SECURITY_MODES = ("starttls", "ssl", "none")  # how the connection is protected
WINDOW_SECONDS = 60.0  # the per-minute cap counts sends in any window this long
RATE_HOLD_SECONDS = 15 * 60.0  # a short rate limit or temporary block: the outbox waits this long
ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")  # RFC 3463 enhanced status, e.g. 5.4.5
QUOTA_WORDS = re.compile(r"rate|quota|limit|too many|temporarily blocked", re.IGNORECASE)  # 421/451 about limits
DAILY_WORDS = re.compile(r"daily|sending (limit|quota)", re.IGNORECASE)  # a 5xx about the account's daily limit
UNKNOWN_USER = re.compile(r"no such user|user unknown|does not exist", re.IGNORECASE)  # a bounce without 5.1.x

QUOTA_DAILY = "quota-daily"  # classify(): the rolling daily limit is used up
QUOTA_RATE = "quota-rate"  # classify(): a short rate limit or temporary block
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")  # dot-atoms only
BOUNCE = "bounce"  # classify(): the address itself is bad


@dataclass(frozen=True, repr=False)
class SmtpConfig:
    """Where and how to send; the login comes from SMTP_USERNAME / SMTP_PASSWORD."""

    host: str  # server name, e.g. smtp.gmail.com
    port: int = 587  # 587 STARTTLS, 465 SSL, 25 plain
    security: str = "starttls"  # starttls | ssl | none
    username: str = ""  # "" = no login
    password: str = ""  # never shown in repr, logs or errors
    timeout: float = 30.0  # seconds for each network operation
    per_minute: int = 0  # at most this many messages in any minute; 0 = unlimited
    local_hostname: str = ""  # name sent with EHLO; "" = this machine's name

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}, got {self.security!r}")
        if self.per_minute < 0:
            raise ValueError(f"per_minute must be 0 (no cap) or more, got {self.per_minute}")

    def __repr__(self) -> str:
        hidden = "'***'" if self.password else "''"
        return (f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r}, "
                f"username={self.username!r}, password={hidden}, timeout={self.timeout}, "
                f"per_minute={self.per_minute})")

    @property
    def where(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


class MinuteCap:
    """Allows at most ``limit`` sends in any 60 seconds, sleeping (injected) when the window is full."""

    def __init__(self, limit: int, sleep: Callable[[float], None], clock: Callable[[], float]):
        self.limit = limit  # sends per window; 0 = unlimited
        self.sleep = sleep  # time.sleep, or a fake in tests
        self.clock = clock  # time.monotonic, or a fake in tests
        self.sent: deque[float] = deque()  # clock() of recent sends, oldest first

    def take(self) -> None:
        """Wait until one more send fits in the window, then count it."""
        if self.limit <= 0:
            return
        now = self.clock()
        while self.sent and now - self.sent[0] >= WINDOW_SECONDS:
            self.sent.popleft()
        if len(self.sent) >= self.limit:
            delay = WINDOW_SECONDS - (now - self.sent.popleft())
            log.debug("per-minute cap of %d reached; waiting %.1f s", self.limit, delay)
            self.sleep(delay)
        self.sent.append(self.clock())


class SmtpTransport:
    """Opens SMTP connections; satisfies worker.core.ports.MailTransport."""

    def __init__(self, config: SmtpConfig, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, ssl_context: ssl.SSLContext | None = None):
        self.config = config  # server and login
        self.cap = MinuteCap(config.per_minute, sleep, clock)  # shared by every connection of this transport
        self.ssl_context = ssl_context  # None = the system's default verification

    @contextmanager
    def connect(self) -> Iterator["SmtpConnection"]:
        """One connection (the engine keeps it for a tick), logged in; closed (QUIT) when the block ends."""
        connection = SmtpConnection(self)
        connection.open()
        try:
            yield connection
        finally:
            connection.close()

    def open_client(self, *, sending: bool = False) -> smtplib.SMTP:
        """A connected, secured and logged-in client; errors already translated."""
        try:
            client = self.dial()
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_error(exc, self.config, sending=sending) from exc
        try:
            self.secure_and_login(client)
        except (smtplib.SMTPException, OSError) as exc:
            client.close()
            raise smtp_error(exc, self.config, sending=sending) from exc
        return client

    def dial(self) -> smtplib.SMTP:
        """The TCP (or TLS, for ``ssl``) connection and the server's greeting."""
        c = self.config
        hostname = c.local_hostname or None
        if c.security == "ssl":
            return smtplib.SMTP_SSL(c.host, c.port, local_hostname=hostname, timeout=c.timeout,
                                    context=self.context())
        return smtplib.SMTP(c.host, c.port, local_hostname=hostname, timeout=c.timeout)

    def secure_and_login(self, client: smtplib.SMTP) -> None:
        """EHLO, STARTTLS when asked for, then AUTH when a username is set."""
        client.ehlo()
        if self.config.security == "starttls":
            client.starttls(context=self.context())
            client.ehlo()
        if self.config.username:
            client.login(self.config.username, self.config.password)

    def context(self) -> ssl.SSLContext:
        """The TLS context: the injected one, or the system default (certificates verified)."""
        return self.ssl_context or ssl.create_default_context()


class SmtpConnection:
    """One open connection; ``send`` delivers one message to one address."""

    def __init__(self, transport: SmtpTransport):
        self.transport = transport  # config, cap and the way to (re)open
        self.client: smtplib.SMTP | None = None  # the live smtplib client, None when closed

    def open(self) -> None:
        """Connect and log in (TransientError/AuthError on failure)."""
        self.client = self.transport.open_client()

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Send to ``recipient`` only (the envelope, not the headers, decides who gets it).

        A dropped connection or a 421 is followed by one reconnect and one more try of this message.
        """
        self.send_meanwhile(message, recipient, None)

    def send_meanwhile(self, message: EmailMessage, recipient: str, meanwhile: Callable[[], None] | None) -> None:
        """:meth:`send`, calling ``meanwhile`` (at most once) while the server reads the message and decides.

        The server's answer to the message's end is the longest wait of a send (issue 18 measured
        0.8 of 1.9 ms on loopback); the engine composes its next message in it.
        """
        self.transport.cap.take()
        try:
            self.deliver(message, recipient, meanwhile)
        except (smtplib.SMTPException, OSError) as exc:
            if not connection_dropped(exc) or classify(*answer(exc)) in (QUOTA_DAILY, QUOTA_RATE):
                raise smtp_error(exc, self.transport.config, recipient=recipient, sending=True) from exc
            log.info("smtp: %s dropped the connection (%s); reconnecting once",
                     self.transport.config.where, describe(exc))
            self.retry_on_new_connection(message, recipient)

    def retry_on_new_connection(self, message: EmailMessage, recipient: str) -> None:
        """Reconnect and send the message once more; any failure now is final for this batch."""
        self.close()
        self.client = self.transport.open_client(sending=True)
        try:
            self.deliver(message, recipient)
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_error(exc, self.transport.config, recipient=recipient, sending=True) from exc

    def deliver(self, message: EmailMessage, recipient: str, meanwhile: Callable[[], None] | None = None) -> None:
        """The bare smtplib calls (untranslated errors).

        A message whose bytes are already made (worker.mail.wire.PreparedMessage: ``smtp_bytes``
        and ``sender``) goes out as those bytes: ``send_message`` would parse it back and write it
        again. Anything else, or an address that needs SMTPUTF8, goes through ``send_message``
        (and ``meanwhile`` is not called: the caller does its work after).
        """
        if self.client is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        made = getattr(message, "smtp_bytes", None)
        sender = message.__dict__.get("sender", "")
        if made is not None and sender and (sender + recipient).isascii():
            if meanwhile is None:
                self.client.sendmail(sender, [recipient], made())
            else:
                sendmail_meanwhile(self.client, sender, recipient, made(), meanwhile)
            return
        self.client.send_message(message, to_addrs=[recipient])

    def close(self) -> None:
        """QUIT politely; a connection that is already gone is simply dropped."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def sendmail_meanwhile(client: smtplib.SMTP, sender: str, recipient: str, data: bytes,
                       meanwhile: Callable[[], None]) -> None:
    """``client.sendmail(sender, [recipient], data)`` step by step, calling ``meanwhile`` after the message's
    end is written and before the server's answer is read: the same commands, answers and exceptions.

    The answer is read even when ``meanwhile`` fails, so the conversation stays in step.
    """
    client.ehlo_or_helo_if_needed()
    size = f" size={len(data)}" if client.does_esmtp and client.has_extn("size") else ""
    client.putcmd("mail", f"from:{quoted(sender)}{size}")  # what client.mail(sender, [size]) writes
    code, reply = client.getreply()
    if code != 250:
        end_after(client, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    client.putcmd("rcpt", f"to:{quoted(recipient)}")  # what client.rcpt(recipient) writes
    code, reply = client.getreply()
    if code not in (250, 251):
        end_after(client, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    client.putcmd("data")
    code, reply = client.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    # smtplib's dot-stuffing, skipped when no line starts with a dot (a regex over the whole message)
    body = smtplib._quote_periods(data) if data.startswith(b".") or b"\n." in data else data
    client.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    try:
        meanwhile()
    finally:
        code, reply = client.getreply()
    if code != 250:
        end_after(client, code)
        raise smtplib.SMTPDataError(code, reply)


def quoted(address: str) -> str:
    """``smtplib.quoteaddr(address)``: ``<budi@example.org>``, written directly for a plain address."""
    return f"<{address}>" if PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def end_after(client: smtplib.SMTP, code: int) -> None:
    """What sendmail does after a refusal: drop the line on 421 (the server is closing it), else RSET."""
    if code == 421:
        client.close()
    else:
        client._rset()


# -- the one place smtplib errors become the project's errors -----------------------
def connection_dropped(exc: BaseException) -> bool:
    """True when the server closed the connection (or said 421 and will): worth one reconnect."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    return isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError))


def smtp_error(exc: BaseException, config: SmtpConfig, *, recipient: str = "",
               sending: bool = False) -> IntegrationError:
    """The project's error for an smtplib or socket error.

    ``sending`` marks errors met while sending a message: temporary ones are then
    TemporaryMailError, so the engine keeps that message queued. Messages are ``N_``
    templates: staff read them in ``status`` and alert mails, in their language.
    """
    from worker.i18n import N_, Text  # here, not at the top: this function is the module's one i18n user

    temporary = TemporaryMailError if sending else TransientError
    where = config.where
    if sending and (limited := quota_error(exc, config, recipient)) is not None:
        return limited
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AuthError("smtp", N_("{server} refused the login ({code} {reply}); check SMTP_USERNAME and "
                                    "SMTP_PASSWORD"), status=exc.smtp_code,
                         params={"server": where, "code": exc.smtp_code, "reply": reply_text(exc.smtp_error, config)})
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return RemoteError("smtp", N_("{server}: {problem}; check mail.smtp.security and mail.smtp.port"),
                           params={"server": where, "problem": str(exc)})
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (0, b""))
        return refusal(code, Text(N_("{server} refused {recipient}: {code} {reply}"), {
            "server": where, "recipient": recipient or Text(N_("the recipient")), "code": code,
            "reply": reply_text(text, config)}), temporary)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        said = {"server": where, "sender": exc.sender, "code": exc.smtp_code,
                "reply": reply_text(exc.smtp_error, config)}
        if 400 <= exc.smtp_code < 500:
            return temporary("smtp", N_("{server} refused the sender {sender}: {code} {reply}"), status=exc.smtp_code,
                             params=said)
        return RemoteError("smtp", N_("{server} refused the sender {sender}: {code} {reply}; check "
                                      "mail.sender_address"), status=exc.smtp_code, params=said)
    if isinstance(exc, smtplib.SMTPResponseException):
        said = {"server": where, "code": exc.smtp_code, "reply": reply_text(exc.smtp_error, config)}
        if sending and isinstance(exc, smtplib.SMTPDataError):
            return refusal(exc.smtp_code, Text(N_("{server} answered {code} {reply} (message to {recipient})"),
                                               {**said, "recipient": recipient}), temporary)
        if 400 <= exc.smtp_code < 500:
            return temporary("smtp", N_("{server} answered {code} {reply}"), status=exc.smtp_code, params=said)
        return RemoteError("smtp", N_("{server} answered {code} {reply}"), status=exc.smtp_code, params=said)
    return network_error(exc, where, temporary)


def answer(exc: BaseException) -> tuple[int, str]:
    """The server's code and text in an smtplib error, (0, "") when it carries none."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (0, b""))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
    else:
        return 0, ""
    return code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def classify(code: int, text: str) -> str:
    """QUOTA_DAILY, QUOTA_RATE, BOUNCE, or "" for an answer that is neither (pure; Gmail's codes, see above)."""
    found = ENHANCED.search(text)
    enhanced = found.group(0) if found else ""
    if enhanced == "5.4.5" or (500 <= code < 600 and DAILY_WORDS.search(text)):
        return QUOTA_DAILY
    if enhanced == "4.7.28" or (code == 421 and enhanced.startswith("4.7.")):
        return QUOTA_RATE
    if code == 452 and (enhanced == "4.5.3" or "too many recipients" in text.lower()):
        return QUOTA_RATE
    if code in (421, 451) and QUOTA_WORDS.search(text):
        return QUOTA_RATE
    if 500 <= code < 600 and (enhanced.startswith("5.1.") or enhanced == "5.2.1"
                              or (not enhanced and UNKNOWN_USER.search(text))):
        return BOUNCE
    return ""


def quota_error(exc: BaseException, config: SmtpConfig, recipient: str) -> IntegrationError | None:
    """QuotaMailError or BouncedAddressError when the answer is one of those, else None."""
    code, text = answer(exc)
    kind = classify(code, text)
    shown = f"{config.where} answered {code} {reply_text(text, config)}"
    if kind == QUOTA_DAILY:
        return QuotaMailError("smtp", f"{shown}: the account's daily sending limit is reached", status=code,
                              daily=True)
    if kind == QUOTA_RATE:
        return QuotaMailError("smtp", f"{shown}: sending is limited for now", status=code,
                              retry_after=RATE_HOLD_SECONDS)
    if kind == BOUNCE and not isinstance(exc, smtplib.SMTPSenderRefused):
        return BouncedAddressError("smtp", f"{shown} for {recipient or 'the recipient'}", status=code)
    return None


def refusal(code: int, message: str, temporary: type[TransientError]) -> IntegrationError:
    """A 5xx refusal is permanent for this message; anything else may pass later.

    While sending, a 4xx to one recipient or message defers just that mail
    (DeferredRecipientError), so one full mailbox does not hold up the batch.
    """
    if 500 <= code < 600:
        return PermanentMailError("smtp", message, status=code)
    if temporary is TemporaryMailError and 400 <= code < 500:
        return DeferredRecipientError("smtp", message, status=code)
    return temporary("smtp", message, status=code or None)


def network_error(exc: BaseException, where: str, temporary: type[TransientError]) -> IntegrationError:
    """Refused, unreachable, timed out, TLS failure or a dropped line: all worth another try later."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return temporary("smtp", f"{where} closed the connection ({exc or 'no reason given'})")
    if isinstance(exc, ConnectionRefusedError):
        return temporary("smtp", f"cannot connect to {where}: connection refused (is mail.smtp.host/port right?)")
    if isinstance(exc, ssl.SSLError):
        return temporary("smtp", f"TLS with {where} failed ({exc}); check mail.smtp.security and mail.smtp.port")
    if isinstance(exc, TimeoutError):
        return temporary("smtp", f"{where} did not answer in time")
    return temporary("smtp", f"{where}: {describe(exc)}")


def reply_text(raw: bytes | str, config: SmtpConfig) -> str:
    """The server's reply text as one line, with the password masked should a server echo it."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = " ".join(text.split())
    return text.replace(config.password, "***") if config.password else text


def describe(exc: BaseException) -> str:
    """``ConnectionResetError: [Errno 104] ...`` for logs."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
