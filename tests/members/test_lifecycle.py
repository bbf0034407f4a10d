"""The lifecycle page (issue 16): one page per organisation, the same story for its own people, NHN
staff (who see more) and a vendor it uses (who sees only its own systems), with a summary saying
where it stands and a timeline filterable by kind, in a bounded number of queries."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from members.models import (
    Acceptance,
    Affiliation,
    Membership,
    SupportedService,
    TermsDocument,
    VendorAssignment,
    VendorSystem,
)
from members.services import vendor_assignment_create
from orders import helseid, provisioning, services
from orders.models import Order, ProvisioningTask, Service
from portal.audit import audit
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

PUBLIC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "kid": "key-1",
    "alg": "ES256",
}
# The page's queries (a vendor reader needs the most): login, access, the timeline (count, page, events, steps,
# orders) and the summary; the same at 5 and at 500 events.
QUERY_BOUND = 21  # the summary reads versions, signatures, orders and assignments once (issue 15)
INTERNAL_ERROR = "System not known to the registry"


@pytest.fixture(autouse=True)
def _english_messages(client):
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        yield


def sign(organisation, document, name="Kari Kommunedirektør"):
    return Acceptance.objects.create(
        organisation=organisation, document=document, document_sha256=document.sha256, signed_by=UserFactory(),
        signer_name=name, authority="register_role", authority_detail="DAGL",
    )  # fmt: skip


@pytest.fixture
def vidda():
    """Vidda kommune: an active member that has signed the membership terms."""
    organisation = OrganisationFactory(name="Vidda kommune")
    acceptance = sign(organisation, TermsDocument.objects.current("membership"))
    Membership.objects.create(
        organisation=organisation, applied_by=UserFactory(), state="active", acceptance=acceptance
    )
    return organisation


@pytest.fixture
def vidda_admin(vidda):
    return AffiliationFactory(organisation=vidda, role=Affiliation.Role.ADMIN).user


@pytest.fixture
def alarm(vidda, vidda_admin):
    """A welfare-technology system Vidda uses in test (Journaling supported), with a multi-tenant client."""
    system = VendorSystem.objects.create(vendor=VendorFactory(name="Alarmhuset AS"), name="Trygghetsalarm", kind="vft")
    SupportedService.objects.create(
        system=system, service=Service.objects.get(code="vkp-journaling"), environment="test"
    )
    VendorAssignment.objects.create(organisation=vidda, system=system, environment="test", created_by=vidda_admin)
    client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=UserFactory()
    )
    helseid.client_keys_add(client=client, keys_text=json.dumps(PUBLIC_JWK), by=UserFactory())
    return system


@pytest.fixture
def alarm_user(alarm):
    return AffiliationFactory(organisation=alarm.vendor, role=Affiliation.Role.VENDOR_USER).user


@pytest.fixture
def other_system(vidda, vidda_admin):
    """Another vendor's system Vidda uses: the alarm vendor must not see it."""
    system = VendorSystem.objects.create(vendor=VendorFactory(name="Journalhuset AS"), name="Hemmelig EPJ", kind="epj")
    VendorAssignment.objects.create(organisation=vidda, system=system, environment="test", created_by=vidda_admin)
    return system


@pytest.fixture
def submitted(vidda, vidda_admin):
    order = Order.objects.create(
        organisation=vidda,
        service=Service.objects.get(code="vkp-journaling"),
        environment="test",
        created_by=vidda_admin,
    )
    order.submit(by=vidda_admin)
    return order


def run_outbox(limit=50):
    for _ in range(limit):
        pending = list(ProvisioningTask.objects.filter(state="pending").values_list("pk", flat=True))
        if not pending:
            return
        for task_id in pending:
            provisioning.task_run(task_id, allow_early=True)
    raise AssertionError("the outbox never emptied")


@pytest.fixture
def failed_setup(submitted, alarm, nhn_staff, simulator):
    """Approved, and the VKP grant failed at once (a 4xx): the order waits for NHN."""
    simulator.fault(match="PUT /vkp/grants", status=400, message=INTERNAL_ERROR, times=1)
    services.order_approve(order=submitted, by=nhn_staff)
    run_outbox()
    submitted.refresh_from_db()
    assert submitted.state == "failed"
    return submitted


def page(client, user, organisation, **query):
    client.force_login(user)
    return client.get(reverse("organisation_lifecycle", args=[organisation.org_number]), query)


# Who may read it ----------------------------------------------------------------------------------------


