"""The whole first-time flow for a new municipality in Chromium, with the loopback provider playing ID-porten.

Sara Saksbehandler (no role anywhere) registers Sjøvik kommune and is only an applicant; she asks
Marte Kommunedirektør, Sjøvik's daglig leder in Enhetsregisteret, who gets an e-mailed link, logs in
with ID-porten, sees who asks and confirms; Marte signs the membership terms; NHN approves.
"""

import re

import pytest
from django.core import mail

from members import testidporten
from members.management.commands.seed_demo import DEMO_PASSWORD
from members.models import Affiliation, Membership, OrganisationClaim

from .conftest import assert_accessible, log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SJOVIK = "320000009"


def synthetic(name: str) -> dict:
    person = next(p for p in testidporten.persons() if testidporten.full_name(p) == name)
    return {"pid": person["pid"], "given_name": person["given_name"], "family_name": person["family_name"]}


@pytest.fixture
def idporten(settings, live_server, tmp_path, monkeypatch):
    """The loopback provider (npm's oidc-provider) as ID-porten, knowing Sara and Marte."""
    from members import oidc
    from tests.oidc_provider import server

    monkeypatch.setitem(server.ACCOUNTS, "sara", synthetic("Sara Saksbehandler"))
    monkeypatch.setitem(server.ACCOUNTS, "marte", synthetic("Marte Kommunedirektør"))
    provider = server.LoopbackProvider("idporten", live_server.url, tmp_path).start()
    settings.OIDC_PROVIDERS = {"idporten": provider.portal_settings()}
    oidc._discovery.clear()
    yield provider
    provider.stop()


@pytest.fixture
def new_page(browser):
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nb-NO")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def at_provider(page, account: str):
    """On the loopback provider's page: the test person, at level high."""
    page.get_by_label("Testperson").select_option(account)
    page.get_by_label("Sikkerhetsnivå").select_option("idporten-loa-high")
    with page.expect_navigation():
        page.get_by_role("button", name="Logg inn hos testleverandøren").click()


def complete_first_login(page, email: str):
    assert "/innlogging/fullfor/" in page.url
    page.get_by_label("Jobb-e-postadressen din").fill(email)
    with page.expect_navigation():
        page.get_by_role("button", name="Opprett kontoen min").click()


