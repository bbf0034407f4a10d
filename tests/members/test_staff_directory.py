"""NHN staff's directory of organisations (issue 16) and the order queue's membership and usage-terms columns."""

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from members.models import (
    Acceptance,
    Affiliation,
    Membership,
    Organisation,
    OrganisationClaim,
    TermsDocument,
    VendorSystem,
)
from members.selectors import organisation_directory
from orders.models import HelseIdClient, Order, ProvisioningTask, Service
from tests.factories import OrganisationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

URL = "/kundesenter/virksomheter/"


@pytest.fixture
def journaling():
    return Service.objects.get(code="vkp-journaling")


@pytest.fixture
def staff_client(client, nhn_staff):
    """NHN staff, reading the portal in English (the texts asserted below)."""
    client.force_login(nhn_staff)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def member(organisation, state=Membership.State.ACTIVE):
    return Membership.objects.create(organisation=organisation, applied_by=UserFactory(), state=state)


def order(organisation, service, *, environment="test", state=Order.State.ACTIVE):
    return Order.objects.create(
        organisation=organisation, service=service, environment=environment, state=state, created_by=UserFactory()
    )


def listed(response) -> list[str]:
    return [organisation.name for organisation in response.context["page"].object_list]


def test_the_url_is_the_named_one():
    assert reverse("staff_organisation_directory") == URL


def test_search_by_name_ignores_case_and_finds_part_of_a_name(staff_client):
    OrganisationFactory(name="Vidda kommune")
    OrganisationFactory(name="Sjøvik kommune")
    assert listed(staff_client.get(URL, {"q": "VIDDA"})) == ["Vidda kommune"]
    assert listed(staff_client.get(URL, {"q": "øvik"})) == ["Sjøvik kommune"]
    assert sorted(listed(staff_client.get(URL, {"q": "kommune"}))) == ["Sjøvik kommune", "Vidda kommune"]


def test_nine_digits_find_exactly_that_organisation_as_people_write_it(staff_client):
    wanted = OrganisationFactory(name="Vidda kommune")
    OrganisationFactory(name="Sjøvik kommune")
    spaced = f"{wanted.org_number[:3]} {wanted.org_number[3:6]} {wanted.org_number[6:]}"
    assert listed(staff_client.get(URL, {"q": wanted.org_number})) == ["Vidda kommune"]
    assert listed(staff_client.get(URL, {"q": spaced})) == ["Vidda kommune"]
    assert listed(staff_client.get(URL, {"q": "399999999"})) == []


def test_fewer_digits_find_the_numbers_starting_with_them(staff_client):
    wanted = OrganisationFactory(name="Vidda kommune")
    assert "Vidda kommune" in listed(staff_client.get(URL, {"q": wanted.org_number[:5]}))
    assert listed(staff_client.get(URL, {"q": "8"})) == []  # the factories' numbers start with 3


def test_filter_by_kind(staff_client):
    OrganisationFactory(name="Vidda kommune")
    VendorFactory(name="Journalhuset AS")
    assert listed(staff_client.get(URL, {"kind": Organisation.Kind.VENDOR})) == ["Journalhuset AS"]
    assert listed(staff_client.get(URL, {"kind": Organisation.Kind.MUNICIPALITY})) == ["Vidda kommune"]
    assert listed(staff_client.get(URL, {"kind": Organisation.Kind.PARTNER})) == []


def test_filter_by_the_current_membership_state_or_none(staff_client):
    member(OrganisationFactory(name="Aktiv kommune"))
    member(OrganisationFactory(name="Ventende kommune"), Membership.State.PENDING_APPROVAL)
    OrganisationFactory(name="Ny kommune")
    # An organisation rejected once and now active again counts as active, not as rejected.
    again = OrganisationFactory(name="Igjen kommune")
    member(again, Membership.State.REJECTED)
    member(again)
    assert sorted(listed(staff_client.get(URL, {"membership": "active"}))) == ["Aktiv kommune", "Igjen kommune"]
    assert listed(staff_client.get(URL, {"membership": "pending_approval"})) == ["Ventende kommune"]
    assert listed(staff_client.get(URL, {"membership": "rejected"})) == []
    assert listed(staff_client.get(URL, {"membership": "none"})) == ["Ny kommune"]


