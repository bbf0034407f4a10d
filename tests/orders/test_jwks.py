# The jwks_server fixture imported from tests.jwks_server looks like a redefinition to pyflakes when
# used as an argument.
# ruff: noqa: F811
"""Checking vendors' public keys for HelseID private_key_jwt (orders.jwks).

Keys are generated here with cryptography and written as JWKs by hand (base64url of the numbers),
so the module's joserfc import is checked against an independent encoding. None of these tests
needs the database.
"""

import base64
import copy
import gzip
import json
import logging
import pickle
import socket
import time
from functools import cache

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.exceptions import ValidationError
from django.utils import translation
from joserfc import jwk as joserfc_jwk

from orders.jwks import CODES, MAX_JWKS_BYTES, PRIVATE_MEMBERS, KeyRejected, PublicKey, fetch_jwks, parse_keys
from tests.jwks_server import jwks_fetch_allowed, jwks_server  # noqa: F401

# --- keys ----------------------------------------------------------------------------------------


def b64(number: int, length: int | None = None) -> str:
    length = length or (number.bit_length() + 7) // 8
    return base64.urlsafe_b64encode(number.to_bytes(length, "big")).rstrip(b"=").decode()


def rsa_key(bits: int, variant: int = 0) -> rsa.RSAPrivateKey:
    """One key per (bits, variant), the same every time it is asked for."""
    return _rsa_key(bits, variant)


@cache  # 4096-bit keys take a while; a private helper so (2048,) and (2048, 0) are one cache entry
def _rsa_key(bits: int, variant: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1, "secp256k1": ec.SECP256K1}


def ec_key(crv: str, variant: int = 0) -> ec.EllipticCurvePrivateKey:
    return _ec_key(crv, variant)


@cache
def _ec_key(crv: str, variant: int) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVES[crv]())


def rsa_jwk(bits=2048, *, alg="PS256", kid="rsa-1", private=False, variant=0, **extra) -> dict:
    key = rsa_key(bits, variant)
    numbers = key.private_numbers()
    jwk = {"kty": "RSA", "kid": kid, "alg": alg, "use": "sig"}
    jwk.update(n=b64(numbers.public_numbers.n), e=b64(numbers.public_numbers.e))
    if private:
        jwk.update(
            d=b64(numbers.d),
            p=b64(numbers.p),
            q=b64(numbers.q),
            dp=b64(numbers.dmp1),
            dq=b64(numbers.dmq1),
            qi=b64(numbers.iqmp),
        )
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


def ec_jwk(crv="P-256", *, alg="ES256", kid="ec-1", private=False, variant=0, **extra) -> dict:
    key = ec_key(crv, variant)
    numbers = key.private_numbers()
    size = (key.curve.key_size + 7) // 8
    jwk = {"kty": "EC", "kid": kid, "alg": alg, "use": "sig", "crv": crv}
    jwk.update(x=b64(numbers.public_numbers.x, size), y=b64(numbers.public_numbers.y, size))
    if private:
        jwk["d"] = b64(numbers.private_value, size)
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


def okp_jwk() -> dict:
    raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "kid": "okp-1", "alg": "EdDSA", "use": "sig", "x": x}


def jwks(*keys: dict) -> str:
    return json.dumps({"keys": list(keys)})


def text(key: dict) -> str:
    return json.dumps(key)


def rejection(upload: str, **kwargs) -> KeyRejected:
    with pytest.raises(KeyRejected) as caught:
        parse_keys(upload, **kwargs)
    return caught.value


# --- accepted keys -------------------------------------------------------------------------------

GOOD = [
    pytest.param(lambda: rsa_jwk(2048, alg="PS256"), "RSA", "", 2048, id="rsa-2048-PS256"),
    pytest.param(lambda: rsa_jwk(2048, alg="PS384"), "RSA", "", 2048, id="rsa-2048-PS384"),
    pytest.param(lambda: rsa_jwk(4096, alg="PS512"), "RSA", "", 4096, id="rsa-4096-PS512"),
    pytest.param(lambda: ec_jwk("P-256", alg="ES256"), "EC", "P-256", 256, id="ec-P-256-ES256"),
    pytest.param(lambda: ec_jwk("P-384", alg="ES384"), "EC", "P-384", 384, id="ec-P-384-ES384"),
    pytest.param(lambda: ec_jwk("P-521", alg="ES512"), "EC", "P-521", 521, id="ec-P-521-ES512"),
    pytest.param(lambda: rsa_jwk(2048, use=None), "RSA", "", 2048, id="rsa-without-use"),
]


