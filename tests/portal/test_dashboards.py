import re

import pytest
from django.urls import reverse

from members.models import Affiliation
from tests.factories import AffiliationFactory, OrganisationFactory

pytestmark = pytest.mark.django_db


def member_url(organisation):
    return reverse("member_dashboard", args=[organisation.org_number])


def vendor_url(organisation):
    return reverse("vendor_dashboard", args=[organisation.org_number])


@pytest.mark.parametrize("persona", ["municipal_admin", "signatory", "viewer"])
def test_member_roles_see_their_organisations_dashboard(client, request, persona, municipality):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(member_url(municipality))
    assert response.status_code == 200
    assert municipality.name in response.content.decode()
    assert response.templates[0].name == "portal/member_dashboard.html"


def test_admin_sees_who_has_access_and_viewer_does_not(client, municipal_admin, viewer, municipality):
    client.force_login(municipal_admin)
    assert viewer.email in client.get(member_url(municipality)).content.decode()
    client.force_login(viewer)
    page = client.get(member_url(municipality)).content.decode()
    assert municipal_admin.email not in page


def test_signatory_sees_what_waits_for_signature(client, signatory, municipal_admin, municipality):
    client.force_login(signatory)
    assert 'id="sign-heading"' in client.get(member_url(municipality)).content.decode()
    client.force_login(municipal_admin)
    assert 'id="sign-heading"' not in client.get(member_url(municipality)).content.decode()


def test_vendor_user_sees_the_vendor_dashboard(client, vendor_user, vendor):
    client.force_login(vendor_user)
    response = client.get(vendor_url(vendor))
    assert response.status_code == 200
    assert response.templates[0].name == "portal/vendor_dashboard.html"


def test_nhn_staff_sees_the_customer_centre(client, nhn_staff, municipality):
    client.force_login(nhn_staff)
    response = client.get(reverse("staff_dashboard"))
    assert response.status_code == 200
    assert response.templates[0].name == "portal/staff_dashboard.html"


# Each dashboard refuses the other roles: outsiders get 404, non-staff get 403 at the customer centre.
@pytest.mark.parametrize("persona", ["vendor_user", "outsider"])
def test_member_dashboard_refuses_everyone_else(client, request, persona, municipality):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(member_url(municipality)).status_code == 404


@pytest.mark.parametrize("persona", ["municipal_admin", "signatory", "viewer"])
def test_vendor_dashboard_refuses_everyone_else(client, request, persona, vendor):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(vendor_url(vendor)).status_code == 404