def test_filter_by_environment_with_orders_and_the_counts_per_environment(staff_client, journaling):
    patient = Service.objects.get(code="vkp-patient")
    both = OrganisationFactory(name="Begge kommune")
    order(both, journaling)
    order(both, patient, state=Order.State.SUBMITTED)
    order(both, journaling, environment="prod")
    test_only = OrganisationFactory(name="Test kommune")
    order(test_only, journaling)
    order(test_only, patient, environment="prod", state=Order.State.DRAFT)  # a basket, not an order NHN sees
    order(test_only, patient, environment="prod", state=Order.State.ENDED)
    OrganisationFactory(name="Ingen kommune")
    assert sorted(listed(staff_client.get(URL, {"environment": "test"}))) == ["Begge kommune", "Test kommune"]
    assert listed(staff_client.get(URL, {"environment": "prod"})) == ["Begge kommune"]
    rows = {o.name: (o.test_orders, o.prod_orders) for o in staff_client.get(URL).context["page"].object_list}
    assert rows == {"Begge kommune": (2, 1), "Test kommune": (1, 0), "Ingen kommune": (0, 0)}


def test_needs_nhn_finds_each_thing_waiting_and_nothing_else(staff_client, journaling):
    member(OrganisationFactory(name="A medlemskap venter"), Membership.State.PENDING_APPROVAL)
    order(OrganisationFactory(name="B bestilling venter"), journaling, state=Order.State.SUBMITTED)
    order(OrganisationFactory(name="C oppsett feilet"), journaling, state=Order.State.FAILED)
    step_failed = order(OrganisationFactory(name="D steg feilet"), journaling, state=Order.State.PROVISIONING)
    ProvisioningTask.objects.create(
        kind=ProvisioningTask.Kind.VKP_ACCESS, reason=ProvisioningTask.Reason.ORDER_APPROVED, target="vkp:test:x",
        payload={}, order=step_failed, state=ProvisioningTask.State.FAILED, last_error="409",
    )  # fmt: skip
    claimed = OrganisationFactory(name="E søknad venter")
    OrganisationClaim.objects.create(organisation=claimed, claimant=UserFactory(), role=Affiliation.Role.ADMIN)
    calm = OrganisationFactory(name="F alt i orden")
    member(calm)
    order(calm, journaling)
    # A vendor's own HelseID client whose update failed: the vendor waits for NHN too.
    vendor = VendorFactory(name="G klientsteg feilet")
    system = VendorSystem.objects.create(vendor=vendor, name="Alarm", kind="vft")
    own_client = HelseIdClient.objects.create(
        system=system, environment="test", tenancy="multi-tenant", created_by=UserFactory()
    )
    ProvisioningTask.objects.create(
        kind=ProvisioningTask.Kind.HELSEID_CLIENT, reason=ProvisioningTask.Reason.KEYS_CHANGED, target="client:x",
        payload={}, client=own_client, state=ProvisioningTask.State.FAILED, last_error="500",
    )  # fmt: skip
    response = staff_client.get(URL, {"needs_nhn": "on"})
    assert listed(response) == [
        "A medlemskap venter",
        "B bestilling venter",
        "C oppsett feilet",
        "D steg feilet",
        "E søknad venter",
        "G klientsteg feilet",
    ]
    page = response.content.decode()
    for reason in (
        "Membership waits for approval",
        "Orders wait for approval",
        "Set-up failed",
        "Application to administer waits",
    ):
        assert reason in page
    assert len(listed(staff_client.get(URL))) == 7