@pytest.mark.parametrize("wrap", [text, jwks], ids=["jwk", "jwks"])
@pytest.mark.parametrize(("make", "kty", "crv", "size"), GOOD)
def test_accepted_keys(make, kty, crv, size, wrap):
    uploaded = make()
    [key] = parse_keys(wrap(uploaded))

    assert isinstance(key, PublicKey)
    assert (key.kid, key.alg, key.kty, key.crv, key.size) == (uploaded["kid"], uploaded["alg"], kty, crv, size)
    members = ("n", "e") if kty == "RSA" else ("crv", "x", "y")
    assert key.jwk == {"kty": kty, "kid": key.kid, "use": "sig", "alg": key.alg} | {m: uploaded[m] for m in members}


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: rsa_jwk(2048, alg="PS256"), id="rsa"),
        pytest.param(lambda: ec_jwk("P-521", alg="ES512"), id="ec"),
    ],
)
def test_thumbprint_is_joserfcs_rfc7638_thumbprint(make):
    uploaded = make()
    [key] = parse_keys(text(uploaded))

    native = (rsa_key(2048) if uploaded["kty"] == "RSA" else ec_key(uploaded["crv"])).public_key()
    assert key.thumbprint == joserfc_jwk.JWKRegistry.import_key(uploaded).thumbprint()
    imported = (joserfc_jwk.RSAKey if uploaded["kty"] == "RSA" else joserfc_jwk.ECKey).import_key(native)
    assert key.thumbprint == imported.thumbprint()
    required = ("e", "kty", "n") if uploaded["kty"] == "RSA" else ("crv", "kty", "x", "y")
    assert key.thumbprint == joserfc_jwk.thumbprint({m: uploaded[m] for m in required})


def test_thumbprint_matches_the_rfc_7638_example():
    # RFC 7638, section 3.1, with the alg HelseID requires added (alg is not part of the thumbprint).
    example = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMst"
            "n64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr"
            "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "PS256",
        "kid": "2011-04-29",
    }
    [key] = parse_keys(json.dumps(example))
    assert key.thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_jwk_is_normalised_to_public_members():
    # Members an export may carry besides the key itself.
    uploaded = rsa_jwk(2048, key_ops=["verify"], x5c=["MIIB..."], ext=True, use=None)
    [key] = parse_keys(text(uploaded))
    assert set(key.jwk) == {"kty", "kid", "use", "alg", "n", "e"}
    assert key.jwk["use"] == "sig"


def test_a_jwks_gives_one_key_per_entry_in_order():
    keys = parse_keys(
        jwks(rsa_jwk(2048, kid="a"), ec_jwk("P-256", kid="b"), ec_jwk("P-384", alg="ES384", kid="c")),
        existing_kids=["old-1", "old-2"],
    )
    assert [key.kid for key in keys] == ["a", "b", "c"]
    assert len({key.thumbprint for key in keys}) == 3


# --- rejected keys -------------------------------------------------------------------------------


def too_large() -> str:
    """A JWKS of real keys, just over 64 KiB."""
    keys, size = [], 0
    while size <= MAX_JWKS_BYTES:
        keys.append(rsa_jwk(4096, kid=f"k{len(keys)}"))
        size = len(jwks(*keys).encode())
    return jwks(*keys)


