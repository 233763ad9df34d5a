"""systemd ``Type=notify`` and the watchdog, without a new dependency.

The protocol (sd_notify(3), https://www.man7.org/linux/man-pages/man3/sd_notify.3.html): newline-
separated assignments such as ``READY=1``, ``WATCHDOG=1``, ``STOPPING=1`` or ``STATUS=...`` sent
as one datagram to the AF_UNIX socket named in ``$NOTIFY_SOCKET``; a name starting with ``@`` is
in the abstract namespace (a leading NUL byte). With ``WatchdogSec=`` set, systemd passes
``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, the process meant) and restarts the service when no
``WATCHDOG=1`` arrives within that time; sending every half interval is what sd_watchdog_enabled(3)
recommends. Outside systemd nothing is sent and nothing fails.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages when ``$NOTIFY_SOCKET`` is set; a no-op otherwise."""

    def __init__(self, env: Mapping[str, str] | None = None, monotonic: Callable[[], float] = time.monotonic):
        env = os.environ if env is None else env
        self.address = _address(env.get("NOTIFY_SOCKET", ""))  # where to send; None = not under systemd notify
        self.watchdog = _watchdog_seconds(env)  # ping interval (half of WatchdogSec); None = no watchdog
        self.monotonic = monotonic  # for the ping interval
        self._last_ping: float | None = None  # when WATCHDOG=1 was last sent
        self._warned = False  # a failing socket is logged once

    def send(self, message: str) -> bool:
        """Send one message; True when it went out."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.address)
                sock.sendall(message.encode("utf-8"))
        except OSError as exc:
            if not self._warned:
                log.warning("systemd notification failed (NOTIFY_SOCKET): %s", exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Tell systemd start-up is finished (``Type=notify``)."""
        return self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> bool:
        """Tell systemd the worker is stopping."""
        return self.send("STOPPING=1")

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.send(f"STATUS={text}")

    def ping(self) -> bool:
        """``WATCHDOG=1`` when the watchdog is on and half its interval has passed since the last one."""
        if self.watchdog is None:
            return False
        now = self.monotonic()
        if self._last_ping is not None and now - self._last_ping < self.watchdog:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")


def _address(name: str) -> str | bytes | None:
    if not name:
        return None
    if name.startswith("@"):  # abstract namespace
        return b"\0" + name[1:].encode()
    return name


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, if the watchdog is meant for this process."""
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2_000_000
