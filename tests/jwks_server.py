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

It speaks https, as JWKS URLs must: its certificate (for ``localhost``, ``127.0.0.1`` and ``::1``,
or the names given) is signed by a test CA made once per test run, whose certificate is in
``test_ca_file()``; point ``settings.JWKS_FETCH_CA_FILE`` there and list 127.0.0.1 in
``settings.JWKS_FETCH_ALLOWED_ADDRESSES`` (the ``jwks_fetch_allowed`` fixture does both), since
the portal never fetches from loopback otherwise.

Use it with::

    from tests.jwks_server import jwks_server  # noqa: F401
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
_DIR = Path(tempfile.mkdtemp(prefix="jwks-server-tls-"))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@functools.cache
def _test_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Portal test CA"))
        .issuer_name(_name("Portal test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def test_ca_file() -> str:
    """The test CA's certificate (PEM), the trust anchor for the loopback servers' certificates."""
    path = _DIR / "ca.pem"
    if not path.exists():
        path.write_bytes(_test_ca()[0].public_bytes(serialization.Encoding.PEM))
    return str(path)


@functools.cache
def server_certificate(names: tuple[str, ...] = DEFAULT_NAMES) -> tuple[str, str]:
    """(certificate file, key file) for a server answering to ``names``, signed by the test CA."""
    ca_cert, ca_key = _test_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    alternative = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    stem = _DIR / f"server-{abs(hash(names))}"
    cert_file, key_file = stem.with_suffix(".pem"), stem.with_suffix(".key")
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


class JwksServer:
    """The running server: ``set`` answers per path, ``url(path)`` to ask them, ``requests`` asked."""

    def __init__(self, names: tuple[str, ...] = DEFAULT_NAMES) -> None:
        self.requests: list[str] = []
        self.hosts: list[str | None] = []  # the Host header of each request
        self.server_names: list[str | None] = []  # the TLS SNI name of each connection
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*server_certificate(tuple(names)))
        context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        host, port = self._httpd.server_address[:2]
        self.port = port
        self.base_url = f"https://{host}:{port}"
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
            server.hosts.append(self.headers.get("Host"))
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
def jwks_fetch_allowed(settings):
    """The portal may fetch from the loopback test servers, and trusts their test CA."""
    settings.JWKS_FETCH_ALLOWED_ADDRESSES = ["127.0.0.1"]
    settings.JWKS_FETCH_CA_FILE = test_ca_file()


@pytest.fixture
def jwks_server():
    """A running loopback HTTP server for one test; stopped afterwards."""
    server = JwksServer().start()
    try:
        yield server
    finally:
        server.stop()
