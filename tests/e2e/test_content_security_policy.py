"""The Content-Security-Policy in a real browser, on the pages that use the most: allauth's MFA set-up
(scripts, the QR code as a data: URI) and an htmx page. The `page` fixture fails on anything blocked."""

import pytest

from tests.factories import PASSWORD, UserFactory

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_staff_setting_up_an_authenticator_app_and_a_security_key_meet_no_refusal(page, live_server):
    UserFactory(email="ny.ansatt@nhn.example", is_nhn_staff=True)
    log_in(page, live_server, "ny.ansatt@nhn.example", PASSWORD)
    assert "/konto/2fa/" in page.url  # no staff page without a second factor

    page.goto(f"{live_server.url}/konto/2fa/totp/activate/")
    if "/konto/reauthenticate/" in page.url:  # allauth asks for the password again before MFA changes
        page.get_by_label("Passord").fill(PASSWORD)
        with page.expect_navigation():
            page.locator("main").get_by_role("button", name="Bekreft").click()
    assert page.url.endswith("/konto/2fa/totp/activate/")
    qr = page.locator("main img").first
    qr.wait_for()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # the data: URI was allowed

    page.goto(f"{live_server.url}/konto/2fa/webauthn/add/")
    page.wait_for_load_state("load")
    assert page.evaluate("() => typeof window.allauth") == "object"  # allauth's own scripts ran


def test_htmx_injects_no_style_element(page, live_server):
    page.goto(live_server.url)
    page.wait_for_function("() => typeof window.htmx === 'object'")
    assert page.evaluate("() => document.querySelectorAll('style').length") == 0
    assert page.evaluate("() => htmx.config.includeIndicatorStyles") is False


def test_the_staff_page_of_unsent_mail_is_accessible_and_sends_again_with_htmx(page, live_server, demo_data):
    from members.management.commands.seed_demo import DEMO_PASSWORD
    from portal.models import OutgoingMessage

    from .conftest import assert_accessible, screenshot

    failed = OutgoingMessage.objects.create(
        template="members/email/invitation",
        recipients=["ny.kollega@nordvik.example"],
        subject="Invitasjon til Testkommune Nordvik",
        state="failed",
        attempts=12,
        last_error="BackingServiceError: Mail API answered 400 bad_address to POST /mail/messages: No such domain",
    )
    log_in(page, live_server, "kundesenter@nhn.example", DEMO_PASSWORD)
    page.get_by_role("link", name="1 e-post kunne ikke sendes").click()
    page.wait_for_url("**/kundesenter/e-post/")
    assert page.get_by_role("cell", name="ny.kollega@nordvik.example").is_visible()
    screenshot(page, "staff-outgoing-mail")
    assert_accessible(page)

    page.get_by_role("button", name="Send på nytt").click()
    page.get_by_text("E-posten er lagt i kø på nytt.").wait_for()
    failed.refresh_from_db()
    assert failed.state in {"pending", "sent"}
