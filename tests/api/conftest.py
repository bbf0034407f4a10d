"""The self-service API's tests: real HelseID tokens from the loopback token service (tests/helseid_sts/)."""

import time
import uuid

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from jwskate import Jwk, SignedJwt
from requests_oauth2client import DPoPKey, OAuth2Client

from portal.api.auth import jwks_cache
from tests.helseid_sts.server import LoopbackSts
from tests.helseid_sts.vendor import HelseIdClientAssertion

AUDIENCE = "nhn:selvbetjening"
VENDOR_SCOPES = [f"{AUDIENCE}/vendor.read", f"{AUDIENCE}/vendor.write"]
MEMBER_SCOPES = [f"{AUDIENCE}/member.read"]


@pytest.fixture(scope="session")
def sts(tmp_path_factory):
    server = LoopbackSts(tmp_path_factory.mktemp("api-sts")).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _api_trusts_the_loopback_sts(settings, sts):
    settings.API_HELSEID_ISSUER = sts.issuer
    settings.API_HELSEID_JWKS_URI = sts.jwks_uri
    settings.API_RATE_LIMIT_PER_MINUTE = 1000
    jwks_cache.clear()
    yield
    jwks_cache.clear()


class ApiClient:
    """A HelseID client registered at the loopback token service, for one organisation."""

    def __init__(self, sts, org_number, scopes, *, supplier=None, name="api"):
        self.sts = sts
        self.client_id = f"{name}-{uuid.uuid4()}"
        self.key = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256", "use": "sig"})
        self.entry = {
            "clientId": self.client_id,
            "name": name,
            "tenancy": "single-tenant",
            "enabled": True,
            "keys": [self.key.as_dict(private=False)],
            "tenants": [{"organizationNumber": org_number, "scopes": scopes}],
            "supplier": supplier,
        }

    def token(self, scopes):
        token_endpoint = httpx.get(f"{self.sts.issuer}/.well-known/openid-configuration").json()["token_endpoint"]
        auth = HelseIdClientAssertion(
            self.client_id, Jwk(self.key.as_dict(private=True)), aud=self.sts.issuer, lifetime=60
        )
        client = OAuth2Client(token_endpoint=token_endpoint, auth=auth, dpop_bound_access_tokens=True, testing=True)
        return client.client_credentials(scope=" ".join(scopes), dpop_key=DPoPKey.generate(alg="ES256"))


@pytest.fixture
def register(sts):
    """register(org_number, scopes, supplier=...) → an ApiClient the token service knows (all of them at once)."""
    clients = []

    def make(org_number, scopes, **kwargs):
        api_client = ApiClient(sts, org_number, scopes, **kwargs)
        clients.append(api_client)
        sts.register([c.entry for c in clients])
        return api_client

    return make


def proof(token, method, url, **overrides):
    """A DPoP proof for the token's key; overrides change or drop (None) claims."""
    key: DPoPKey = token.dpop_key
    claims = {
        "jti": str(uuid.uuid4()),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
        "ath": _ath(token.access_token),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return str(
        SignedJwt.sign(
            claims,
            key=key.private_key,
            alg=key.alg,
            typ="dpop+jwt",
            extra_headers={"jwk": dict(key.private_key.public_jwk())},
        )
    )


def _ath(access_token):
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


def minted(sts, claims, key=None):
    """A token signed with the token service's own key, for claims it would never issue (expired …)."""
    return jwt.encode(
        {"alg": "PS256", "typ": "at+jwt", "kid": sts.signing_key.kid},
        claims,
        key or sts.signing_key,
        algorithms=["PS256"],
    )


class Caller:
    """Calls the portal's API through Django's test client with a token and a fresh proof each time."""

    def __init__(self, web, token):
        self.web = web
        self.token = token

    def call(self, method, path, json_body=None, *, headers=None, proof_overrides=None, scheme="DPoP", **extra):
        url = "http://testserver" + path.split("?")[0]  # htu has no query (RFC 9449 §4.2)
        all_headers = {
            "Authorization": f"{scheme} {self.token.access_token}",
            "DPoP": proof(self.token, method, url, **(proof_overrides or {})),
            **(headers or {}),
        }
        kwargs = {"headers": all_headers, **extra}
        if json_body is not None:
            kwargs.update(data=json_body, content_type="application/json")
        return getattr(self.web, method.lower())(path, **kwargs)
