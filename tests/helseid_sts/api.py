"""A small loopback API standing in for NHN's APIs (Journaling, Patient): it checks a DPoP-bound
HelseID access token the way a resource server must (RFC 9449 section 7, RFC 9068).

``/<audience>/...``: e.g. ``GET /nhn:jft/v1/Bundle`` needs a token for audience ``nhn:jft``.
The token: a JWT signed PS256 by the token service (its JWKS), ``typ`` at+jwt, our issuer, the
path's audience, not expired, and a ``cnf.jkt``. The DPoP proof: ``typ`` dpop+jwt, signed by the
public key in its header whose thumbprint is ``cnf.jkt``, ``htm`` and ``htu`` of this request,
``iat`` recent, ``jti`` not seen before, ``ath`` the hash of the token. The answer is the token's
claims (200) or ``{"error": …}`` with 401 and a ``WWW-Authenticate: DPoP`` header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, import_key

PROOF_ALGS = ["ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256"]


class Refused(Exception):
    pass


class LoopbackApi:
    def __init__(self, issuer: str, jwks_uri: str):
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self.seen_jti: set[str] = set()
        self.calls: list[dict] = []  # every accepted call: path and claims
        self.refusals: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, audience: str, path: str) -> str:
        return f"{self.base_url}/{audience}{path}"

    def start(self) -> LoopbackApi:
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def check(self, method: str, path: str, headers) -> dict:
        audience = unquote(path.lstrip("/").split("/", 1)[0])
        authorization = headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme != "DPoP" or not token:
            raise Refused("an Authorization: DPoP <token> header is required")
        proof = headers.get("DPoP")
        if not proof:
            raise Refused("a DPoP proof is required")

        keys = KeySet.import_key_set(httpx.get(self.jwks_uri, timeout=5).json())
        try:
            access = jwt.decode(token, keys, algorithms=["PS256"])
        except (JoseError, ValueError) as error:
            raise Refused(f"token signature: {type(error).__name__}") from None
        if access.header.get("typ") != "at+jwt":
            raise Refused("token typ must be at+jwt")
        claims = access.claims
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise Refused("token issuer")
        if audience not in ([claims.get("aud")] if isinstance(claims.get("aud"), str) else claims.get("aud") or []):
            raise Refused(f"token audience is not {audience}")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now:
            raise Refused("token expired")
        jkt = (claims.get("cnf") or {}).get("jkt")
        if not jkt:
            raise Refused("token is not DPoP-bound (no cnf.jkt)")

        header = json.loads(_b64decode(proof.split(".")[0]))
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in PROOF_ALGS or "jwk" not in header:
            raise Refused("DPoP proof header")
        proof_key = import_key(header["jwk"])
        if proof_key.thumbprint() != jkt:
            raise Refused("DPoP proof key does not match cnf.jkt")
        try:
            decoded = jwt.decode(proof, proof_key, algorithms=[header["alg"]])
        except (JoseError, ValueError) as error:
            raise Refused(f"DPoP proof signature: {type(error).__name__}") from None
        proof_claims = decoded.claims
        expected_htu = self.base_url + urlsplit(path).path
        if proof_claims.get("htm") != method:
            raise Refused("DPoP htm")
        if proof_claims.get("htu") != expected_htu:
            raise Refused("DPoP htu")
        if not isinstance(proof_claims.get("iat"), int) or abs(proof_claims["iat"] - now) > 60:
            raise Refused("DPoP iat")
        ath = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
        if proof_claims.get("ath") != ath:
            raise Refused("DPoP ath")
        jti = proof_claims.get("jti")
        with self._lock:
            if not jti or jti in self.seen_jti:
                raise Refused("DPoP jti reused")
            self.seen_jti.add(jti)
            self.calls.append({"path": path, "claims": claims})
        return claims


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _handler_for(api: LoopbackApi):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, method: str) -> None:
            try:
                claims = api.check(method, self.path, self.headers)
                status, body, extra = 200, {"claims": claims}, {}
            except Refused as refusal:
                api.refusals.append(str(refusal))
                status, body = 401, {"error": "invalid_token", "error_description": str(refusal)}
                extra = {"WWW-Authenticate": 'DPoP error="invalid_token"'}
            except Exception as error:  # a malformed proof or token is a refusal, not a crash
                api.refusals.append(type(error).__name__)
                status, body = 401, {"error": "invalid_token", "error_description": type(error).__name__}
                extra = {"WWW-Authenticate": 'DPoP error="invalid_token"'}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            self._answer("GET")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._answer("POST")

        def log_message(self, format, *args):
            pass

    return Handler
