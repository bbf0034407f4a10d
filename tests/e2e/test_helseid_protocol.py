"""HelseID as it runs in late 2026, in Chromium against the loopback provider in strict HelseID mode.

The provider requires PAR, a DPoP proof with its nonce on the token call, signs ID tokens PS256,
accepts a client assertion's jti once and sends back-channel logout tokens
(tests/oidc_provider/provider.mjs). ID-porten's provider has no PAR and signs RS256.
"""

import pytest

from members.models import FederatedSession
from portal.models import AuditEvent

from .conftest import assert_accessible, screenshot
from .test_federated_login import assert_logged_out, known_person, log_in_at_provider, start_login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_helseid_token_call_carries_dpop_and_retries_once_with_the_nonce_and_a_new_assertion(
    page, live_server, federated_login
):
    known_person("ola", "helseid")
    query = start_login(page, live_server, "HelseID")
    assert set(query) == {"client_id", "request_uri"}  # pushed (PAR)
    log_in_at_provider(page, "ola")
    assert page.url == f"{live_server.url}/"
    assert page.get_by_role("button", name="Logg ut").is_visible()

    first, second = federated_login.helseid.calls()["token"]
    assert (first["status"], first["error"]) == (400, "use_dpop_nonce")
    assert (second["status"], second["token_type"]) == (200, "DPoP")
    token_endpoint = f"{federated_login.helseid.issuer}/token"
    for call in (first, second):
        assert call["dpop_header"]["typ"] == "dpop+jwt" and call["dpop_header"]["alg"] == "ES256"
        assert "d" not in call["dpop_header"]["jwk"]  # the public half only
        assert call["dpop"]["htm"] == "POST" and call["dpop"]["htu"] == token_endpoint and call["dpop"]["iat"]
        assertion = call["assertion"]
        assert assertion["iss"] == assertion["sub"] == "portal-helseid"
        assert assertion["exp"] - assertion["iat"] <= 60
    assert "nonce" not in first["dpop"] and second["dpop"]["nonce"]
    assert first["dpop"]["jti"] != second["dpop"]["jti"]
    assert first["assertion"]["jti"] != second["assertion"]["jti"]  # a new assertion for the retry
    assert first["dpop_header"]["jwk"] == second["dpop_header"]["jwk"]  # one key for the login


def test_id_porten_without_a_par_endpoint_gets_the_request_in_the_browser(page, live_server, federated_login):
    known_person("kari", "idporten")
    query = start_login(page, live_server, "ID-porten")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["acr_values"] == ["idporten-loa-high"]
    log_in_at_provider(page, "kari")  # an RS256 ID token, allowed for ID-porten
    assert page.get_by_role("button", name="Logg ut").is_visible()


def refuse_par(providers):
    providers.helseid.next_par("refuse")


def refuse_dpop(providers):
    providers.helseid.next_token("reject-dpop")


def nonce_loop(providers):
    providers.helseid.next_token("nonce-loop")


def rs256_id_token(providers):
    providers.helseid.next_id_token("rs256")


@pytest.mark.parametrize(
    ("misbehave", "reason", "message"),
    [
        (refuse_par, "par", "avviste portalens forhåndsinnsendte autorisasjonsforespørsel (PAR)"),
        (refuse_dpop, "dpop", "avviste portalens bevis på nøkkelbesittelse (DPoP)"),
        (nonce_loop, "dpop_nonce", "ba om en ny DPoP-nonce gang på gang"),
        (rs256_id_token, "algorithm", "signert med en algoritme portalen ikke godtar"),
    ],
    ids=["par-refused", "dpop-refused", "nonce-loop", "rs256-id-token"],
)
def test_each_helseid_protocol_failure_ends_on_its_own_refusal_page(
    page, live_server, federated_login, misbehave, reason, message
):
    known_person("ola", "helseid")
    misbehave(federated_login)
    page.goto(f"{live_server.url}/konto/login/")
    with page.expect_navigation():
        page.get_by_role("link", name="Logg inn med HelseID").click()
    if reason != "par":
        log_in_at_provider(page, "ola")
        assert "/innlogging/helseid/callback/" in page.url
    assert page.get_by_role("heading", level=1).inner_text() == "Innlogging avvist"
    assert page.get_by_text(message).is_visible()
    assert page.get_by_text(f"Årsakskode: {reason}.").is_visible()
    assert_logged_out(page)
    assert AuditEvent.objects.filter(action="login.refused", after__reason=reason).exists()
    if reason == "dpop_nonce":
        assert len(federated_login.helseid.calls()["token"]) == 2  # one retry, then stop
    assert_accessible(page)
    screenshot(page, f"helseid-refused-{reason}")


