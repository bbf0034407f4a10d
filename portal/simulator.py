"""A stand-alone simulator of the backing services: HelseID's client registry, the VKP access
registry and a mail API, with state, idempotency keys and faults on demand.

Started by `manage.py simulate_backing_services` and by the test suite on loopback; the README
("Backing-services simulator") documents its API. Standard library only, so it runs anywhere
the portal does. It keeps everything in memory and is not meant to face the internet.
"""

import json
import random
import re
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ENVIRONMENTS = {"test", "prod"}
ORG_NUMBER = re.compile(r"^\d{9}$")
PRIVATE_KEY_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


class SimulatorState:
    """Everything the simulator holds; one lock, since requests arrive on many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.clients: dict[str, dict] = {}
        self.grants: dict[tuple, list[str]] = {}
        self.mail: list[dict] = []
        self.replies: dict[str, tuple[str, int, dict]] = {}  # idempotency key → (fingerprint, status, body)
        self.journal: list[dict] = []  # every change applied, once per idempotency key
        self.faults: list[dict] = []
        self.requests = 0

    def take_fault(self, method: str, path: str) -> dict | None:
        """The first fault that matches this request and still has turns left (or wins its dice roll)."""
        for fault in self.faults:
            if not f"{method} {path}".startswith(fault.get("match", "")) and not path.startswith(
                fault.get("match", "")
            ):
                continue
            if "rate" in fault and random.random() >= fault["rate"]:
                continue
            if fault.get("times") is not None:
                if fault["times"] <= 0:
                    continue
                fault["times"] -= 1
            return fault
        return None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _require(condition: bool, message: str, code: str = "invalid_request") -> None:
    if not condition:
        raise ApiError(400, code, message)


# The APIs. Each handler gets (state, match, body, query) and returns (status, body); writes are
# made under the state lock by the caller.


def list_clients(state, match, body, query):
    return 200, {"clients": list(state.clients.values())}


def get_client(state, match, body, query):
    client = state.clients.get(match["client_id"])
    if client is None:
        raise ApiError(404, "not_found", "No such client.")
    return 200, client


def put_client(state, match, body, query):
    _require(body.get("environment") in ENVIRONMENTS, "environment must be test or prod")
    _require(body.get("tenancy") in {"multi-tenant", "single-tenant"}, "tenancy must be multi- or single-tenant")
    client_id = match["client_id"]
    existing = state.clients.get(client_id)
    if existing is None:
        state.clients[client_id] = {
            "clientId": client_id,
            "name": body.get("name", ""),
            "environment": body["environment"],
            "tenancy": body["tenancy"],
            "keys": [],
            "tenants": [],
            "enabled": True,
        }
        return 201, state.clients[client_id]
    existing.update(name=body.get("name", ""), enabled=True)
    return 200, existing


def put_keys(state, match, body, query):
    client = get_client(state, match, body, query)[1]
    keys = body.get("keys")
    _require(isinstance(keys, list), "keys must be a list of public JWKs")
    for key in keys:
        _require(isinstance(key, dict) and key.get("kid") and key.get("kty"), "every key needs kid and kty")
        _require(not PRIVATE_KEY_MEMBERS & set(key), "private key material refused", "private_key")
    client["keys"] = keys
    return 200, client


def put_tenants(state, match, body, query):
    client = get_client(state, match, body, query)[1]
    tenants = body.get("tenants")
    _require(isinstance(tenants, list), "tenants must be a list")
    for tenant in tenants:
        _require(ORG_NUMBER.match(str(tenant.get("organizationNumber", ""))), "organizationNumber must be 9 digits")
        _require(all(isinstance(scope, str) for scope in tenant.get("scopes", [])), "scopes must be strings")
    client["tenants"] = tenants
    return 200, client


def disable_client(state, match, body, query):
    client = get_client(state, match, body, query)[1]
    client["enabled"] = False
    return 200, client


def list_grants(state, match, body, query):
    environment = query.get("environment", [None])[0]
    grants = [
        {"environment": e, "organizationNumber": o, "service": s, "system": sy, "access": access}
        for (e, o, s, sy), access in sorted(state.grants.items())
        if environment in (None, e)
    ]
    return 200, {"grants": grants}


def _grant_key(match) -> tuple:
    _require(match["environment"] in ENVIRONMENTS, "environment must be test or prod")
    _require(ORG_NUMBER.match(match["org"]), "organisation number must be 9 digits")
    return (match["environment"], match["org"], match["service"], match["system"])


def put_grant(state, match, body, query):
    key = _grant_key(match)
    access = body.get("access")
    _require(isinstance(access, list) and access and set(access) <= {"read", "write"}, "access: read and/or write")
    created = key not in state.grants
    state.grants[key] = sorted(set(access))
    return (201 if created else 200), {"access": state.grants[key]}


def delete_grant(state, match, body, query):
    state.grants.pop(_grant_key(match), None)
    return 204, {}


def post_mail(state, match, body, query):
    _require(isinstance(body.get("to"), list) and body["to"], "to: at least one recipient")
    _require(body.get("subject"), "subject is required")
    state.mail.append(body)
    return 202, {"queued": True}


def list_mail(state, match, body, query):
    return 200, {"messages": state.mail}


ROUTES = [
    ("GET", r"/helseid/clients", list_clients),
    ("GET", r"/helseid/clients/(?P<client_id>[\w-]+)", get_client),
    ("PUT", r"/helseid/clients/(?P<client_id>[\w-]+)", put_client),
    ("PUT", r"/helseid/clients/(?P<client_id>[\w-]+)/keys", put_keys),
    ("PUT", r"/helseid/clients/(?P<client_id>[\w-]+)/tenants", put_tenants),
    ("POST", r"/helseid/clients/(?P<client_id>[\w-]+)/disable", disable_client),
    ("GET", r"/vkp/grants", list_grants),
    ("PUT", r"/vkp/grants/(?P<environment>\w+)/(?P<org>\w+)/(?P<service>[\w-]+)/(?P<system>[\w-]+)", put_grant),
    ("DELETE", r"/vkp/grants/(?P<environment>\w+)/(?P<org>\w+)/(?P<service>[\w-]+)/(?P<system>[\w-]+)", delete_grant),
    ("POST", r"/mail/messages", post_mail),
    ("GET", r"/mail/messages", list_mail),
]
ROUTES = [(method, re.compile(pattern + "$"), handler) for method, pattern, handler in ROUTES]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients expect
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall
    server: "SimulatorServer"

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self):
        self._handle("GET")

    def do_PUT(self):
        self._handle("PUT")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send(400, {"error": {"code": "invalid_json", "message": "The body is not JSON."}})
            return
        if url.path.startswith("/_sim/"):
            self._control(method, url.path, body)
            return
        state = self.server.state
        with state.lock:
            state.requests += 1
            fault = state.take_fault(method, url.path)
        fault = dict(fault or {})
        if fault.get("delay"):
            time.sleep(fault["delay"])
        if fault.get("status"):
            self._send(fault["status"], {"error": {"code": fault.get("code", "injected"), "message": fault.get(
                "message", HTTPStatus(fault["status"]).phrase)}})  # fmt: skip
            return
        status, answer, replayed = self._apply(method, url, body)
        if fault.get("drop"):
            # The change is made, the answer lost: the client must retry and be recognised.
            self.close_connection = True
            return
        if fault.get("duplicate") and method != "GET":
            self._send(409, {"error": {"code": "duplicate_request", "message": "This request was already processed."}})
            return
        self._send(status, answer, replayed=replayed)

    def _apply(self, method: str, url, body) -> tuple[int, dict, bool]:
        state = self.server.state
        for route_method, pattern, handler in ROUTES:
            match = pattern.match(url.path)
            if match is None or route_method != method:
                continue
            key = self.headers.get("Idempotency-Key", "")
            if method != "GET" and not key:
                return 400, _error("idempotency_key_required", "Send an Idempotency-Key header."), False
            fingerprint = json.dumps([method, url.path, body], sort_keys=True)
            with state.lock:
                if method != "GET" and key in state.replies:
                    seen_fingerprint, status, answer = state.replies[key]
                    if seen_fingerprint != fingerprint:
                        return 422, _error("idempotency_key_reused", "This key was used for another request."), False
                    return status, answer, True
                try:
                    status, answer = handler(state, match.groupdict(), body, parse_qs(url.query))
                except ApiError as error:
                    status, answer = error.status, _error(error.code, error.message)
                if method != "GET":
                    state.replies[key] = (fingerprint, status, answer)
                    if status < 300:
                        state.journal.append({"method": method, "path": url.path, "key": key, "at": time.time()})
                return status, json.loads(json.dumps(answer)), False
        return 404, _error("not_found", f"No route for {method} {url.path}."), False

    def _control(self, method: str, path: str, body) -> None:
        """Test and demo controls: faults, reset, state and the journal of applied changes."""
        state = self.server.state
        with state.lock:
            if method == "POST" and path == "/_sim/faults":
                faults = body if isinstance(body, list) else [body]
                state.faults.extend(faults)
                self._send(201, {"faults": state.faults})
            elif method == "DELETE" and path == "/_sim/faults":
                state.faults.clear()
                self._send(204, {})
            elif method == "POST" and path == "/_sim/reset":
                state.reset()
                self._send(204, {})
            elif method == "GET" and path == "/_sim/journal":
                self._send(200, {"journal": state.journal, "requests": state.requests})
            elif method == "GET" and path == "/_sim/state":
                grants = list_grants(state, {}, {}, {})[1]["grants"]
                self._send(200, {"clients": list(state.clients.values()), "grants": grants, "mail": len(state.mail)})
            else:
                self._send(404, _error("not_found", f"No control {method} {path}."))

    def _send(self, status: int, body: dict, *, replayed: bool = False) -> None:
        payload = b"" if status == 204 else json.dumps(body).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(payload)


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], *, verbose: bool = False):
        super().__init__(address, Handler)
        self.state = SimulatorState()
        self.verbose = verbose

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_in_thread(host: str = "127.0.0.1", port: int = 0) -> SimulatorServer:
    """For the test suite: serve on a free loopback port in a background thread; call shutdown() after."""
    server = SimulatorServer((host, port))
    threading.Thread(target=server.serve_forever, name="backing-services-simulator", daemon=True).start()
    return server
