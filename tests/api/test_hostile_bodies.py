"""Hostile JSON bodies and headers to the self-service API: a clear problem answer, never a 500, never stored."""

import json

import pytest

from members.models import VendorSystem
from tests.api.conftest import VENDOR_SCOPES, Caller

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, register, vendor):
    return Caller(client, register(vendor.org_number, VENDOR_SCOPES, supplier=vendor.org_number).token(VENDOR_SCOPES))


def raw_post(api, path, body: bytes, content_type="application/json"):
    from tests.api.conftest import proof

    url = "http://testserver" + path
    headers = {"Authorization": f"DPoP {api.token.access_token}", "DPoP": proof(api.token, "POST", url)}
    return api.web.post(path, data=body, content_type=content_type, headers=headers)


@pytest.mark.parametrize(
    "name",
    ["nul\\u0000name", "lone\\ud800surrogate", "\\udfff", "low\\udc00"],
    ids=["nul", "high-surrogate", "lone-low", "low-in-text"],
)
def test_nul_and_lone_surrogates_in_json_are_refused_and_not_stored(api, name):
    body = ('{"name": "' + name + '", "kind": "vft", "product": "x"}').encode()
    response = raw_post(api, "/api/v1/vendor/systems", body)
    assert response.status_code in (400, 422), response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert not VendorSystem.objects.exists()


def test_the_nul_refusal_says_what_is_wrong_in_bokmal(api):
    response = raw_post(api, "/api/v1/vendor/systems", b'{"name": "a\\u0000", "kind": "vft"}')
    assert response.status_code == 400
    assert response.json()["type"] == "/api/v1/problems/bad-request"
    assert response.json()["detail"] == "Forespørselen inneholder tegn som ikke kan brukes."


def test_nul_in_a_nested_field_is_refused(api):
    body = json.dumps(
        {"name": "ok", "kind": "vft", "supported_services": [{"service": "vkp\u0000", "environment": "test"}]}
    ).encode()
    response = raw_post(api, "/api/v1/vendor/systems", body)
    assert response.status_code == 400, response.content
    assert not VendorSystem.objects.exists()


@pytest.mark.parametrize("body", [b"\xff\xfe", b"{", b"[]", b"null", b'"x"', b"1e999999", b"[" * 10000])
def test_broken_json_is_a_problem_not_a_500(api, body):
    response = raw_post(api, "/api/v1/vendor/systems", body)
    assert 400 <= response.status_code < 500, response.content


def test_api_answers_are_not_stored_by_caches(api):
    response = api.call("GET", "/api/v1/vendor/systems")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    refused = api.web.get("/api/v1/vendor/systems")
    assert refused.status_code == 401
    assert "no-store" in refused["Cache-Control"]


def test_a_body_over_the_limit_is_413(api, settings):
    body = b'{"name": "' + b"a" * (settings.REQUEST_BODY_MAX_BYTES + 10) + b'", "kind": "vft"}'
    response = raw_post(api, "/api/v1/vendor/systems", body)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/api/v1/problems/too-large"
    assert response["Cache-Control"] == "no-store"
    assert not VendorSystem.objects.exists()


@pytest.mark.parametrize("query", ["cursor=%00", "limit=1%00", "a%00b=1"])
def test_nul_in_an_api_query_string_is_a_problem_answer_not_a_page(api, query):
    response = api.call("GET", f"/api/v1/vendor/systems?{query}", headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/api/v1/problems/bad-request"
    assert response.json()["detail"] == "The request contains characters that cannot be used."
    assert response["Cache-Control"] == "no-store"


def test_nul_in_headers_is_not_a_500(api):
    response = api.call("GET", "/api/v1/vendor/systems", headers={"Idempotency-Key": "a\u0000b"})
    assert response.status_code < 500
    response = api.web.get("/api/v1/vendor/systems", headers={"Authorization": "DPoP a\u0000b", "DPoP": "x\u0000"})
    assert response.status_code == 401


@pytest.mark.parametrize("jti", ["\ud800", "a\udfffb", "nul\u0000"], ids=["high", "low", "nul"])
def test_a_proof_with_a_hostile_jti_is_refused_not_a_500(api, jti):
    response = api.call("GET", "/api/v1/vendor/systems", proof_overrides={"jti": jti})
    assert response.status_code in (200, 401), response.content
    if response.status_code == 401:
        assert response.json()["type"] == "/api/v1/problems/invalid-dpop-proof"


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "header",
    [b'{"typ": 1, "alg": "PS256"}', b'{"typ": null}', b'{"typ": ["at+jwt"]}', b"[" * 3000, b'{"a":' * 2000],
    ids=["typ-number", "typ-null", "typ-list", "deep-list", "deep-object"],
)
def test_a_hostile_token_header_is_refused_not_a_500(client, header):
    token = f"{_b64(header)}.{_b64(b'{}')}.c2ln"
    response = client.get("/api/v1/vendor/systems", headers={"Authorization": f"DPoP {token}", "DPoP": token})
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("header", [b'{"typ": 1}', b"[" * 3000, b'{"typ": "dpop+jwt", "alg": "ES256", "jwk": []}'])
def test_a_hostile_proof_header_is_refused_not_a_500(api, header):
    proof = f"{_b64(header)}.{_b64(b'{}')}.c2ln"
    headers = {"Authorization": f"DPoP {api.token.access_token}", "DPoP": proof}
    response = api.web.get("/api/v1/vendor/systems", headers=headers)
    assert response.status_code == 401, response.content
