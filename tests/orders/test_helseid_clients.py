"""HelseID client configurations: scopes from orders, public keys only, and each vendor sees its own."""

import json
import logging
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from joserfc.jwk import ECKey, RSAKey

from members.models import Affiliation, SupportedService, VendorAssignment, VendorSystem
from orders import helseid
from orders.models import ClientKey, HelseIdClient, Order, Service
from portal.models import AuditEvent
from tests.factories import AffiliationFactory, OrganisationFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_messages():
    with translation.override("en"):
        yield


def public_jwk(kid="key-1", alg="ES256"):
    key = ECKey.generate_key("P-256") if alg.startswith("ES") else RSAKey.generate_key(2048)
    return {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}


def private_jwk(kid="leaked"):
    return {**ECKey.generate_key("P-256").as_dict(private=True), "kid": kid, "alg": "ES256"}


def supports(system, *codes, environment="test"):
    for code in codes:
        SupportedService.objects.create(system=system, service=Service.objects.get(code=code), environment=environment)


@pytest.fixture
def alarm(vendor):
    system = VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm", kind="vft")
    supports(system, "vkp-journaling", "vkp-patient")
    return system


@pytest.fixture
def tenant(municipality, municipal_admin, alarm):
    VendorAssignment.objects.create(
        organisation=municipality, system=alarm, environment="test", created_by=municipal_admin
    )
    return municipality


@pytest.fixture
def client_config(alarm, vendor_user, tenant):
    return helseid.client_create(system=alarm, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user)


def order(organisation, code, state, by):
    return Order.objects.create(
        organisation=organisation,
        service=Service.objects.get(code=code),
        environment="test",
        state=state,
        created_by=by,
    )


def test_the_configuration_has_helseids_shape_and_no_private_key(client_config, vendor_user):
    helseid.client_keys_add(client=client_config, keys_text=json.dumps(public_jwk()), by=vendor_user)
    config = helseid.configuration(client_config)
    assert uuid.UUID(config["clientId"])
    assert config["authority"] == "https://helseid-sts.test.nhn.no"
    assert config["tokenEndpoint"] == "https://helseid-sts.test.nhn.no/connect/token"
    assert config["grantTypes"] == ["client_credentials"]
    assert config["tokenEndpointAuthMethod"] == "private_key_jwt"
    assert config["dpopRequired"] is True
    assert config["publicKeyIds"] == ["key-1"] and config["signingAlgorithms"] == ["ES256"]
    text = json.dumps(config)
    # privateJwk is HelseID's field, here only a placeholder: no key material is in the file.
    assert config["privateJwk"] == helseid.PRIVATE_JWK_PLACEHOLDER and '"d"' not in text
    assert config["pkceRequired"] is True


def test_scopes_follow_the_tenants_active_orders(client_config, tenant, municipal_admin):
    assert helseid.configuration(client_config)["tenants"][0]["scopes"] == []
    journaling = order(tenant, "vkp-journaling", "active", municipal_admin)
    order(tenant, "vkp-patient", "submitted", municipal_admin)  # not active: no scope yet
    config = helseid.configuration(client_config)
    [entry] = config["tenants"]
    assert (entry["organizationNumber"], entry["name"], entry["scopes"]) == (
        tenant.org_number,
        tenant.name,
        ["nhn:jft/api"],
    )
    assert entry["apis"] == [{"audience": "nhn:jft", "scopes": ["nhn:jft/api"]}]
    assert config["scopes"] == ["nhn:jft/api"]
    journaling.state = "ended"
    journaling.save()
    assert helseid.configuration(client_config)["scopes"] == []