def pem_private() -> str:
    pem = rsa_key(2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


BAD = [
    pytest.param(lambda: text(rsa_jwk(2048, alg="RS256")), {}, "alg_deprecated", id="RS256"),
    pytest.param(lambda: text(rsa_jwk(2048, alg="RS384")), {}, "alg_deprecated", id="RS384"),
    pytest.param(lambda: text(rsa_jwk(4096, alg="RS512")), {}, "alg_deprecated", id="RS512"),
    pytest.param(lambda: text(rsa_jwk(1024, alg="PS256")), {}, "rsa_too_small", id="rsa-1024"),
    pytest.param(lambda: text(rsa_jwk(2048, private=True)), {}, "private_key", id="rsa-private"),
    pytest.param(lambda: text(ec_jwk("P-256", private=True)), {}, "private_key", id="ec-private"),
    pytest.param(lambda: jwks(rsa_jwk(kid=None), ec_jwk(private=True)), {}, "private_key", id="private-beats-others"),
    pytest.param(pem_private, {}, "private_key", id="pem-private-key"),
    pytest.param(lambda: text(ec_jwk(private=True))[:-40], {}, "private_key", id="broken-json-with-d"),
    pytest.param(lambda: text(rsa_jwk(kid=None)), {}, "kid_missing", id="kid-missing"),
    pytest.param(lambda: text(rsa_jwk(kid="")), {}, "kid_missing", id="kid-empty"),
    pytest.param(lambda: text(rsa_jwk(kid=42)), {}, "malformed", id="kid-not-a-string"),
    pytest.param(lambda: jwks(rsa_jwk(kid="same"), ec_jwk(kid="same")), {}, "kid_duplicate", id="kid-twice-in-jwks"),
    pytest.param(lambda: text(ec_jwk(kid="old")), {"existing_kids": ["x", "old"]}, "kid_duplicate", id="kid-existing"),
    pytest.param(lambda: text(rsa_jwk(alg=None)), {}, "alg_missing", id="alg-missing"),
    pytest.param(lambda: text(rsa_jwk(alg="HS256")), {}, "alg_unsupported", id="alg-HS256"),
    pytest.param(lambda: text(rsa_jwk(alg="none")), {}, "alg_unsupported", id="alg-none"),
    pytest.param(lambda: text(ec_jwk(alg="ES256K")), {}, "alg_unsupported", id="alg-ES256K"),
    pytest.param(lambda: text(rsa_jwk(alg="ES256")), {}, "alg_mismatch", id="rsa-with-ES256"),
    pytest.param(lambda: text(ec_jwk(alg="PS256")), {}, "alg_mismatch", id="ec-with-PS256"),
    pytest.param(lambda: text(ec_jwk("P-256", alg="ES384")), {}, "curve_mismatch", id="P-256-with-ES384"),
    pytest.param(lambda: text(ec_jwk("P-521", alg="ES256")), {}, "curve_mismatch", id="P-521-with-ES256"),
    pytest.param(lambda: text(ec_jwk("secp256k1", alg="ES256")), {}, "curve_unsupported", id="secp256k1"),
    pytest.param(lambda: text(okp_jwk()), {}, "kty_unsupported", id="okp-Ed25519"),
    pytest.param(lambda: text({"kty": "oct", "kid": "s", "alg": "HS256"}), {}, "symmetric", id="oct-without-k"),
    pytest.param(
        lambda: text({"kty": "oct", "kid": "s", "alg": "HS256", "k": "c2VjcmV0"}), {}, "private_key", id="oct"
    ),
    pytest.param(lambda: text(rsa_jwk(use="enc")), {}, "use_not_sig", id="use-enc"),
    pytest.param(lambda: '{"kty": "RSA", "kid": ', {}, "malformed", id="broken-json"),
    pytest.param(lambda: "", {}, "malformed", id="empty-text"),
    pytest.param(lambda: "[" * 50_000, {}, "malformed", id="deeply-nested"),
    pytest.param(lambda: json.dumps([rsa_jwk()]), {}, "malformed", id="list-not-object"),
    pytest.param(lambda: '{"keys": []}', {}, "malformed", id="empty-jwks"),
    pytest.param(lambda: json.dumps({"keys": rsa_jwk()}), {}, "malformed", id="keys-not-a-list"),
    pytest.param(lambda: jwks(rsa_jwk(), "not a key"), {}, "malformed", id="entry-not-object"),
    pytest.param(lambda: text(rsa_jwk(kty=None)), {}, "malformed", id="kty-missing"),
    pytest.param(lambda: text(rsa_jwk(n=None)), {}, "malformed", id="rsa-n-missing"),
    pytest.param(lambda: text(rsa_jwk() | {"n": "not*base64"}), {}, "malformed", id="rsa-n-garbage"),
    pytest.param(lambda: text(rsa_jwk() | {"e": "AAAA"}), {}, "malformed", id="rsa-e-zero"),
    pytest.param(lambda: text(ec_jwk() | {"x": ec_jwk()["y"]}), {}, "malformed", id="ec-point-off-curve"),
    pytest.param(lambda: text(ec_jwk() | {"y": "@@"}), {}, "malformed", id="ec-y-garbage"),
    pytest.param(too_large, {}, "too_large", id="jwks-over-64KiB"),
]


@pytest.mark.parametrize(("make", "kwargs", "code"), BAD)
def test_rejected_keys(make, kwargs, code):
    error = rejection(make(), **kwargs)

    assert error.code == code
    assert code in CODES
    assert isinstance(error, ValidationError)
    [message] = error.messages
    assert message.strip()


def test_oversized_upload_is_refused_before_parsing():
    # Not even JSON: the size alone decides.
    assert rejection("x" * (MAX_JWKS_BYTES + 1)).code == "too_large"
    assert rejection("x" * MAX_JWKS_BYTES).code == "malformed"


def test_rs256_message_gives_helseids_deadlines_and_the_way_out():
    with translation.override("en"):
        error = rejection(text(rsa_jwk(alg="RS256")))
        [message] = error.messages
    assert "RS256" in message
    assert "1 November 2026" in message
    assert "11 January 2027" in message
    assert "PS256" in message and "ES256" in message


def test_private_key_message_says_not_stored_and_exposed():
    with translation.override("en"):
        [message] = rejection(text(rsa_jwk(private=True))).messages
    assert "private key" in message
    assert "not stored" in message
    assert "exposed" in message
    assert "new key pair" in message


def test_nothing_is_partially_accepted():
    error = rejection(jwks(rsa_jwk(kid="good"), ec_jwk(kid="bad", alg="ES384")))
    assert error.code == "curve_mismatch"
    assert error.params["position"] == 2


@pytest.mark.parametrize(
    "private",
    [
        pytest.param(lambda: rsa_jwk(2048, private=True), id="rsa"),
        pytest.param(lambda: ec_jwk("P-384", alg="ES384", private=True), id="ec"),
        pytest.param(
            lambda: {"kty": "oct", "kid": "s", "alg": "HS256", "k": "c3VwZXItc2VjcmV0LXZhbHVlLTEyMzQ1Njc4OQ"}, id="oct"
        ),
    ],
)
def test_private_values_are_never_echoed_or_logged(private, caplog):
    key = private()
    secrets = [key[m] for m in PRIVATE_MEMBERS if m in key]
    assert secrets

    caplog.set_level(logging.DEBUG)
    error = rejection(jwks(key))

    assert error.code == "private_key"
    shown = [str(error), repr(error), repr(error.params), *error.messages, caplog.text]
    shown += [record.getMessage() + repr(record.args) for record in caplog.records]
    for secret in secrets:
        for place in shown:
            assert secret not in place
    # Nothing in the exception's context holds the upload either (e.g. a JSON parser error's .doc).
    assert error.__context__ is None and error.__cause__ is None


def test_returned_jwk_has_no_private_members():
    # Even when a key carried private members, nothing would come back; here: normal keys.
    for key in parse_keys(jwks(rsa_jwk(2048, kid="r"), ec_jwk("P-521", alg="ES512", kid="e"))):
        assert not set(key.jwk) & set(PRIVATE_MEMBERS)


def test_rejection_behaves_like_a_validation_error():
    error = rejection(text(rsa_jwk(alg="RS256", kid="legacy")))
    assert error.params["kid"] == "legacy"
    for twin in (copy.deepcopy(error), pickle.loads(pickle.dumps(error))):  # noqa: S301 - our own object
        assert twin.code == "alg_deprecated"
        assert twin.messages == error.messages


# --- JWKS URL ------------------------------------------------------------------------------------


@pytest.fixture
def loopback_http(jwks_fetch_allowed):
    """The loopback test server (https, test CA) is allowed; nothing else internal is."""


def fetch_rejection(url: str, **kwargs) -> KeyRejected:
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks(url, **kwargs)
    return caught.value


def test_jwks_url_good(jwks_server, loopback_http):
    url = jwks_server.set(
        "/.well-known/jwks.json",
        body=jwks(rsa_jwk(4096, alg="PS512", kid="r"), ec_jwk("P-521", alg="ES512", kid="e")),
        content_type="application/jwk-set+json; charset=utf-8",
    )
    keys = fetch_jwks(url, timeout=2)
    assert [(k.kid, k.alg, k.size) for k in keys] == [("r", "PS512", 4096), ("e", "ES512", 521)]


def test_jwks_url_single_jwk_as_application_json(jwks_server, loopback_http):
    url = jwks_server.set("/key", body=text(ec_jwk()), content_type="application/json")
    [key] = fetch_jwks(url, timeout=2)
    assert key.crv == "P-256"


def test_jwks_url_existing_kid(jwks_server, loopback_http):
    url = jwks_server.set("/jwks", body=jwks(ec_jwk(kid="taken")))
    assert fetch_rejection(url, timeout=2, existing_kids={"taken"}).code == "kid_duplicate"


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        pytest.param(
            {"body": "<html><body>Log in</body></html>", "content_type": "text/html"}, "url_not_json", id="html"
        ),
        pytest.param({"body": "keys", "content_type": "text/plain"}, "url_not_json", id="text-plain"),
        pytest.param(
            {"body": "<html>oops</html>", "content_type": "application/json"}, "url_not_json", id="not-json-body"
        ),
        pytest.param({"body": b"\xff\xfe\x00{", "content_type": None}, "url_not_json", id="not-utf8"),
        pytest.param({"status": 404, "body": "Not found", "content_type": "text/plain"}, "url_error", id="404"),
        pytest.param({"status": 500, "body": "{}"}, "url_error", id="500"),
        pytest.param({"status": 204}, "url_error", id="204"),
        pytest.param({"body": "[]"}, "malformed", id="json-but-not-a-key-set"),
        pytest.param({"body": "x" * (MAX_JWKS_BYTES + 1)}, "too_large", id="over-limit-content-length"),
        pytest.param(
            {"body": "x" * (MAX_JWKS_BYTES + 1), "content_length": False}, "too_large", id="over-limit-streamed"
        ),
        pytest.param(
            {"body": gzip.compress(b'{"keys": []}'), "headers": {"Content-Encoding": "gzip"}}, "url_error", id="gzip"
        ),
    ],
)
def test_jwks_url_bad_answers(jwks_server, loopback_http, answer, code):
    url = jwks_server.set("/jwks", **answer)
    error = fetch_rejection(url, timeout=2)
    assert error.code == code
    [message] = error.messages
    assert message.strip()
    body = answer.get("body")
    if isinstance(body, str) and len(body) > 3:
        assert body not in message  # the body is never echoed