def test_the_administrator_sees_their_own_organisations_story(client, vidda, vidda_admin, alarm, submitted):
    response = page(client, vidda_admin, vidda)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Vidda kommune" in text
    assert "Kari Kommunedirektør" in text  # who signed, on what authority
    assert "Trygghetsalarm" in text and "Orders are waiting for NHN&#x27;s approval." in text


def test_nhn_staff_see_any_organisation(client, vidda, nhn_staff):
    response = page(client, nhn_staff, vidda)
    assert response.status_code == 200
    assert reverse("staff_membership_detail", args=[vidda.memberships.get().public_id]) in response.content.decode()


def test_an_outsider_gets_404(client, vidda, outsider):
    assert page(client, outsider, vidda).status_code == 404


def test_a_vendor_not_chosen_by_the_municipality_gets_404(client, vidda, vendor_user):
    assert page(client, vendor_user, vidda).status_code == 404


def test_a_vendor_that_is_no_longer_used_gets_404(client, vidda, alarm, alarm_user):
    VendorAssignment.objects.filter(system=alarm).update(ended_at=timezone.now())
    assert page(client, alarm_user, vidda).status_code == 404


def test_an_unknown_organisation_number_gets_404(client, vidda_admin):
    client.force_login(vidda_admin)
    assert client.get(reverse("organisation_lifecycle", args=["399999998"])).status_code == 404


def test_anonymous_goes_to_the_login_page(client, vidda):
    response = client.get(reverse("organisation_lifecycle", args=[vidda.org_number]))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_the_assigned_vendor_sees_only_its_own_systems_and_no_names(client, vidda, alarm, alarm_user, other_system):
    audit(action="invitation.sent", actor=UserFactory(email="hemmelig.person@vidda.example"), obj=vidda)
    response = page(client, alarm_user, vidda)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Trygghetsalarm" in text
    assert "Hemmelig EPJ" not in text and "Journalhuset" not in text
    assert "Kari Kommunedirektør" not in text and "hemmelig.person@vidda.example" not in text
    # The kinds a vendor may not follow are not offered, and asking for them shows everything it may see.
    assert "?type=personer" not in text
    assert "hemmelig.person" not in page(client, alarm_user, vidda, type="personer").content.decode()


# The summary --------------------------------------------------------------------------------------------


def test_waiting_for_nhn_to_approve_the_membership(client, vidda, vidda_admin):
    Membership.objects.filter(organisation=vidda).update(state="pending_approval")
    assert "The membership is waiting for NHN&#x27;s approval." in page(client, vidda_admin, vidda).content.decode()


def test_no_membership_yet(client, vidda_admin, vidda):
    Membership.objects.filter(organisation=vidda).delete()
    text = page(client, vidda_admin, vidda).content.decode()
    assert "No membership yet: an authorised signatory must sign the membership terms." in text


def test_new_terms_in_force_block_production(client, vidda, vidda_admin, nhn_staff):
    newer = TermsDocument.objects.create(
        kind="membership", version="9.0", title="Medlemsvilkår 9.0", body="Nye vilkår."
    )
    newer.publish(by=nhn_staff, effective_from=timezone.now() - timedelta(minutes=1))
    text = page(client, vidda_admin, vidda).content.decode()
    assert "Production orders are blocked until the new terms are signed." in text
    assert "New terms must be accepted" in text


def test_everything_in_order(client, vidda, vidda_admin):
    assert "Everything is in order." in page(client, vidda_admin, vidda).content.decode()


def test_a_provisioning_failure_staff_see_the_error_the_municipality_a_plain_message(
    client, vidda, vidda_admin, failed_setup, nhn_staff
):
    own = page(client, vidda_admin, vidda).content.decode()
    assert "Provisioning failed: Trygghetsalarm for Vidda kommune in" in own
    assert "NHN is fixing the error." in own
    assert INTERNAL_ERROR not in own

    staff = page(client, nhn_staff, vidda).content.decode()
    assert INTERNAL_ERROR in staff
    assert "Retry or cancel the step." in staff
    assert (
        reverse("staff_task_decide", args=[ProvisioningTask.objects.get(state="failed").public_id, "prov-igjen"])
        in staff
    )
    # The failures queue leads there too.
    queue = client.get(reverse("staff_provisioning_failures")).content.decode()
    assert reverse("organisation_lifecycle", args=[vidda.org_number]) in queue


