"""A loopback stand-in for Brønnøysund's open Enhetsregisteret API, for tests over real HTTP.

It serves the records of ``members/data/enhetsregisteret.json`` at Brønnøysund's paths:

- ``GET /enhetsregisteret/api/enheter/{orgnr}``: 200 with the record, 410 Gone (with the record
  as body) when it has a ``slettedato``, 404 when unknown;
- ``GET /enhetsregisteret/api/underenheter/{orgnr}``: the same for sub-units;
- ``GET /enhetsregisteret/api/enheter/{orgnr}/roller``: the roles, 404 for an unknown main unit.

Faults are switched on per test: ``fail`` (an HTTP error status, 500 unless told), ``slow``
(sleeps before answering, longer than the client's timeout) and ``garble`` (200 with a body that
is not JSON), each for the next ``times`` requests or, with ``times=None``, for every request;
``org_number=`` limits a fault to the paths for that number. ``paths`` records every path asked.

Use it with::

    from tests.brreg_server import brreg_server, http_registry  # noqa: F401
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DATA_FILE = Path(__file__).resolve().parent.parent / "members" / "data" / "enhetsregisteret.json"
# Longer than the 0.5 s timeout http_registry gives the client.
SLOW_SECONDS = 2.0

_ROUTE = re.compile(
    r"^/enhetsregisteret/api/(?P<collection>enheter|underenheter)/(?P<number>[^/?]+)(?P<roles>/roller)?/?$"
)


@dataclass
class Fault:
    kind: str  # "fail", "slow" or "garble"
    times: int | None  # None: every matching request
    org_number: str | None
    status: int = 500
    seconds: float = SLOW_SECONDS

    def matches(self, number: str | None) -> bool:
        return (self.times is None or self.times > 0) and (self.org_number is None or self.org_number == number)


class BrregServer:
    """The running server: ``url``, the ``data`` it serves, fault switches and the ``paths`` asked."""

    def __init__(self, data: dict | None = None):
        if data is None:
            data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
        # Tests may add or change records on this copy without touching the file.
        self.data = copy.deepcopy(data)
        self.paths: list[str] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        # A short poll keeps shutdown (once per test) from costing the default half second.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="brreg-server", daemon=True
        )

    # --- lifecycle

    def start(self) -> BrregServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a "slow" fault
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # --- fault switches

    def fail(self, *, status: int = 500, times: int | None = 1, org_number: str | None = None) -> None:
        self._add(Fault("fail", times, org_number, status=status))

    def slow(self, *, seconds: float = SLOW_SECONDS, times: int | None = 1, org_number: str | None = None) -> None:
        self._add(Fault("slow", times, org_number, seconds=seconds))

    def garble(self, *, times: int | None = 1, org_number: str | None = None) -> None:
        self._add(Fault("garble", times, org_number))

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.paths.clear()

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, number: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(number):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # --- answers

    def respond(self, path: str) -> tuple[int, bytes, str]:
        """(status, body, content type) for one GET, faults applied."""
        with self._lock:
            self.paths.append(path)
        route = _ROUTE.match(path.split("?", 1)[0])
        number = route["number"] if route else None

        fault = self._take_fault(number)
        if fault is not None and fault.kind == "slow" and self._stopping.wait(fault.seconds):
            return HTTPStatus.SERVICE_UNAVAILABLE, b"", "text/plain"
        if fault is not None and fault.kind == "fail":
            return fault.status, _json({"status": fault.status, "feilmelding": "Simulated fault"}), JSON
        if fault is not None and fault.kind == "garble":
            return HTTPStatus.OK, "<html><body>Vedlikehold pågår</body></html>".encode(), JSON

        if route is None:
            return HTTPStatus.NOT_FOUND, _json({"status": 404, "feilmelding": "Ukjent sti"}), JSON
        if route["roles"]:
            if route["collection"] != "enheter" or number not in self.data.get("enheter", {}):
                return HTTPStatus.NOT_FOUND, _json({"status": 404, "feilmelding": "Fant ikke enhet"}), JSON
            return HTTPStatus.OK, _json(self.data.get("roller", {}).get(number, {"rollegrupper": []})), JSON
        record = self.data.get(route["collection"], {}).get(number)
        if record is None:
            return HTTPStatus.NOT_FOUND, _json({"status": 404, "feilmelding": f"Fant ikke {number}"}), JSON
        if isinstance(record, dict) and record.get("slettedato"):
            return HTTPStatus.GONE, _json(record), JSON
        return HTTPStatus.OK, _json(record), JSON


JSON = "application/json;charset=UTF-8"


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _handler_for(server: BrregServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            try:
                status, body, content_type = server.respond(self.path)
            except Exception as error:  # a test's odd data should show up as a 500, not a hang-up
                status, body, content_type = 500, _json({"status": 500, "feilmelding": repr(error)}), JSON
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout); nothing to tell it

        def log_message(self, format, *args):
            pass  # keep test output quiet; server.paths records the requests

    return Handler


@pytest.fixture
def brreg_server():
    """A running loopback Enhetsregisteret for one test."""
    server = BrregServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_registry(settings, brreg_server):
    """Point the portal's Enhetsregisteret adapter at the loopback server."""
    settings.ENHETSREGISTERET_BACKEND = "members.enhetsregisteret.HttpBackend"
    settings.ENHETSREGISTERET_URL = brreg_server.url
    settings.ENHETSREGISTERET_TIMEOUT = 0.5
    return brreg_server
