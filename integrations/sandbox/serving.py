"""The one way the HTTP emulators serve: a ThreadingHTTPServer on 127.0.0.1 in a daemon thread."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Self


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


def send_answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
    """Write one whole HTTP answer: status line, ``headers``, Content-Length, and the body unless it is HEAD."""
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if payload and handler.command != "HEAD":
        handler.wfile.write(payload)


class ServedEmulator:
    """``start``, ``stop`` and ``with`` for an emulator served by a ServerThread on ``host:port``.

    A subclass sets ``host``, ``port`` and ``_serving = None`` in its ``__init__`` and says which
    request handler serves it; the hooks default to doing nothing.
    """

    host: str  # address to bind
    port: int  # 0 = any free port until start() sets the real one
    _serving: ServerThread | None  # the listening server and its thread, once started
    _thread_name = "sandbox"  # name of the serving thread, for debugging

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler that answers for this emulator (reaches it as ``self.server.emulator``)."""
        raise NotImplementedError

    def _started(self) -> None:
        """Called once listening, with ``port`` set (e.g. to log the URL)."""

    def _before_join(self) -> None:
        """Called by ``stop`` after the socket is closed and before the thread ends (e.g. close connections)."""

    def start(self) -> Self:
        """Bind and serve in a daemon thread; ``port`` then holds the real port."""
        self._serving = ServerThread(self, self.host, self.port, self._handler_class(), self._thread_name)
        self.port = self._serving.port
        self._started()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and end the thread."""
        if self._serving is not None:
            self._serving.stop(before_join=self._before_join)
            self._serving = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
