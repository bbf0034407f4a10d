"""In Chromium: the vendor's tenant list pages and searches through htmx, and its live status swaps only
the changing row, then stops asking (issue 15)."""

import pytest

from members.management.commands.seed_demo import DEMO_PASSWORD
from members.models import VendorSystem
from orders.models import Order
from tests.portal.test_dashboards import add_tenants

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_vendor_pages_searches_and_follows_the_changing_row_live(page, live_server, demo_data):
    system = VendorSystem.objects.get(name="Trygghetsvakta Responssenter")
    add_tenants(system, 60)
    (changing,) = add_tenants(system, 1, state="approved", names=["Aaa Endringsby kommune"])  # first by name
    log_in(page, live_server, "utvikler@trygghetsvakta.example", DEMO_PASSWORD)
    rows = page.locator("#tenant-list tbody tr")
    assert rows.count() == 50
    row = page.locator(f"#tenant-{changing.org_number}")
    assert "Godkjent" in row.inner_text()
    assert page.locator("#tenant-poll[hx-trigger='every 3s']").count() == 1

    # The order is set up meanwhile: the poll swaps that row in place, then no longer asks.
    Order.objects.filter(organisation=changing).update(state="active")
    page.wait_for_function(
        f"() => document.querySelector('#tenant-{changing.org_number}').innerText.includes('Aktiv')", timeout=10_000
    )
    page.wait_for_selector("#tenant-poll:not([hx-get])", state="attached", timeout=10_000)
    assert rows.count() == 50  # only the row was swapped; the page is as it was

    # Next page through htmx: the list is swapped and the address follows.
    page.locator("#tenant-list nav a", has_text="Neste").click()
    page.wait_for_url("**side=2**")
    page.wait_for_function("() => document.querySelectorAll('#tenant-list tbody tr').length < 50")
    assert page.locator("h1").count() == 1  # the list was swapped, not the page nested in itself
    page.wait_for_function("() => document.activeElement.closest('#tenant-list .table-region') !== null")

    # Search by name as one types.
    page.get_by_label("Finn en kommune").fill("endringsby")
    page.wait_for_function("() => document.querySelectorAll('#tenant-list tbody tr').length === 1")
    assert "Aaa Endringsby kommune" in rows.first.inner_text()