@pytest.mark.parametrize(
    ("label", "account", "setting", "reason", "message"),
    [
        ("HelseID", "ola", ("helseid", "dpop", "off"), "dpop", "avviste portalens bevis på nøkkelbesittelse (DPoP)"),
        ("ID-porten", "kari", ("idporten", "allow_rs256", False), "algorithm", "signert med en algoritme"),
    ],
    ids=["helseid-without-dpop", "id-porten-rs256-not-allowed"],
)
def test_a_portal_set_up_against_the_provider_ends_on_the_matching_refusal(
    page, live_server, federated_login, settings, label, account, setting, reason, message
):
    provider, key, value = setting
    settings.OIDC_PROVIDERS[provider][key] = value
    known_person(account, provider)
    start_login(page, live_server, label)
    log_in_at_provider(page, account)
    assert page.get_by_text(message).is_visible()
    assert page.get_by_text(f"Årsakskode: {reason}.").is_visible()
    assert_logged_out(page)
    assert AuditEvent.objects.filter(action="login.refused", after__reason=reason).exists()


def log_in_in_new_context(browser, live_server, label: str, account: str):
    context = browser.new_context(locale="nb-NO")
    page = context.new_page()
    page.set_default_timeout(15_000)
    start_login(page, live_server, label)
    log_in_at_provider(page, account)
    assert page.get_by_role("button", name="Logg ut").is_visible()
    return page


def logged_in(page, live_server) -> bool:
    page.goto(f"{live_server.url}/")
    return page.get_by_role("button", name="Logg ut").is_visible()


def log_out_at_the_provider(page, issuer: str):
    """The person logs out at the provider itself (not through the portal)."""
    page.goto(f"{issuer}/session/end")
    with page.expect_navigation():
        page.get_by_role("button", name="Ja, logg ut").click()


def test_logging_out_at_the_provider_ends_every_portal_session_of_that_person_from_it(
    page, browser, live_server, federated_login
):
    ola = known_person("ola", "helseid")
    ola.federated_identities.create(provider="idporten", pid_hash=ola.federated_identities.get().pid_hash)
    start_login(page, live_server, "HelseID")
    log_in_at_provider(page, "ola")
    other_browser = log_in_in_new_context(browser, live_server, "HelseID", "ola")
    through_id_porten = log_in_in_new_context(browser, live_server, "ID-porten", "ola")
    assert FederatedSession.objects.filter(user=ola, provider="helseid").count() == 2
    assert not FederatedSession.objects.filter(sub_hash="ola").exists()  # keyed hashes, not HelseID's values

    log_out_at_the_provider(page, federated_login.helseid.issuer)
    sent = federated_login.helseid.calls()["backchannel"]
    assert [(entry["ok"], entry["client"]) for entry in sent] == [(True, "portal-helseid")], sent
    assert not logged_in(page, live_server)
    assert not logged_in(other_browser, live_server)  # the other HelseID session ended too
    assert logged_in(through_id_porten, live_server)  # another provider's session is not HelseID's to end
    event = AuditEvent.objects.get(action="user.logged_out_by_provider")
    assert (event.actor, event.after) == (ola, {"provider": "helseid", "sessions": 2})

    # ID-porten's back-channel logout works the same way.
    log_out_at_the_provider(through_id_porten, federated_login.idporten.issuer)
    assert not logged_in(through_id_porten, live_server)
    assert not FederatedSession.objects.exists()
    other_browser.context.close()
    through_id_porten.context.close()


def test_par_forced_for_a_provider_without_the_endpoint_is_refused(client, federated_login, settings):
    settings.OIDC_PROVIDERS["idporten"]["par"] = "on"
    response = client.get("/innlogging/idporten/")
    assert response.status_code == 400
    assert "Reason code: par." in response.text or "Årsakskode: par." in response.text
    assert AuditEvent.objects.filter(action="login.refused", after__reason="par").exists()


def test_par_turned_off_sends_the_whole_request_through_the_browser(client, federated_login, settings):
    from urllib.parse import parse_qs, urlparse

    settings.OIDC_PROVIDERS["helseid"]["par"] = "off"
    response = client.get("/innlogging/helseid/")
    assert response.status_code == 302
    query = parse_qs(urlparse(response["Location"]).query)
    assert query["client_id"] == ["portal-helseid"] and query["code_challenge"] and "request_uri" not in query