def test_a_new_municipality_claim_confirm_sign_approve(new_page, live_server, idporten, demo_data):
    # Sara logs in with ID-porten the first time and registers Sjøvik kommune: she becomes an applicant.
    sara = new_page()
    sara.goto(f"{live_server.url}/konto/login/")
    with sara.expect_navigation():
        sara.get_by_role("link", name="Logg inn med ID-porten").click()
    at_provider(sara, "sara")
    complete_first_login(sara, "sara@sjovik.example")
    sara.goto(f"{live_server.url}/medlemskap/registrer/")
    sara.get_by_label("Organisasjonsnummer").fill("320 000 009")
    sara.locator("button[value=check]").click()
    sara.locator("#registry-card").wait_for()
    with sara.expect_navigation():
        sara.locator("button[value=apply]").click()
    claim = OrganisationClaim.objects.get(organisation__org_number=SJOVIK)
    assert sara.url.endswith(f"/soknad/{claim.public_id}/")
    assert claim.state == OrganisationClaim.State.PENDING
    assert not Affiliation.objects.filter(organisation=claim.organisation).exists()
    assert "Marte Kommunedirektør" in sara.locator("main").inner_text()  # who can confirm, from Enhetsregisteret
    assert_accessible(sara)
    screenshot(sara, "claim-pending")
    # Nothing of Sjøvik is hers yet.
    assert sara.goto(f"{live_server.url}/medlem/{SJOVIK}/").status == 404
    assert sara.goto(f"{live_server.url}/bestillinger/{SJOVIK}/").status == 404

    # She asks the daglig leder, who gets a single-use link by e-mail.
    mail.outbox.clear()
    sara.goto(f"{live_server.url}/soknad/{claim.public_id}/")
    sara.locator("input[name=email]").fill("marte@sjovik.example")
    with sara.expect_navigation():
        sara.locator("form:has(input[name=email]) button[type=submit]").click()
    (message,) = [m for m in mail.outbox if m.to == ["marte@sjovik.example"]]
    link = re.search(r"(/soknad/bekreft/[^/\s]+/)", message.body).group(1)

    # Marte opens the link, logs in with ID-porten (first time: an e-mail address), steps up, and confirms.
    marte = new_page()
    marte.goto(f"{live_server.url}{link}")
    assert "sara@sjovik.example" in marte.locator("[data-testid=claim-ask]").inner_text()
    assert_accessible(marte)
    with marte.expect_navigation():
        marte.locator("main a.ds-button").click()
    at_provider(marte, "marte")
    complete_first_login(marte, "marte@sjovik.example")
    assert marte.url.endswith(link)
    if marte.locator("button[name=decision]").count() == 0:  # a first login proves no level yet: step up
        with marte.expect_navigation():
            marte.locator("main a.ds-button").click()
        at_provider(marte, "marte")
        assert marte.url.endswith(link)
    assert_accessible(marte)
    screenshot(marte, "claim-confirm")
    with marte.expect_navigation():
        marte.locator("button[name=decision][value=confirm]").click()
    assert marte.url.endswith(f"/medlemskap/{SJOVIK}/")
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.CONFIRMED
    assert claim.decided_how == OrganisationClaim.Decision.SIGNATORY
    assert Affiliation.objects.filter(organisation=claim.organisation, user=claim.claimant, role="admin").exists()
    assert Membership.objects.get(organisation=claim.organisation).state == Membership.State.APPLIED

    # Marte signs the membership terms.
    marte.locator("#state-heading ~ p a.ds-button").click()
    marte.wait_for_url(re.compile(r".*/vilkar/.*"))
    if marte.locator("input[name=confirm]").count() == 0:  # signing asks for a fresh high login
        with marte.expect_navigation():
            marte.locator("main a.ds-button[href*='hoyt-niva']").click()
        at_provider(marte, "marte")
    marte.locator("input[name=confirm]").check()
    marte.locator("form button[type=submit].ds-button[data-variant=primary]").click()
    marte.wait_for_url(f"**/medlemskap/{SJOVIK}/")
    assert Membership.objects.get(organisation=claim.organisation).state == Membership.State.PENDING_APPROVAL

    # NHN's customer centre approves.
    staff = new_page()
    log_in(staff, live_server, "kundesenter@nhn.example", DEMO_PASSWORD)
    staff.goto(f"{live_server.url}/kundesenter/medlemskap/")
    row = staff.locator("tr", has_text="Sjøvik kommune")
    row.locator("button[type=submit]").first.click()
    row.locator(".ds-tag[data-color=success]").wait_for()
    assert Membership.objects.get(organisation=claim.organisation).state == Membership.State.ACTIVE

    # Sara, now Sjøvik's administrator, sees the membership active.
    sara.goto(f"{live_server.url}/medlemskap/{SJOVIK}/")
    assert sara.locator("#state-heading ~ p .ds-tag[data-color=success]").is_visible()
    assert_accessible(sara)
    screenshot(sara, "first-time-member-active")


@pytest.fixture
def bundled_idporten(settings, live_server):
    """The quick start's ID-porten: the bundled test ID-porten on the portal's own (live) server."""
    from members import oidc

    settings.OIDC_PROVIDERS = {
        "idporten": {
            **settings.OIDC_PROVIDER_DEFAULTS["idporten"],
            "label": "ID-porten (test)",
            "issuer": f"{live_server.url}/test-idporten",
            "client_id": settings.TEST_IDPORTEN_CLIENT_ID,
            "client_secret": settings.TEST_IDPORTEN_CLIENT_SECRET,
            "private_key": "",
            "sign_algo": "ES256",
            **dict.fromkeys(
                ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint"),
                "",
            ),
        }
    }
    oidc._discovery.clear()


