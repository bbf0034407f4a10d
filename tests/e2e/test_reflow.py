"""Every main page, as every demo persona, at 390 px (a phone) and 1280 px (a laptop): nothing clipped, no
horizontal scrolling of the page (WCAG 1.4.10 Reflow), and axe finds nothing.

The pages are found by following the links a person sees, starting at their landing page, so a page added
later is covered without editing this list. One page per URL shape (a UUID or an organisation number stands
for all of its kind).
"""

import json
import re
from urllib.parse import urljoin, urlparse

import pytest
from joserfc.jwk import ECKey

from members.management.commands.seed_demo import DEMO_PASSWORD

from .conftest import assert_accessible, log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PERSONAS = [
    ("municipal-admin", "admin@nordvik.example"),
    ("signatory", "signatar@nordvik.example"),
    ("viewer", "leser@nordvik.example"),
    ("vendor-user", "utvikler@trygghetsvakta.example"),
    ("nhn-staff", "kundesenter@nhn.example"),
]
WIDTHS = [390, 1280]
MAX_PAGES = 40

# Links that leave the page kind this test is about: downloads, log-out, the language switch, the sign-in
# redirects to identity providers that are not configured here, and the API (its docs page is django-ninja's,
# tried by the API's own browser test).
SKIP = re.compile(
    r"(/api/|\.pdf|/kvittering/|\.json|/konto/logout|/innlogging/(?!metoder)|/i18n/|/test-idporten/|/healthz)"
)

# Per element with its own text, and per box that clips its content: does its content need more width
# than it has? Elements inside an intended scroll region (role=region, tabindex=0, labelled) may be
# wider than the screen.
OVERFLOW_JS = """() => {
  const problems = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('[role=region][tabindex="0"][aria-label]')) continue;
    if (['SCRIPT', 'STYLE', 'svg', 'INPUT', 'TEXTAREA', 'SELECT', 'OPTION'].includes(el.tagName)) continue;
    const ownText = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    // A box that clips (a Designsystemet card does) hides whatever of its content does not fit.
    const clips = ['hidden', 'clip'].includes(getComputedStyle(el).overflowX) && el.textContent.trim();
    // clientWidth 0 or 1: not laid out as a box, or visually hidden for screen readers (ds-sr-only, skip link).
    if (!(ownText || clips) || el.clientWidth <= 1) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}: `
        + el.textContent.trim().slice(0, 60));
    }
  }
  // A card's text must not touch its border (Designsystemet drops the padding of a card holding a <details>).
  for (const card of document.querySelectorAll('.ds-card')) {
    if (card.clientWidth > 1 && parseFloat(getComputedStyle(card).paddingLeft) < 8) {
      problems.push(`a card without padding: ${card.textContent.trim().slice(0, 60)}`);
    }
  }
  // What sticks out past the right edge of the screen (the first few, to say why the page is too wide).
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.parentElement.closest('[role=region][tabindex="0"][aria-label]')) continue;
    const rect = el.getBoundingClientRect();
    if (rect.right > window.innerWidth + 1 && wide.length < 8) {
      wide.push(`${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(el.getBoundingClientRect().right)}`);
    }
  }
  return {wide, page: document.documentElement.scrollWidth, inner: window.innerWidth, problems};
}"""


@pytest.fixture
def vendor_client(demo_data):
    """A HelseID client with a key for the demo vendor, so the client page (long ids, URLs, key ids) is seen."""
    from members.models import User, VendorSystem
    from orders import helseid

    system = VendorSystem.objects.get(name="Trygghetsvakta Responssenter")
    vendor_user = User.objects.get(email="utvikler@trygghetsvakta.example")
    config = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    key = ECKey.generate_key("P-256")
    public = {**key.as_dict(private=False), "kid": "trygghetsvakta-2026-12-responssenter-noekkel-1", "alg": "ES256"}
    helseid.client_keys_add(client=config, keys_text=json.dumps(public), by=vendor_user)
    return config


def shape(path: str) -> str:
    path = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", path)
    path = re.sub(r"/kundesenter/tjenester/[a-z0-9-]+/", "/kundesenter/tjenester/<code>/", path)
    return re.sub(r"/\d{9}/", "/<orgnr>/", path)


