"""HelseID's signing keys: cached, fetched again when a token names a kid we do not have (rotation),
and at most once per API_JWKS_REFETCH_MIN_SECONDS however many unknown kids arrive."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from requests_oauth2client import DPoPKey, DPoPToken

from tests.api.conftest import Caller

pytestmark = pytest.mark.django_db

ISSUER = "https://helseid-sts.test.example"


class JwksServer:
    def __init__(self):
        self.keys = []
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.fetches += 1
                body = json.dumps({"keys": [k.as_dict(private=False) for k in server.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def jwks_server(settings):
    server = JwksServer()
    settings.API_HELSEID_ISSUER = ISSUER
    settings.API_HELSEID_JWKS_URI = server.url
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def signing_key(kid):
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "PS256", "use": "sig"})


def token_signed_by(key, org_number):
    dpop = DPoPKey.generate(alg="ES256")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "nhn:selvbetjening",
        "exp": now + 300,
        "iat": now,
        "client_id": f"c-{uuid.uuid4()}",
        "scope": "nhn:selvbetjening/vendor.read",
        "cnf": {"jkt": dpop.private_key.public_jwk().thumbprint()},
        "helseid://claims/client/claims/orgnr_parent": org_number,
    }
    access = jwt.encode({"alg": "PS256", "typ": "at+jwt", "kid": key.kid}, claims, key, algorithms=["PS256"])
    return DPoPToken(access_token=access, _dpop_key=dpop)


def test_a_rotated_key_is_fetched_and_unknown_kids_do_not_hammer_helseid(client, settings, jwks_server, vendor):
    settings.API_JWKS_REFETCH_MIN_SECONDS = 0
    old, new = signing_key("2026-a"), signing_key("2026-b")
    jwks_server.keys = [old]
    assert (
        Caller(client, token_signed_by(old, vendor.org_number)).call("GET", "/api/v1/vendor/tenants").status_code == 200
    )
    assert (
        Caller(client, token_signed_by(old, vendor.org_number)).call("GET", "/api/v1/vendor/tenants").status_code == 200
    )
    assert jwks_server.fetches == 1  # cached

    jwks_server.keys = [old, new]  # HelseID publishes the next key, then signs with it
    assert (
        Caller(client, token_signed_by(new, vendor.org_number)).call("GET", "/api/v1/vendor/tenants").status_code == 200
    )
    assert jwks_server.fetches == 2

    settings.API_JWKS_REFETCH_MIN_SECONDS = 60
    for n in range(5):
        forged = signing_key(f"unknown-{n}")
        response = Caller(client, token_signed_by(forged, vendor.org_number)).call("GET", "/api/v1/vendor/tenants")
        assert response.status_code == 401
        assert response.json()["type"] == "/api/v1/problems/invalid-token"
    assert jwks_server.fetches == 2  # no fetch per forged kid
