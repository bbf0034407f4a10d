"""Federated login pieces that need no provider: the keyed hash, client assertions, pages and refusals.

The whole flow against a real provider is in tests/e2e/test_federated_login.py.
"""

import hashlib
import json
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import mail
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from members import oidc
from members.identity import pid_hash
from members.models import Affiliation, FederatedIdentity, User
from portal.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PID = "01928374650"
CLIENT_KEY = RSAKey.generate_key(2048, parameters={"kid": "portal-1", "alg": "PS256"})


@pytest.fixture
def providers(settings):
    """HelseID configured with explicit endpoints (no discovery, nothing on the network)."""
    endpoints = {
        "authorization_endpoint": "https://helseid.example/connect/authorize",
        "token_endpoint": "https://helseid.example/connect/token",
        "jwks_uri": "https://helseid.example/jwks",
        "end_session_endpoint": "https://helseid.example/connect/endsession",
        "userinfo_endpoint": "",
    }
    settings.OIDC_PROVIDERS = {
        "helseid": {
            **settings.OIDC_PROVIDER_DEFAULTS["helseid"],
            **endpoints,
            "issuer": "https://helseid.example",
            "client_id": "portal-client",
            "client_secret": "",
            "private_key": json.dumps(CLIENT_KEY.as_dict(private=True)),
            "par": "off",
        }
    }
    return settings.OIDC_PROVIDERS


def test_the_identity_number_is_kept_as_an_hmac_under_the_configured_key(settings):
    hashed = pid_hash(PID)
    assert len(hashed) == 64 and PID not in hashed
    assert hashed != hashlib.sha256(PID.encode()).hexdigest()  # a plain hash could be reversed by trying all numbers
    assert pid_hash(f" {PID[:6]} {PID[6:]} ") == hashed
    settings.IDENTITY_HASH_KEY = "another-key-another-key-another-key"
    assert pid_hash(PID) != hashed
    with pytest.raises(ValueError):
        pid_hash("  ")


def test_the_client_assertion_is_shaped_as_helseid_asks(providers):
    first = oidc.client_assertion(providers["helseid"], audience="https://helseid.example")
    second = oidc.client_assertion(providers["helseid"], audience="https://helseid.example")
    public = RSAKey.import_key(CLIENT_KEY.as_dict(private=False))
    token = jose_jwt.decode(first, public, algorithms=["PS256"])
    assert token.header == {"alg": "PS256", "typ": "client-authentication+jwt", "kid": "portal-1"}
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "portal-client"
    assert claims["aud"] == "https://helseid.example"
    assert claims["exp"] - claims["iat"] == 60 and claims["nbf"] == claims["iat"]
    assert claims["jti"] != jose_jwt.decode(second, public, algorithms=["PS256"]).claims["jti"]


def test_login_page_offers_configured_providers_and_keeps_the_next_page(client, providers):
    page = client.get("/konto/login/?next=/kundesenter/").content.decode()
    assert 'href="/innlogging/helseid/?next=/kundesenter/"' in page
    assert "Logg inn med HelseID" in page and "ID-porten</a>" not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Log in with HelseID" in client.get("/konto/login/").content.decode()


def test_login_page_without_providers_offers_the_password_login_only(client, settings):
    settings.OIDC_PROVIDERS = {}
    page = client.get("/konto/login/").content.decode()
    assert "Logg inn med e-postadressen og passordet ditt." in page and "README" not in page
    assert client.get("/innlogging/helseid/").status_code == 404
    assert client.get("/innlogging/idporten/callback/?code=x&state=y").status_code == 404


