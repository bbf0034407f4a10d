"""The API's operations do what the pages do: same services, same checks, same messages, same audit entries."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from joserfc.jwk import ECKey

from members.models import Membership, VendorAssignment, VendorSystem
from orders import helseid, jwks
from orders.models import HelseIdClient, Order, Service
from portal.models import ApiIdempotencyRecord, AuditEvent
from tests.api.conftest import MEMBER_SCOPES, VENDOR_SCOPES, Caller
from tests.factories import OrganisationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, register, vendor):
    return Caller(client, register(vendor.org_number, VENDOR_SCOPES, supplier=vendor.org_number).token(VENDOR_SCOPES))


@pytest.fixture
def en():
    return {"Accept-Language": "en"}


def public_ec_jwk(kid="vendor-1"):
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"}).as_dict(private=False)


def create_system(api, name="Trygghetsalarm", services=(("vkp-journaling", "test"),)):
    body = {"name": name, "kind": "vft", "supported_services": [{"service": s, "environment": e} for s, e in services]}
    response = api.call("POST", "/api/v1/vendor/systems", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_register_a_system_with_its_services(api, vendor):
    data = create_system(api)
    system = VendorSystem.objects.get(public_id=data["id"])
    assert system.vendor == vendor
    assert data["supported_services"] == [{"service": "vkp-journaling", "environment": "test"}]
    assert set(AuditEvent.objects.filter(organisation=vendor).values_list("action", flat=True)) >= {
        "vendor_system.created",
        "vendor_system.services_changed",
    }


def test_the_same_name_twice_is_refused_with_the_pages_message(api, vendor, en):
    create_system(api)
    response = api.call("POST", "/api/v1/vendor/systems", {"name": "trygghetsalarm", "kind": "vft"}, headers=en)
    assert response.status_code == 422
    assert response.json()["detail"] == "You already have a system called trygghetsalarm."


def test_an_idempotency_key_replays_and_refuses_another_body(api, vendor):
    headers = {"Idempotency-Key": "k-1"}
    body = {"name": "Alarm", "kind": "vft"}
    first = api.call("POST", "/api/v1/vendor/systems", body, headers=headers)
    again = api.call("POST", "/api/v1/vendor/systems", body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert VendorSystem.objects.filter(vendor=vendor).count() == 1
    other = api.call("POST", "/api/v1/vendor/systems", {"name": "Other", "kind": "vft"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "/api/v1/problems/idempotency-key-reused"
    assert ApiIdempotencyRecord.objects.count() == 1


def test_idempotency_keys_are_kept_a_day(api):
    old = ApiIdempotencyRecord.objects.create(
        client_id="c", key="k", request_digest="d", status=201, body={}, created_at=timezone.now() - timedelta(hours=25)
    )
    api.call("POST", "/api/v1/vendor/systems", {"name": "Alarm", "kind": "vft"}, headers={"Idempotency-Key": "new"})
    assert not ApiIdempotencyRecord.objects.filter(pk=old.pk).exists()
    assert ApiIdempotencyRecord.objects.filter(key="new").exists()


def test_systems_are_paged_with_cursors(api):
    names = [f"System {n}" for n in range(5)]
    for name in names:
        create_system(api, name=name, services=())
    seen, cursor = [], None
    while True:
        path = "/api/v1/vendor/systems?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", path).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == names
    assert api.call("GET", "/api/v1/vendor/systems?cursor=%%%").status_code == 400


def test_clients_keys_and_configuration(api, vendor, en):
    system = create_system(api)
    response = api.call(
        "POST", "/api/v1/vendor/clients", {"system": system["id"], "environment": "test", "tenancy": "multi-tenant"}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    client = HelseIdClient.objects.get(public_id=created["id"])
    assert str(client.client_id) == created["client_id"]
    assert AuditEvent.objects.filter(action="helseid_client.created", organisation=vendor).exists()

    again = api.call(
        "POST",
        "/api/v1/vendor/clients",
        {"system": system["id"], "environment": "test", "tenancy": "multi-tenant"},
        headers=en,
    )
    assert again.status_code == 422
    assert again.json()["detail"] == "This system already has such a client for this environment."

    keys = f"/api/v1/vendor/clients/{client.public_id}/keys"
    added = api.call("POST", keys, {"jwk": public_ec_jwk()})
    assert added.status_code == 201, added.content
    [key] = added.json()
    assert key["kid"] == "vendor-1"

    private = ECKey.generate_key("P-256", parameters={"kid": "oops", "alg": "ES256"}).as_dict(private=True)
    refused = api.call("POST", keys, {"jwk": private}, headers=en)
    assert refused.status_code == 422
    with translation.override("en"):
        with pytest.raises(ValidationError) as page_error:
            jwks.parse_keys(json.dumps(private))
        page_message = str(page_error.value.messages[0])
    assert refused.json()["detail"] == page_message  # the page's message, word for word
    assert private["d"] not in refused.content.decode()

    both = api.call("POST", keys, {"jwk": public_ec_jwk("x"), "jwks_url": "https://example.org/jwks"}, headers=en)
    assert both.json()["detail"] == "Paste a public key or give a JWKS address (one of them)."

    configuration = api.call("GET", f"/api/v1/vendor/clients/{client.public_id}/configuration")
    assert configuration.json() == json.loads(json.dumps(helseid.configuration(client), default=str))

    detail = api.call("GET", f"/api/v1/vendor/clients/{client.public_id}").json()
    assert [k["kid"] for k in detail["keys"]] == ["vendor-1"]
    steps = api.call("GET", f"/api/v1/vendor/clients/{client.public_id}/provisioning").json()
    assert {step["reason"] for step in steps["items"]} >= {"client_created", "keys_changed"}

    retired = api.call("POST", f"{keys}/{key['id']}/retire")
    assert retired.status_code == 200 and retired.json()["retired_at"]
    twice = api.call("POST", f"{keys}/{key['id']}/retire", headers=en)
    assert twice.json()["detail"] == "This key is already retired."
    assert AuditEvent.objects.filter(action="helseid_client.key_retired").count() == 1


def test_tenants_say_what_blocks_production(api, vendor, en, django_assert_max_num_queries):
    system = VendorSystem.objects.get(public_id=create_system(api)["id"])
    for n in range(3):
        VendorAssignment.objects.create(
            organisation=OrganisationFactory(name=f"Kommune {n}"),
            system=system,
            environment="test",
            created_by=UserFactory(),
        )
    with django_assert_max_num_queries(20):
        response = api.call("GET", "/api/v1/vendor/tenants", headers=en)
    items = response.json()["items"]
    assert len(items) == 3
    assert "The municipality is not an active member yet." in items[0]["production_blockers"]
    org = items[0]["org_number"]
    status = api.call("GET", f"/api/v1/vendor/tenants/{org}/provisioning")
    assert status.status_code == 200 and status.json()["org_number"] == org


def test_the_tenant_list_is_paged_by_the_database_and_a_forged_cursor_is_refused(
    api, vendor, en, django_assert_max_num_queries
):
    import base64

    system = VendorSystem.objects.get(public_id=create_system(api)["id"])
    by = UserFactory()
    for _ in range(5):
        VendorAssignment.objects.create(
            organisation=OrganisationFactory(), system=system, environment="test", created_by=by
        )
    seen, cursor = [], None
    for _ in range(3):
        with django_assert_max_num_queries(20):
            body = api.call("GET", "/api/v1/vendor/tenants?limit=2" + (f"&cursor={cursor}" if cursor else "")).json()
        seen += [item["org_number"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert cursor is None and len(seen) == 5 and seen == sorted(seen)
    for text in ("'; drop", "\x00", "1" * 10):
        forged = base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
        response = api.call("GET", f"/api/v1/vendor/tenants?cursor={forged}", headers=en)
        assert response.status_code == 400 and response.json()["type"] == "/api/v1/problems/bad-request"


def test_signing_stays_in_the_browser(api, client, register, municipality):
    response = api.call("POST", "/api/v1/vendor/terms/sign")
    assert response.status_code == 403
    assert response.json()["type"] == "/api/v1/problems/browser-only"
    member = Caller(client, register(municipality.org_number, MEMBER_SCOPES).token(MEMBER_SCOPES))
    assert member.call("POST", "/api/v1/member/terms/sign").json()["type"] == "/api/v1/problems/browser-only"
    index = client.get("/api/v1/").json()
    assert any("ID-porten" in line for line in index["browser_only"])


def test_a_municipality_reads_where_it_stands(client, register, municipality, vendor):
    system = VendorSystem.objects.create(vendor=vendor, name="Alarm", kind="vft")
    VendorAssignment.objects.create(
        organisation=municipality, system=system, environment="test", created_by=UserFactory()
    )
    Membership.objects.create(organisation=municipality, state="applied", applied_by=UserFactory())
    order = Order.objects.create(
        organisation=municipality, service=Service.objects.get(code="vkp-journaling"), environment="test",
        state="submitted", created_by=UserFactory(),
    )  # fmt: skip
    member = Caller(client, register(municipality.org_number, MEMBER_SCOPES).token(MEMBER_SCOPES))
    assert member.call("GET", "/api/v1/member/membership").json()["membership_state"] == "applied"
    orders = member.call("GET", "/api/v1/member/orders").json()["items"]
    assert [o["id"] for o in orders] == [str(order.public_id)]
    assert member.call("GET", f"/api/v1/member/orders/{order.public_id}").json()["state"] == "submitted"
    systems = member.call("GET", "/api/v1/member/systems").json()
    assert [s["system_name"] for s in systems] == ["Alarm"]
    assert member.call("GET", "/api/v1/member/clients").json() == []


def test_another_vendors_client_and_another_municipalitys_order_are_404(
    api, client, register, municipality, other_municipality
):
    theirs = VendorFactory()
    system = VendorSystem.objects.create(vendor=theirs, name="Theirs", kind="vft")
    their_client = HelseIdClient.objects.create(
        system=system, environment="test", tenancy="multi-tenant", created_by=UserFactory()
    )
    for path in (
        f"/api/v1/vendor/clients/{their_client.public_id}",
        f"/api/v1/vendor/clients/{their_client.public_id}/configuration",
        f"/api/v1/vendor/clients/{their_client.public_id}/provisioning",
        f"/api/v1/vendor/tenants/{municipality.org_number}/provisioning",
    ):
        response = api.call("GET", path)
        assert response.status_code == 404, path
        assert response.json()["type"] == "/api/v1/problems/not-found"
    response = api.call("POST", f"/api/v1/vendor/clients/{their_client.public_id}/keys", {"jwk": public_ec_jwk()})
    assert response.status_code == 404
    assert not their_client.keys.exists()
    other_order = Order.objects.create(
        organisation=other_municipality, service=Service.objects.get(code="vkp-journaling"), environment="test",
        state="submitted", created_by=UserFactory(),
    )  # fmt: skip
    member = Caller(client, register(municipality.org_number, MEMBER_SCOPES).token(MEMBER_SCOPES))
    assert member.call("GET", f"/api/v1/member/orders/{other_order.public_id}").status_code == 404
    assert member.call("GET", "/api/v1/member/orders").json()["items"] == []


def test_unusable_characters_and_oversized_bodies_are_problem_details_too(api, en):
    """The portal-wide refusals (NUL and lone surrogates; bodies over the limit) answer API callers in
    RFC 9457 problem details in their language, not with an HTML page."""
    response = api.call("GET", "/api/v1/vendor/tenants?cursor=%00")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/api/v1/problems/bad-request"
    assert "tegn" in response.json()["detail"]  # bokmål by default
    response = api.call("GET", "/api/v1/vendor/tenants?cursor=%00", headers=en)
    assert response.json()["detail"] == "The request contains characters that cannot be used."
    assert response["Content-Language"] == "en"
    response = api.call("POST", "/api/v1/vendor/systems", '{"name": "' + "x" * (2 * 1024 * 1024) + '"}', headers=en)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/api/v1/problems/too-large"
    assert not VendorSystem.objects.exists()
