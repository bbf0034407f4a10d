"""In Chromium: a municipality registers a vendor system; the vendor sees it, makes a key pair in the
browser, uploads only the public half and downloads the HelseID client configuration."""

import json
from pathlib import Path

import pytest

from members.management.commands.seed_demo import DEMO_PASSWORD
from orders.models import ClientKey

from .conftest import assert_accessible, log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_vendor_gets_a_client_configuration_for_its_new_tenant(browser, live_server, demo_data):
    def new_page(email):
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="nb-NO", accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        log_in(page, live_server, email, DEMO_PASSWORD)
        return context, page

    # Vidda registers Trygghetsvakta's response centre for the test environment.
    admin_context, admin = new_page("admin@vidda.example")
    admin.locator("#systems-heading ~ details summary").click()
    choice = admin.locator("#id_system option", has_text="Trygghetsvakta Responssenter").get_attribute("value")
    admin.locator("#id_system").select_option(choice)
    with admin.expect_navigation():
        admin.locator("#systems-heading ~ details button[type=submit]").click()
    assert "Trygghetsvakta Responssenter" in admin.locator("#systems-heading ~ .basket-list").inner_text()

    # The vendor now sees Vidda and creates a multi-tenant client for the test environment.
    vendor_context, vendor = new_page("utvikler@trygghetsvakta.example")
    assert "Vidda kommune" in vendor.locator("#tenants-heading").locator("..").inner_text()
    vendor.locator("#clients-heading ~ details summary").click()
    vendor.locator("#clients-heading ~ details #id_system").select_option(index=1)
    with vendor.expect_navigation():
        vendor.locator("#clients-heading ~ details button[type=submit]").click()
    assert "/klienter/" in vendor.url
    assert_accessible(vendor)

    # The key pair is made in the browser; the private half is downloaded, never sent.
    sent_bodies = []
    vendor.on("request", lambda request: sent_bodies.append(request.post_data or ""))
    vendor.locator("#keygen-generate").click()
    download_link = vendor.locator("#keygen-download")
    download_link.wait_for(state="visible")
    with vendor.expect_download() as private_download:
        download_link.click()
    private_jwk = json.loads(Path(private_download.value.path()).read_text())
    assert "d" in private_jwk
    public_jwk = json.loads(vendor.locator("#id_keys").input_value())
    assert "d" not in public_jwk and public_jwk["kid"] == private_jwk["kid"]
    with vendor.expect_navigation():
        vendor.locator("#key-upload button[type=submit]").click()
    assert ClientKey.objects.get().kid == private_jwk["kid"]
    assert not any(private_jwk["d"] in body for body in sent_bodies)
    screenshot(vendor, "vendor-client")

    with vendor.expect_download() as config_download:
        vendor.get_by_role("link", name="Last ned konfigurasjonen (JSON)").click()
    config = json.loads(Path(config_download.value.path()).read_text())
    assert config["publicKeyIds"] == [private_jwk["kid"]]
    assert config["dpopRequired"] is True
    tenants = {t["organizationNumber"]: t["scopes"] for t in config["tenants"]}
    assert tenants["310000019"] == []  # Vidda has ordered nothing yet
    assert tenants["313231593"] == ["nhn:jft/api", "nhn:pit/api.read"]  # Nordvik: Journaling and Patient active
    config_text = json.dumps(config)
    assert private_jwk["d"] not in config_text and '"d":' not in config_text
    assert config["privateJwk"].startswith("<")  # HelseID's field, only a placeholder: the portal has no key
    admin_context.close()
    vendor_context.close()
