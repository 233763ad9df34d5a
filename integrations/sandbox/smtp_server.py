"""A real SMTP server on 127.0.0.1 (aiosmtpd) for tests and ``webinar-worker demo``.

It keeps every accepted message in memory (and, with ``save_dir``, as ``.eml`` files staff
can open; ``keep=False`` makes it a sink that only counts, for benchmarks), speaks STARTTLS when
given a TLS context (:func:`self_signed` makes one at run time), and takes fault switches: refuse some addresses for good (550) or for now (450),
drop the connection with a 421 after N messages, require a login, and hold MAIL FROM while a
test-given condition holds (to line up two worker processes).

When asked it behaves like Gmail at its sending limits (https://support.google.com/a/answer/3726730,
https://support.google.com/a/answer/166852): ``limit`` recipients per rolling ``window`` seconds, then
``550 5.4.5 Daily user sending limit exceeded`` on the RCPT that goes over and on every MAIL FROM
until old sends age out of the window; ``block`` answers ``421 4.7.0`` (a temporary block) to MAIL
FROM; ``refuse`` answers ``550 5.1.1`` (no such user). The window runs on ``now``, a clock a test
can share with the worker.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import logging
import re
import ssl
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger(__name__)

HOLD_LIMIT = 60.0  # seconds a held MAIL FROM waits at most, so a test that forgets to release cannot hang
DAY = 24 * 3600.0  # Gmail's rolling window, in seconds
OVER_LIMIT = ("550 5.4.5 Daily user sending limit exceeded. For more information on Gmail sending limits go to "
              "https://support.google.com/a/answer/166852 - gsmtp")  # Gmail's answer past the daily limit
BLOCKED = ("421 4.7.0 Try again later, closing connection. Our system has detected an unusual rate of "
           "unsolicited mail originating from your IP address - gsmtp")  # Gmail's temporary block


@dataclass(frozen=True)
class ReceivedMail:
    """One message the server accepted."""

    mail_from: str  # envelope sender
    rcpt_tos: tuple[str, ...]  # envelope recipients
    data: bytes  # the message as received
    connection: int  # 1-based number of the connection it came over


class SandboxSmtpServer:
    """An aiosmtpd server in a background thread; ``start()`` binds 127.0.0.1 on a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, save_dir: Path | None = None,
                 login: tuple[str, str] | None = None, now: Callable[[], float] = time.time,
                 keep: bool = True, tls: ssl.SSLContext | None = None):
        self.host = host  # address to bind
        self.port = port  # 0 = any free port; the real one is set by start()
        self.save_dir = save_dir  # where .eml copies go; None = memory only
        self.login = login  # (username, password) the server requires; None = no AUTH
        self.keep = keep  # False: a sink that counts accepted messages but keeps nothing (benchmarks)
        self.tls = tls  # server-side TLS context: STARTTLS offered and required (AUTH only after it); None = plain
        self.accepted = 0  # messages accepted so far, kept or not
        self.refuse: set[str] = set()  # addresses answered "550 no such user"
        self.defer: set[str] = set()  # addresses answered "450 try again later"
        self.drop_after: int | None = None  # after this many messages, answer the next MAIL with 421 and hang up (once)
        self.hold: Callable[[], bool] | None = None  # while this says True, MAIL FROM waits (at most HOLD_LIMIT s)
        self.limit: int | None = None  # recipients accepted per rolling window; None = no limit (Gmail: 500/2000)
        self.window = DAY  # seconds the recipient limit counts over
        self.exhausted = False  # a RCPT was refused for the limit: MAIL FROM is refused too until the window frees
        self.block = False  # while True, MAIL FROM is answered 421 4.7.0 and the connection closed
        self.now = now  # seconds since the epoch; a test passes its fake clock's
        self.accepted_at: deque[float] = deque()  # now() of each accepted recipient, oldest first
        self.refusals: list[str] = []  # "MAIL 550 5.4.5", "RCPT 550 5.4.5", "MAIL 421 4.7.0": each limit answer given
        self.messages: list[ReceivedMail] = []  # accepted messages, in order
        self.connections = 0  # connections opened so far
        self._lock = threading.Lock()  # messages/connections are written on the server thread
        self._loop: asyncio.AbstractEventLoop | None = None  # the server's event loop
        self._server: asyncio.base_events.Server | None = None  # the listening socket
        self._thread: threading.Thread | None = None  # runs the loop

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> "SandboxSmtpServer":
        """Bind and serve in a background thread; ``port`` then holds the real port."""
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(self._protocol, self.host, self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox-smtp", daemon=True)
        self._thread.start()
        log.info("sandbox SMTP server listening on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket, and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = self._server = None

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def __enter__(self) -> "SandboxSmtpServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests look at ----------------------------------------------------------
    def received_by(self, address: str) -> list[ReceivedMail]:
        """Messages whose envelope included ``address``."""
        with self._lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    # -- the aiosmtpd side -------------------------------------------------------------
    def _protocol(self) -> SMTP:
        with self._lock:
            self.connections += 1
            number = self.connections
        options: dict[str, Any] = {"hostname": "sandbox.smtp.local", "enable_SMTPUTF8": True, "loop": self._loop}
        if self.tls is not None:
            # As a submission server on port 587 does (smtp.gmail.com among them): STARTTLS offered and
            # required before mail (RFC 3207 §4, answer 530 5.7.0), and AUTH only on the secured line
            # (RFC 4954 §4: a server may refuse AUTH mechanisms before TLS, "538 5.7.11" / "530").
            options.update(tls_context=self.tls, require_starttls=True)
        if self.login:
            options.update(authenticator=self._authenticate, auth_required=True,
                           auth_require_tls=self.tls is not None)
        with warnings.catch_warnings():  # login without TLS is intended here: 127.0.0.1 only
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return SMTP(_Handler(self, number), **options)

    def _authenticate(self, server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.login is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.login)
        return AuthResult(success=ok, handled=False)

    def accept(self, mail: ReceivedMail) -> None:
        """Keep an accepted message (and save it as .eml when ``save_dir`` is set); a sink only counts it."""
        with self._lock:
            self.accepted += 1
            if not self.keep:
                return
            self.messages.append(mail)
            count = len(self.messages)
        if self.save_dir is not None:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9@._-]", "_", mail.rcpt_tos[0] if mail.rcpt_tos else "unknown")
            (self.save_dir / f"{count:04d}-{name}.eml").write_bytes(mail.data)

    async def held(self) -> None:
        """Wait while the ``hold`` switch says so (tests line up two workers); never longer than HOLD_LIMIT."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_LIMIT
        while self.hold is not None and self.hold() and loop.time() < deadline:
            await asyncio.sleep(0.01)

    def used(self) -> int:
        """Recipients accepted within the rolling window ending now (older ones are forgotten)."""
        with self._lock:
            now = self.now()
            while self.accepted_at and self.accepted_at[0] <= now - self.window:
                self.accepted_at.popleft()
            return len(self.accepted_at)

    def over_limit(self, extra: int = 0) -> bool:
        """True when the window already holds ``limit`` recipients (``extra`` more counted as well)."""
        return self.limit is not None and self.used() + extra >= self.limit

    def refused(self, command: str, reply: str) -> str:
        """Note a limit answer (for tests: "did the worker stop knocking?") and give it back."""
        with self._lock:
            self.refusals.append(f"{command} {reply[:9]}")
        return reply

    def should_drop(self) -> bool:
        """True once, when ``drop_after`` messages have been accepted."""
        with self._lock:
            if self.drop_after is not None and self.accepted >= self.drop_after:
                self.drop_after = None
                return True
            return False


class _Handler:
    """aiosmtpd hooks for one connection."""

    def __init__(self, server: SandboxSmtpServer, connection: int):
        self.server = server  # the owning sandbox server: switches and storage
        self.connection = connection  # this connection's number

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str, options: list) -> str:
        """MAIL FROM: accept, or 421 and hang up (drop switch, ``block``), or 550 5.4.5 while over the limit."""
        await self.server.held()
        if self.server.block:
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the 421 is written
            return self.server.refused("MAIL", BLOCKED)
        if self.server.exhausted and self.server.over_limit():
            return self.server.refused("MAIL", OVER_LIMIT)
        self.server.exhausted = False
        if self.server.should_drop():
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the 421 is written
            return "421 4.3.2 Service shutting down, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str, options: list) -> str:
        """RCPT TO: 550 5.4.5 over the limit, 550 5.1.1 for ``refuse``, 450 for ``defer``, else accept."""
        if self.server.over_limit(len(envelope.rcpt_tos)):
            self.server.exhausted = True
            return self.server.refused("RCPT", OVER_LIMIT)
        if address.lower() in self.server.refuse:
            return "550 5.1.1 No such user here"
        if address.lower() in self.server.defer:
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        """DATA: store the message."""
        data = envelope.original_content or envelope.content
        with self.server._lock:
            self.server.accepted_at.extend([self.server.now()] * len(envelope.rcpt_tos))
        self.server.accept(ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(data),
                                         self.connection))
        return "250 2.0.0 Message accepted"


# -- TLS for the sandbox: a certificate made at run time ------------------------------
@dataclass(frozen=True)
class TlsPair:
    """A self-signed certificate for 127.0.0.1: the server's context and a client context that trusts it."""

    server: ssl.SSLContext  # pass as SandboxSmtpServer(tls=...)
    client: ssl.SSLContext  # pass as SmtpTransport(ssl_context=...) or smtplib's starttls(context=...)
    cert_pem: bytes  # the certificate, for a client in another process


def self_signed(host: str = "127.0.0.1") -> TlsPair:
    """A fresh key and certificate for ``host`` (an IP address SAN, so hostname checks pass), valid one day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:  # load_cert_chain reads files only
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server.load_cert_chain(cert_file, key_file)
    return TlsPair(server=server, client=ssl.create_default_context(cadata=cert_pem.decode()), cert_pem=cert_pem)


def main(argv: list[str] | None = None) -> None:
    """``python -m integrations.sandbox.smtp_server --sink [--tls] [--login USER:PASS]``: serve until stdin closes.

    Prints the port on the first line (and with ``--tls`` the certificate after it, ending with a blank
    line), so a benchmark can run the server in its own process, as a real server would be.
    """
    parser = argparse.ArgumentParser(description="the sandbox SMTP server on 127.0.0.1")
    parser.add_argument("--sink", action="store_true", help="count messages, keep none")
    parser.add_argument("--tls", action="store_true", help="offer and require STARTTLS (self-signed)")
    parser.add_argument("--login", default="", help="USER:PASS the server requires")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Session.login_data is deprecated")  # aiosmtpd's own, per login
    pair = self_signed() if args.tls else None
    user, _, password = args.login.partition(":")
    server = SandboxSmtpServer(keep=not args.sink, tls=pair.server if pair else None,
                               login=(user, password) if args.login else None).start()
    print(server.port, flush=True)
    if pair is not None:
        print(pair.cert_pem.decode(), flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
