"""A vendor following a tenant's order sees its own systems' steps, nobody's e-mail address and no dead links."""

import json

import pytest
from django.urls import reverse
from django.utils import translation

from members.models import Affiliation, SupportedService, VendorAssignment, VendorSystem
from orders import helseid, services
from orders.models import Order, Service
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, VendorFactory, with_totp
from tests.portal.world import public_jwk

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_messages():
    with translation.override("en"):
        yield


@pytest.fixture
def scene():
    """Nordvik uses two vendors' systems; NHN staff approved its Journaling order, so both have steps."""
    nordvik = OrganisationFactory(name="Testkommune Nordvik")
    admin = AffiliationFactory(organisation=nordvik, user=UserFactory(email="admin@nordvik.example")).user
    staff = with_totp(UserFactory(is_nhn_staff=True, email="kundesenter@nhn.example"))
    journaling = Service.objects.get(code="vkp-journaling")
    vendors = {}
    for vendor_name, system_name in (("Alarmhuset AS", "Trygghetsalarm"), ("Dosetten AS", "Dosettsystem")):
        vendor = VendorFactory(name=vendor_name)
        user = AffiliationFactory(organisation=vendor, role=Affiliation.Role.VENDOR_USER).user
        system = VendorSystem.objects.create(vendor=vendor, name=system_name, kind="vft")
        SupportedService.objects.create(system=system, service=journaling, environment="test")
        VendorAssignment.objects.create(organisation=nordvik, system=system, environment="test", created_by=admin)
        client = helseid.client_create(system=system, environment="test", tenancy="multi-tenant", tenant=None, by=user)
        helseid.client_keys_add(client=client, keys_text=json.dumps(public_jwk(f"{system_name}-key")), by=user)
        vendors[vendor_name] = user
    order = Order.objects.create(
        organisation=nordvik, service=journaling, environment="test", state="submitted", created_by=admin
    )
    services.order_approve(order=order, by=staff)
    return {"order": order, "alarm_user": vendors["Alarmhuset AS"], "admin": admin, "staff": staff}


def test_a_vendor_sees_only_its_own_systems_steps_and_no_ones_e_mail(client, scene):
    client.force_login(scene["alarm_user"])
    page = client.get(reverse("order_detail", args=[scene["order"].public_id])).content.decode()
    assert "Trygghetsalarm for Testkommune Nordvik" in page  # its own system's grant
    assert "Dosettsystem" not in page  # another vendor's system: not this vendor's business
    assert "Dosetten" not in page
    assert "kundesenter@nhn.example" not in page  # who approved at NHN
    assert "admin@nordvik.example" not in page  # who ordered at the municipality
    assert 'id="activity-heading"' in page and '<table class="ds-table"' in page  # the history is still there


def test_the_vendor_page_has_no_link_that_404s_for_the_vendor(client, scene):
    client.force_login(scene["alarm_user"])
    order = scene["order"]
    page = client.get(reverse("order_detail", args=[order.public_id])).content.decode()
    confirmation = reverse("order_confirmation", args=[order.organisation.org_number, order.environment])
    dashboard = reverse("member_dashboard", args=[order.organisation.org_number])
    assert confirmation not in page and dashboard not in page
    assert client.get(confirmation).status_code == 404  # why the link must not be there


def test_the_htmx_status_fragment_is_filtered_the_same_way(client, scene):
    client.force_login(scene["alarm_user"])
    part = client.get(reverse("order_detail", args=[scene["order"].public_id]), HTTP_HX_REQUEST="true")
    assert "Trygghetsalarm" in part.content.decode() and "Dosettsystem" not in part.content.decode()


def test_the_municipality_and_nhn_still_see_every_step_and_who_acted(client, scene):
    url = reverse("order_detail", args=[scene["order"].public_id])
    for person in (scene["admin"], scene["staff"]):
        client.force_login(person)
        page = client.get(url).content.decode()
        assert "Trygghetsalarm" in page and "Dosettsystem" in page
        assert "kundesenter@nhn.example" in page
    client.force_login(scene["admin"])
    assert (
        reverse("order_confirmation", args=[scene["order"].organisation.org_number, "test"])
        in client.get(url).content.decode()
    )