def pick_person(page, name: str):
    """On the bundled test ID-porten's page: the synthetic person, at level high."""
    assert "/test-idporten/authorize" in page.url
    page.locator("label", has_text=name).first.click()
    page.locator("select[name=level]").select_option("idporten-loa-high")
    with page.expect_navigation():
        page.locator("button[name=action][value=login]").click()


def test_the_readme_demo_walk_with_the_bundled_test_idporten(new_page, live_server, bundled_idporten, demo_data):
    """README's quick-start walk: claim → confirm → sign → approve → order, persons picked as it says."""
    sara = new_page()
    sara.goto(f"{live_server.url}/konto/login/")
    with sara.expect_navigation():
        sara.get_by_role("link", name="Logg inn med ID-porten (test)").click()
    assert_accessible(sara)  # the test ID-porten's person picker
    pick_person(sara, "Sara Saksbehandler")
    complete_first_login(sara, "sara@sjovik.example")
    sara.goto(f"{live_server.url}/medlemskap/registrer/?org_number=320000009")
    sara.locator("button[value=check]").click()
    sara.locator("#registry-card").wait_for()
    with sara.expect_navigation():
        sara.locator("button[value=apply]").click()
    claim = OrganisationClaim.objects.get(organisation__org_number=SJOVIK)
    mail.outbox.clear()
    sara.locator("input[name=email]").fill("marte@sjovik.example")
    with sara.expect_navigation():
        sara.locator("form:has(input[name=email]) button[type=submit]").click()
    (message,) = [m for m in mail.outbox if m.to == ["marte@sjovik.example"]]
    link = re.search(r"(/soknad/bekreft/[^/\s]+/)", message.body).group(1)

    marte = new_page()
    marte.goto(f"{live_server.url}{link}")
    with marte.expect_navigation():
        marte.locator("main a.ds-button").click()
    pick_person(marte, "Marte Kommunedirektør")
    complete_first_login(marte, "marte@sjovik.example")
    if marte.locator("button[name=decision]").count() == 0:
        with marte.expect_navigation():
            marte.locator("main a.ds-button").click()
        pick_person(marte, "Marte Kommunedirektør")  # prompt=login: the picker again
    with marte.expect_navigation():
        marte.locator("button[name=decision][value=confirm]").click()
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.CONFIRMED

    marte.locator("#state-heading ~ p a.ds-button").click()
    marte.wait_for_url(re.compile(r".*/vilkar/.*"))
    marte.locator("input[name=confirm]").check()
    marte.locator("form button[type=submit].ds-button[data-variant=primary]").click()
    marte.wait_for_url(f"**/medlemskap/{SJOVIK}/")
    membership = Membership.objects.get(organisation=claim.organisation)
    assert membership.state == Membership.State.PENDING_APPROVAL
    assert "Marte Kommunedirektør" in membership.acceptance.signer_name

    staff = new_page()
    log_in(staff, live_server, "kundesenter@nhn.example", DEMO_PASSWORD)
    staff.goto(f"{live_server.url}/kundesenter/medlemskap/")
    row = staff.locator("tr", has_text="Sjøvik kommune")
    row.locator("button[type=submit]").first.click()
    row.locator(".ds-tag[data-color=success]").wait_for()
    # NHN's own queue of applications to administer, with one waiting.
    from members.services import claim_submit
    from tests.factories import UserFactory

    claim_submit(org_number="320000017", user=UserFactory())
    staff.goto(f"{live_server.url}/kundesenter/soknader/")
    assert staff.locator("tr", has_text="Helse Nordvik HF").is_visible()
    assert_accessible(staff)

    # Sara, Sjøvik's administrator now, orders Journaling in test.
    from orders.models import Order

    sara.goto(f"{live_server.url}/bestillinger/{SJOVIK}/?miljo=test")
    sara.locator("#service-vkp-journaling button[type=submit]").click()
    sara.locator("#basket-heading ~ ul li:has-text('Journal')").wait_for()
    sara.locator(".basket form:not([hx-post]) button[type=submit]").click()
    sara.wait_for_url(f"**/medlem/{SJOVIK}/")
    order = Order.objects.get(organisation=claim.organisation)
    assert order.state != Order.State.DRAFT and order.service.code == "vkp-journaling"