def test_the_authorization_request_carries_state_nonce_pkce_and_locale(client, providers):
    response = client.get("/innlogging/helseid/?next=/medlemskap/registrer/")
    url = urlparse(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://helseid.example/connect/authorize"
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert query["client_id"] == "portal-client" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://testserver/innlogging/helseid/callback/"
    assert query["code_challenge_method"] == "S256" and query["ui_locales"] == "nb"
    assert "helseid://scopes/identity/pid" in query["scope"]
    stored = client.session["oidc_states"][query["state"]]
    assert stored["nonce"] == query["nonce"] and stored["provider"] == "helseid" and stored["code_verifier"]


def test_a_provider_error_or_an_answer_without_a_login_is_refused_and_audited(client, providers):
    response = client.get("/innlogging/helseid/callback/?error=access_denied&state=abc")
    assert response.status_code == 400
    assert "Innloggingen ble avbrutt" in response.content.decode()
    response = client.get("/innlogging/helseid/callback/?code=abc&state=never-sent")
    assert response.status_code == 400 and "«state»-kontrollen feilet" in response.content.decode()
    reasons = list(AuditEvent.objects.filter(action="login.refused").values_list("after__reason", flat=True))
    assert sorted(reasons) == ["cancelled", "state"]


def pending_login(client, **claims):
    session = client.session
    session[oidc.PENDING_IDENTITY_KEY] = {
        "provider": "helseid",
        "pid_hash": pid_hash(PID),
        "first_name": "Ola",
        "last_name": "Nordmann",
        "email": "",
        "until": 4102444800,  # 2100
        **claims,
    }
    session.save()


def test_first_login_asks_for_an_email_address_and_creates_an_account_without_rights(client, providers):
    assert client.get("/innlogging/fullfor/")["Location"] == "/konto/login/"  # nothing pending
    pending_login(client)
    assert "Velkommen, Ola Nordmann." in client.get("/innlogging/fullfor/").content.decode()
    response = client.post("/innlogging/fullfor/", {"email": "ola@kommune.example"})
    assert response["Location"] == "/"

    user = User.objects.get(email="ola@kommune.example")
    assert not user.has_usable_password() and not Affiliation.objects.filter(user=user).exists()
    assert FederatedIdentity.objects.get(user=user).pid_hash == pid_hash(PID)
    assert not EmailAddress.objects.get(user=user).verified
    assert mail.outbox and "ola@kommune.example" in mail.outbox[-1].to  # allauth's verification e-mail
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[oidc.PROVIDER_SESSION_KEY] == "helseid"
    assert AuditEvent.objects.filter(action="user.logged_in", actor=user, after__method="helseid").exists()


def test_first_login_with_the_address_of_an_existing_account_is_refused(client, providers):
    UserFactory(email="ola@kommune.example")
    pending_login(client)
    response = client.post("/innlogging/fullfor/", {"email": "OLA@kommune.example"})
    assert response.status_code == 200
    assert "har allerede en konto" in response.content.decode()
    assert not FederatedIdentity.objects.exists()


def test_logging_out_of_a_federated_session_goes_to_the_providers_end_session(client, providers):
    user = UserFactory()
    client.force_login(user)
    session = client.session
    session[oidc.PROVIDER_SESSION_KEY] = "helseid"
    session.save()
    # The header's logout form posts to the federated logout on every page.
    assert 'action="/innlogging/logg-ut/"' in client.get("/innlogging/metoder/").content.decode()
    client.cookies[oidc.ID_TOKEN_COOKIE] = oidc._cookie_cipher().encrypt(b"the.id.token").decode()
    response = client.post("/innlogging/logg-ut/")
    url = urlparse(response["Location"])
    assert url.netloc == "helseid.example" and url.path == "/connect/endsession"
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert query == {
        "client_id": "portal-client",
        "post_logout_redirect_uri": "http://testserver/innlogging/logget-ut/",
        "id_token_hint": "the.id.token",
    }
    assert "_auth_user_id" not in client.session
    assert response.cookies[oidc.ID_TOKEN_COOKIE]["max-age"] == 0


def test_a_p521_key_without_alg_signs_its_client_assertion_es512(providers):
    from joserfc import jws
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-521", private=True)  # what HelseID's key generator makes
    config = {**providers["helseid"], "private_key": json.dumps(key.as_dict(private=True))}
    assertion = oidc.client_assertion(config, audience="https://helseid.example")
    assert jws.extract_compact(assertion.encode()).protected["alg"] == "ES512"
