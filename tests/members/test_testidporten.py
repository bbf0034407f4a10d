"""The bundled test ID-porten: the portal's ordinary ID-porten client logs in through it over real HTTP.

A live server runs the portal and the provider; ``requests`` plays the browser.
"""

import base64
import hashlib
import json
import re
import time
from datetime import date
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.sessions.models import Session
from joserfc import jwk, jwt

from members import authority, testidporten
from members.identity import pid_hash
from members.models import FederatedIdentity, User

pytestmark = pytest.mark.django_db(transaction=True)


def person(name: str) -> dict:
    return next(p for p in testidporten.persons() if testidporten.full_name(p) == name)


MARTE = person("Marte Kommunedirektør")["pid"]  # daglig leder of Sjøvik kommune


@pytest.fixture
def idporten(settings, live_server):
    """The portal's ID-porten client configured against the bundled provider on the live server."""
    base = live_server.url
    settings.OIDC_PROVIDERS = {
        "idporten": {
            **settings.OIDC_PROVIDER_DEFAULTS["idporten"],
            "label": "ID-porten (test)",
            "issuer": f"{base}/test-idporten",
            "client_id": settings.TEST_IDPORTEN_CLIENT_ID,
            "client_secret": settings.TEST_IDPORTEN_CLIENT_SECRET,
            "private_key": "",
            "sign_algo": "ES256",
            "authorization_endpoint": "",
            "token_endpoint": "",
            "jwks_uri": "",
            "userinfo_endpoint": "",
            "end_session_endpoint": "",
        }
    }
    from members import oidc

    oidc._discovery.clear()
    return base


def hidden_fields(html: str) -> dict:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def pick(browser: requests.Session, page: requests.Response, pid: str, level="idporten-loa-high"):
    """Choose a person on the provider's page, then follow the redirects back into the portal."""
    assert "Choose a synthetic person" in page.text or "Velg en syntetisk person" in page.text
    data = {**hidden_fields(page.text), "pid": pid, "level": level, "action": "login"}
    return browser.post(page.url, data=data, headers={"Referer": page.url})


def login(base: str, pid: str, level="idporten-loa-high", email="person@sjovik.example", browser=None):
    browser = browser or requests.Session()
    page = browser.get(f"{base}/innlogging/idporten/")
    answer = pick(browser, page, pid, level)
    if "/innlogging/fullfor/" in answer.url:
        fields = dict(re.findall(r'name="(csrfmiddlewaretoken)" value="([^"]+)"', answer.text))
        answer = browser.post(answer.url, data={**fields, "email": email}, headers={"Referer": answer.url})
    return browser, answer


def session_of(browser: requests.Session) -> dict:
    return Session.objects.get(session_key=browser.cookies["sessionid"]).get_decoded()


