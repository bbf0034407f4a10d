"""Issue 16: the audit log shows what changed, in the reader's language, with people's names; NHN's feed."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from orders import services
from orders.models import Order, ProvisioningTask, Service
from portal.audit import audit
from portal.audit_display import render_event
from portal.models import AuditEvent
from tests.factories import OrganisationFactory, UserFactory, register_confirmed

pytestmark = pytest.mark.django_db

FEED = reverse("staff_audit_feed")


@pytest.fixture
def approved(municipality, municipal_admin, nhn_staff):
    """An order NHN approved: one stored event with the state before and after."""
    nhn_staff.first_name, nhn_staff.last_name = "Kari", "Kundesenter"
    nhn_staff.save()
    order = Order.objects.create(
        organisation=municipality,
        service=Service.objects.get(code="vkp-journaling"),
        environment="test",
        state="submitted",
        created_by=municipal_admin,
    )
    services.order_approve(order=order, by=nhn_staff)
    return order


def page(client, url, language=None):
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# One stored event, read in either language -------------------------------------------------------------


def test_the_same_state_change_reads_in_bokmal_and_in_english(client, approved, municipal_admin):
    event = AuditEvent.objects.get(action="order.approved")
    assert event.before == {"state": "submitted"} and event.after["state"] == "approved"  # codes, not text
    client.force_login(municipal_admin)
    url = reverse("order_detail", args=[approved.public_id])

    bokmal = page(client, url)
    assert "Status: Venter på NHN → Godkjent" in bokmal
    assert "Bestilling godkjent" in bokmal
    assert "Waiting for NHN" not in bokmal and "Approved" not in bokmal

    english = page(client, url, "en")
    assert "State: Waiting for NHN → Approved" in english
    assert "Order approved" in english
    assert "Venter på NHN" not in english and "Godkjent" not in english


def test_the_organisation_history_shows_the_change_and_the_persons_name(client, approved, municipal_admin, nhn_staff):
    client.force_login(municipal_admin)
    history = page(client, reverse("organisation_history", args=[approved.organisation.org_number]), "en")
    assert "State: Waiting for NHN → Approved" in history
    assert "Kari Kundesenter" in history
    assert f'title="{nhn_staff.email}"' in history  # the address stays at hand, second to the name


def test_backing_service_errors_are_for_nhn_and_a_vendor_reads_no_details(client, approved, nhn_staff, vendor_user):
    step = {"kind": "vkp.access", "system_name": "Dosettsystem", "organisation_name": "Nordvik", "service_name": "VKP"}
    audit(action="provisioning.task_failed", obj=approved, after={"step": step, "error": "HTTP 503 fra VKP"})
    url = reverse("order_detail", args=[approved.public_id])
    client.force_login(approved.created_by)
    member = page(client, url)
    assert "Steg: Dosettsystem for Nordvik i VKP" in member  # the organisation's own vendors' systems
    assert "HTTP 503 fra VKP" not in member
    client.force_login(nhn_staff)
    assert "Feil: HTTP 503 fra VKP" in page(client, url)
    # A vendor following the order (its system is used there) sees that a step failed, not whose or why.
    from members.models import SupportedService, VendorAssignment, VendorSystem

    system = VendorSystem.objects.create(vendor=vendor_user.affiliations.get().organisation, name="Annet", kind="vft")
    SupportedService.objects.create(system=system, service=approved.service, environment="test")
    VendorAssignment.objects.create(
        organisation=approved.organisation, system=system, environment="test", created_by=approved.created_by
    )
    client.force_login(vendor_user)
    vendor_page = page(client, url)
    assert "Steg i oppsettet feilet" in vendor_page
    assert "Dosettsystem" not in vendor_page and "HTTP 503" not in vendor_page


def test_rendering_follows_the_language_active_when_shown(approved):
    event = AuditEvent.objects.get(action="order.approved")
    with translation.override("en"):
        english = render_event(event)
    with translation.override("nb"):
        bokmal = render_event(event)
    assert str(english.changes[0]) == "State: Waiting for NHN → Approved"
    assert str(bokmal.changes[0]) == "Status: Venter på NHN → Godkjent"
    assert english.actor_name == bokmal.actor_name == "Kari Kundesenter"
    assert english.summary.startswith("State: Waiting for NHN → Approved; ")


def test_dates_choices_and_roles_are_rendered_for_the_reader(municipality, municipal_admin):
    expires = datetime(2026, 12, 24, 11, 30, tzinfo=UTC)  # 12:30 in Oslo
    event = audit(
        action="invitation.sent",
        obj=municipality,
        actor=municipal_admin,
        after={"email": "ny@nordvik.example", "role": "admin", "expires_at": expires.isoformat()},
    )
    with translation.override("en"):
        changes = [str(change) for change in render_event(event).changes]
    assert changes == ["E-mail: ny@nordvik.example", "Role: Administrator", "Expires: 24 Dec 2026 12:30"]
    with translation.override("nb"):
        changes = [str(change) for change in render_event(event).changes]
    assert "Utløper: 24.12.2026 12:30" in changes


def test_a_provisioning_step_is_stored_as_codes_and_described_when_shown(municipality):
    step = {"kind": "helseid.client", "client_name": "Journalklient"}
    event = audit(action="provisioning.task_failed", obj=municipality, after={"task": "x", "step": step})
    with translation.override("en"):
        assert [str(change) for change in render_event(event).changes] == ["Step: Client Journalklient"]
    with translation.override("nb"):
        assert render_event(event).changes[0].after == ProvisioningTask.describe_step("helseid.client", step)


def test_a_signing_authority_is_stored_as_codes_and_worded_for_the_reader(municipality):
    role = {"kind": "register_role", "role": "Daglig leder", "code": "DAGL", "joint": False}
    delegation = {"kind": "delegation", "name": "Dagny Leder", "authority": "DAGL", "date": "2026-11-30"}
    event = audit(action="terms.signed", obj=municipality, after={"authority": role})
    delegated = audit(action="terms.signed", obj=municipality, after={"authority": delegation})
    with translation.override("en"):
        assert str(render_event(event).changes[0]) == "On the authority of: Daglig leder (DAGL) in Enhetsregisteret"
        assert render_event(delegated).changes[0].after == "By delegation from Dagny Leder (DAGL) of 30 Nov 2026"
    with translation.override("nb"):
        assert str(render_event(event).changes[0]) == "Grunnlag: Daglig leder (DAGL) i Enhetsregisteret"
        assert render_event(delegated).changes[0].after == "Etter fullmakt fra Dagny Leder (DAGL) av 30.11.2026"


def test_a_claim_decided_by_nhn_keeps_a_code_not_the_deciders_language(nhn_staff):
    with translation.override("en"):  # the decider reads English; the log must not keep English
        register_confirmed(org_number="320000009", user=UserFactory())
    event = AuditEvent.objects.get(action="claim.confirmed")
    assert event.after["authority"] == {"kind": "nhn", "email": nhn_staff.email}
    with translation.override("nb"):
        changes = [str(change) for change in render_event(event).changes]
    assert f"Grunnlag: Kundesenteret i NHN ({nhn_staff.email})" in changes
    assert "Status: Venter på bekreftelse → Bekreftet" in changes


def test_an_old_entry_with_finished_text_is_shown_as_it_was_stored(municipality):
    event = audit(action="provisioning.task_failed", obj=municipality, after={"step": "Klient Journalklient"})
    unknown = audit(action="something.new", obj=municipality, before=["not", "a", "dict"], after="text")
    with translation.override("en"):
        assert str(render_event(event).changes[0]) == "Step: Klient Journalklient"
        assert render_event(unknown).label == "something.new" and render_event(unknown).changes == ()


def test_an_event_without_a_person_is_the_system(municipality):
    event = audit(action="order.activated", obj=municipality)
    with translation.override("en"):
        assert render_event(event).actor_name == "System" and render_event(event).actor_email == ""


def test_a_person_without_a_name_is_shown_by_address(municipality):
    nameless = UserFactory(first_name="", last_name="", email="uten.navn@nordvik.example")
    event = audit(action="organisation.created", obj=municipality, actor=nameless)
    assert render_event(event).actor_name == "uten.navn@nordvik.example"
    assert render_event(event).actor_email == ""


def test_every_action_the_portal_writes_has_a_label():
    import re
    from pathlib import Path

    from portal.audit import ACTION_LABELS

    root = Path(__file__).resolve().parents[2]
    written = set()
    for path in [*root.glob("members/**/*.py"), *root.glob("orders/**/*.py"), *root.glob("portal/**/*.py")]:
        source = path.read_text(encoding="utf-8")
        written |= set(re.findall(r'action=\s*"([a-z_]+\.[a-z_]+)"', source))
        written |= {
            code
            for pair in re.findall(r'"([a-z_]+\.[a-z_]+)" if \w+ else "([a-z_]+\.[a-z_]+)"', source)
            for code in pair
        }
        written |= set(re.findall(r'_audit_order\(\w+, "([a-z_]+\.[a-z_]+)"', source))
    assert {"order.approved", "terms.signed", "user.logged_in"} <= written  # the scan finds what it should
    assert written - ACTION_LABELS.keys() == set()


# The staff feed ------------------------------------------------------------------------------------------


@pytest.fixture
def logbook(client, nhn_staff, municipality, other_municipality, municipal_admin, outsider):
    """NHN staff logged in (the oldest entry), then three changes in two municipalities."""
    client.force_login(nhn_staff)
    audit(action="membership.applied", obj=municipality, actor=municipal_admin, after={"state": "applied"})
    audit(action="order.submitted", obj=other_municipality, actor=outsider, after={"state": "submitted"})
    audit(action="terms.signed", obj=municipality, actor=municipal_admin, after={"version": "2"})


def actions_in(response) -> list[str]:
    return [event.action for event in response.context["page"].object_list]


def test_the_feed_lists_everything_newest_first_with_names(client, nhn_staff, logbook, municipal_admin):
    response = client.get(FEED)
    assert actions_in(response) == ["terms.signed", "order.submitted", "membership.applied", "user.logged_in"]
    assert municipal_admin.get_full_name() in response.content.decode()
    assert "Skjul innlogginger" in response.content.decode() and "Revisjonslogg" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "membership"}, ["membership.applied"]),
        ({"kind": "terms"}, ["terms.signed"]),
        ({"kind": "orders"}, ["order.submitted"]),
        ({"kind": "accounts"}, ["user.logged_in"]),
        ({"hide_logins": "on"}, ["terms.signed", "order.submitted", "membership.applied"]),
    ],
)
def test_the_feed_filters_by_kind_and_hides_logins(client, nhn_staff, logbook, query, expected):
    assert actions_in(client.get(FEED, query)) == expected


def test_the_feed_rows_escape_names_and_values_and_show_the_time_and_organisation(client, nhn_staff, municipality):
    # The rows are built in Python (audit_tags.audit_event_rows): what people typed stays text.
    hostile = UserFactory(first_name="<b>Eve</b>", last_name="&", email="eve@example.com")
    audit(action="membership.applied", obj=municipality, actor=hostile, after={"state": "<i>applied</i>"})
    client.force_login(nhn_staff)

    page = client.get(FEED).content.decode()

    assert "<b>Eve</b>" not in page and "&lt;b&gt;Eve&lt;/b&gt; &amp;" in page
    assert '<span title="eve@example.com">' in page and '<span class="audit-secondary wrap-anywhere">eve@' in page
    assert "<i>applied</i>" not in page
    assert f"<td>{municipality.name}</td>" in page  # the feed names the organisation
    assert '<time datetime="20' in page


def test_the_feed_filters_by_organisation_number(client, nhn_staff, logbook, other_municipality):
    spaced = f"{other_municipality.org_number[:3]} {other_municipality.org_number[3:]}"
    assert actions_in(client.get(FEED, {"org_number": spaced})) == ["order.submitted"]
    assert actions_in(client.get(FEED, {"org_number": OrganisationFactory().org_number})) == []


@pytest.mark.parametrize("query", [{"org_number": "12345"}, {"kind": "nonsense"}, {"org_number": "x" * 500}])
def test_a_bad_filter_says_why_and_lists_nothing(client, nhn_staff, logbook, query):
    response = client.get(FEED, query)
    assert response.status_code == 200
    assert actions_in(response) == []
    assert response.context["form"].errors


def test_the_feed_pages_by_fifty(client, nhn_staff, municipality):
    for _ in range(60):
        audit(action="membership.applied", obj=municipality)
    client.force_login(nhn_staff)
    assert len(client.get(FEED).context["page"].object_list) == 50
    second = client.get(FEED, {"side": 2, "kind": "membership"})
    assert len(second.context["page"].object_list) == 10
    assert "kind=membership" in second.content.decode()  # the page links keep the filter


def test_a_feed_longer_than_it_counts_says_so_and_still_pages(client, nhn_staff, municipality, monkeypatch):
    from portal.pagination import CappedCountPaginator

    # The feed counts up to a cap (millions of entries must not be counted for each page); 120 here.
    monkeypatch.setattr(CappedCountPaginator, "cap", 120)
    for _ in range(130):
        audit(action="membership.applied", obj=municipality)
    client.force_login(nhn_staff)
    first = client.get(FEED)
    assert "Side 1 av mer enn 3" in first.content.decode()
    third = client.get(FEED, {"side": 3})
    assert len(third.context["page"].object_list) == 20  # rows 101 to 120: the last counted page
    assert "Side 3 av mer enn 3" in third.content.decode()

    for _ in range(30):  # a filter that finds fewer than the cap is counted exactly
        audit(action="invitation.sent", obj=municipality)
    narrowed = client.get(FEED, {"kind": "organisations"})
    assert narrowed.context["page"].paginator.count == 30
    assert "av mer enn" not in narrowed.content.decode()


@pytest.mark.parametrize("persona", ["municipal_admin", "vendor_user", "signatory"])
def test_the_feed_is_for_nhn_staff_only(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(FEED).status_code == 403


def test_the_customer_centre_links_to_the_feed(client, nhn_staff):
    client.force_login(nhn_staff)
    assert FEED in client.get(reverse("staff_dashboard")).content.decode()


@pytest.mark.parametrize("rows", [5, 500])
def test_the_feed_runs_a_bounded_number_of_queries(
    client, nhn_staff, municipality, rows, django_assert_max_num_queries
):
    people = [UserFactory() for _ in range(3)]
    AuditEvent.objects.bulk_create(
        AuditEvent(
            action="membership.applied", actor=people[i % 3], organisation=municipality, after={"state": "applied"}
        )
        for i in range(rows)
    )
    client.force_login(nhn_staff)
    with django_assert_max_num_queries(8):
        response = client.get(FEED, {"hide_logins": "on", "kind": "membership"})
    assert len(response.context["page"].object_list) == min(rows, 50)


def test_the_feeds_page_is_read_off_an_index_in_its_own_order():
    """`audit_recent` matches the ordering (newest first, ties by id): a page needs no sort of the whole log.

    With sequential scans and sorts switched off, the plan names the index only if it can serve the order.
    """
    from django.db import connection

    feed = AuditEvent.objects.select_related("actor", "organisation").without_logins()[:50]
    sql, params = feed.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "audit_recent" in plan and "Sort" not in plan