def test_staff_retry_from_the_page_and_the_repair_shows_on_its_timeline(client, vidda, failed_setup, nhn_staff):
    task = ProvisioningTask.objects.get(state="failed")
    client.force_login(nhn_staff)
    response = client.post(reverse("staff_task_decide", args=[task.public_id, "prov-igjen"]), {"from": "lifecycle"})
    assert response["Location"] == reverse("organisation_lifecycle", args=[vidda.org_number])
    run_outbox()
    text = page(client, nhn_staff, vidda, type="provisjonering").content.decode()
    assert "Set-up step retried" in text and "Set-up step failed" in text
    assert "Everything is in order." in page(client, nhn_staff, vidda).content.decode()
    failed_setup.refresh_from_db()
    assert failed_setup.state == "active"


def test_the_clients_acting_for_it_are_listed_with_their_scopes(client, vidda, vidda_admin, failed_setup, nhn_staff):
    ProvisioningTask.objects.filter(state="failed").update(state="cancelled")
    Order.objects.filter(pk=failed_setup.pk).update(state="active")
    text = page(client, vidda_admin, vidda).content.decode()
    assert "HelseID clients acting for it" in text
    assert "Trygghetsalarm (Alarmhuset AS, Test)" in text


# The timeline -------------------------------------------------------------------------------------------


def test_grants_made_when_a_system_is_registered_appear_on_the_timeline(
    client, vidda, vidda_admin, submitted, nhn_staff, alarm_user
):
    Order.objects.filter(pk=submitted.pk).update(state="active")
    system = VendorSystem.objects.create(
        vendor=alarm_user.affiliations.get().organisation, name="Nytt system", kind="vft"
    )
    SupportedService.objects.create(system=system, service=submitted.service, environment="test")
    vendor_assignment_create(
        organisation=vidda, system=system, environment="test", starts_on=timezone.localdate(), by=vidda_admin
    )
    assert ProvisioningTask.objects.filter(reason="assignment_created", order__isnull=True).exists()
    for reader in (vidda_admin, alarm_user):
        text = page(client, reader, vidda, type="systemer").content.decode()
        assert "Access granted when Nytt system was registered" in text
    # The vendor's tenant list shows the grant while it is being made (no order carries it).
    dashboard = client.get(reverse("vendor_dashboard", args=[system.vendor.org_number])).content.decode()
    assert "Access granted when Nytt system was registered" in dashboard


def test_the_kind_filter_shows_only_that_kind(client, vidda, vidda_admin, submitted):
    audit(action="invitation.sent", actor=vidda_admin, obj=vidda)
    audit(action="order.submitted", actor=vidda_admin, obj=submitted)
    everything = page(client, vidda_admin, vidda).content.decode()
    assert "Colleague invited" in everything and "Order sent to NHN" in everything
    orders = page(client, vidda_admin, vidda, type="bestillinger").content.decode()
    assert "Order sent to NHN" in orders and "Colleague invited" not in orders
    # A made-up kind shows everything rather than an error.
    assert page(client, vidda_admin, vidda, type="<script>").status_code == 200


def test_the_filter_answers_htmx_with_the_timeline_alone(client, vidda, vidda_admin, submitted):
    audit(action="order.submitted", actor=vidda_admin, obj=submitted)
    client.force_login(vidda_admin)
    response = client.get(
        reverse("organisation_lifecycle", args=[vidda.org_number]), {"type": "bestillinger"}, HTTP_HX_REQUEST="true"
    )
    text = response.content.decode()
    assert "Order sent to NHN" in text and "<html" not in text and "Where we stand" not in text


@pytest.mark.parametrize("events", [5, 500])
def test_the_page_takes_a_bounded_number_of_queries(
    client, vidda, vidda_admin, alarm_user, failed_setup, nhn_staff, events, django_assert_max_num_queries
):
    for n in range(events):
        audit(action="order.submitted" if n % 2 else "invitation.sent", actor=vidda_admin, obj=failed_setup)
    for reader in (vidda_admin, nhn_staff, alarm_user):
        client.force_login(reader)
        with django_assert_max_num_queries(QUERY_BOUND):
            response = client.get(reverse("organisation_lifecycle", args=[vidda.org_number]))
        assert response.status_code == 200
    client.force_login(vidda_admin)
    with django_assert_max_num_queries(QUERY_BOUND):
        assert client.get(reverse("organisation_lifecycle", args=[vidda.org_number]), {"side": "3"}).status_code == 200


