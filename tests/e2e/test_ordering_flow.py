"""Ordering in Chromium: a member orders Journaling and Patient in test, NHN approves, both become active."""

import pytest

from orders.models import Order

from .conftest import assert_accessible, log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIDDA = "310000019"


def test_a_municipality_orders_journaling_and_patient_in_test(browser, live_server, demo_data):
    from members.management.commands.seed_demo import DEMO_PASSWORD

    def new_page(email):
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="nb-NO")
        page = context.new_page()
        page.set_default_timeout(15_000)
        log_in(page, live_server, email, DEMO_PASSWORD)
        return context, page

    admin_context, admin = new_page("admin@vidda.example")
    admin.goto(f"{live_server.url}/bestillinger/{VIDDA}/?miljo=test")
    catalogue_url = admin.url
    for code in ("vkp-journaling", "vkp-patient"):
        admin.locator(f"#service-{code} button[type=submit]").click()
        admin.locator(
            f"#basket-heading ~ ul li:has-text('{'Journal' if code == 'vkp-journaling' else 'Pasient'}')"
        ).wait_for()
    assert admin.url == catalogue_url  # added with htmx, no page load
    assert admin.locator(".basket-list li").count() == 2
    screenshot(admin, "order-basket")
    assert_accessible(admin)
    admin.locator(".basket form:not([hx-post]) button[type=submit]").click()
    admin.wait_for_url(f"**/medlem/{VIDDA}/")
    assert Order.objects.filter(organisation__org_number=VIDDA, state=Order.State.SUBMITTED).count() == 2

    staff_context, staff = new_page("kundesenter@nhn.example")
    staff.goto(f"{live_server.url}/kundesenter/bestillinger/")
    assert_accessible(staff)
    for row in staff.locator("tr", has_text="Vidda kommune").all():
        row.locator("input[name=orders]").check()
    with staff.expect_navigation():
        staff.locator("button[form=bulk-form]").click()
    screenshot(staff, "orders-approved")

    admin.reload()
    overview = admin.locator("#services-heading ~ .table-region table")
    assert overview.locator(".ds-tag[data-color=success]").count() == 2
    screenshot(admin, "dashboard-services-active")
    assert_accessible(admin)
    assert set(Order.objects.filter(organisation__org_number=VIDDA).values_list("state", flat=True)) == {"active"}
    admin_context.close()
    staff_context.close()
