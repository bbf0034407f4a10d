"""Forged back-channel logout tokens are refused by the verifier itself (OpenID Connect Back-Channel Logout 1.0).

An attacker has the provider's public JWKS (it is public) and can post anything to the endpoint: an
unsigned token (``alg: none``), a token MACed with HS256 using the published key as the secret, one
signed by its own key under the provider's ``kid``, or one that is almost right (no events, a nonce).
"""

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from members.oidc_protocol import BACKCHANNEL_LOGOUT_EVENT, ProtocolRefusal, verify_logout_token

ISSUER = "https://helseid-sts.test.example"
CLIENT = "portal-helseid"
PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "sts-1", "use": "sig", "alg": "PS256"})
JWKS = {"keys": [PROVIDER_KEY.as_dict(private=False)]}


def claims(**changes):
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "sid": "session-1",
        "sub": "ola",
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def verify(token):
    return verify_logout_token(token, jwks=JWKS, issuer=ISSUER, client_id=CLIENT, algorithms=["PS256", "ES256"])


def signed(body, *, header=None, key=PROVIDER_KEY, alg="PS256"):
    return jwt.encode({"alg": alg, "kid": "sts-1", "typ": "logout+jwt", **(header or {})}, body, key, algorithms=[alg])


def test_a_genuine_token_passes():
    assert verify(signed(claims()))["sid"] == "session-1"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_an_unsigned_token_is_refused(alg):
    token = f"{b64({'alg': alg, 'kid': 'sts-1', 'typ': 'logout+jwt'})}.{b64(claims())}."
    with pytest.raises(ProtocolRefusal) as refusal:
        verify(token)
    assert refusal.value.code == "algorithm"


@pytest.mark.parametrize(
    "secret",
    [
        json.dumps(JWKS).encode(),
        json.dumps(PROVIDER_KEY.as_dict(private=False)).encode(),
        PROVIDER_KEY.as_dict(private=False)["n"].encode(),
        PROVIDER_KEY.as_pem(private=False),
    ],
    ids=["jwks-json", "jwk-json", "modulus", "public-pem"],
)
def test_hs256_with_the_published_key_as_secret_is_refused(secret):
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'sts-1', 'typ': 'logout+jwt'})}.{b64(claims())}"
    token = f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
    with pytest.raises(ProtocolRefusal) as refusal:
        verify(token)
    assert refusal.value.code == "algorithm"
    # Even a verifier told to accept HS256 finds no symmetric key in a public JWKS.
    with pytest.raises(ProtocolRefusal):
        verify_logout_token(token, jwks=JWKS, issuer=ISSUER, client_id=CLIENT, algorithms=["HS256"])


def test_an_attackers_key_under_the_providers_kid_is_refused():
    forged = signed(claims(), key=RSAKey.generate_key(2048, parameters={"kid": "sts-1"}))
    with pytest.raises(ProtocolRefusal) as refusal:
        verify(forged)
    assert refusal.value.code == "signature"


def test_an_embedded_jwk_or_jku_in_the_header_is_not_trusted():
    attacker = RSAKey.generate_key(2048, parameters={"kid": "sts-1"})
    header = {"jwk": attacker.as_dict(private=False), "jku": "https://attacker.example/jwks"}
    with pytest.raises(ProtocolRefusal) as refusal:
        verify(signed(claims(), header=header, key=attacker))
    assert refusal.value.code == "signature"


def test_a_tampered_payload_is_refused():
    header, _payload, signature = signed(claims(sub="ola")).split(".")
    with pytest.raises(ProtocolRefusal) as refusal:
        verify(f"{header}.{b64(claims(sub='kari'))}.{signature}")
    assert refusal.value.code == "signature"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"events": None}, "events"),
        ({"events": {}}, "events"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}}, "events"),
        ({"events": [BACKCHANNEL_LOGOUT_EVENT]}, "events"),
        ({"nonce": "n-0S6_WzA2Mj"}, "nonce"),
        ({"nonce": ""}, "nonce"),
        ({"sid": None, "sub": None}, "subject"),
        ({"sid": "", "sub": ""}, "subject"),
        ({"sid": 1, "sub": None}, "subject"),
        ({"aud": [f"{CLIENT}-other"]}, "claims"),
        ({"aud": None}, "claims"),
        ({"iss": ISSUER + "/"}, "claims"),
        ({"iat": None}, "expired"),
        ({"iat": "now"}, "expired"),
        ({"jti": ""}, "claims"),
        ({"jti": 7}, "claims"),
    ],
)
def test_an_almost_right_token_is_refused(change, code):
    with pytest.raises(ProtocolRefusal) as refusal:
        verify(signed(claims(**change)))
    assert refusal.value.code == code


def test_an_id_token_typ_is_not_a_logout_token():
    with pytest.raises(ProtocolRefusal) as refusal:
        verify(signed(claims(), header={"typ": "JWT"}))
    assert refusal.value.code == "claims"


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "a.b.c",
        "e30.e30.",
        "x" * 10000,
        "\x00.\x00.\x00",
        "\ud800",
        f"{b64(b'[' * 3000)}.{b64({})}.c2ln",  # nested too deep for the JSON parser
        b64(b'{"a":' * 2000) + "." + b64({}) + ".c2ln",
        f"{b64({'alg': 'PS256', 'kid': 'sts-1'})}.{b64(b'[' * 3000)}.c2ln",
        f"{b64({'alg': ['PS256'], 'kid': {}})}.{b64({})}.c2ln",
    ],
)
def test_garbage_is_refused_with_a_code(token):
    with pytest.raises(ProtocolRefusal):
        verify(token)
