import re

import pytest

from members.management.commands.seed_demo import DEMO_PASSWORD

from .conftest import assert_accessible, log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# (role, demo login, where the start page sends them, the dashboard's main heading)
DEMO_ROLES = [
    ("municipal-admin", "admin@nordvik.example", r"/medlem/313231593/$", "Testkommune Nordvik"),
    ("signatory", "signatar@nordvik.example", r"/medlem/313231593/$", "Testkommune Nordvik"),
    ("viewer", "leser@nordvik.example", r"/medlem/313231593/$", "Testkommune Nordvik"),
    ("vendor-user", "utvikler@journalhuset.example", r"/leverandor/310000108/$", "Journalhuset AS"),
    ("nhn-staff", "kundesenter@nhn.example", r"/kundesenter/$", "Kundesenteret"),
]


def test_login_page_is_in_bokmal_and_accessible(page, live_server, demo_data):
    page.goto(f"{live_server.url}/konto/login/")
    assert page.locator("html").get_attribute("lang") == "nb"
    assert page.get_by_role("heading", level=1).inner_text() == "Logg inn"
    screenshot(page, "login")
    assert_accessible(page)


def test_landing_page_is_accessible_in_both_languages(page, live_server, demo_data):
    page.goto(live_server.url)
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("link", name="Log in").first.is_visible()
    assert_accessible(page)


def test_skip_link_moves_focus_to_the_main_content(page, live_server, demo_data):
    page.goto(live_server.url)
    page.keyboard.press("Tab")
    skip_link = page.get_by_role("link", name="Hopp til hovedinnhold")
    assert skip_link.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


@pytest.mark.parametrize(("role", "email", "path", "heading"), DEMO_ROLES, ids=[r[0] for r in DEMO_ROLES])
def test_each_demo_role_lands_on_its_own_accessible_dashboard(page, live_server, demo_data, role, email, path, heading):
    log_in(page, live_server, email, DEMO_PASSWORD)

    assert re.search(path, page.url), page.url
    assert page.get_by_role("heading", level=1).inner_text() == heading
    screenshot(page, f"dashboard-{role}")
    assert_accessible(page)


def test_wrong_password_is_refused_with_a_clear_message(page, live_server, demo_data):
    log_in(page, live_server, "admin@nordvik.example", "feil-passord")
    assert page.url.endswith("/konto/login/")
    assert page.get_by_text("E-postadressen og/eller passordet du oppgav er feil.").is_visible()


def test_logging_out_returns_to_the_public_page(page, live_server, demo_data):
    log_in(page, live_server, "admin@nordvik.example", DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Logg ut").click()
    assert page.get_by_role("link", name="Logg inn").first.is_visible()