def test_filters_combine(staff_client, journaling):
    member(OrganisationFactory(name="Vidda kommune"), Membership.State.PENDING_APPROVAL)
    member(VendorFactory(name="Vidda Data AS"), Membership.State.PENDING_APPROVAL)
    member(OrganisationFactory(name="Vidda Nord kommune"))
    query = {"q": "vidda", "kind": "municipality", "membership": "pending_approval", "needs_nhn": "on"}
    assert listed(staff_client.get(URL, query)) == ["Vidda kommune"]


def test_a_filter_that_does_not_validate_says_so_and_lists_everything(staff_client):
    OrganisationFactory(name="Vidda kommune")
    response = staff_client.get(URL, {"kind": "castle", "q": "x" * 300})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"kind", "q"}
    assert listed(response) == ["Vidda kommune"]


def test_pagination_is_fifty_a_page_in_name_order(staff_client):
    Organisation.objects.bulk_create(OrganisationFactory.build(name=f"Kommune {n:03d}") for n in range(120))
    first = staff_client.get(URL)
    assert first.context["page"].paginator.num_pages == 3
    assert listed(first)[:2] == ["Kommune 000", "Kommune 001"] and len(listed(first)) == 50
    last = staff_client.get(URL, {"side": 3})
    assert listed(last) == [f"Kommune {n:03d}" for n in range(100, 120)]
    assert "Page 3 of 3" in last.content.decode()
    # The filter travels with the page links.
    filtered = staff_client.get(URL, {"kind": "municipality"})
    assert "kind=municipality&amp;side=2" in filtered.content.decode()


def test_htmx_gets_only_the_table(staff_client):
    OrganisationFactory(name="Vidda kommune")
    response = staff_client.get(URL, {"q": "vidda"}, HTTP_HX_REQUEST="true")
    assert response.templates[0].name == "members/staff/_organisation_table.html"
    assert "<h1" not in response.content.decode() and "Vidda kommune" in response.content.decode()


def test_every_row_links_to_the_organisations_lifecycle_page(staff_client):
    member(OrganisationFactory(name="Vidda kommune"))
    newcomer = OrganisationFactory(name="Ny kommune")  # no membership yet: still one page to see it whole
    page = staff_client.get(URL).content.decode()
    assert f'href="{reverse("organisation_lifecycle", args=[newcomer.org_number])}">Ny kommune</a>' in page
    assert ">Vidda kommune</a>" in page


