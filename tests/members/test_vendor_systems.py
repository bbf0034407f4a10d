"""Municipalities register the vendor systems they use; vendors see those municipalities, and only those."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from members import services
from members.models import Affiliation, VendorAssignment, VendorSystem
from orders.models import Order, Service
from orders.services import order_blockers
from portal.models import AuditEvent
from tests.factories import AffiliationFactory, OrganisationFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_messages():
    with translation.override("en"):
        yield


@pytest.fixture
def epj(vendor):
    return VendorSystem.objects.create(vendor=vendor, name="Journalhuset EPJ", kind="epj")


@pytest.fixture
def epic():
    return VendorSystem.objects.create(vendor=VendorFactory(name="Epic Demo"), name="Epic", kind="epj", product="Epic")


@pytest.fixture
def alarm():
    return VendorSystem.objects.create(vendor=VendorFactory(name="Trygghetsvakta"), name="Alarm", kind="vft")


def register(organisation, system, by, environment="test"):
    return services.vendor_assignment_create(
        organisation=organisation, system=system, environment=environment, starts_on=timezone.localdate(), by=by
    )


def test_one_epj_per_environment_but_several_welfare_systems(municipality, municipal_admin, epj, epic, alarm):
    register(municipality, epj, municipal_admin)
    with pytest.raises(ValidationError, match="registered as your EPJ"):
        register(municipality, epic, municipal_admin)
    register(municipality, epic, municipal_admin, environment="prod")  # another environment is fine
    register(municipality, alarm, municipal_admin)
    second_alarm = VendorSystem.objects.create(vendor=alarm.vendor, name="GPS", kind="vft")
    register(municipality, second_alarm, municipal_admin)
    assert VendorAssignment.objects.active().filter(organisation=municipality, environment="test").count() == 3


def test_registering_tells_the_vendor_and_is_audited(
    municipality, municipal_admin, epj, vendor_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assignment = register(municipality, epj, municipal_admin)
    assert [m.to for m in mailoutbox] == [[vendor_user.email]]
    assert AuditEvent.objects.filter(action="vendor_assignment.created", object_id=str(assignment.pk)).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.vendor_assignment_end(assignment=assignment, by=municipal_admin)
    assert len(mailoutbox) == 2
    with pytest.raises(ValidationError):
        services.vendor_assignment_end(assignment=assignment, by=municipal_admin)


def test_the_epic_only_rule_follows_the_registered_epj(municipality, municipal_admin, epj, epic):
    condition = Service.objects.get(code="vkp-condition")
    condition.test_availability = "available"

    def epic_blocked():
        return any(
            "Epic" in b for b in order_blockers(organisation=municipality, service=condition, environment="test")
        )

    assert epic_blocked()
    assignment = register(municipality, epj, municipal_admin)
    assert epic_blocked()
    services.vendor_assignment_end(assignment=assignment, by=municipal_admin)
    register(municipality, epic, municipal_admin)
    assert not epic_blocked()


def test_vendors_see_the_municipalities_that_registered_them_only(
    client, municipality, municipal_admin, epj, vendor, vendor_user
):
    other_vendor = VendorFactory()
    other_user = AffiliationFactory(organisation=other_vendor, role=Affiliation.Role.VENDOR_USER).user
    client.force_login(vendor_user)
    assert client.get(reverse("vendor_dashboard", args=[vendor.org_number])).context["tenants"] == []

    assignment = register(municipality, epj, municipal_admin)
    tenants = client.get(reverse("vendor_dashboard", args=[vendor.org_number])).context["tenants"]
    assert [t["organisation"] for t in tenants] == [municipality]

    client.force_login(other_user)
    assert client.get(reverse("vendor_dashboard", args=[other_vendor.org_number])).context["tenants"] == []
    assert client.get(reverse("vendor_dashboard", args=[vendor.org_number])).status_code == 404

    services.vendor_assignment_end(assignment=assignment, by=municipal_admin)
    client.force_login(vendor_user)
    assert client.get(reverse("vendor_dashboard", args=[vendor.org_number])).context["tenants"] == []


def test_a_vendor_reads_its_tenants_orders_but_cannot_change_them(
    client, municipality, municipal_admin, epj, vendor_user
):
    order = Order.objects.create(
        organisation=municipality, service=Service.objects.get(code="vkp-journaling"), environment="test",
        state="submitted", created_by=municipal_admin,
    )  # fmt: skip
    client.force_login(vendor_user)
    assert client.get(reverse("order_detail", args=[order.public_id])).status_code == 404  # not a tenant yet
    register(municipality, epj, municipal_admin)
    assert client.get(reverse("order_detail", args=[order.public_id])).status_code == 200
    assert client.post(reverse("order_cancel", args=[order.public_id])).status_code == 404
    order.refresh_from_db()
    assert order.state == "submitted"


def test_registering_through_the_web_needs_an_administrator(
    client, municipality, viewer, outsider, municipal_admin, epj
):
    url = reverse("assignment_create", args=[municipality.org_number])
    data = {"system": epj.pk, "environment": "test", "starts_on": "2026-11-23"}
    client.force_login(viewer)
    assert client.post(url, data).status_code == 403
    client.force_login(outsider)
    assert client.post(url, data).status_code == 404
    assert not VendorAssignment.objects.exists()
    client.force_login(municipal_admin)
    client.post(url, data)
    assert VendorAssignment.objects.get().system == epj


def test_ending_another_organisations_registration_is_404(client, municipality, municipal_admin, epj, outsider):
    assignment = register(municipality, epj, municipal_admin)
    client.force_login(outsider)
    other = outsider.affiliations.get().organisation
    url = reverse("assignment_end", args=[other.org_number, assignment.public_id])
    assert client.post(url).status_code == 404
    assert VendorAssignment.objects.active().count() == 1


def test_vendors_register_their_own_systems(client, vendor, vendor_user, municipal_admin, municipality):
    url = reverse("vendor_system_create", args=[vendor.org_number])
    client.force_login(vendor_user)
    client.post(url, {"name": "Journalhuset EPJ", "kind": "epj", "product": ""})
    client.post(url, {"name": "journalhuset epj", "kind": "epj", "product": ""})  # same name: refused
    assert list(VendorSystem.objects.values_list("name", flat=True)) == ["Journalhuset EPJ"]
    client.force_login(municipal_admin)
    assert client.post(url, {"name": "Falsk", "kind": "epj"}).status_code == 404


@pytest.mark.parametrize("rows", [5, 500])
def test_the_vendor_dashboard_queries_are_bounded(
    client, vendor, vendor_user, epj, rows, django_assert_max_num_queries
):
    admin = AffiliationFactory(role=Affiliation.Role.ADMIN).user
    journaling = Service.objects.get(code="vkp-journaling")
    for _ in range(rows):
        organisation = OrganisationFactory()
        VendorAssignment.objects.create(organisation=organisation, system=epj, environment="test", created_by=admin)
        Order.objects.create(
            organisation=organisation, service=journaling, environment="test", state="active", created_by=admin
        )
    client.force_login(vendor_user)
    # One or two per panel (the tenant list: its count, a page, and the page's rows), whatever the number of tenants.
    with django_assert_max_num_queries(22):
        response = client.get(reverse("vendor_dashboard", args=[vendor.org_number]))
    assert len(response.context["tenants"]) == min(rows, 50)  # one page
    assert response.context["summary"]["total"] == rows


def test_date_inputs_carry_iso_dates_in_bokmal_too(client, municipality, municipal_admin):
    client.force_login(municipal_admin)
    page = client.get(reverse("member_dashboard", args=[municipality.org_number])).content.decode()
    assert f'type="date" name="starts_on" value="{timezone.localdate():%Y-%m-%d}"' in page