def test_an_orders_events_link_to_the_order_on_the_timeline(client, vidda, vidda_admin, submitted):
    from portal.models import AuditEvent

    audit(action="order.submitted", actor=vidda_admin, obj=submitted)
    AuditEvent.objects.create(action="order.submitted", organisation=vidda, object_type="orders.order", object_id="x1")
    client.force_login(vidda_admin)
    timeline = client.get(reverse("organisation_lifecycle", args=[vidda.org_number]), HTTP_HX_REQUEST="true")
    text = timeline.content.decode()
    url = reverse("order_detail", args=[submitted.public_id])
    assert text.count(f'<a class="ds-link" href="{url}">') == 1  # the event with a real order id, not the other
    assert [bool(entry.url) for entry in timeline.context["entries"] if entry.kind == "bestillinger"] == [False, True]


def test_the_timeline_marks_nhns_own_details_and_escapes_them(client, vidda, vidda_admin, failed_setup, nhn_staff):
    """The entries are built in Python (members_tags.timeline_items): still escaped, NHN's notes still marked."""
    from portal.models import AuditEvent

    AuditEvent.objects.create(
        action="order.rejected", organisation=vidda, object_repr="<i>x</i>", after={"reason": "<b>no</b>"}
    )
    staff = page(client, nhn_staff, vidda, type="bestillinger").content.decode()
    assert '<p class="ds-paragraph timeline__detail internal"><span class="ds-tag" data-color="neutral">' in staff
    assert "&lt;b&gt;no&lt;/b&gt;</p>" in staff and '<span lang="nb">&lt;i&gt;x&lt;/i&gt;</span>' in staff
    assert "<b>no</b>" not in staff and "<i>x</i>" not in staff
    own = page(client, vidda_admin, vidda, type="bestillinger").content.decode()
    assert '<p class="ds-paragraph timeline__detail">&lt;b&gt;no&lt;/b&gt;</p>' in own  # the reason, for it


def test_the_timeline_page_and_its_total_in_one_query_match_the_paginator(vidda, vidda_admin, failed_setup, nhn_staff):
    """`timeline_page` reads a page and the total together; it answers what Django's paginator would, past
    the end and for what is not a page number too."""
    from django.core.paginator import Paginator

    from members import lifecycle
    from members.permissions import LifecycleViewer

    for n in range(120):
        audit(action="order.submitted" if n % 2 else "invitation.sent", actor=vidda_admin, obj=failed_setup)
    for viewer in (LifecycleViewer(is_staff=True), LifecycleViewer(roles=frozenset({"admin"}))):
        for kind in ("", "bestillinger", "personer"):
            # Beyond what OFFSET takes, too (hostile input once gave "bigint out of range" here).
            for number in (None, "1", "2", "3", "4", "99", "0", "-1", "x", "2.0", 2.0, str(2**62), "9" * 40):
                expected = Paginator(lifecycle.timeline(vidda, viewer, kind), lifecycle.PAGE_SIZE).get_page(number)
                got = lifecycle.timeline_page(vidda, viewer, kind, number)
                assert [tuple(row) for row in got.object_list] == [tuple(row) for row in expected.object_list]
                assert (got.number, got.paginator.count) == (expected.number, expected.paginator.count)


# Where it is linked from --------------------------------------------------------------------------------


def test_the_dashboard_and_history_link_to_it(client, vidda, vidda_admin):
    url = reverse("organisation_lifecycle", args=[vidda.org_number])
    client.force_login(vidda_admin)
    assert url in client.get(reverse("member_dashboard", args=[vidda.org_number])).content.decode()
    assert url in client.get(reverse("organisation_history", args=[vidda.org_number])).content.decode()


def test_staff_land_on_it_from_the_membership_and_order_pages(client, vidda, nhn_staff, submitted):
    url = reverse("organisation_lifecycle", args=[vidda.org_number])
    client.force_login(nhn_staff)
    membership = vidda.memberships.get()
    assert url in client.get(reverse("staff_membership_detail", args=[membership.public_id])).content.decode()
    assert url in client.get(reverse("order_detail", args=[submitted.public_id])).content.decode()


def test_the_vendor_dashboard_links_each_tenant(client, vidda, alarm, alarm_user):
    client.force_login(alarm_user)
    text = client.get(reverse("vendor_dashboard", args=[alarm.vendor.org_number])).content.decode()
    assert reverse("organisation_lifecycle", args=[vidda.org_number]) in text


def test_the_summary_speaks_bokmal_by_default(client, vidda, vidda_admin):
    Membership.objects.filter(organisation=vidda).update(state="pending_approval")
    client.cookies.pop("django_language")
    with translation.override("nb"):
        text = page(client, vidda_admin, vidda).content.decode()
    assert "Medlemskapet venter på godkjenning fra NHN." in text
    assert "Hvor står vi, og hva skjer nå" in text and "Tidslinje" in text
