"""Ordering: every invariant tried through the services and through the web, forged POSTs included."""

import io

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from members.models import Acceptance, Affiliation, InvalidTransition, Membership, TermsDocument
from orders import services
from orders.models import Order, Service, TestEnvironmentException
from portal.models import AuditEvent
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

TEST, PROD = "test", "prod"


@pytest.fixture(autouse=True)
def _english_messages():
    with translation.override("en"):
        yield


@pytest.fixture
def journaling():
    return Service.objects.get(code="vkp-journaling")


@pytest.fixture
def patient():
    return Service.objects.get(code="vkp-patient")


def make_member(organisation, active=True):
    applicant = UserFactory()
    Membership.objects.create(
        organisation=organisation, applied_by=applicant, state="active" if active else "pending_approval"
    )


def accept_usage_terms(organisation, service):
    terms = TermsDocument.objects.current("usage", service.code)
    return Acceptance.objects.create(
        organisation=organisation, document=terms, document_sha256=terms.sha256, signed_by=UserFactory(),
        signer_name="Kari Kommunedirektør", authority="register_role", authority_detail="DAGL",
    )  # fmt: skip


@pytest.fixture
def nordvik():
    """A synthetic municipality: test environment only."""
    return OrganisationFactory(org_number="313231593", name="Testkommune Nordvik")


@pytest.fixture
def oslo():
    """A real municipality with an active membership: production."""
    organisation = OrganisationFactory(org_number="958935420", name="Oslo kommune")
    make_member(organisation)
    return organisation


def admin_of(organisation):
    return AffiliationFactory(organisation=organisation, role=Affiliation.Role.ADMIN).user


@pytest.fixture
def nordvik_admin(nordvik):
    return admin_of(nordvik)


@pytest.fixture
def oslo_admin(oslo):
    return admin_of(oslo)


def blockers(organisation, service, environment, for_submit=False):
    return services.order_blockers(
        organisation=organisation, service=service, environment=environment, for_submit=for_submit
    )


# The invariants --------------------------------------------------------------------------------------


def test_a_synthetic_municipality_orders_in_test(nordvik, nordvik_admin, journaling):
    assert blockers(nordvik, journaling, TEST) == []
    order = services.basket_add(organisation=nordvik, service=journaling, environment=TEST, by=nordvik_admin)
    services.basket_submit(organisation=nordvik, environment=TEST, by=nordvik_admin)
    order.refresh_from_db()
    assert order.state == Order.State.SUBMITTED


def test_a_synthetic_municipality_cannot_order_production(nordvik, journaling):
    make_member(nordvik)
    assert any("synthetic" in b for b in blockers(nordvik, journaling, PROD))


def test_a_real_organisation_needs_an_exception_for_test(oslo, journaling, nhn_staff):
    assert any("synthetic organisations only" in b for b in blockers(oslo, journaling, TEST))
    TestEnvironmentException.objects.create(organisation=oslo, reason="Pilot", approved_by=nhn_staff)
    assert blockers(oslo, journaling, TEST) == []


def test_production_needs_an_active_membership(journaling):
    pending = OrganisationFactory(org_number="964338531", name="Bergen kommune")
    make_member(pending, active=False)
    assert any("active membership" in b for b in blockers(pending, journaling, PROD))


def test_production_needs_the_current_usage_terms_accepted(oslo, oslo_admin, journaling):
    services.basket_add(organisation=oslo, service=journaling, environment=PROD, by=oslo_admin)
    with pytest.raises(ValidationError, match="usage terms"):
        services.basket_submit(organisation=oslo, environment=PROD, by=oslo_admin)
    assert Order.objects.get().state == Order.State.DRAFT

    acceptance = accept_usage_terms(oslo, journaling)
    services.basket_submit(organisation=oslo, environment=PROD, by=oslo_admin)
    order = Order.objects.get()
    assert (order.state, order.usage_acceptance) == (Order.State.SUBMITTED, acceptance)


