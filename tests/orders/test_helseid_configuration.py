"""The configuration file and sheet a vendor gets: what a token call needs, said the same way in
the JSON, the English sheet and the bokmål sheet."""

import io
import json

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from joserfc.jwk import ECKey
from pypdf import PdfReader

from members.models import SupportedService, VendorAssignment, VendorSystem
from orders import helseid
from orders.models import Order, Service
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


def ec_jwk(kid="key-1"):
    return {**ECKey.generate_key("P-256").as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}


@pytest.fixture
def system(vendor):
    system = VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm Pro", kind="vft")
    for code in ("vkp-journaling", "vkp-patient"):
        SupportedService.objects.create(system=system, service=Service.objects.get(code=code), environment="test")
    return system


def using(system, name, org_number, **extra):
    organisation = OrganisationFactory(name=name, org_number=org_number, **extra)
    VendorAssignment.objects.create(
        organisation=organisation, system=system, environment="test", created_by=UserFactory()
    )
    return organisation


def active(organisation, *codes):
    for code in codes:
        Order.objects.create(
            organisation=organisation,
            service=Service.objects.get(code=code),
            environment="test",
            state="active",
            created_by=UserFactory(),
        )


DETAILS_NORDVIK = [
    {
        "type": "helseid_authorization",
        "practitioner_role": {
            "organization": {"identifier": {"system": "urn:oid:1.0.6523", "type": "ENH", "value": "NO:ORGNR:313231593"}}
        },
    }
]


def test_a_multi_tenant_configuration_has_assertion_details_and_scopes_per_api(system, vendor_user):
    nordvik = using(system, "Testkommune Nordvik", "313231593")
    fjordheim = using(system, "Fjordheim kommune", "320000017")
    active(nordvik, "vkp-journaling", "vkp-patient")
    active(fjordheim, "vkp-journaling")
    client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )

    config = helseid.configuration(client)

    assert config["apis"] == [
        {"audience": "nhn:jft", "scopes": ["nhn:jft/api"]},
        {"audience": "nhn:pit", "scopes": ["nhn:pit/api.read"]},
    ]
    by_number = {t["organizationNumber"]: t for t in config["tenants"]}
    assert by_number["313231593"]["assertionDetails"] == DETAILS_NORDVIK
    assert by_number["320000017"]["assertionDetails"][0]["practitioner_role"]["organization"]["identifier"][
        "value"
    ] == ("NO:ORGNR:320000017")
    assert by_number["320000017"]["apis"] == [{"audience": "nhn:jft", "scopes": ["nhn:jft/api"]}]
    assert "One token per API" in config["notes"]["apis"] or "Ett token per API" in config["notes"]["apis"]
    assert config["pkceRequired"] is True
    assert config["privateJwk"] == helseid.PRIVATE_JWK_PLACEHOLDER
    assert config["clientAssertion"]["uniqueJti"] is True


def test_tenants_sharing_a_service_set_each_get_that_set_and_the_download_says_the_same(client, system, vendor_user):
    # The file is built with one scope list per service set, shared by the tenants that have it.
    first = using(system, "Aust kommune", "320000025")
    second = using(system, "Berg kommune", "320000033")
    third = using(system, "Dal kommune", "320000041")
    without = using(system, "Elv kommune", "320000068")
    active(first, "vkp-journaling", "vkp-patient")
    active(second, "vkp-journaling")
    active(third, "vkp-patient", "vkp-journaling")
    helseid_client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    client.force_login(vendor_user)

    response = client.get(reverse("client_configuration", args=[helseid_client.public_id]))

    by_number = {t["organizationNumber"]: t for t in json.loads(response.content)["tenants"]}
    both = ["nhn:jft/api", "nhn:pit/api.read"]
    assert by_number[first.org_number]["scopes"] == by_number[third.org_number]["scopes"] == both
    assert by_number[second.org_number]["scopes"] == ["nhn:jft/api"]
    assert by_number[second.org_number]["apis"] == [{"audience": "nhn:jft", "scopes": ["nhn:jft/api"]}]
    assert by_number[without.org_number]["scopes"] == [] and by_number[without.org_number]["apis"] == []
    assert [t["name"] for t in by_number.values()] == ["Aust kommune", "Berg kommune", "Dal kommune", "Elv kommune"]


def test_a_single_tenant_configuration_names_its_units_and_not_its_parent(system, vendor_user):
    nordvik = using(system, "Testkommune Nordvik", "313231593")
    OrganisationFactory(name="Nordvik sjukeheim", org_number="320000122", parent=nordvik)
    active(nordvik, "vkp-journaling")
    client = helseid.client_create(
        system=system, environment="test", tenancy="single-tenant", tenant=nordvik, by=vendor_user
    )

    [tenant] = helseid.configuration(client)["tenants"]

    assert "assertionDetails" not in tenant  # the parent is fixed in HelseID for a single-tenant client
    [unit] = tenant["childOrganizations"]
    assert unit["organizationNumber"] == "320000122"
    identifier = unit["assertionDetails"][0]["practitioner_role"]["organization"]["identifier"]
    assert identifier == {"system": "urn:oid:1.0.6523", "type": "ENH", "value": "NO:ORGNR:313231593:320000122"}


def test_the_file_names_differ_per_client_and_name_the_tenant(client, system, vendor_user):
    nordvik = using(system, "Testkommune Nordvik", "313231593")
    fjordheim = using(system, "Fjordheim kommune", "320000017")
    clients = [
        helseid.client_create(system=system, environment="test", tenancy="single-tenant", tenant=t, by=vendor_user)
        for t in (nordvik, fjordheim)
    ]
    client.force_login(vendor_user)
    names = set()
    for helseid_client in clients:
        response = client.get(reverse("client_configuration", args=[helseid_client.public_id]))
        disposition = response["Content-Disposition"]
        assert str(helseid_client.client_id) in disposition and helseid_client.tenant.org_number in disposition
        assert "trygghetsalarm-pro" in disposition
        names.add(disposition)
    assert len(names) == 2


def sheet_text(web, helseid_client, language) -> str:
    web.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    response = web.get(reverse("client_sheet", args=[helseid_client.public_id]))
    assert response["Content-Type"] == "application/pdf"
    pages = PdfReader(io.BytesIO(response.content)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def test_the_english_and_bokmal_sheets_say_the_same(client, system, vendor_user):
    nordvik = using(system, "Testkommune Nordvik", "313231593")
    active(nordvik, "vkp-journaling", "vkp-patient")
    helseid_client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("sheet-key")), by=vendor_user)
    client.force_login(vendor_user)

    english = sheet_text(client, helseid_client, "en")
    bokmal = sheet_text(client, helseid_client, "nb")

    facts = ["NO:ORGNR:313231593", "urn:oid:1.0.6523", "helseid_authorization", "nhn:jft/api"]
    facts += ["nhn:pit/api.read", "sheet-key", "pkceRequired", "privateJwk", "use_dpop_nonce", "DPoP-Nonce"]
    facts += ["jti", "invalid_target"]
    for fact in facts:
        compact = fact.replace(" ", "")
        assert compact in english.replace(" ", ""), ("en", fact)
        assert compact in bokmal.replace(" ", ""), ("nb", fact)
    assert "One token per API" in english and "new client assertion" in english
    assert "Ett token per API" in bokmal and "ny klient" in bokmal.lower()
    assert "private key" in english and "privat nøkkel" in bokmal.lower()
