"""Single sign-on in Chromium against a real OpenID Connect provider (npm's oidc-provider) on loopback.

The portal's side is the real mozilla-django-oidc flow; the provider misbehaves only where a test
asks it to (tests/oidc_provider/provider.mjs).
"""

import json
import logging
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection

from members.identity import pid_hash
from members.models import Affiliation, FederatedIdentity, FederatedSession, User
from members.services import invitation_send
from portal.models import AuditEvent
from tests.factories import PASSWORD, AffiliationFactory, OrganisationFactory, UserFactory
from tests.oidc_provider.server import ACCOUNTS

from .conftest import assert_accessible, log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in_at_provider(page, account: str, acr: str = "idporten-loa-high"):
    """On the test provider's page: choose the test person and the security level."""
    page.get_by_label("Testperson").select_option(account)
    page.get_by_label("Sikkerhetsnivå").select_option(acr)
    with page.expect_navigation():
        page.get_by_role("button", name="Logg inn hos testleverandøren").click()


def start_login(page, live_server, provider_label: str) -> dict:
    """Click the provider's button on the login page; returns the authorization request's parameters."""
    page.goto(f"{live_server.url}/konto/login/")
    with page.expect_request(lambda request: "/auth?" in request.url) as authorization, page.expect_navigation():
        page.get_by_role("link", name=f"Logg inn med {provider_label}").click()
    return parse_qs(urlparse(authorization.value.url).query)


