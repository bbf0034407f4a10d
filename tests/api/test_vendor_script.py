"""End to end: a vendor's own script, with requests-oauth2client and nothing of the portal's code,
gets a DPoP-bound HelseID token from the loopback token service and, over HTTP against the live
portal, registers a system, creates a multi-tenant client, uploads a public key and reads the
configuration. Then a vendor user's browser session shows the same on the pages."""

import pytest
import requests
from django.urls import reverse
from joserfc.jwk import ECKey

from members.models import TermsDocument, VendorAssignment, VendorSystem
from orders.catalogue import load_catalogue
from orders.models import HelseIdClient, Service
from tests.api.conftest import VENDOR_SCOPES
from tests.factories import OrganisationFactory, UserFactory


@pytest.fixture
def catalogue(transactional_db):
    load_catalogue(Service, TermsDocument)  # a live server's flush drops what data migrations made


def test_a_vendor_script_does_what_the_pages_do(live_server, catalogue, register, vendor, vendor_user, client):
    api_client = register(vendor.org_number, VENDOR_SCOPES, supplier=vendor.org_number, name="vendor-automation")
    token = api_client.token(VENDOR_SCOPES)  # requests-oauth2client: private_key_jwt + DPoP with nonce
    base = f"{live_server.url}/api/v1"
    session = requests.Session()
    session.auth = token  # the library adds Authorization: DPoP and a fresh proof (htm, htu, ath, jti) per call

    system = session.post(
        f"{base}/vendor/systems",
        json={
            "name": "Trygghetsalarm",
            "kind": "vft",
            "supported_services": [{"service": "vkp-journaling", "environment": "test"}],
        },
        headers={"Idempotency-Key": "system-1"},
        timeout=10,
    )
    assert system.status_code == 201, system.text
    municipality = OrganisationFactory(name="Nordvik kommune")
    VendorAssignment.objects.create(
        organisation=municipality,
        system=VendorSystem.objects.get(public_id=system.json()["id"]),
        environment="test",
        created_by=UserFactory(),
    )

    created = session.post(
        f"{base}/vendor/clients",
        json={"system": system.json()["id"], "environment": "test", "tenancy": "multi-tenant"},
        headers={"Idempotency-Key": "client-1"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]
    assert [t["org_number"] for t in created.json()["tenants"]] == [municipality.org_number]

    public = ECKey.generate_key("P-256", parameters={"kid": "nordvik-2026", "alg": "ES256", "use": "sig"}).as_dict(
        private=False
    )
    added = session.post(f"{base}/vendor/clients/{client_id}/keys", json={"jwk": public}, timeout=10)
    assert added.status_code == 201, added.text

    configuration = session.get(f"{base}/vendor/clients/{client_id}/configuration", timeout=10)
    assert configuration.status_code == 200, configuration.text
    listed = session.get(f"{base}/vendor/clients", timeout=10).json()["items"]
    assert [c["id"] for c in listed] == [client_id]

    # The pages show the same.
    helseid_client = HelseIdClient.objects.get(public_id=client_id)
    client.force_login(vendor_user)
    dashboard = client.get(reverse("vendor_dashboard", args=[vendor.org_number])).content.decode()
    assert "Trygghetsalarm" in dashboard
    assert reverse("api-v1:openapi-view") in dashboard
    detail = client.get(reverse("client_detail", args=[helseid_client.public_id])).content.decode()
    assert "nordvik-2026" in detail
    download = client.get(reverse("client_configuration", args=[helseid_client.public_id])).json()
    assert download == configuration.json()
    assert download["tenants"][0]["organizationNumber"] == municipality.org_number