def same_site_links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    found = []
    for href in hrefs:
        url = urljoin(page.url, href)
        parsed = urlparse(url)
        if f"{parsed.scheme}://{parsed.netloc}" != base or parsed.query or SKIP.search(parsed.path):
            continue
        found.append(parsed.path)
    return found


def check_reflow(page, label: str):
    failures = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        result = page.evaluate(OVERFLOW_JS)
        if result["page"] > result["inner"]:
            failures.append(f"{label} at {width} px: the page is {result['page']} px wide: {result['wide']}")
        failures += [f"{label} at {width} px: {problem}" for problem in result["problems"]]
    return failures


@pytest.mark.parametrize(("role", "email"), PERSONAS, ids=[p[0] for p in PERSONAS])
def test_every_page_reflows_and_is_accessible_for_each_persona(page, live_server, vendor_client, role, email):
    log_in(page, live_server, email, DEMO_PASSWORD)
    base = live_server.url
    queue, seen, visited, failures = [urlparse(page.url).path], set(), [], []
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop(0)
        if shape(path) in seen:
            continue
        seen.add(shape(path))
        response = page.goto(base + path)
        assert response.status < 400 or response.status in (403,), f"{path} answered {response.status}"
        visited.append(path)
        failures += check_reflow(page, path)
        name = re.sub(r"[^a-z0-9]+", "-", shape(path).lower()).strip("-") or "start"
        page.set_viewport_size({"width": 390, "height": 900})
        screenshot(page, f"reflow-{role}-{name}-390")
        page.set_viewport_size({"width": 1280, "height": 900})
        screenshot(page, f"reflow-{role}-{name}-1280")
        assert_accessible(page)
        queue += [link for link in same_site_links(page, base) if shape(link) not in seen]
    assert len(visited) > 3, visited
    assert failures == [], "\n".join(failures)


# The visible text of the page outside elements marked lang="nb" (where bokmål is intended: legal text, names).
TEXT_OUTSIDE_NB_JS = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || parent.closest('[lang="nb"], script, style, [hidden]')) continue;
    parts.push(node.textContent);
  }
  return parts.join(' ').replace(/\\s+/g, ' ');
}"""


def bokmal_phrases() -> set[str]:
    """Phrases of the portal's bokmål catalogue long enough to mean something (placeholders cut out)."""
    from django.utils.translation import trans_real

    phrases = set()
    for msgid, msgstr in trans_real.translation("nb")._catalog.items():
        if not isinstance(msgid, str) or not msgid or msgstr == msgid:
            continue
        for piece in re.split(r"%\(\w+\)[sd]|%s|%d|\{\{.*?\}\}|<[^>]+>|\n", msgstr):
            piece = " ".join(piece.split())
            if len(piece) >= 20 and piece not in msgid:
                phrases.add(piece)
    return phrases


@pytest.mark.parametrize(("role", "email"), PERSONAS, ids=[p[0] for p in PERSONAS])
def test_english_pages_show_no_bokmal_outside_lang_nb(page, live_server, vendor_client, role, email):
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(f"{live_server.url}/konto/login/")
    page.locator('input[name="login"]').fill(email)
    page.locator('input[name="password"]').fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Log in", exact=True).click()
    if page.url.endswith("/konto/2fa/authenticate/"):
        from members.management.commands.seed_demo import DEMO_TOTP_SECRET

        from .conftest import current_totp

        page.locator('input[name="code"]').fill(current_totp(DEMO_TOTP_SECRET))
        with page.expect_navigation():
            page.locator('main button[type="submit"]').first.click()
    phrases = bokmal_phrases()
    base = live_server.url
    queue, seen, found = [urlparse(page.url).path], set(), []
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if shape(path) in seen:
            continue
        seen.add(shape(path))
        page.goto(base + path)
        assert page.locator("html").get_attribute("lang") == "en", path
        text = page.evaluate(TEXT_OUTSIDE_NB_JS)
        found += [f"{path}: {phrase!r}" for phrase in phrases if phrase in text]
        queue += [link for link in same_site_links(page, base) if shape(link) not in seen]
    assert len(seen) > 3
    assert found == [], "bokmål outside lang=nb on English pages:\n" + "\n".join(sorted(set(found)))


