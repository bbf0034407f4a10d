"""The lifecycle page in Chromium (issue 16): NHN staff find Vidda kommune in the directory, open its page,
see a provisioning failure and what blocks, retry the step, and see the repair on the timeline; at
390 px the page does not scroll sideways, and axe finds nothing."""

import pytest

from members.models import Acceptance, Membership, SupportedService, TermsDocument, User, VendorAssignment, VendorSystem
from orders import services
from orders.clients import SandboxVkpRegistry
from orders.models import Order, ProvisioningTask, Service
from portal.clients import BackingServiceError

from .conftest import assert_accessible, log_in, screenshot
from .test_reflow import OVERFLOW_JS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIDDA = "310000019"
REGISTRY_ERROR = "400 unknown_system: System not known to the registry"


@pytest.fixture
def vidda_with_a_failed_step(demo_data, monkeypatch):
    """Vidda kommune: a member using Trygghetsvakta in test, whose approved Journaling order failed to set up."""
    staff = User.objects.get(email="kundesenter@nhn.example")
    admin = User.objects.get(email="admin@vidda.example")
    vidda = admin.affiliations.get().organisation
    terms = TermsDocument.objects.current("membership")
    acceptance = Acceptance.objects.create(
        organisation=vidda, document=terms, document_sha256=terms.sha256, signed_by=admin,
        signer_name="Aslak Vidda", authority="register_role", authority_detail="Daglig leder",
    )  # fmt: skip
    Membership.objects.create(organisation=vidda, applied_by=admin, state="active", acceptance=acceptance)
    journaling = Service.objects.get(code="vkp-journaling")
    system = VendorSystem.objects.get(name="Trygghetsvakta Responssenter")
    SupportedService.objects.get_or_create(system=system, service=journaling, environment="test")
    VendorAssignment.objects.create(organisation=vidda, system=system, environment="test", created_by=admin)
    order = Order.objects.create(organisation=vidda, service=journaling, environment="test", created_by=admin)
    order.submit(by=admin)

    def refuse(self, grant, *, key_base):
        raise BackingServiceError(REGISTRY_ERROR, retryable=False, status=400, code="unknown_system")

    with monkeypatch.context() as patch:
        patch.setattr(SandboxVkpRegistry, "grant", refuse)
        services.order_approve(order=order, by=staff)  # the step runs in process after the commit, and fails
    order.refresh_from_db()
    assert order.state == "failed"
    return vidda


def test_staff_see_where_vidda_stands_retry_the_failed_step_and_see_the_repair(
    page, live_server, vidda_with_a_failed_step
):
    from members.management.commands.seed_demo import DEMO_PASSWORD

    vidda = vidda_with_a_failed_step
    log_in(page, live_server, "kundesenter@nhn.example", DEMO_PASSWORD)
    # From the customer centre to the directory, a search by name, and the municipality's own page.
    page.goto(f"{live_server.url}/kundesenter/")
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name="Alle virksomheter").first.click()
    page.get_by_label("Søk").fill("vidda")
    # The search narrows the table in place (htmx): the other demo municipalities leave it.
    page.wait_for_function("() => !document.querySelector('main table').innerText.includes('Fjordheim')")
    # htmx pushes the search's URL after the swap: waiting for it keeps that history entry from being
    # taken for the link's navigation below (seen once in CI).
    page.wait_for_url("**q=vidda**")
    with page.expect_navigation():
        page.locator("main table").get_by_role("link", name="Vidda kommune").click()
    assert page.url.endswith(f"/virksomhet/{VIDDA}/")

    # The membership page leads to the same place.
    page.goto(f"{live_server.url}/kundesenter/medlemskap/{vidda.memberships.get().public_id}/")
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name="Hvor står vi, og hva skjer nå").first.click()
    assert page.url.endswith(f"/virksomhet/{VIDDA}/")

    summary = page.locator(".lifecycle-summary")
    assert "Provisjonering feilet: Trygghetsvakta Responssenter for Vidda kommune" in summary.inner_text()
    assert REGISTRY_ERROR in summary.inner_text()  # staff see the internal error text
    timeline = page.locator("#lifecycle-timeline")
    assert "Steg i oppsettet feilet" in timeline.inner_text()
    check_page(page, "lifecycle-staff-failed")

    with page.expect_navigation():
        summary.get_by_role("button", name="Prøv igjen").click()
    assert page.url.endswith(f"/virksomhet/{VIDDA}/")
    assert "Alt er klart." in page.locator(".lifecycle-summary").inner_text()
    assert "Steg i oppsettet prøvd på nytt" in page.locator("#lifecycle-timeline").inner_text()
    assert ProvisioningTask.objects.filter(order__organisation=vidda, state="failed").count() == 0
    assert Order.objects.get(organisation=vidda).state == "active"

    # The kind filter (htmx): only provisioning, the step now done.
    page.locator(".lifecycle-kinds").get_by_role("link", name="Provisjonering").click()
    page.wait_for_url("**type=provisjonering")
    timeline = page.locator("#lifecycle-timeline")
    timeline.locator(".ds-tag[data-color=success]").first.wait_for()
    assert "Tjeneste aktiv" not in timeline.inner_text()  # the order's own events are under "Bestillinger"
    check_page(page, "lifecycle-staff-repaired")


def check_page(page, name: str):
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        result = page.evaluate(OVERFLOW_JS)
        assert result["page"] <= result["inner"], f"{width} px: the page is {result['page']} px wide: {result['wide']}"
        assert result["problems"] == [], result["problems"]
        screenshot(page, f"{name}-{width}")
    assert_accessible(page)
