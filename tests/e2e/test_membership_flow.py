"""The whole membership flow in Chromium: apply, step up with ID-porten, sign, approve, see it active, download
the receipt. ID-porten is the loopback OpenID Connect provider (tests/oidc_provider/provider.mjs)."""

import re
from urllib.parse import parse_qs, urlparse

import pytest
from pypdf import PdfReader

from members.management.commands.seed_demo import DEMO_PASSWORD
from members.models import Membership

from .conftest import assert_accessible, log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIDDA = "310000019"


@pytest.fixture
def as_person(browser, live_server):
    """A fresh browser context per person, logged in."""
    contexts = []

    def open_as(email):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nb-NO", accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        log_in(page, live_server, email, DEMO_PASSWORD)
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_a_municipality_becomes_a_member(as_person, live_server, demo_data, federated_login):
    # The administrator looks the organisation up and applies.
    admin = as_person("admin@vidda.example")
    admin.goto(f"{live_server.url}/medlemskap/registrer/")
    admin.get_by_label("Organisasjonsnummer").fill("310 000 019")
    admin.locator("button[value=check]").click()
    result = admin.locator("#registry-card")
    result.wait_for()
    assert "Vidda kommune" in result.inner_text()
    assert admin.url.endswith("/medlemskap/registrer/")  # htmx: no page load
    # Focus moves to the answer (htmx focuses [autofocus]; hx-on would need eval, which the CSP refuses).
    admin.wait_for_function("document.activeElement && document.activeElement.id === 'registry-card'")
    screenshot(admin, "membership-lookup")
    assert_accessible(admin)
    admin.locator("button[value=apply]").click()
    admin.wait_for_url(f"**/medlemskap/{VIDDA}/")
    assert Membership.objects.get(organisation__org_number=VIDDA).state == Membership.State.APPLIED

    # The signatory registered in Enhetsregisteret reads the terms; signing asks ID-porten who she is first.
    signatory = as_person("signatar@vidda.example")
    signatory.goto(f"{live_server.url}/medlemskap/{VIDDA}/")
    signatory.locator("#state-heading ~ p a.ds-button").click()
    signatory.wait_for_url(re.compile(r".*/vilkar/.*"))
    terms_url = signatory.url
    assert signatory.get_by_role("heading", name="Signering krever ID-porten på høyt nivå").is_visible()
    assert signatory.locator("input[name=confirm]").count() == 0  # her typed name proves nothing
    assert_accessible(signatory)
    with signatory.expect_request(lambda request: "/auth?" in request.url) as authorization:
        signatory.get_by_role("link", name="Logg inn med ID-porten for å signere").click()
    query = parse_qs(urlparse(authorization.value.url).query)
    assert query["acr_values"] == ["idporten-loa-high"] and query["prompt"] == ["login"]
    # At ID-porten (the loopback provider): Berit Ordfører, as the register knows her, at level high.
    signatory.get_by_label("Testperson").select_option("beritordfører")
    signatory.get_by_label("Sikkerhetsnivå").select_option("idporten-loa-high")
    with signatory.expect_navigation():
        signatory.get_by_role("button", name="Logg inn hos testleverandøren").click()
    signatory.wait_for_url(terms_url)
    assert signatory.get_by_text("ID-porten identifiserte deg som Berit Ordfører").is_visible()
    assert_accessible(signatory)
    signatory.locator("input[name=confirm]").check()
    signatory.locator("form button[type=submit].ds-button[data-variant=primary]").click()
    signatory.wait_for_url(f"**/medlemskap/{VIDDA}/")
    assert Membership.objects.get(organisation__org_number=VIDDA).state == Membership.State.PENDING_APPROVAL

    # NHN's customer centre approves from the queue, without a page reload.
    staff = as_person("kundesenter@nhn.example")
    staff.goto(f"{live_server.url}/kundesenter/medlemskap/")
    row = staff.locator("tr", has_text="Vidda kommune")
    assert_accessible(staff)
    queue_url = staff.url
    row.locator("button[type=submit]").first.click()
    row.locator(".ds-tag[data-color=success]").wait_for()
    assert staff.url == queue_url
    screenshot(staff, "membership-approved-in-queue")
    assert Membership.objects.get(organisation__org_number=VIDDA).state == Membership.State.ACTIVE

    # The administrator sees the membership active and downloads the receipt.
    admin.goto(f"{live_server.url}/medlemskap/{VIDDA}/")
    assert admin.locator("#state-heading ~ p .ds-tag[data-color=success]").is_visible()
    assert_accessible(admin)
    screenshot(admin, "membership-active")
    with admin.expect_download() as download_info:
        admin.locator("a[href*='/medlemskap/kvittering/']").first.click()
    pdf = download_info.value
    assert pdf.suggested_filename.startswith(f"kvittering-{VIDDA}-")
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(pdf.path()).pages)
    assert "Vidda kommune" in text and "Berit Ordfører" in text and "ID-porten, idporten-loa-high" in text