def test_nhn_staff_land_on_the_lifecycle_page_of_an_organisation_they_open(client, nhn_staff, municipality, vendor):
    """Staff have no dashboard in an organisation: its pages send them to its lifecycle page (issue 16)."""
    client.force_login(nhn_staff)
    for url, organisation in (
        (member_url(municipality), municipality),
        (vendor_url(vendor), vendor),
        (reverse("membership_detail", args=[municipality.org_number]), municipality),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == reverse("organisation_lifecycle", args=[organisation.org_number])
    assert client.get(reverse("member_dashboard", args=["399999998"])).status_code == 404


def test_a_member_role_does_not_open_the_vendor_dashboard_of_its_own_municipality(
    client, municipal_admin, municipality
):
    client.force_login(municipal_admin)
    assert client.get(vendor_url(municipality)).status_code == 404


@pytest.mark.parametrize("persona", ["municipal_admin", "signatory", "viewer", "vendor_user"])
def test_customer_centre_refuses_everyone_but_nhn_staff(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("staff_dashboard")).status_code == 403


@pytest.mark.parametrize("url_name", ["member_dashboard", "vendor_dashboard"])
def test_anonymous_is_sent_to_login(client, url_name, municipality):
    response = client.get(reverse(url_name, args=[municipality.org_number]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_anonymous_is_sent_to_login_from_the_customer_centre(client):
    response = client.get(reverse("staff_dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_unknown_organisation_is_404(client, municipal_admin):
    client.force_login(municipal_admin)
    assert client.get(reverse("member_dashboard", args=["999999999"])).status_code == 404


def test_start_page_sends_a_person_with_one_role_straight_to_it(client, municipal_admin, municipality):
    client.force_login(municipal_admin)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == member_url(municipality)


def test_start_page_lets_a_person_with_several_places_choose(client, municipal_admin, municipality, vendor):
    AffiliationFactory(user=municipal_admin, organisation=vendor, role=Affiliation.Role.VENDOR_USER)
    client.force_login(municipal_admin)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert member_url(municipality) in page and vendor_url(vendor) in page


def test_start_page_explains_what_to_do_without_any_role(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 200
    assert "kundesenter@nhn.no" in response.content.decode()


def test_anonymous_start_page_is_the_public_landing_page(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert reverse("account_login") in response.content.decode()


@pytest.mark.parametrize("rows", [5, 500])
def test_member_dashboard_queries_are_bounded(
    client, municipal_admin, municipality, django_assert_max_num_queries, rows
):
    for _ in range(rows):
        AffiliationFactory(organisation=municipality, role=Affiliation.Role.VIEWER)
    client.force_login(municipal_admin)
    with django_assert_max_num_queries(16):  # one or two per panel, whatever the number of rows
        assert client.get(member_url(municipality)).status_code == 200


def test_a_dashboard_lists_the_first_ten_people_and_links_to_everyone(client, municipal_admin, municipality):
    for _ in range(11):
        AffiliationFactory(organisation=municipality, role=Affiliation.Role.VIEWER)
    client.force_login(municipal_admin)
    response = client.get(member_url(municipality))
    assert len(response.context["people"]) == 10  # twelve have access
    page = response.content.decode()
    people = reverse("organisation_people", args=[municipality.org_number])
    assert f'De første 10 vises her. <a class="ds-link" href="{people}">Alle med tilgang</a>' in page


@pytest.mark.parametrize("rows", [5, 500])
def test_customer_centre_queries_are_bounded(client, nhn_staff, django_assert_max_num_queries, rows):
    for _ in range(rows):
        AffiliationFactory(organisation=OrganisationFactory(), role=Affiliation.Role.ADMIN)
    client.force_login(nhn_staff)
    # 17: the reconciliation findings waiting for a decision (issue 16), and one capped count per kind of
    # organisation (eight) instead of one GROUP BY that read every organisation (issue 15).
    with django_assert_max_num_queries(17):
        assert client.get(reverse("staff_dashboard")).status_code == 200


# National scale (issue 15): each page costs what it shows, whatever the number of tenants. --------


def add_tenants(system, count, *, state="active", environment="test", names=None):
    """`count` municipalities using the system, each with one order in `state`; in bulk, as the benchmark does."""
    from members.models import Organisation, VendorAssignment
    from orders.models import Order, Service

    by = AffiliationFactory(role=Affiliation.Role.ADMIN).user
    journaling = Service.objects.get(code="vkp-journaling")
    built = OrganisationFactory.build_batch(count)
    for organisation, name in zip(built, names or [], strict=False):
        organisation.name = name
    organisations = Organisation.objects.bulk_create(built)
    VendorAssignment.objects.bulk_create(
        VendorAssignment(organisation=o, system=system, kind=system.kind, environment=environment, created_by=by)
        for o in organisations
    )
    Order.objects.bulk_create(
        Order(organisation=o, service=journaling, environment=environment, state=state, created_by=by)
        for o in organisations
    )
    return organisations


@pytest.fixture
def epj(vendor):
    from members.models import VendorSystem

    return VendorSystem.objects.create(vendor=vendor, name="Journalhuset EPJ", kind="epj")


def measure(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), len(response.content)


def test_the_vendor_dashboard_costs_the_same_with_5_and_500_tenants(client, vendor, vendor_user, epj):
    client.force_login(vendor_user)
    add_tenants(epj, 5)
    queries_5, size_5 = measure(client, vendor_url(vendor))
    add_tenants(epj, 45)
    _queries_50, size_50 = measure(client, vendor_url(vendor))
    add_tenants(epj, 450)
    queries_500, size_500 = measure(client, vendor_url(vendor))
    assert queries_500 == queries_5
    assert size_500 < 1.05 * size_50  # a full page of 50 rows is a full page, whatever the total
    assert size_500 < 2.5 * size_5  # 50 rows against 5 (the other panels the same), never 500


@pytest.mark.parametrize("rows", [5, 500])
def test_the_vendor_tenant_list_partial_queries_are_bounded(
    client, vendor, vendor_user, epj, rows, django_assert_max_num_queries
):
    add_tenants(epj, rows)
    client.force_login(vendor_user)
    with django_assert_max_num_queries(12):  # login, the vendor, a count, a page, the page's rows and their steps
        response = client.get(vendor_url(vendor) + "?side=2", HTTP_HX_REQUEST="true")
    assert response.templates[0].name == "portal/_vendor_tenant_list.html"


def test_the_tenant_list_shows_fifty_a_page_with_links_that_work_without_javascript(client, vendor, vendor_user, epj):
    add_tenants(epj, 120)
    client.force_login(vendor_user)
    response = client.get(vendor_url(vendor))
    page = response.content.decode()
    assert page.count('<tr id="tenant-') == 50
    assert response.context["summary"]["total"] == 120
    assert 'href="?side=2#tenants"' in page and 'hx-get="?side=2"' in page
    third = client.get(vendor_url(vendor) + "?side=3").content.decode()
    assert third.count('<tr id="tenant-') == 20
    assert 'href="?side=2#tenants"' in third and "side=4" not in third
    assert client.get(vendor_url(vendor) + "?side=999").status_code == 200  # past the end: the last page
    part = client.get(vendor_url(vendor) + "?side=2", HTTP_HX_REQUEST="true").content.decode()
    assert part.lstrip().startswith('<div id="tenant-list" class="swap-region">')
    assert part.count('<tr id="tenant-') == 50 and "<html" not in part
    assert re.search(r'<div class="table-region"[^>]*\sautofocus>', part)  # htmx moves focus to the new rows
    searched = client.get(vendor_url(vendor), {"q": "Testkommune"}, HTTP_HX_REQUEST="true").content.decode()
    assert "autofocus" not in searched  # typing in the search field keeps focus there
    assert "autofocus" not in page


def test_the_tenant_rows_escape_what_they_show(client, vendor, vendor_user, epj):
    """The rows are built in Python (portal_tags.tenant_rows), not by the template engine: still escaped."""
    (tenant,) = add_tenants(epj, 1, names=['<img src=x onerror="alert(1)"> kommune'])
    epj.name = "<b>EPJ</b>"
    epj.save()
    client.force_login(vendor_user)
    page = client.get(vendor_url(vendor)).content.decode()
    assert '<img src=x onerror="alert(1)">' not in page and "<b>EPJ</b>" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; kommune</a>" in page
    assert "&lt;b&gt;EPJ&lt;/b&gt; (Test)" in page
    status = client.get(
        reverse("vendor_tenant_status", args=[vendor.org_number]), {"org": tenant.org_number}
    ).content.decode()
    assert f'<template><tr id="tenant-{tenant.org_number}" hx-swap-oob="true">' in status
    assert "&lt;img src=x" in status and "<img" not in status


def test_the_tenant_search_finds_by_name_and_by_number_among_the_vendors_own_tenants(client, vendor, vendor_user, epj):
    from members.models import VendorSystem

    _vidda, fjordby = add_tenants(epj, 2, names=["Vidda kommune", "Fjordby kommune"])
    add_tenants(epj, 60)
    other_system = VendorSystem.objects.create(vendor=OrganisationFactory(kind="vendor"), name="Annen EPJ", kind="epj")
    add_tenants(other_system, 1, names=["Viddaheim kommune"])  # another vendor's tenant: never found here
    client.force_login(vendor_user)

    def found(q):
        tenants = client.get(vendor_url(vendor), {"q": q}).context["tenants"]
        return [t["organisation"].name for t in tenants]

    assert found("vidda") == ["Vidda kommune"]
    assert found(fjordby.org_number) == ["Fjordby kommune"]
    assert found(" ".join((fjordby.org_number[:3], fjordby.org_number[3:6], fjordby.org_number[6:]))) == [
        "Fjordby kommune"
    ]  # typed with spaces
    assert found("finnes ikke") == []
    page = client.get(vendor_url(vendor), {"q": "Testkommune"}).content.decode()
    assert 'href="?q=Testkommune&amp;side=2#tenants"' in page  # the next page keeps the search
    assert "Ingen kommune passer søket." in client.get(vendor_url(vendor), {"q": "finnes ikke"}).content.decode()


def test_the_tenant_summary_is_counted_by_the_database(client, vendor, vendor_user, epj):
    from members.models import Membership

    active = add_tenants(epj, 3, state="active", environment="prod")
    add_tenants(epj, 2, state="approved")
    add_tenants(epj, 4, state="submitted")
    for organisation in active[:2]:
        Membership.objects.create(organisation=organisation, state="active", applied_by=vendor_user)
    client.force_login(vendor_user)
    summary = client.get(vendor_url(vendor)).context["summary"]
    assert summary == {"total": 9, "active_members": 2, "in_production": 3, "under_way": 2}


def test_the_live_status_polls_only_the_rows_still_changing_and_stops_when_none_is(client, vendor, vendor_user, epj):
    from members.models import VendorSystem
    from orders.models import Order

    (changing,) = add_tenants(epj, 1, state="approved", names=["Endringsby kommune"])
    (settled,) = add_tenants(epj, 1, state="active", names=["Roligby kommune"])
    other_system = VendorSystem.objects.create(vendor=OrganisationFactory(kind="vendor"), name="Annen EPJ", kind="epj")
    (foreign,) = add_tenants(other_system, 1, state="approved", names=["Fremmedby kommune"])
    client.force_login(vendor_user)
    poll = reverse("vendor_tenant_status", args=[vendor.org_number])

    page = client.get(vendor_url(vendor)).content.decode()
    assert f'hx-get="{poll}?org={changing.org_number}" hx-trigger="every 3s"' in page  # the changing row only

    asked = {"org": [changing.org_number, settled.org_number, foreign.org_number, "12345", "x" * 9]}
    part = client.get(poll, asked, HTTP_HX_REQUEST="true").content.decode()
    assert f'<tr id="tenant-{changing.org_number}" hx-swap-oob="true">' in part
    assert f'<tr id="tenant-{settled.org_number}" hx-swap-oob="true">' in part  # asked for: its last state
    assert "Fremmedby kommune" not in part  # another vendor's tenant, whatever the page asks
    assert 'hx-trigger="every 3s"' in part and f"org={changing.org_number}" in part
    assert f"org={settled.org_number}" not in part
    assert "<html" not in part and "Journalhuset EPJ" in part and len(part) < 5000  # a small fragment

    Order.objects.filter(organisation=changing).update(state="active")
    part = client.get(poll, {"org": changing.org_number}, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in part  # nothing in progress: the poll stops
    assert f'<tr id="tenant-{changing.org_number}" hx-swap-oob="true">' in part
    assert "every 3s" not in client.get(vendor_url(vendor)).content.decode()


@pytest.mark.parametrize("persona", ["municipal_admin", "outsider", "nhn_staff"])
def test_the_live_status_refuses_everyone_but_the_vendors_people(client, request, persona, vendor, epj):
    (tenant,) = add_tenants(epj, 1, state="approved")
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("vendor_tenant_status", args=[vendor.org_number]), {"org": tenant.org_number})
    assert response.status_code == 404


def test_a_tenant_row_sums_up_its_orders_and_names_what_blocks_production(client, vendor, vendor_user, epj):
    """Counts of live orders per state, the blockers one line a reason, the first open steps and a link to the
    rest: every order and step is on the tenant's lifecycle page (issue 15)."""
    from members.models import Acceptance, Membership, TermsDocument
    from orders.models import Order, ProvisioningTask, Service

    (tenant,) = add_tenants(epj, 1, state="active", names=["Summerby kommune"])  # journaling in test
    journaling, patient, careplan = (
        Service.objects.get(code=code) for code in ("vkp-journaling", "vkp-patient", "vkp-careplan")
    )
    order = {"organisation": tenant, "created_by": vendor_user}
    Order.objects.create(**order, service=patient, environment="test", state="failed")
    Order.objects.create(**order, service=careplan, environment="test", state="submitted")
    approved = Order.objects.create(**order, service=careplan, environment="prod", state="approved")
    terms = TermsDocument.objects.create(
        kind=TermsDocument.Kind.USAGE, service_code=patient.code, version="99.0", title="Bruksvilkår", body="Tekst."
    )
    Acceptance.objects.create(
        organisation=tenant, document=terms, document_sha256=terms.sha256, signed_by=vendor_user,
        signer_name="Kari Kommunedirektør", authority="register_role", authority_detail="DAGL",
    )  # fmt: skip
    Membership.objects.create(organisation=tenant, state="active", applied_by=vendor_user)
    for number in range(5):
        ProvisioningTask.objects.create(
            kind="vkp.access", reason="order_approved", target=f"vkp:prod:{tenant.org_number}:{number}", order=approved,
            payload={"system": str(epj.public_id), "system_name": epj.name, "organisation_name": tenant.name,
                     "service_name": f"Tjeneste {number}"},
        )  # fmt: skip
    client.force_login(vendor_user)

    response = client.get(vendor_url(vendor))
    (row,) = response.context["tenants"]
    assert row["order_counts"] == [
        ("Oppsettet feilet: 1", "danger"), ("Venter på NHN: 1", "info"), ("Godkjent: 1", "warning"),
        ("Aktiv: 1", "success"),
    ]  # fmt: skip
    blockers = row["production_blockers"]
    assert f"Kommunen har ikke signert bruksvilkårene for: {journaling.name_nb}" in blockers
    assert f"Ikke bestilt til produksjon: {patient.name_nb}" in blockers
    assert not any(careplan.name_nb in line for line in blockers)  # ordered for production too
    assert "Kommunen er ikke aktivt medlem ennå." not in " ".join(blockers)
    page = response.content.decode()
    assert "Tjeneste 2" in page and "Tjeneste 3" not in page  # the first three open steps
    lifecycle = reverse("organisation_lifecycle", args=[tenant.org_number])
    assert f'<a class="ds-link" href="{lifecycle}">2 steg til</a>' in page
    assert f"org={tenant.org_number}" in page  # being set up: the row is asked for again


def test_the_systems_panel_ticks_the_services_a_system_supports(client, vendor, vendor_user, epj):
    from members.models import SupportedService
    from orders.models import Service

    journaling = Service.objects.get(code="vkp-journaling")
    SupportedService.objects.create(system=epj, service=journaling, environment="prod")
    client.force_login(vendor_user)
    page = client.get(vendor_url(vendor)).content.decode()
    box = f'id="support-{epj.pk}-{journaling.pk}-%s" aria-label="{journaling.name_nb}, %s"'
    assert box % ("prod", "PROD") + " checked>" in page
    assert box % ("test", "TEST") + ">" in page  # not supported in test


def municipality_using(municipality, vendor, epj, vendor_user):
    """The municipality uses the vendor's EPJ (a multi-tenant client) with an active journaling order."""
    from members.models import SupportedService, VendorAssignment
    from orders import helseid
    from orders.models import Order, Service

    journaling = Service.objects.get(code="vkp-journaling")
    SupportedService.objects.create(system=epj, service=journaling, environment="test")
    by = AffiliationFactory(organisation=municipality, role=Affiliation.Role.ADMIN).user
    VendorAssignment.objects.create(organisation=municipality, system=epj, environment="test", created_by=by)
    Order.objects.create(
        organisation=municipality, service=journaling, environment="test", state="active", created_by=by
    )
    return helseid.client_create(system=epj, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user)


def test_the_member_dashboard_costs_the_same_whatever_the_vendors_other_tenants(
    client, municipal_admin, municipality, vendor, vendor_user, epj
):
    acting = municipality_using(municipality, vendor, epj, vendor_user)
    client.force_login(municipal_admin)
    add_tenants(epj, 5)
    queries_5, size_5 = measure(client, member_url(municipality))
    add_tenants(epj, 495)
    queries_500, size_500 = measure(client, member_url(municipality))
    assert queries_500 == queries_5
    assert size_500 == size_5
    assert client.get(member_url(municipality)).context["acting_clients"] == [(acting, ["nhn:jft/api"])]
    # Not only as many queries: every read of registrations and orders is for this municipality alone.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(member_url(municipality))
    reads = [
        q["sql"] for q in queries if 'FROM "members_vendorassignment"' in q["sql"] or 'FROM "orders_order"' in q["sql"]
    ]
    assert reads
    for sql in reads:
        assert f'"organisation_id" = {municipality.pk}' in sql, sql


def test_the_clients_acting_for_an_organisation_are_those_whose_tenants_include_it(
    municipality, other_municipality, vendor, vendor_user, epj, django_assert_num_queries
):
    from members.models import SupportedService, VendorAssignment, VendorSystem
    from orders import helseid
    from orders.models import Order, Service

    multi = municipality_using(municipality, vendor, epj, vendor_user)
    alarm = VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm", kind="vft")
    SupportedService.objects.create(system=alarm, service=Service.objects.get(code="vkp-patient"), environment="test")
    by = AffiliationFactory(role=Affiliation.Role.ADMIN).user
    for organisation in (municipality, other_municipality):
        VendorAssignment.objects.create(organisation=organisation, system=alarm, environment="test", created_by=by)
    single = helseid.client_create(
        system=alarm, environment="test", tenancy="single-tenant", tenant=municipality, by=vendor_user
    )
    helseid.client_create(
        system=alarm, environment="test", tenancy="single-tenant", tenant=other_municipality, by=vendor_user
    )  # another municipality's own client
    # Ordered but not supported by the alarm: no scope from it; supported but not ordered: none either.
    Order.objects.create(
        organisation=municipality, service=Service.objects.get(code="vkp-careplan"), environment="test",
        state="active", created_by=by,
    )  # fmt: skip
    with django_assert_num_queries(4):
        acting = helseid.clients_acting_for(municipality)
    assert acting == [(multi, ["nhn:jft/api"]), (single, [])]  # by system name
    # The same answer as each client's whole tenant list gives for the municipality.
    for client_, scopes in acting:
        (expected,) = [t.scopes for t in helseid.client_tenants(client_) if t.organisation == municipality]
        assert scopes == expected


def test_the_vendor_dashboard_pages_its_single_tenant_clients(client, vendor, vendor_user, epj):
    from orders.models import HelseIdClient

    def add_clients(count):
        HelseIdClient.objects.bulk_create(
            HelseIdClient(system=epj, environment="test", tenancy="single-tenant", tenant=o, created_by=vendor_user)
            for o in add_tenants(epj, count)
        )

    client.force_login(vendor_user)
    add_clients(5)
    queries_5, _size_5 = measure(client, vendor_url(vendor))
    add_clients(45)
    _queries_50, size_50 = measure(client, vendor_url(vendor))
    add_clients(450)
    queries_500, size_500 = measure(client, vendor_url(vendor))
    assert queries_500 == queries_5 and size_500 < 1.05 * size_50
    second = client.get(vendor_url(vendor), {"klientside": 10}).content.decode()
    assert 'href="?klientside=9#clients-heading"' in second and "klientside=11" not in second