def test_usage_terms_of_an_older_version_do_not_count(oslo, oslo_admin, journaling, nhn_staff):
    from members.services import terms_draft_create, terms_publish

    accept_usage_terms(oslo, journaling)
    newer = terms_draft_create(
        kind="usage", service_code=journaling.code, version="2.0", title="Bruksvilkår", body="Nye vilkår",
        by=nhn_staff,
    )  # fmt: skip
    terms_publish(document=newer, by=nhn_staff)  # the draft's date: now, so in force at once
    assert any("usage terms" in b for b in blockers(oslo, journaling, PROD, for_submit=True))


def test_a_service_not_available_in_an_environment_cannot_be_ordered(oslo, oslo_admin, patient):
    accept_usage_terms(oslo, patient)
    assert any("Not available in production" in b for b in blockers(oslo, patient, PROD))
    with pytest.raises(ValidationError):
        services.basket_add(organisation=oslo, service=patient, environment=PROD, by=oslo_admin)
    assert not Order.objects.exists()


def test_an_epic_only_service_needs_epic(nordvik):
    condition = Service.objects.get(code="vkp-condition")
    condition.test_availability = "available"  # even once available, the EPJ rule holds
    assert any("Epic" in b for b in blockers(nordvik, condition, TEST))


def test_a_public_only_service_refuses_private_organisations(journaling):
    journaling.requires_public_organisation = True
    private = OrganisationFactory(is_public=False, kind="private_practice")
    assert any("public organisations" in b for b in blockers(private, journaling, TEST))


def test_one_live_order_per_organisation_service_and_environment(nordvik, nordvik_admin, journaling):
    first = services.basket_add(organisation=nordvik, service=journaling, environment=TEST, by=nordvik_admin)
    again = services.basket_add(organisation=nordvik, service=journaling, environment=TEST, by=nordvik_admin)
    assert first.pk == again.pk
    services.basket_submit(organisation=nordvik, environment=TEST, by=nordvik_admin)
    with pytest.raises(ValidationError, match="already ordered"):
        services.basket_add(organisation=nordvik, service=journaling, environment=TEST, by=nordvik_admin)
    with pytest.raises(IntegrityError):
        Order.objects.create(organisation=nordvik, service=journaling, environment=TEST, created_by=nordvik_admin)


def test_an_ended_order_can_be_ordered_again(nordvik, nordvik_admin, journaling, nhn_staff):
    order = services.basket_add(organisation=nordvik, service=journaling, environment=TEST, by=nordvik_admin)
    services.basket_submit(organisation=nordvik, environment=TEST, by=nordvik_admin)
    services.order_approve(order=order, by=nhn_staff)
    services.order_end(order=Order.objects.get(pk=order.pk), by=nhn_staff, reason="Avsluttet avtale")
    assert services.basket_add(organisation=nordvik, service=journaling, environment=TEST, by=nordvik_admin)


def test_submit_is_all_or_nothing(oslo, oslo_admin, journaling):
    other = Service.objects.get(code="vkp-observation")
    services.basket_add(organisation=oslo, service=journaling, environment=PROD, by=oslo_admin)
    accept_usage_terms(oslo, journaling)
    Order.objects.create(organisation=oslo, service=other, environment=PROD, created_by=oslo_admin)  # forged draft
    with pytest.raises(ValidationError):
        services.basket_submit(organisation=oslo, environment=PROD, by=oslo_admin)
    assert set(Order.objects.values_list("state", flat=True)) == {Order.State.DRAFT}


# Life cycle ------------------------------------------------------------------------------------------


@pytest.fixture
def submitted(nordvik, nordvik_admin, journaling):
    order = services.basket_add(organisation=nordvik, service=journaling, environment=TEST, by=nordvik_admin)
    services.basket_submit(organisation=nordvik, environment=TEST, by=nordvik_admin)
    order.refresh_from_db()
    return order