def test_an_epj_writes_patient_data_and_a_welfare_system_reads_it(tenant, municipal_admin, vendor_user, vendor):
    order(tenant, "vkp-patient", "active", municipal_admin)
    epj = VendorSystem.objects.create(vendor=vendor, name="EPJ", kind="epj")
    supports(epj, "vkp-patient")
    VendorAssignment.objects.create(organisation=tenant, system=epj, environment="test", created_by=municipal_admin)
    epj_client = helseid.client_create(
        system=epj, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    vft_client = HelseIdClient.objects.create(
        system=VendorSystem.objects.get(name="Trygghetsalarm"), environment="test", created_by=vendor_user
    )
    assert helseid.configuration(epj_client)["scopes"] == ["nhn:pit/api.write"]
    assert helseid.configuration(vft_client)["scopes"] == ["nhn:pit/api.read"]


def test_a_single_tenant_client_needs_a_registered_tenant(alarm, vendor_user, tenant):
    other = OrganisationFactory()
    with pytest.raises(Exception, match="has not registered"):
        helseid.client_create(system=alarm, environment="test", tenancy="single-tenant", tenant=other, by=vendor_user)
    client = helseid.client_create(
        system=alarm, environment="test", tenancy="single-tenant", tenant=tenant, by=vendor_user
    )
    assert [t["organizationNumber"] for t in helseid.configuration(client)["tenants"]] == [tenant.org_number]


def upload(client, config, **data):
    return client.post(reverse("client_detail", args=[config.public_id]), data)


def test_uploading_a_public_key_through_the_page(client, client_config, vendor_user):
    client.force_login(vendor_user)
    response = upload(client, client_config, keys=json.dumps({"keys": [public_jwk("a"), public_jwk("b", "PS256")]}))
    assert response.status_code == 302
    assert sorted(client_config.keys.values_list("kid", flat=True)) == ["a", "b"]
    assert AuditEvent.objects.filter(action="helseid_client.keys_added").exists()


def test_rs256_is_refused_with_helseids_deadline(client, client_config, vendor_user):
    client.force_login(vendor_user)
    response = upload(client, client_config, keys=json.dumps(public_jwk("old", "RS256")))
    assert response.status_code == 200
    assert "11. januar 2027" in response.content.decode()
    assert not ClientKey.objects.exists()


def test_a_private_key_is_refused_and_kept_nowhere(client, client_config, vendor_user, caplog):
    caplog.set_level(logging.DEBUG)
    secret = private_jwk()
    client.force_login(vendor_user)
    response = upload(client, client_config, keys=json.dumps(secret))
    page = response.content.decode()
    assert response.status_code == 200
    assert "privat nøkkel" in page
    assert secret["d"] not in page  # not even echoed back into the form
    assert not ClientKey.objects.exists()
    assert secret["d"] not in caplog.text
    assert not any(secret["d"] in json.dumps([e.before, e.after]) for e in AuditEvent.objects.all())


def test_a_kid_is_used_once_and_a_retired_key_leaves_the_configuration(client, client_config, vendor_user):
    client.force_login(vendor_user)
    upload(client, client_config, keys=json.dumps(public_jwk("k1")))
    upload(client, client_config, keys=json.dumps(public_jwk("k1")))
    assert client_config.keys.count() == 1
    upload(client, client_config, keys=json.dumps(public_jwk("k2")))
    k1 = client_config.keys.get(kid="k1")
    client.post(reverse("client_key_retire", args=[client_config.public_id, k1.public_id]))
    assert helseid.configuration(client_config)["publicKeyIds"] == ["k2"]


def test_the_configuration_download(client, client_config, vendor_user):
    client.force_login(vendor_user)
    response = client.get(reverse("client_configuration", args=[client_config.public_id]))
    assert response["Content-Disposition"].startswith("attachment;")
    assert json.loads(response.content)["clientId"] == str(client_config.client_id)


def test_another_vendor_sees_and_changes_nothing(client, client_config, municipal_admin):
    other_user = AffiliationFactory(organisation=VendorFactory(), role=Affiliation.Role.VENDOR_USER).user
    for user in (other_user, municipal_admin):
        client.force_login(user)
        assert client.get(reverse("client_detail", args=[client_config.public_id])).status_code == 404
        assert client.get(reverse("client_configuration", args=[client_config.public_id])).status_code == 404
        assert upload(client, client_config, keys=json.dumps(public_jwk("x"))).status_code == 404
    assert not ClientKey.objects.exists()


def test_creating_a_client_for_another_vendor_is_404(client, alarm, vendor):
    other_user = AffiliationFactory(organisation=VendorFactory(), role=Affiliation.Role.VENDOR_USER).user
    client.force_login(other_user)
    url = reverse("client_create", args=[vendor.org_number])
    assert client.post(url, {"system": alarm.pk, "environment": "test", "tenancy": "multi-tenant"}).status_code == 404
    assert not HelseIdClient.objects.exists()


def test_a_single_tenant_client_names_its_municipality_by_organisation_number(
    client, alarm, tenant, vendor, vendor_user, other_municipality
):
    """The form takes the number, so the dashboard never lists every tenant in a <select>."""
    client.force_login(vendor_user)
    url = reverse("client_create", args=[vendor.org_number])
    data = {"system": alarm.pk, "environment": "test", "tenancy": "single-tenant"}
    response = client.post(url, {**data, "tenant": other_municipality.org_number}, follow=True)
    assert "Ingen kommune med dette nummeret bruker systemene deres." in response.content.decode()  # bokmål UI
    client.post(url, {**data, "tenant": "12345"})
    assert not HelseIdClient.objects.exists()
    number = tenant.org_number
    client.post(url, {**data, "tenant": f"{number[:3]} {number[3:6]} {number[6:]}"})
    assert HelseIdClient.objects.get().tenant == tenant
    page = client.get(reverse("vendor_dashboard", args=[vendor.org_number])).content.decode()
    assert "<option" not in page.split('name="tenant"')[1].split("</div>")[0]  # a text field, no list of tenants


def test_the_municipality_sees_the_clients_acting_for_it(client, client_config, tenant, municipal_admin, outsider):
    order(tenant, "vkp-journaling", "active", municipal_admin)
    client.force_login(municipal_admin)
    acting = client.get(reverse("member_dashboard", args=[tenant.org_number])).context["acting_clients"]
    assert [(c, scopes) for c, scopes in acting] == [(client_config, ["nhn:jft/api"])]
    client.force_login(outsider)
    other = outsider.affiliations.get().organisation
    assert client.get(reverse("member_dashboard", args=[other.org_number])).context["acting_clients"] == []


def test_the_sheet_for_operations_is_a_pdf_without_private_keys(client, client_config, vendor_user):
    import io

    from pypdf import PdfReader

    helseid.client_keys_add(client=client_config, keys_text=json.dumps(public_jwk("ops-key")), by=vendor_user)
    client.force_login(vendor_user)
    response = client.get(reverse("client_sheet", args=[client_config.public_id]))
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(response.content)).pages)
    assert str(client_config.client_id) in text.replace(" ", "") and "ops-key" in text and "DPoP" in text