def everything_in_the_database() -> str:
    """Every row of every table as text, and every session decoded: where a leaked number would be."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608  (table names from the schema)
            chunks.extend(row[0] for row in cursor.fetchall())
    chunks.extend(json.dumps(session.get_decoded()) for session in Session.objects.all())
    return "\n".join(chunks)


def assert_logged_out(page):
    assert page.get_by_role("link", name="Logg inn").first.is_visible()


def test_first_login_with_helseid_creates_an_account_without_rights_then_logs_out_at_the_provider(
    page, live_server, federated_login, caplog, capfd
):
    caplog.set_level(logging.DEBUG)  # whatever the library or the portal logs, even at DEBUG
    pid = ACCOUNTS["ola"]["pid"]
    query = start_login(page, live_server, "HelseID")
    assert page.url.startswith(federated_login.helseid.issuer)
    # Pushed (PAR): the browser carries only the client and the pushed request's reference.
    assert set(query) == {"client_id", "request_uri"}
    assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    log_in_at_provider(page, "ola")

    # The first time, the portal asks for a work e-mail address; the name comes from HelseID.
    assert page.url.endswith("/innlogging/fullfor/")
    assert page.get_by_role("heading", level=1).inner_text() == "Fullfør kontoen din"
    assert page.get_by_text("Velkommen, Ola Nordmann.").is_visible()
    assert_accessible(page)
    page.get_by_label("Jobb-e-postadressen din").fill("ola.nordmann@kommune.example")
    with page.expect_navigation():
        page.get_by_role("button", name="Opprett kontoen min").click()

    user = User.objects.get(email="ola.nordmann@kommune.example")
    assert (user.first_name, user.last_name) == ("Ola", "Nordmann")
    assert not user.has_usable_password()
    assert list(FederatedIdentity.objects.filter(user=user).values_list("provider", "pid_hash")) == [
        ("helseid", pid_hash(pid))
    ]
    assert not Affiliation.objects.filter(user=user).exists()  # no organisation rights by logging in
    login = AuditEvent.objects.filter(action="user.logged_in", actor=user).get()
    assert login.after == {"method": "helseid"}
    # The session is known by HelseID's sid and sub (hashed), for back-channel logout.
    assert FederatedSession.objects.filter(user=user, provider="helseid").count() == 1
    screenshot(page, "federated-first-login")

    # The national identity number is nowhere in the database, nor in any log line.
    stored = everything_in_the_database()
    assert pid not in stored
    assert pid_hash(pid) in stored
    captured = capfd.readouterr()
    assert pid not in caplog.text and pid not in captured.out and pid not in captured.err
    assert pid not in str(page.context.cookies())  # the ID token cookie is encrypted

    # Logging out ends the session here and at the provider, which sends the browser back.
    with page.expect_navigation():
        page.get_by_role("button", name="Logg ut").click()
    assert page.url.startswith(f"{federated_login.helseid.issuer}/session/end")
    with page.expect_navigation(url=f"{live_server.url}/"):
        page.get_by_role("button", name="Ja, logg ut").click()
    assert page.get_by_text("Du er logget ut.").is_visible()
    assert_logged_out(page)
    assert AuditEvent.objects.filter(action="user.logged_out", actor=user).exists()
    assert not FederatedSession.objects.exists()  # forgotten with the session

    # Next time the same person is recognised by the hash: no question, straight in.
    start_login(page, live_server, "HelseID")
    log_in_at_provider(page, "ola")
    assert page.url == f"{live_server.url}/"
    assert page.get_by_role("button", name="Logg ut").is_visible()
    assert User.objects.filter(first_name="Ola").count() == 1


def test_an_invitation_binds_its_role_at_the_first_login_with_id_porten(page, live_server, federated_login):
    municipality = OrganisationFactory(name="Testkommune Solvik")
    admin = AffiliationFactory(organisation=municipality, role=Affiliation.Role.ADMIN).user
    _invitation, token = invitation_send(
        organisation=municipality, email="kari@solvik.example", role=Affiliation.Role.SIGNATORY, by=admin
    )

    page.goto(f"{live_server.url}/invitasjon/{token}/")
    assert page.get_by_text("inviterer deg til å være signaturberettiget i Testkommune Solvik").is_visible()
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Logg inn med ID-porten").click()
    log_in_at_provider(page, "kari")

    assert page.url == f"{live_server.url}/medlem/{municipality.org_number}/"
    assert page.get_by_text("Du er nå signaturberettiget i Testkommune Solvik.").is_visible()
    kari = User.objects.get(email="kari@solvik.example")
    assert Affiliation.objects.filter(user=kari, organisation=municipality, role=Affiliation.Role.SIGNATORY).exists()
    assert kari.federated_identities.get().provider == "idporten"

    # The link works once.
    page.goto(f"{live_server.url}/invitasjon/{token}/")
    assert page.get_by_text("Denne invitasjonen er allerede brukt.").is_visible()


def test_a_tampered_state_is_refused_with_a_clear_page(page, live_server, federated_login):
    def tamper_state(route):
        # Follow the provider's redirects by hand (browsers do not let a test touch a redirect): the
        # last one carries code and state back to the portal. Send the browser there with another state.
        location = route.fetch(max_redirects=0).headers["location"]
        while not location.startswith(live_server.url):
            issuer = federated_login.helseid.issuer
            location = page.request.get(urljoin(issuer, location), max_redirects=0).headers["location"]
        callback = urlparse(location)
        query = parse_qs(callback.query)
        assert query["code"] and query["state"]
        query["state"] = ["a-state-this-browser-never-sent"]
        route.fulfill(status=303, headers={"location": callback._replace(query=urlencode(query, doseq=True)).geturl()})

    page.route(
        f"{federated_login.helseid.issuer}/interaction/*",
        lambda route: tamper_state(route) if route.request.method == "POST" else route.continue_(),
    )
    start_login(page, live_server, "HelseID")
    log_in_at_provider(page, "ola")

    assert page.get_by_role("heading", level=1).inner_text() == "Innlogging avvist"
    assert page.get_by_text("«state»-kontrollen feilet").is_visible()
    assert_logged_out(page)
    assert AuditEvent.objects.filter(action="login.refused", after__reason="state").exists()
    assert_accessible(page)


@pytest.mark.parametrize(
    ("mode", "reason", "message"),
    [
        ("wrong-nonce", "nonce", "«nonce»-kontrollen feilet"),
        ("expired", "expired", "ID-tokenet er utløpt"),
        ("bad-signature", "signature", "ID-tokenets signatur kunne ikke verifiseres"),
        ("wrong-audience", "claims", "ble ikke utstedt av denne identitetsleverandøren for denne portalen"),
    ],
)
def test_a_misbehaving_id_token_is_refused_with_a_clear_page(page, live_server, federated_login, mode, reason, message):
    federated_login.idporten.next_id_token(mode)
    start_login(page, live_server, "ID-porten")
    log_in_at_provider(page, "kari")

    assert "/innlogging/idporten/callback/" in page.url
    assert page.get_by_role("heading", level=1).inner_text() == "Innlogging avvist"
    assert page.get_by_text(message).is_visible()
    assert_logged_out(page)
    assert not User.objects.filter(first_name="Kari").exists()
    assert AuditEvent.objects.filter(action="login.refused", after__reason=reason).exists()
    screenshot(page, f"federated-refused-{mode}")


def known_person(account: str, provider: str, **fields) -> User:
    """A person who has logged in before: the portal knows the hash of their number."""
    user = UserFactory(**fields)
    FederatedIdentity.objects.create(user=user, provider=provider, pid_hash=pid_hash(ACCOUNTS[account]["pid"]))
    return user


def expire_id_token(page, live_server):
    session_key = next(c["value"] for c in page.context.cookies(live_server.url) if c["name"] == "sessionid")
    session = SessionStore(session_key)
    session["oidc_id_token_expiration"] = 0
    session.save()


@pytest.mark.parametrize(("label", "provider"), [("ID-porten", "idporten"), ("HelseID", "helseid")])
def test_an_expired_session_is_rechecked_silently_and_ends_when_the_provider_session_has(
    page, live_server, federated_login, label, provider
):
    municipality = OrganisationFactory(name="Testkommune Fjellvik")
    kari = known_person("kari", provider)
    AffiliationFactory(user=kari, organisation=municipality, role=Affiliation.Role.VIEWER)
    dashboard = f"{live_server.url}/medlem/{municipality.org_number}/"
    start_login(page, live_server, label)
    log_in_at_provider(page, "kari")
    assert page.url == dashboard

    # The ID token's time is up: the next page asks the provider again with prompt=none, unseen.
    expire_id_token(page, live_server)
    with page.expect_request(lambda request: "prompt=none" in request.url):
        page.goto(dashboard)
    page.wait_for_url(dashboard)
    assert page.get_by_role("heading", level=1).inner_text() == "Testkommune Fjellvik"

    # The session at the provider ends (its cookies are gone): the portal logs the person out.
    page.context.clear_cookies(domain="127.0.0.1")
    expire_id_token(page, live_server)
    page.goto(dashboard)
    assert page.get_by_role("heading", level=1).inner_text() == "Innlogging avvist"
    assert page.get_by_text("Økten din hos identitetsleverandøren er avsluttet").is_visible()
    page.goto(dashboard)
    assert "/konto/login/" in page.url


@pytest.mark.parametrize(
    ("label", "account", "acr"),
    [("ID-porten", "kari", "idporten-loa-substantial"), ("HelseID", "lav", "idporten-loa-high")],
    ids=["id-porten-substantial", "helseid-level-3"],
)
def test_a_login_below_the_required_security_level_is_refused(page, live_server, federated_login, label, account, acr):
    start_login(page, live_server, label)
    log_in_at_provider(page, account, acr=acr)
    assert page.get_by_text("ikke gjort på et høyt nok sikkerhetsnivå").is_visible()
    assert_logged_out(page)
    assert not FederatedIdentity.objects.exists()


def test_a_client_assertion_signed_with_another_key_is_refused_at_the_pushed_request(
    page, live_server, federated_login, settings
):
    from joserfc.jwk import RSAKey

    other_key = RSAKey.generate_key(2048, parameters={"kid": "portal-1", "alg": "PS256"})
    settings.OIDC_PROVIDERS["helseid"]["private_key"] = json.dumps(other_key.as_dict(private=True))
    known_person("ola", "helseid")
    page.goto(f"{live_server.url}/konto/login/")
    with page.expect_navigation():
        page.get_by_role("link", name="Logg inn med HelseID").click()
    assert page.url == f"{live_server.url}/innlogging/helseid/"  # never sent to the provider
    assert page.get_by_text("avviste portalens forhåndsinnsendte autorisasjonsforespørsel (PAR)").is_visible()
    assert AuditEvent.objects.filter(action="login.refused", after__reason="par").exists()
    assert_logged_out(page)


def test_a_local_account_links_helseid_and_then_logs_in_with_it(page, live_server, federated_login):
    user = UserFactory(email="per@kommune.example", first_name="Per", last_name="Hansen")
    log_in(page, live_server, user.email, PASSWORD)
    page.goto(f"{live_server.url}/innlogging/metoder/")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Koble HelseID til denne kontoen").click()
    log_in_at_provider(page, "ola")
    assert page.url == f"{live_server.url}/innlogging/metoder/"
    assert page.get_by_text("HelseID: koblet til").is_visible()
    assert user.federated_identities.get().pid_hash == pid_hash(ACCOUNTS["ola"]["pid"])
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Ola", "Nordmann")  # names from HelseID replace typed ones

    page.context.clear_cookies()
    start_login(page, live_server, "HelseID")
    log_in_at_provider(page, "ola")
    assert page.get_by_role("button", name="Logg ut").is_visible()
    assert User.objects.count() == 1
