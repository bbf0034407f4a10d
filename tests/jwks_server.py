"""A loopback HTTP server for tests of fetching a vendor's JWKS URL over real HTTP.

A test says, per path, what the server answers: the status, the content type, the body bytes and
a delay before answering (longer than the client's timeout to test timeouts), extra headers, and
whether to send a Content-Length (without one, the body ends when the connection closes)::

    jwks_server.set("/jwks", body=json.dumps({"keys": [...]}).encode())
    jwks_server.set("/slow", body=b"{}", delay=2.0)
    jwks_server.set("/page", body=b"<html></html>", content_type="text/html")
    fetch_jwks(jwks_server.url("/jwks"))

Paths nobody set answer 404. ``requests`` records every path asked, in order. Stopping the server
(after each test) wakes handlers still sleeping in a delay, so a timeout test costs no more than
the client's own timeout.

Use it with::

    from tests.jwks_server import jwks_server  # noqa: F401
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

JSON = "application/json"


@dataclass
class Answer:
    status: int = 200
    content_type: str | None = JSON  # None: no Content-Type header at all
    body: bytes = b""
    delay: float = 0.0  # seconds to sleep before answering
    headers: tuple[tuple[str, str], ...] = ()
    content_length: bool = True  # False: no Content-Length; the body ends when the connection closes


NOT_FOUND = Answer(status=404, content_type="text/plain", body=b"Not found")


class JwksServer:
    """The running server: ``set`` answers per path, ``url(path)`` to ask them, ``requests`` asked."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        # A short poll keeps shutdown (once per test) from costing the default half second.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="jwks-server", daemon=True
        )

    def url(self, path: str = "/jwks") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.base_url}{path}"

    def set(
        self,
        path: str,
        *,
        status: int = 200,
        content_type: str | None = JSON,
        body: bytes | str = b"",
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        content_length: bool = True,
    ) -> str:
        """Answer GET ``path`` like this from now on; returns the path's URL."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        answer = Answer(status, content_type, body, delay, tuple((headers or {}).items()), content_length)
        with self._lock:
            self._answers[path] = answer
        return self.url(path)

    def answer_for(self, path: str) -> Answer:
        with self._lock:
            self.requests.append(path)
            return self._answers.get(path.split("?", 1)[0], NOT_FOUND)

    def sleep(self, seconds: float) -> bool:
        """Sleep for a delay; True when the server is stopping (the client is long gone)."""
        return self._stopping.wait(seconds)

    # --- lifecycle

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: JwksServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            answer = server.answer_for(self.path)
            if answer.delay and server.sleep(answer.delay):
                return
            try:
                self.send_response(answer.status)
                if answer.content_type is not None:
                    self.send_header("Content-Type", answer.content_type)
                for name, value in answer.headers:
                    self.send_header(name, value)
                if answer.content_length:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout or body too large); nothing to tell it

        def log_message(self, format, *args):
            pass  # keep test output quiet; server.requests records the paths asked

    return Handler


@pytest.fixture
def jwks_server():
    """A running loopback HTTP server for one test; stopped afterwards."""
    server = JwksServer().start()
    try:
        yield server
    finally:
        server.stop()
