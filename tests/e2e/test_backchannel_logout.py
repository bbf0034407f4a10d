"""The back-channel logout endpoint and the strict provider's client-assertion replay check, over HTTP.

Logout tokens are signed here with the loopback provider's own key (its JWKS is what the portal
checks against), so each check of OpenID Connect Back-Channel Logout 1.0 can be tried on its own.
"""

import time
import uuid

import httpx
import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from joserfc import jwt
from joserfc.jwk import RSAKey

from members import services
from members.models import FederatedSession
from members.oidc import client_assertion
from portal.models import AuditEvent
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}
URL = "/innlogging/helseid/backchannel-logout/"


def logout_token(provider, *, alg="PS256", key=None, header=None, **claims) -> str:
    now = int(time.time())
    body = {
        "iss": provider.issuer,
        "aud": "portal-helseid",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": EVENT,
        "sub": "ola",
        "sid": "provider-session-1",
    }
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    head = {"alg": alg, "kid": provider.signing_key.kid, "typ": "logout+jwt", **(header or {})}
    return jwt.encode(head, body, key or provider.signing_key, algorithms=[alg])


def federated_session(user, provider="helseid", sub="ola", sid="provider-session-1") -> str:
    client = Client()
    client.force_login(user)
    key = client.session.session_key
    hashes = services.federated_session_ids(provider=provider, sid=sid, sub=sub)
    services.federated_session_record(session_key=key, user=user, provider=provider, **hashes)
    return key


def post(token: str):
    return Client().post(URL, {"logout_token": token})


def test_a_valid_logout_token_ends_every_session_of_that_person_from_that_provider(federated_login):
    ola, kari = UserFactory(), UserFactory()
    first = federated_session(ola, sid="provider-session-1")
    second = federated_session(ola, sid="provider-session-2")
    from_id_porten = federated_session(ola, provider="idporten", sub="ola-at-id-porten")
    someone_else = federated_session(kari, sub="kari", sid="provider-session-9")

    response = post(logout_token(federated_login.helseid, sub=None))  # by sid alone
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert not Session.objects.filter(session_key__in=[first, second]).exists()
    assert Session.objects.filter(session_key__in=[from_id_porten, someone_else]).count() == 2
    assert set(FederatedSession.objects.values_list("session_key", flat=True)) == {from_id_porten, someone_else}
    assert AuditEvent.objects.get(action="user.logged_out_by_provider").after == {"provider": "helseid", "sessions": 2}
    # Nothing about the provider's session or subject is stored in the clear.
    assert not FederatedSession.objects.filter(sub_hash__in=["kari", "ola-at-id-porten"]).exists()


def test_a_replayed_logout_token_is_refused(federated_login):
    token = logout_token(federated_login.helseid)
    assert post(token).status_code == 200
    session = federated_session(UserFactory())
    response = post(token)
    assert response.status_code == 400
    assert response.json()["error_description"] == "logout token already used"
    assert Session.objects.filter(session_key=session).exists()
    assert AuditEvent.objects.filter(action="logout.refused", after__reason="replay").exists()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"iss": "https://another-issuer.example"}, "claims"),
        ({"aud": "another-client"}, "claims"),
        ({"iat": int(time.time()) - 3600, "exp": None}, "expired"),
        ({"iat": int(time.time()) + 3600}, "expired"),
        ({"exp": int(time.time()) - 600}, "expired"),
        ({"events": {"http://schemas.openid.net/event/something-else": {}}}, "events"),
        ({"events": None}, "events"),
        ({"nonce": "a-nonce"}, "nonce"),
        ({"sub": None, "sid": None}, "subject"),
        ({"jti": None}, "claims"),
        ({"header": {"typ": "JWT"}}, "claims"),
        ({"alg": "RS256"}, "algorithm"),
        ({"key": RSAKey.generate_key(2048)}, "signature"),
    ],
    ids=[
        "other-issuer",
        "other-audience",
        "too-old",
        "from-the-future",
        "expired",
        "other-event",
        "no-events",
        "nonce",
        "no-sid-or-sub",
        "no-jti",
        "wrong-typ",
        "rs256-at-helseid",
        "foreign-key",
    ],
)
def test_a_wrong_logout_token_is_refused_and_ends_nothing(federated_login, change, reason):
    session = federated_session(UserFactory())
    change = dict(change)
    options = {name: change.pop(name) for name in ("alg", "key", "header") if name in change}
    response = post(logout_token(federated_login.helseid, **options, **change))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert Session.objects.filter(session_key=session).exists()
    assert AuditEvent.objects.filter(action="logout.refused", after__reason=reason).exists()


def test_garbage_and_get_requests_are_refused_without_an_error_page(federated_login):
    assert post("not-a-jwt").status_code == 400
    assert Client().post(URL).status_code == 400
    assert Client().get(URL).status_code == 405
    assert Client().post("/innlogging/nowhere/backchannel-logout/").status_code == 404


def test_the_strict_provider_refuses_a_reused_client_assertion(federated_login):
    """The loopback HelseID does what HelseID does, so the portal's fresh assertion per call is tested."""
    config = federated_login.helseid.portal_settings()
    assertion = client_assertion(config, audience=config["issuer"])
    body = {
        "grant_type": "authorization_code",
        "code": "no-such-code",
        "redirect_uri": "http://localhost/",
        "client_id": config["client_id"],
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    first = httpx.post(f"{config['issuer']}/token", data=body, timeout=5)
    assert first.json()["error"] != "invalid_client"  # authenticated; the code is what is wrong
    second = httpx.post(f"{config['issuer']}/token", data=body, timeout=5)
    assert second.json()["error"] == "invalid_client"
    assert client_assertion(config, audience=config["issuer"]) != assertion