def test_jwks_url_404_does_not_echo_the_servers_status(jwks_server, loopback_http):
    error = fetch_rejection(jwks_server.url("/nowhere"), timeout=2)
    assert error.code == "url_error" and "status" not in (error.params or {})
    with translation.override("en"):
        assert "404" not in error.messages[0]
        assert "did not answer with the key set" in error.messages[0]


def test_jwks_url_redirect_is_not_followed(jwks_server, loopback_http):
    jwks_server.set("/jwks", body=jwks(ec_jwk()))
    url = jwks_server.set("/old", status=302, headers={"Location": jwks_server.url("/jwks")}, content_type=None)
    error = fetch_rejection(url, timeout=2)
    assert error.code == "url_error" and "302" not in error.messages[0]
    with translation.override("en"):
        assert "redirect" in error.messages[0]
    assert jwks_server.requests == ["/old"]


def test_jwks_url_timeout(jwks_server, loopback_http):
    url = jwks_server.set("/slow", body=jwks(ec_jwk()), delay=3.0)
    started = time.monotonic()
    error = fetch_rejection(url, timeout=0.3)
    assert error.code == "url_unreachable"
    assert error.params["timeout"] == "0.3"
    assert time.monotonic() - started < 2.0


def test_jwks_url_timeout_defaults_to_the_setting(jwks_server, loopback_http, settings):
    settings.JWKS_FETCH_TIMEOUT = 0.3
    url = jwks_server.set("/slow", body=jwks(ec_jwk()), delay=3.0)
    started = time.monotonic()
    assert fetch_rejection(url).code == "url_unreachable"
    assert time.monotonic() - started < 2.0


