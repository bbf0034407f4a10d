"""Browser tests: Playwright's Python package driving Debian's Chromium (never a downloaded browser)."""

import io
import json
import os
import time
from pathlib import Path

import pytest
from django.core.management import call_command

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made from the tests
# themselves are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture
def demo_data(transactional_db):
    """The demo data on a live server. Each browser test's flush also drops what data migrations made;
    seed_demo puts the first published terms back itself."""
    call_command("seed_demo", stdout=io.StringIO())


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nb-NO")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def axe_violations(page) -> list[dict]:
    """Run axe-core (from the npm registry, injected here) for WCAG 2.1 A and AA on the current page."""
    page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "targets": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
    ]


def assert_accessible(page):
    violations = axe_violations(page)
    assert violations == [], f"axe found WCAG 2.1 A/AA violations on {page.url}:\n" + json.dumps(violations, indent=2)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def current_totp(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
    from django.core.cache import cache

    # allauth refuses a code used before in the same 30 s; the live server shares this process's cache.
    cache.clear()
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def log_in(page, live_server, email: str, password: str):
    page.goto(f"{live_server.url}/konto/login/")
    page.get_by_label("E-post").fill(email)
    page.get_by_label("Passord").fill(password)
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Logg inn", exact=True).click()
    if page.url.endswith("/konto/2fa/authenticate/"):  # NHN staff: the demo authenticator app's code
        from members.management.commands.seed_demo import DEMO_TOTP_SECRET

        page.get_by_label("Kode").fill(current_totp(DEMO_TOTP_SECRET))
        with page.expect_navigation():
            page.locator("main").get_by_role("button", name="Logg inn", exact=True).click()


@pytest.fixture(scope="session")
def oidc_provider(live_server, tmp_path_factory):
    """A real OpenID Connect provider (npm's oidc-provider) on loopback, for the portal's live server."""
    from tests.members.idporten import register_persons
    from tests.oidc_provider.server import LoopbackProvider

    # Besides the provider's own test persons: everyone the register fixture lets sign, to step up as.
    accounts = register_persons()
    provider = LoopbackProvider(live_server.url, tmp_path_factory.mktemp("oidc"), accounts=accounts).start()
    yield provider
    provider.stop()


@pytest.fixture
def federated_login(settings, oidc_provider):
    """The portal configured with HelseID and ID-porten, both played by the loopback provider."""
    from members import oidc

    settings.OIDC_PROVIDERS = oidc_provider.portal_settings()
    oidc._discovery.clear()
    return oidc_provider
