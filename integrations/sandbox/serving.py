"""The one way the HTTP emulators serve: a ThreadingHTTPServer on 127.0.0.1 in a daemon thread."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


class ServerThread:
    """Binds ``host:port`` (0 = a free port) at once and serves ``handler`` until :meth:`stop`.

    Handlers reach their emulator as ``self.server.emulator``.
    """

    def __init__(self, emulator: Any, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str):
        self.server = ThreadingHTTPServer((host, port), handler)  # the listening server
        self.server.daemon_threads = True
        self.server.emulator = emulator  # type: ignore[attr-defined]  # read by the handler
        self.port: int = self.server.server_address[1]  # the real port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=name, daemon=True)  # short poll: stop() is quick
        self.thread.start()

    def stop(self, before_join: Callable[[], None] = lambda: None) -> None:
        """Stop serving and close the socket; run ``before_join`` (e.g. close open connections); end the thread."""
        self.server.shutdown()
        self.server.server_close()
        before_join()
        self.thread.join()