def test_discovery_names_the_endpoints_and_es256(idporten):
    document = requests.get(f"{idporten}/test-idporten/.well-known/openid-configuration", timeout=5).json()
    assert document["issuer"] == f"{idporten}/test-idporten"
    assert document["id_token_signing_alg_values_supported"] == ["ES256"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "idporten-loa-high" in document["acr_values_supported"]
    keys = requests.get(document["jwks_uri"], timeout=5).json()["keys"]
    assert [(key["kty"], key["crv"], key["alg"]) for key in keys] == [("EC", "P-256", "ES256")]
    assert "d" not in keys[0]


def test_the_persons_have_tenor_numbers_that_give_their_birth_dates():
    for entry in testidporten.persons():
        assert int(entry["pid"][2:4]) > 80
        assert authority.birth_date_from_pid(entry["pid"]) == date.fromisoformat(entry["birth_date"])


def test_the_portal_logs_in_through_it_and_gets_a_verified_person(idporten):
    marte = person("Marte Kommunedirektør")
    browser, answer = login(idporten, marte["pid"], email="marte@sjovik.example")
    assert answer.status_code == 200
    user = User.objects.get(email="marte@sjovik.example")
    assert (user.first_name, user.last_name) == ("Marte", "Kommunedirektør")
    identity = FederatedIdentity.objects.get(user=user)
    assert identity.provider == "idporten" and identity.pid_hash == pid_hash(marte["pid"])

    # A second login (the account exists now) leaves the verified person in the session, never the number.
    browser, answer = login(idporten, marte["pid"])
    stored = session_of(browser)
    verified = json.loads(stored[authority.SESSION_KEY])
    assert verified["name"] == "Marte Kommunedirektør"
    assert verified["birth_date"] == marte["birth_date"]
    assert verified["acr"] == "idporten-loa-high"
    assert abs(verified["auth_time"] - time.time()) < 60
    assert marte["pid"] not in json.dumps(stored)


def test_level_substantial_is_refused_by_the_portal(idporten):
    _browser, answer = login(idporten, person("Sara Saksbehandler")["pid"], level="idporten-loa-substantial")
    assert answer.status_code == 400
    assert not User.objects.exists()


def test_its_session_is_reused_unless_prompt_login(idporten, settings):
    browser, _ = login(idporten, person("Berit Ordfører")["pid"], email="berit@vidda.example")
    authorize = f"{idporten}/test-idporten/authorize"
    params = {
        "client_id": settings.TEST_IDPORTEN_CLIENT_ID,
        "redirect_uri": f"{idporten}/innlogging/idporten/callback/",
        "response_type": "code",
        "scope": "openid profile",
        "state": "s",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
        "acr_values": "idporten-loa-high",
    }
    again = browser.get(authorize, params=params, allow_redirects=False)
    assert again.status_code == 302 and "code=" in again.headers["Location"]
    fresh = browser.get(authorize, params={**params, "prompt": "login"}, allow_redirects=False)
    assert fresh.status_code == 200 and "Berit" in fresh.text  # the picker again

    stranger = requests.Session()
    silent = stranger.get(authorize, params={**params, "prompt": "none"}, allow_redirects=False)
    assert parse_qs(urlparse(silent.headers["Location"]).query)["error"] == ["login_required"]


def test_unknown_clients_and_foreign_redirects_are_refused_without_a_redirect(idporten, settings):
    base = {"response_type": "code", "scope": "openid", "code_challenge": "x" * 43, "state": "s"}
    for params in (
        {"client_id": "someone-else", "redirect_uri": f"{idporten}/innlogging/idporten/callback/"},
        {
            "client_id": settings.TEST_IDPORTEN_CLIENT_ID,
            "redirect_uri": "https://evil.example/innlogging/idporten/callback/",
        },
        {"client_id": settings.TEST_IDPORTEN_CLIENT_ID, "redirect_uri": f"{idporten}/elsewhere/"},
    ):
        answer = requests.get(
            f"{idporten}/test-idporten/authorize", params={**base, **params}, allow_redirects=False, timeout=5
        )
        assert answer.status_code == 400


def _code(idporten, settings, pid, verifier="v" * 50):
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    browser = requests.Session()
    redirect_uri = f"{idporten}/innlogging/idporten/callback/"
    page = browser.get(
        f"{idporten}/test-idporten/authorize",
        params={
            "client_id": settings.TEST_IDPORTEN_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid profile",
            "state": "s",
            "nonce": "n-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    data = {**hidden_fields(page.text), "pid": pid, "level": "idporten-loa-high", "action": "login"}
    answer = browser.post(page.url, data=data, headers={"Referer": page.url}, allow_redirects=False)
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    return code, redirect_uri, verifier


def test_the_token_endpoint_checks_the_client_the_code_and_pkce(idporten, settings):
    code, redirect_uri, verifier = _code(idporten, settings, MARTE)
    token_url = f"{idporten}/test-idporten/token"
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": settings.TEST_IDPORTEN_CLIENT_ID,
    }
    assert requests.post(token_url, data={**form, "client_secret": "wrong"}, timeout=5).status_code == 401
    assert (
        requests.post(
            token_url,
            data={**form, "client_secret": settings.TEST_IDPORTEN_CLIENT_SECRET, "code_verifier": "other"},
            timeout=5,
        ).json()["error"]
        == "invalid_grant"
    )
    good = requests.post(token_url, data={**form, "client_secret": settings.TEST_IDPORTEN_CLIENT_SECRET}, timeout=5)
    assert good.status_code == 400 and "used" in good.json()["error_description"]  # the bad PKCE try used it

    code, redirect_uri, verifier = _code(idporten, settings, MARTE)
    answer = requests.post(
        token_url,
        data={**form, "code": code, "client_secret": settings.TEST_IDPORTEN_CLIENT_SECRET},
        timeout=5,
    )
    assert answer.status_code == 200
    keys = requests.get(f"{idporten}/test-idporten/jwks", timeout=5).json()
    token = jwt.decode(answer.json()["id_token"], jwk.KeySet.import_key_set(keys), algorithms=["ES256"])
    claims = token.claims
    assert token.header["alg"] == "ES256"
    assert claims["iss"] == f"{idporten}/test-idporten" and claims["aud"] == settings.TEST_IDPORTEN_CLIENT_ID
    assert claims["pid"] == MARTE and claims["name"] == "Marte Kommunedirektør"
    assert (claims["given_name"], claims["family_name"]) == ("Marte", "Kommunedirektør")
    assert claims["acr"] == "idporten-loa-high" and claims["amr"] == ["TestID"] and claims["nonce"] == "n-1"
    assert claims["auth_time"] <= claims["iat"]
    again = requests.post(
        token_url, data={**form, "code": code, "client_secret": settings.TEST_IDPORTEN_CLIENT_SECRET}, timeout=5
    )
    assert again.json()["error"] == "invalid_grant"
