"""The API's browsable description: Swagger UI served from django-ninja's bundled static files (no CDN),
rendered under the portal's Content-Security-Policy (the page fixture fails on any CSP refusal)."""

import pytest

from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_under_the_csp(live_server, page):
    response = page.goto(f"{live_server.url}/api/v1/docs")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"].replace('"', "'")
    page.get_by_text("/api/v1/vendor/clients", exact=True).first.wait_for(timeout=15_000)
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert scripts and all(src.startswith(live_server.url) for src in scripts), scripts
    screenshot(page, "api-docs")
    assert page.eval_on_selector("html", "el => el.lang") == "en"  # WCAG 3.1.1: the page says its language
