"""HelseID access tokens with DPoP against the API: real tokens from the loopback token service."""

import time

import pytest

from portal.models import AuditEvent
from tests.api.conftest import MEMBER_SCOPES, VENDOR_SCOPES, Caller, minted, proof
from tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

TENANTS = "/api/v1/vendor/tenants"
PROBLEM = "/api/v1/problems/"


@pytest.fixture
def vendor_api(register, vendor):
    return register(vendor.org_number, VENDOR_SCOPES, supplier=vendor.org_number, name="vendor")


@pytest.fixture
def caller(client, vendor_api):
    return Caller(client, vendor_api.token(VENDOR_SCOPES))


def refused(response, status, slug):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM + slug, body
    assert body["status"] == status
    return body


def test_a_valid_dpop_token_works(caller):
    response = caller.call("GET", TENANTS)
    assert response.status_code == 200, response.content
    assert response.json() == {"items": [], "next_cursor": None}


def test_no_token_and_bearer_are_refused(client, caller):
    refused(client.get(TENANTS), 401, "unauthenticated")
    response = caller.call("GET", TENANTS, scheme="Bearer")
    refused(response, 401, "dpop-required")
    assert response["WWW-Authenticate"].startswith("DPoP ")


def test_a_token_without_a_proof_is_refused(client, caller):
    response = client.get(TENANTS, headers={"Authorization": f"DPoP {caller.token.access_token}"})
    refused(response, 401, "invalid-dpop-proof")


def test_a_replayed_proof_is_refused(client, caller):
    url = "http://testserver" + TENANTS
    headers = {"Authorization": f"DPoP {caller.token.access_token}", "DPoP": proof(caller.token, "GET", url)}
    assert client.get(TENANTS, headers=headers).status_code == 200
    refused(client.get(TENANTS, headers=headers), 401, "dpop-proof-replayed")


@pytest.mark.parametrize(
    "overrides",
    [
        {"htu": "http://testserver/api/v1/vendor/systems"},
        {"htm": "POST"},
        {"ath": "bm90LXRoZS1oYXNo"},
        {"ath": None},
        {"iat": int(time.time()) - 3600},
        {"jti": None},
    ],
    ids=["htu", "htm", "ath", "no-ath", "old-iat", "no-jti"],
)
def test_a_proof_for_something_else_is_refused(caller, overrides):
    refused(caller.call("GET", TENANTS, proof_overrides=overrides), 401, "invalid-dpop-proof")


def test_a_proof_by_another_key_is_refused(client, caller, vendor_api):
    other = vendor_api.token(VENDOR_SCOPES)  # a token of its own key
    url = "http://testserver" + TENANTS
    headers = {"Authorization": f"DPoP {caller.token.access_token}", "DPoP": proof(other, "GET", url)}
    # The proof's ath is for the other token too; give it this token's hash and it is still another key.
    from tests.api.conftest import _ath

    headers["DPoP"] = proof(other, "GET", url, ath=_ath(caller.token.access_token))
    refused(client.get(TENANTS, headers=headers), 401, "invalid-dpop-proof")


def test_an_expired_token_is_refused(client, sts, caller):
    claims = dict(caller.token.access_token and _claims(caller.token.access_token))
    claims["exp"] = int(time.time()) - 10
    expired = minted(sts, claims)
    caller.token = _with_access_token(caller.token, expired)
    refused(caller.call("GET", TENANTS), 401, "invalid-token")


def test_a_token_signed_by_another_key_is_refused(sts, caller):
    from joserfc.jwk import RSAKey

    forged = minted(sts, _claims(caller.token.access_token), RSAKey.generate_key(2048, parameters={"kid": "sts-ps256"}))
    caller.token = _with_access_token(caller.token, forged)
    refused(caller.call("GET", TENANTS), 401, "invalid-token")


def test_a_token_for_another_audience_is_refused(client, register, vendor):
    other_api = register(vendor.org_number, ["nhn:jft/api"], supplier=vendor.org_number)
    caller = Caller(client, other_api.token(["nhn:jft/api"]))
    body = refused(caller.call("GET", TENANTS), 401, "invalid-token")
    assert "audience" in body["detail"] or "målgruppe" in body["detail"]


def test_a_missing_scope_is_refused(client, register, vendor):
    read_only = register(vendor.org_number, [VENDOR_SCOPES[0]], supplier=vendor.org_number)
    caller = Caller(client, read_only.token([VENDOR_SCOPES[0]]))
    assert caller.call("GET", TENANTS).status_code == 200
    response = caller.call("POST", "/api/v1/vendor/systems", {"name": "X", "kind": "vft"})
    refused(response, 403, "insufficient-scope")
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_a_member_token_is_not_a_vendor_token(client, register, municipality):
    member = register(municipality.org_number, MEMBER_SCOPES)
    caller = Caller(client, member.token(MEMBER_SCOPES))
    assert caller.call("GET", "/api/v1/member/membership").status_code == 200
    refused(caller.call("GET", TENANTS), 403, "insufficient-scope")


def test_the_organisation_comes_from_the_token_not_the_body(client, register, vendor):
    other_vendor = VendorFactory()
    theirs = register(other_vendor.org_number, VENDOR_SCOPES, supplier=other_vendor.org_number)
    caller = Caller(client, theirs.token(VENDOR_SCOPES))
    response = caller.call(
        "POST", "/api/v1/vendor/systems", {"name": "Alarm", "kind": "vft", "vendor": vendor.org_number}
    )
    assert response.status_code == 201, response.content
    assert not vendor.vendor_systems.exists()
    assert other_vendor.vendor_systems.get().name == "Alarm"
    event = AuditEvent.objects.get(action="vendor_system.created")
    assert event.organisation == other_vendor
    assert event.actor_label.startswith("api-client+")


def test_problems_follow_accept_language(client, caller):
    nb = client.get(TENANTS)
    en = client.get(TENANTS, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert en.json()["title"] == "An access token is required"
    assert nb.json()["title"] != en.json()["title"]
    assert en["Content-Language"] == "en" and nb["Content-Language"] == "nb"


def test_rate_limited_per_client(settings, caller):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    from django.core.cache import cache

    cache.clear()
    assert caller.call("GET", TENANTS).status_code == 200
    assert caller.call("GET", TENANTS).status_code == 200
    response = caller.call("GET", TENANTS)
    refused(response, 429, "rate-limited")
    assert int(response["Retry-After"]) > 0


def _claims(token):
    import base64
    import json

    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _with_access_token(token, access_token):
    from requests_oauth2client import DPoPToken

    return DPoPToken(access_token=access_token, _dpop_key=token.dpop_key)