def test_terms_publishing_pages_reflow_and_are_accessible(page, live_server, demo_data):
    """Issue 16: the publish page with its diff, the published page with who has not signed again, and the
    signatory's card listing the new version, at 390 and 1280 px, with axe."""
    from datetime import timedelta

    from django.utils import timezone

    from members import services
    from members.models import TermsDocument, User

    staff = User.objects.get(email="kundesenter@nhn.example")
    old = TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)
    body = old.body.replace("NHN", "Norsk helsenett (NHN)", 2) + "\n\n" + "Et nytt avsnitt med en lang linje " * 12
    draft = services.terms_draft_create(
        kind="membership", service_code="", version="2027.1", title=old.title, body=body, by=staff
    )
    log_in(page, live_server, "kundesenter@nhn.example", DEMO_PASSWORD)
    failures = []
    page.goto(f"{live_server.url}/kundesenter/vilkar/{draft.public_id}/")
    assert page.locator('[data-testid="terms-diff"] ins').count() > 0
    failures += check_reflow(page, "terms draft with diff")
    assert_accessible(page)
    page.get_by_label("Hva er endret").fill("Norsk helsenett er skrevet ut, og et nytt avsnitt er lagt til.")
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Publiser denne versjonen").click()
    draft.refresh_from_db()
    assert draft.is_published
    assert draft.effective_from.date() >= (timezone.now() + timedelta(days=29)).date()
    assert page.locator('[data-testid="not-resigned-count"]').is_visible()
    failures += check_reflow(page, "published terms with who has not signed again")
    assert_accessible(page)
    screenshot(page, "terms-published-1280")

    page.context.clear_cookies()
    log_in(page, live_server, "signatar@nordvik.example", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/medlem/313231593/")
    assert page.locator(".awaiting-signature li").count() >= 1
    failures += check_reflow(page, "signatory dashboard with terms waiting")
    assert_accessible(page)
    page.set_viewport_size({"width": 390, "height": 900})
    screenshot(page, "terms-waiting-card-390")
    assert failures == [], "\n".join(failures)


def test_bulk_approval_from_the_queue_to_its_progress_page_reflows_and_is_accessible(page, live_server, demo_data):
    """Issue 15: staff approve every waiting test order matching the filter; the job's page, with what was
    skipped and why, at 390 and 1280 px, with axe."""
    from members.models import Organisation, User
    from orders.models import Order, Service
    from tests.factories import OrganisationFactory

    staff = User.objects.get(email="kundesenter@nhn.example")
    journaling = Service.objects.get(code="vkp-journaling")
    organisations = Organisation.objects.bulk_create(OrganisationFactory.build_batch(3))
    Order.objects.bulk_create(
        Order(organisation=organisation, service=journaling, environment="test", state="submitted",
              created_by=staff, submitted_by=staff)
        for organisation in organisations
    )  # fmt: skip
    waiting = Order.objects.filter(state="submitted", environment="test").count()  # the demo's and these three
    log_in(page, live_server, "kundesenter@nhn.example", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/kundesenter/bestillinger/?state=submitted")
    with page.expect_navigation():
        page.get_by_role("button", name="Godkjenn alle ventende testbestillinger som passer filteret").click()
    assert "/kundesenter/massegodkjenning/" in page.url
    page.get_by_text(f"{waiting} av {waiting} bestillinger behandlet").wait_for()
    assert Order.objects.filter(organisation__in=organisations, state="active").count() == 3
    failures = check_reflow(page, "bulk approval job")
    assert_accessible(page)
    screenshot(page, "bulk-approval-1280")
    assert failures == [], "\n".join(failures)


def test_organisation_directory_reflows_and_is_accessible(page, live_server, demo_data):
    """Issue 16: the customer centre's directory of organisations, filtered by the search field and by what waits
    for NHN (htmx swapping the table), and the order queue with its membership and usage-terms columns, at 390
    and 1280 px, with axe."""
    from members.models import Organisation
    from tests.factories import OrganisationFactory

    Organisation.objects.bulk_create(
        OrganisationFactory.build(name=f"Interkommunalt samarbeid om helse- og omsorgstjenester i Vidda-regionen {n}")
        for n in range(60)
    )
    log_in(page, live_server, "kundesenter@nhn.example", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/kundesenter/")
    with page.expect_navigation():
        page.get_by_role("link", name="Alle virksomheter").click()
    assert page.url.endswith("/kundesenter/virksomheter/")
    assert page.locator(".pagination").is_visible()  # 60 more than the demo's: two pages
    failures = check_reflow(page, "organisation directory")
    assert_accessible(page)
    page.set_viewport_size({"width": 390, "height": 900})
    screenshot(page, "organisation-directory-390")

    with page.expect_response(lambda response: "/kundesenter/virksomheter/?" in response.url):
        page.get_by_label("Søk", exact=True).fill("Fjordheim")
    page.locator("#directory").get_by_text("Fjordheim kommune").wait_for()
    assert page.locator("#directory tbody tr").count() == 1
    with page.expect_response(lambda response: "needs_nhn=on" in response.url):
        page.get_by_label("Noe venter på NHN").check()
    page.locator("#directory").get_by_text("Trenger NHN").wait_for()
    failures += check_reflow(page, "organisation directory, filtered")
    assert_accessible(page)

    page.goto(f"{live_server.url}/kundesenter/bestillinger/?state=submitted")
    assert page.locator("#order-queue thead").get_by_text("Bruksvilkår").is_visible()
    failures += check_reflow(page, "order queue with membership and usage terms")
    assert_accessible(page)
    screenshot(page, "order-queue-columns-1280")


def test_a_clients_tenant_list_searches_and_pages_in_place_and_reflows(page, live_server, vendor_client):
    """Issue 15: a client acting for many municipalities shows them 50 at a time; search and paging swap the
    list in place (htmx) and keep the address, at 390 and 1280 px, with axe."""
    from members.models import Organisation, User, VendorAssignment
    from orders.models import Order, Service
    from tests.factories import OrganisationFactory

    vendor_user = User.objects.get(email="utvikler@trygghetsvakta.example")
    organisations = Organisation.objects.bulk_create(
        OrganisationFactory.build(name=f"Skalakommune {n:03d}") for n in range(60)
    )
    VendorAssignment.objects.bulk_create(
        VendorAssignment(organisation=o, system=vendor_client.system, kind=vendor_client.system.kind,
                         environment="test", created_by=vendor_user)
        for o in organisations
    )  # fmt: skip
    journaling = Service.objects.get(code="vkp-journaling")
    Order.objects.bulk_create(
        Order(organisation=o, service=journaling, environment="test", state="active", created_by=vendor_user)
        for o in organisations
    )
    log_in(page, live_server, "utvikler@trygghetsvakta.example", DEMO_PASSWORD)
    url = f"{live_server.url}/klienter/{vendor_client.public_id}/"
    page.goto(url)
    tenants = page.locator("#client-tenants")
    tenants.get_by_text("Side 1 av 2").wait_for()
    failures = check_reflow(page, "client page")
    assert_accessible(page)

    with page.expect_request(lambda request: "side=2" in request.url and request.headers.get("hx-request")):
        tenants.get_by_role("link", name="Neste").click()
    tenants.get_by_text("Side 2 av 2").wait_for()
    assert "side=2" in page.url

    search = page.get_by_label("Finn en kommune")
    search.fill("Skalakommune 042")
    with page.expect_request(lambda request: "q=" in request.url and request.headers.get("hx-request")):
        search.press("Enter")
    tenants.get_by_text("1 kommune", exact=True).wait_for()
    assert tenants.locator("tbody tr").count() == 1 and "Skalakommune 042" in tenants.locator("tbody").inner_text()
    failures += check_reflow(page, "client page, searched")
    assert_accessible(page)
    screenshot(page, "client-tenants-search-1280")
    assert failures == [], "\n".join(failures)