def test_approval_with_nothing_to_set_up_activates_at_once(
    submitted, nhn_staff, nordvik_admin, django_capture_on_commit_callbacks
):
    # No vendor system is registered yet: no access to grant, so the order is in force at once.
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order=submitted, by=nhn_staff)
    submitted.refresh_from_db()
    assert submitted.state == Order.State.ACTIVE
    assert submitted.activated_at is not None
    assert not submitted.provisioning_tasks.exists()
    actions = list(
        AuditEvent.objects.filter(object_type="orders.order", object_id=str(submitted.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["order.drafted", "order.submitted", "order.approved", "order.provisioning", "order.activated"]
    assert [m.to for m in mail.outbox] == [
        [nordvik_admin.email]
    ]  # one mail: active (issue 17: not approved, then active)
    assert "Aktiv" in mail.outbox[-1].subject


def test_cancel_before_approval_only(submitted, nordvik_admin, nhn_staff):
    services.order_cancel(order=submitted, by=nordvik_admin)
    assert submitted.state == Order.State.CANCELLED
    with pytest.raises(InvalidTransition):
        services.order_approve(order=submitted, by=nhn_staff)


def test_rejection_needs_a_reason(submitted, nhn_staff):
    with pytest.raises(ValidationError, match="reason"):
        services.order_reject(order=submitted, by=nhn_staff, reason="")
    services.order_reject(order=submitted, by=nhn_staff, reason="Mangler avtale")
    assert submitted.state == Order.State.REJECTED


def test_bulk_approval_takes_test_orders_only(submitted, oslo, oslo_admin, journaling, nhn_staff):
    accept_usage_terms(oslo, journaling)
    services.basket_add(organisation=oslo, service=journaling, environment=PROD, by=oslo_admin)
    services.basket_submit(organisation=oslo, environment=PROD, by=oslo_admin)
    approved, problems = services.orders_approve_test_in_bulk(
        orders=Order.objects.filter(state=Order.State.SUBMITTED), by=nhn_staff
    )
    assert approved == 1 and len(problems) == 1
    assert Order.objects.get(environment=PROD).state == Order.State.SUBMITTED


def test_test_orders_from_active_members_can_auto_approve(nordvik, nordvik_admin, journaling, settings):
    settings.ORDERS_AUTO_APPROVE_TEST = True
    make_member(nordvik)
    order = services.basket_add(organisation=nordvik, service=journaling, environment=TEST, by=nordvik_admin)
    services.basket_submit(organisation=nordvik, environment=TEST, by=nordvik_admin)
    order.refresh_from_db()
    assert order.state == Order.State.ACTIVE  # approved without a person; nothing to set up yet
    assert AuditEvent.objects.get(action="order.approved").after["automatic"] is True


# Through the web -------------------------------------------------------------------------------------


def post_add(client, organisation, service_code, environment=TEST, **extra):
    return client.post(
        reverse("basket_add", args=[organisation.org_number]), {"service": service_code, "miljo": environment}, **extra
    )


def test_htmx_add_and_remove_without_reload(client, nordvik, nordvik_admin):
    client.force_login(nordvik_admin)
    response = post_add(client, nordvik, "vkp-journaling", HTTP_HX_REQUEST="true")
    assert response.templates[0].name == "orders/_catalogue_body.html"
    order = Order.objects.get()
    assert order.state == Order.State.DRAFT
    response = client.post(reverse("basket_remove", args=[nordvik.org_number, order.public_id]), HTTP_HX_REQUEST="true")
    order.refresh_from_db()
    assert order.state == Order.State.CANCELLED


def test_a_forged_add_for_an_unavailable_service_orders_nothing(client, oslo, oslo_admin):
    client.force_login(oslo_admin)
    post_add(client, oslo, "vkp-condition", PROD)
    post_add(client, oslo, "vkp-journaling", TEST)  # real org, no test exception
    post_add(client, oslo, "vkp-journaling", "staging")  # not an environment: treated as test, refused
    assert not Order.objects.exists()


def test_a_forged_production_submit_without_usage_terms_sends_nothing(client, oslo, oslo_admin):
    client.force_login(oslo_admin)
    post_add(client, oslo, "vkp-journaling", PROD)
    response = client.post(reverse("basket_submit", args=[oslo.org_number]), {"miljo": PROD}, follow=True)
    assert Order.objects.get().state == Order.State.DRAFT
    assert any("bruksvilkårene" in str(m) for m in response.context["messages"])  # the page is in bokmål


@pytest.mark.parametrize("role", [Affiliation.Role.VIEWER, Affiliation.Role.SIGNATORY])
def test_only_administrators_order(client, nordvik, role):
    client.force_login(AffiliationFactory(organisation=nordvik, role=role).user)
    assert client.get(reverse("catalogue", args=[nordvik.org_number])).status_code == 200
    assert post_add(client, nordvik, "vkp-journaling").status_code == 403
    assert client.post(reverse("basket_submit", args=[nordvik.org_number]), {"miljo": TEST}).status_code == 403
    assert not Order.objects.exists()


def test_another_organisation_gets_404_everywhere(client, submitted, outsider, vendor_user, nordvik):
    for user in (outsider, vendor_user):
        client.force_login(user)
        assert client.get(reverse("catalogue", args=[nordvik.org_number])).status_code == 404
        assert post_add(client, nordvik, "vkp-journaling").status_code == 404
        assert client.get(reverse("order_detail", args=[submitted.public_id])).status_code == 404
        assert client.post(reverse("order_cancel", args=[submitted.public_id])).status_code == 404
        assert client.get(reverse("order_confirmation", args=[nordvik.org_number, TEST])).status_code == 404
    assert Order.objects.get().state == Order.State.SUBMITTED


def test_staff_see_any_order_but_members_cancel_their_own(client, submitted, nhn_staff, nordvik_admin):
    client.force_login(nhn_staff)
    assert client.get(reverse("order_detail", args=[submitted.public_id])).status_code == 200
    client.force_login(nordvik_admin)
    client.post(reverse("order_cancel", args=[submitted.public_id]))
    assert Order.objects.get().state == Order.State.CANCELLED


def test_the_order_confirmation_pdf(client, submitted, nordvik_admin, journaling):
    client.force_login(nordvik_admin)
    response = client.get(reverse("order_confirmation", args=["313231593", TEST]))
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Testkommune Nordvik" in text
    assert journaling.name_nb in text


def test_the_dashboard_shows_each_service_per_environment(client, submitted, nordvik_admin):
    client.force_login(nordvik_admin)
    response = client.get(reverse("member_dashboard", args=["313231593"]))
    overview = response.context["overview"]
    assert [(row.service.code, row.test.state, row.prod) for row in overview] == [
        ("vkp-journaling", Order.State.SUBMITTED, None)
    ]


def test_staff_queue_filters_and_htmx_approve(client, submitted, nhn_staff):
    client.force_login(nhn_staff)
    url = reverse("staff_order_queue")
    assert len(client.get(url).context["page"].object_list) == 1
    assert len(client.get(url, {"environment": PROD}).context["page"].object_list) == 0
    assert len(client.get(url, {"service": "vkp-patient"}).context["page"].object_list) == 0
    assert len(client.get(url, {"q": "Nordvik"}).context["page"].object_list) == 1
    assert len(client.get(url, {"older_than_days": 3}).context["page"].object_list) == 0
    response = client.post(
        reverse("staff_order_decide", args=[submitted.public_id, "godkjenn"]), {"from": "queue"}, HTTP_HX_REQUEST="true"
    )
    assert response.templates[0].name == "orders/staff/_order_row.html"
    assert Order.objects.get().state in (Order.State.APPROVED, Order.State.ACTIVE)


def test_staff_bulk_approve_through_the_web(client, submitted, nhn_staff):
    client.force_login(nhn_staff)
    client.post(reverse("staff_orders_bulk_approve"), {"orders": [str(submitted.public_id)]})
    assert Order.objects.get().state != Order.State.SUBMITTED


@pytest.mark.parametrize("url_name", ["staff_order_queue"])
def test_staff_pages_refuse_members(client, nordvik_admin, url_name):
    client.force_login(nordvik_admin)
    assert client.get(reverse(url_name)).status_code == 403


def test_forged_staff_decisions_by_a_member_are_refused(client, submitted, nordvik_admin):
    client.force_login(nordvik_admin)
    assert client.post(reverse("staff_order_decide", args=[submitted.public_id, "godkjenn"])).status_code == 403
    assert client.post(reverse("staff_orders_bulk_approve"), {"orders": [str(submitted.public_id)]}).status_code == 403
    assert Order.objects.get().state == Order.State.SUBMITTED


def test_the_queue_rows_escape_what_they_show_and_carry_a_token_in_every_form(client, nhn_staff, journaling):
    # The rows are built in Python (orders_tags.order_queue_rows): nothing a municipality typed may
    # become markup, and each form posts on its own.
    import re

    creator = UserFactory()
    hostile = OrganisationFactory(name='Ås & <b onmouseover="x">vik</b>')
    waiting = Order.objects.create(
        organisation=hostile, service=journaling, environment=TEST, state="submitted", created_by=creator
    )
    failed = Order.objects.create(
        organisation=OrganisationFactory(name="Berg"),
        service=journaling,
        environment=PROD,
        state="failed",
        last_error="HelseID said <no>",
        created_by=creator,
    )
    client.force_login(nhn_staff)

    page = client.get(reverse("staff_order_queue"), {"state": ""}).content.decode()

    assert "<b onmouseover" not in page and "&lt;no&gt;" in page
    assert "Ås &amp; &lt;b onmouseover=&quot;x&quot;&gt;vik&lt;/b&gt;" in page
    row = page[page.index(f'<tr id="order-{waiting.public_id}">') :]
    row = row[: row.index("</tr>")]
    assert f'value="{waiting.public_id}" form="bulk-form"' in row  # a waiting test order can be chosen
    assert f'href="/virksomhet/{hostile.org_number}/"' in row
    assert f'href="/bestillinger/ordre/{waiting.public_id}/"' in row
    forms = re.findall(r"<form .*?</form>", row, re.S)
    assert [re.search(r'action="([^"]+)"', form)[1] for form in forms] == [
        f"/kundesenter/bestillinger/{waiting.public_id}/godkjenn/",
        f"/kundesenter/bestillinger/{waiting.public_id}/avvis/",
    ]
    assert all('name="csrfmiddlewaretoken"' in form for form in forms)
    retry = page[page.index(f'<tr id="order-{failed.public_id}">') :]
    retry = retry[: retry.index("</tr>")]
    assert f"/kundesenter/bestillinger/{failed.public_id}/prov-igjen/" in retry
    assert 'form="bulk-form"' not in retry  # production, and not waiting


def test_a_name_search_pages_through_its_matches_oldest_first(client, nhn_staff, journaling):
    from datetime import timedelta

    from django.utils import timezone

    creator, start = UserFactory(), timezone.now() - timedelta(days=30)
    Order.objects.bulk_create(
        Order(
            organisation=OrganisationFactory(name=f"Sørvik {number:02d}" if number % 2 else f"Berg {number:02d}"),
            service=journaling,
            environment=TEST,
            state="submitted",
            submitted_at=start + timedelta(hours=number),
            created_by=creator,
        )
        for number in range(120)
    )
    client.force_login(nhn_staff)

    first = client.get(reverse("staff_order_queue"), {"state": "", "q": "vik"}).context["page"]
    second = client.get(reverse("staff_order_queue"), {"state": "", "q": "vik", "side": 2}).context["page"]

    names = [order.organisation.name for order in [*first.object_list, *second.object_list]]
    assert names == [f"Sørvik {number:02d}" for number in range(1, 120, 2)]  # 60 matches, 50 + 10, in order
    assert first.paginator.count == 60 and not first.paginator.more_than_counted
    assert all(order.membership_state is None and order.usage_terms_state is not None for order in first)


@pytest.mark.parametrize("rows", [5, 500])
def test_order_queue_queries_are_bounded(client, nhn_staff, journaling, rows, django_assert_max_num_queries):
    creator = UserFactory()
    Order.objects.bulk_create(
        Order(
            organisation=OrganisationFactory(),
            service=journaling,
            environment=TEST,
            state="submitted",
            created_by=creator,
        )
        for _ in range(rows)
    )
    client.force_login(nhn_staff)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("staff_order_queue"))
    assert len(response.context["page"].object_list) == min(rows, 50)


@pytest.mark.parametrize("rows", [5, 500])
def test_dashboard_and_catalogue_queries_are_bounded(
    client, nordvik, nordvik_admin, journaling, rows, django_assert_max_num_queries
):
    Order.objects.bulk_create(
        Order(organisation=nordvik, service=journaling, environment=TEST, state="ended", created_by=nordvik_admin)
        for _ in range(rows)
    )
    client.force_login(nordvik_admin)
    with django_assert_max_num_queries(16):  # one or two per panel, whatever the number of orders
        assert client.get(reverse("member_dashboard", args=[nordvik.org_number])).status_code == 200
    with django_assert_max_num_queries(15):  # the rules fetch their facts once, not per service
        assert client.get(reverse("catalogue", args=[nordvik.org_number])).status_code == 200


def test_staff_edit_the_catalogue_and_the_change_is_audited(client, nhn_staff, patient):
    client.force_login(nhn_staff)
    assert client.get(reverse("staff_service_list")).status_code == 200
    url = reverse("staff_service_edit", args=[patient.code])
    form = client.get(url).context["form"]
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    data.update(prod_availability="available", planned_for="", is_listed="on")
    data = {k: v for k, v in data.items() if v is not False}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    patient.refresh_from_db()
    assert patient.prod_availability == "available"
    event = AuditEvent.objects.get(action="service.updated")
    assert event.after["prod_availability"] == "available" and event.actor == nhn_staff


def test_members_cannot_edit_the_catalogue(client, nordvik_admin, patient):
    client.force_login(nordvik_admin)
    url = reverse("staff_service_edit", args=[patient.code])
    assert client.get(url).status_code == 403
    assert client.post(url, {"name_nb": "Hacket"}).status_code == 403
    patient.refresh_from_db()
    assert patient.name_nb != "Hacket"


def test_the_overview_says_a_production_draft_needs_usage_terms(client, oslo, oslo_admin, journaling):
    services.basket_add(organisation=oslo, service=journaling, environment=PROD, by=oslo_admin)
    client.force_login(oslo_admin)
    row = client.get(reverse("member_dashboard", args=[oslo.org_number])).context["overview"][0]
    assert row.prod.needs_usage_terms is True
    accept_usage_terms(oslo, journaling)
    row = client.get(reverse("member_dashboard", args=[oslo.org_number])).context["overview"][0]
    assert row.prod.needs_usage_terms is False


def test_the_overview_cell_names_the_usage_terms_step(client, oslo, oslo_admin, journaling):
    services.basket_add(organisation=oslo, service=journaling, environment=PROD, by=oslo_admin)
    client.force_login(oslo_admin)
    page = client.get(reverse("member_dashboard", args=[oslo.org_number])).content.decode()
    assert "Neste: en signaturberettiget godtar bruksvilkårene" in page