@pytest.mark.parametrize("persona", ["municipal_admin", "vendor_user"])
def test_only_nhn_staff_may_open_it(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(URL).status_code == 403


def test_anonymous_is_sent_to_log_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def _many_organisations(rows, journaling):
    creator = UserFactory()
    organisations = Organisation.objects.bulk_create(OrganisationFactory.build() for _ in range(rows))
    Membership.objects.bulk_create(
        Membership(organisation=o, applied_by=creator, state=Membership.State.PENDING_APPROVAL) for o in organisations
    )
    Order.objects.bulk_create(
        Order(organisation=o, service=journaling, environment=env, state=Order.State.SUBMITTED, created_by=creator)
        for o in organisations
        for env in ("test", "prod")
    )


@pytest.mark.parametrize("rows", [5, 500])
def test_directory_queries_are_bounded(staff_client, journaling, rows, django_assert_max_num_queries):
    _many_organisations(rows, journaling)
    with django_assert_max_num_queries(6):  # session, user, the count, one page: never a query per row
        response = staff_client.get(URL, {"needs_nhn": "on"})
    assert len(response.context["page"].object_list) == min(rows, 50)
    assert {(o.test_orders, o.prod_orders) for o in response.context["page"].object_list} == {(1, 1)}


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_name_search_uses_the_trigram_index():
    # Without the ordering: on a handful of test rows the planner may rather walk the name index
    # (organisation_by_name) and filter; what matters here is that the search is one the trigram index serves.
    assert "members_organisation_name_trgm" in _plan(organisation_directory(search="vidda").order_by()[:50])


def test_the_dashboard_counts_link_to_the_directory_by_kind(staff_client):
    OrganisationFactory()
    VendorFactory()
    page = staff_client.get(reverse("staff_dashboard")).content.decode()
    assert f'href="{URL}?kind=municipality"' in page
    assert f'href="{URL}?kind=vendor"' in page
    assert f'href="{URL}?needs_nhn=on"' in page


def test_the_dashboard_counts_each_kind_up_to_the_cap_and_says_more_than(staff_client, monkeypatch):
    from portal.pagination import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    vendors_before = Organisation.objects.filter(kind="vendor").count()
    municipalities = Organisation.objects.filter(kind="municipality").count()
    for _ in range(4 - min(municipalities, 4)):
        OrganisationFactory()
    for _ in range(max(0, 2 - vendors_before)):
        VendorFactory()

    response = staff_client.get(reverse("staff_dashboard"))

    counts = {kind: (total, more) for kind, _label, total, more in response.context["organisation_counts"]}
    assert counts["municipality"] == (3, True)
    assert counts["vendor"] == (min(max(vendors_before, 2), 3), max(vendors_before, 2) > 3)
    assert "more than 3" in response.content.decode()  # this staff member reads English


def test_the_directory_counts_up_to_the_cap(staff_client, monkeypatch):
    from portal.pagination import CappedCountPaginator

    for _ in range(3):
        OrganisationFactory()
    monkeypatch.setattr(CappedCountPaginator, "cap", 2)

    response = staff_client.get(URL)

    assert response.context["page"].paginator.more_than_counted
    assert "More than 2 organisations" in response.content.decode()


def test_the_directory_and_the_membership_queue_escape_what_they_show(staff_client):
    # Both tables' rows are built in Python (members_tags): a name is text, never markup.
    hostile = OrganisationFactory(name='Ås & <img src=x onerror="y">')
    membership = Membership.objects.create(
        organisation=hostile, applied_by=UserFactory(), state=Membership.State.PENDING_APPROVAL
    )

    directory = staff_client.get(URL, {"q": "Ås"}).content.decode()
    queue = staff_client.get(reverse("staff_membership_queue")).content.decode()

    shown = "Ås &amp; &lt;img src=x onerror=&quot;y&quot;&gt;"
    assert shown in directory and shown in queue
    assert "<img src=x" not in directory and "<img src=x" not in queue
    assert f'href="/virksomhet/{hostile.org_number}/"' in directory
    assert "Membership waits for approval" in directory
    row = queue[queue.index(f'<tr id="membership-{membership.public_id}">') :]
    row = row[: row.index("</tr>")]
    assert row.count('name="csrfmiddlewaretoken"') == 2  # approve and reject, each its own form
    assert f"/kundesenter/medlemskap/{membership.public_id}/godkjenn/" in row


# The order queue's columns about the organisation ------------------------------------------------------

QUEUE = "/kundesenter/bestillinger/"


def sign_usage_terms(organisation, document):
    return Acceptance.objects.create(
        organisation=organisation, document=document, document_sha256=document.sha256, signed_by=UserFactory(),
        signer_name="Kari Kommunedirektør", authority="register_role", authority_detail="DAGL",
    )  # fmt: skip


def publish_new_usage_terms(service, nhn_staff, *, in_force: bool):
    from datetime import timedelta

    from django.utils import timezone

    document = TermsDocument.objects.create(
        kind=TermsDocument.Kind.USAGE, service_code=service.code, version="99.0", title="Bruksvilkår", body="Ny tekst."
    )
    when = timezone.now() + (timedelta(seconds=-1) if in_force else timedelta(days=30))
    document.publish(by=nhn_staff, effective_from=when, change_note="Endret.")
    return document


def queue_rows(response) -> dict[str, tuple]:
    return {
        o.organisation.name: (o.membership_state, o.usage_terms_state) for o in response.context["page"].object_list
    }


def test_the_queue_shows_each_organisations_membership_and_usage_terms(staff_client, nhn_staff, journaling):
    current = TermsDocument.objects.current(TermsDocument.Kind.USAGE, journaling.code)
    signed = OrganisationFactory(name="Signert kommune")
    member(signed)
    lapsed = OrganisationFactory(name="Utløpt kommune")
    member(lapsed, Membership.State.SUSPENDED)
    unsigned = OrganisationFactory(name="Usignert kommune")
    for organisation in (signed, lapsed, unsigned):
        order(organisation, journaling, environment="prod", state=Order.State.SUBMITTED)
    sign_usage_terms(signed, current)
    sign_usage_terms(lapsed, current)
    newer = publish_new_usage_terms(journaling, nhn_staff, in_force=True)
    sign_usage_terms(signed, newer)
    response = staff_client.get(QUEUE)
    assert queue_rows(response) == {
        "Signert kommune": ("active", "signed"),
        "Utløpt kommune": ("suspended", "lapsed"),
        "Usignert kommune": (None, "not_signed"),
    }
    page = response.content.decode()
    for text in ("Signed", "Must be accepted again", "Not signed", "Suspended", "No membership"):
        assert text in page


def test_an_old_signature_still_counts_until_the_new_version_takes_effect(staff_client, nhn_staff, journaling):
    organisation = OrganisationFactory(name="Signert kommune")
    order(organisation, journaling, environment="prod", state=Order.State.SUBMITTED)
    sign_usage_terms(organisation, TermsDocument.objects.current(TermsDocument.Kind.USAGE, journaling.code))
    publish_new_usage_terms(journaling, nhn_staff, in_force=False)
    assert queue_rows(staff_client.get(QUEUE)) == {"Signert kommune": (None, "signed")}


def test_the_queue_links_the_organisation_to_its_lifecycle_page(staff_client, journaling):
    organisation = OrganisationFactory(name="Vidda kommune")
    order(organisation, journaling, state=Order.State.SUBMITTED)
    page = staff_client.get(QUEUE).content.decode()
    lifecycle = reverse("organisation_lifecycle", args=[organisation.org_number])
    assert f'href="{lifecycle}">Vidda kommune</a>' in page
    assert staff_client.get(lifecycle).status_code == 200


def test_a_decision_from_the_queue_returns_the_row_with_its_columns(staff_client, journaling):
    organisation = OrganisationFactory(name="Vidda kommune")
    member(organisation)
    submitted = order(organisation, journaling, environment="prod", state=Order.State.SUBMITTED)
    response = staff_client.post(
        reverse("staff_order_decide", args=[submitted.public_id, "avvis"]),
        {"from": "queue", "reason": "Mangler avtale."},
        HTTP_HX_REQUEST="true",
    )
    assert response.templates[0].name == "orders/staff/_order_row.html"
    row = response.content.decode()
    assert "Active" in row and "Not signed" in row


@pytest.mark.parametrize("rows", [5, 500])
def test_queue_columns_keep_the_queries_bounded(staff_client, journaling, rows, django_assert_max_num_queries):
    _many_organisations(rows, journaling)
    current = TermsDocument.objects.current(TermsDocument.Kind.USAGE, journaling.code)
    signer = UserFactory()
    Acceptance.objects.bulk_create(
        Acceptance(
            organisation=o, document=current, document_sha256=current.sha256, signed_by=signer, signer_name="Kari",
            authority="register_role", authority_detail="DAGL",
        )
        for o in Organisation.objects.all()[: rows // 2]
    )  # fmt: skip
    with django_assert_max_num_queries(10):  # the queue's own bound (tests/orders/test_ordering.py)
        response = staff_client.get(QUEUE, {"state": "submitted"})
    orders = response.context["page"].object_list
    assert len(orders) == 50 if rows == 500 else len(orders) == 2 * rows
    assert {o.membership_state for o in orders} == {"pending_approval"}
    assert {o.usage_terms_state for o in orders} <= {"signed", "not_signed"}


def test_the_queue_with_its_membership_column_still_walks_its_index():
    from orders import selectors

    queue = selectors.with_membership_state(selectors.order_queue(state=Order.State.SUBMITTED))
    assert "order_queue_state_submitted" in _plan(queue[:50])