def test_jwks_url_connection_refused(loopback_http):
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert fetch_rejection(f"https://127.0.0.1:{port}/jwks", timeout=2).code == "url_unreachable"


def test_jwks_url_serving_a_private_key(jwks_server, loopback_http, caplog):
    key = rsa_jwk(2048, private=True)
    url = jwks_server.set("/jwks", body=jwks(key))
    caplog.set_level(logging.DEBUG)
    error = fetch_rejection(url, timeout=2)
    assert error.code == "private_key"
    for secret in (key["d"], key["p"], key["qi"]):
        assert secret not in caplog.text
        assert secret not in str(error) and secret not in repr(error)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open an HTTP client fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("no network call was expected")

    monkeypatch.setattr(httpx, "Client", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://example.invalid/jwks", id="http-non-loopback"),
        pytest.param("http://10.0.0.1/jwks", id="http-private-address"),
        pytest.param("ftp://127.0.0.1/jwks", id="ftp"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("https://user:secret@example.invalid/jwks", id="credentials"),
        pytest.param("https:///jwks", id="no-host"),
        pytest.param("https://example.invalid:port/jwks", id="bad-port"),
        pytest.param("example.invalid/jwks", id="no-scheme"),
    ],
)
def test_jwks_url_refused_without_network(url, loopback_http, no_network):
    assert fetch_rejection(url, timeout=0.5).code == "url_scheme"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.1.2.3"])
def test_loopback_http_needs_the_setting(host, settings, no_network):
    settings.JWKS_URL_ALLOW_LOOPBACK_HTTP = False
    assert fetch_rejection(f"http://{host}:8000/jwks", timeout=0.5).code == "url_scheme"
    del settings.JWKS_URL_ALLOW_LOOPBACK_HTTP  # absent: off as well
    assert fetch_rejection(f"http://{host}:8000/jwks", timeout=0.5).code == "url_scheme"