def test_vendors_are_reminded_once_before_a_key_expires(
    client_config, vendor_user, settings, django_capture_on_commit_callbacks, mailoutbox
):
    from datetime import timedelta

    from orders.tasks import remind_expiring_keys

    settings.KEY_EXPIRY_REMINDER_DAYS = 30
    today = timezone.localdate()
    helseid.client_keys_add(
        client=client_config,
        keys_text=json.dumps(public_jwk("soon")),
        expires_on=today + timedelta(days=10),
        by=vendor_user,
    )
    helseid.client_keys_add(
        client=client_config,
        keys_text=json.dumps(public_jwk("later")),
        expires_on=today + timedelta(days=90),
        by=vendor_user,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_expiring_keys() == 1
        assert remind_expiring_keys() == 0  # once per key
    assert [m.to for m in mailoutbox] == [[vendor_user.email]]
    assert "soon" in mailoutbox[0].body


def test_a_service_the_system_does_not_support_gives_no_scope(client_config, tenant, municipal_admin, alarm):
    order(tenant, "vkp-careplan", "active", municipal_admin)  # ordered, but the alarm system does not support it
    order(tenant, "vkp-journaling", "active", municipal_admin)
    assert helseid.configuration(client_config)["scopes"] == ["nhn:jft/api"]
    supports(alarm, "vkp-careplan")
    assert helseid.configuration(client_config)["scopes"] == ["nhn:careplan/api.read", "nhn:jft/api"]


def test_vendors_declare_supported_services_for_their_own_systems_only(client, vendor, vendor_user, alarm):
    careplan = Service.objects.get(code="vkp-careplan")
    url = reverse("vendor_system_services", args=[vendor.org_number, alarm.public_id])
    client.force_login(vendor_user)
    client.post(url, {"support": [f"{careplan.pk}:test", f"{careplan.pk}:prod", "junk", "99999:test"]})
    assert sorted(alarm.supported_services.values_list("service__code", "environment")) == [
        ("vkp-careplan", "prod"),
        ("vkp-careplan", "test"),
    ]
    assert AuditEvent.objects.filter(action="vendor_system.services_changed").count() == 1
    other_user = AffiliationFactory(organisation=VendorFactory(), role=Affiliation.Role.VENDOR_USER).user
    client.force_login(other_user)
    assert client.post(url, {"support": []}).status_code == 404
    assert alarm.supported_services.count() == 2
