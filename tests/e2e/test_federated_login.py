"""Single sign-on in Chromium against a real OpenID Connect provider (npm's oidc-provider) on loopback.

The portal's side is the real mozilla-django-oidc flow; the provider misbehaves only where a test
asks it to (tests/oidc_provider/provider.mjs).
"""

import json
import logging
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import pytest
from django.contrib.sessions.models import Session
from django.db import connection

from members.identity import pid_hash
from members.models import Affiliation, FederatedIdentity, User
from members.services import invitation_send
from portal.models import AuditEvent
from tests.factories import AffiliationFactory, OrganisationFactory
from tests.oidc_provider.server import ACCOUNTS

from .conftest import assert_accessible, screenshot

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
    assert page.url.startswith(federated_login.issuer)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
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
    screenshot(page, "federated-first-login")

    # The national identity number is nowhere in the database, nor in any log line.
    stored = everything_in_the_database()
    assert pid not in stored
    assert pid_hash(pid) in stored
    captured = capfd.readouterr()
    assert pid not in caplog.text and pid not in captured.out and pid not in captured.err
    assert pid not in page.context.cookies().__repr__()  # the ID token cookie is encrypted

    # Logging out ends the session here and at the provider, which sends the browser back.
    with page.expect_navigation():
        page.get_by_role("button", name="Logg ut").click()
    assert page.url.startswith(f"{federated_login.issuer}/session/end")
    with page.expect_navigation(url=f"{live_server.url}/"):
        page.get_by_role("button", name="Ja, logg ut").click()
    assert page.get_by_text("Du er logget ut.").is_visible()
    assert_logged_out(page)
    assert AuditEvent.objects.filter(action="user.logged_out", actor=user).exists()

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
            location = page.request.get(urljoin(federated_login.issuer, location), max_redirects=0).headers["location"]
        callback = urlparse(location)
        query = parse_qs(callback.query)
        assert query["code"] and query["state"]
        query["state"] = ["a-state-this-browser-never-sent"]
        route.fulfill(status=303, headers={"location": callback._replace(query=urlencode(query, doseq=True)).geturl()})

    page.route(
        f"{federated_login.issuer}/interaction/*",
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
    federated_login.next_id_token(mode)
    start_login(page, live_server, "ID-porten")
    log_in_at_provider(page, "kari")

    assert "/innlogging/idporten/callback/" in page.url
    assert page.get_by_role("heading", level=1).inner_text() == "Innlogging avvist"
    assert page.get_by_text(message).is_visible()
    assert_logged_out(page)
    assert not User.objects.filter(first_name="Kari").exists()
    assert AuditEvent.objects.filter(action="login.refused", after__reason=reason).exists()
    screenshot(page, f"federated-refused-{mode}")
