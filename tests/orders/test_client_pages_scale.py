"""A HelseID client's pages at national scale: their cost does not grow with the client's tenants.

A vendor's multi-tenant client may act for thousands of municipalities. The detail page shows
them 50 at a time (with search), the configuration file holds them all but is read with a fixed
number of queries, and the sheet for operations counts them and says where the list is.
"""

import io
import json

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import translation
from joserfc.jwk import ECKey
from pypdf import PdfReader

from members.models import Organisation, SupportedService, VendorAssignment, VendorSystem
from orders import helseid
from orders.models import Order, Service
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

# The same bound at 5 and at 500 tenants: what the pages cost may not depend on how many there are.
DETAIL_QUERIES = 11
CONFIGURATION_QUERIES = 10
SHEET_QUERIES = 13


@pytest.fixture(autouse=True)
def _english_messages(client):
    # Pages are in bokmål unless the person chose English (the cookie the language switch sets).
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def system(vendor):
    system = VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm Nasjonal", kind="vft")
    for code in ("vkp-journaling", "vkp-patient"):
        SupportedService.objects.create(system=system, service=Service.objects.get(code=code), environment="test")
    return system


@pytest.fixture
def multi_client(system, vendor_user):
    client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    key = {**ECKey.generate_key("P-256").as_dict(private=False), "kid": "national-key", "alg": "ES256", "use": "sig"}
    helseid.client_keys_add(client=client, keys_text=json.dumps(key), by=vendor_user)
    return client


def tenants_using(system, count: int, *, prefix: str = "Kommune") -> list[Organisation]:
    """`count` municipalities using the system, each with an active order; every tenth with a unit, every other
    with a second service. Made with bulk_create: 500 tenants in a handful of statements."""
    organisations = Organisation.objects.bulk_create(
        OrganisationFactory.build(name=f"{prefix} {n:04d}") for n in range(count)
    )
    creator = UserFactory()
    VendorAssignment.objects.bulk_create(
        VendorAssignment(organisation=o, system=system, kind=system.kind, environment="test", created_by=creator)
        for o in organisations
    )
    journaling, patient = Service.objects.get(code="vkp-journaling"), Service.objects.get(code="vkp-patient")
    orders = [Order(organisation=o, service=journaling, environment="test", state="active", created_by=creator)
              for o in organisations]  # fmt: skip
    orders += [Order(organisation=o, service=patient, environment="test", state="active", created_by=creator)
               for o in organisations[::2]]  # fmt: skip
    Order.objects.bulk_create(orders)
    Organisation.objects.bulk_create(
        OrganisationFactory.build(name=f"{o.name} sjukeheim", parent=o) for o in organisations[::10]
    )
    return organisations


def detail_url(client, **query) -> str:
    url = reverse("client_detail", args=[client.public_id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


# Query counts: the same bound at 5 and at 500 tenants ------------------------------------------------


@pytest.mark.parametrize("count", [5, 500])
def test_the_detail_page_costs_the_same_at_any_number_of_tenants(
    client, system, multi_client, vendor_user, count, django_assert_max_num_queries
):
    tenants_using(system, count)
    client.force_login(vendor_user)
    with django_assert_max_num_queries(DETAIL_QUERIES):
        response = client.get(detail_url(multi_client))
    assert response.status_code == 200
    assert len(response.context["tenants"].object_list) == min(count, 50)
    assert response.context["tenants"].paginator.count == count


@pytest.mark.parametrize("count", [5, 500])
def test_the_configuration_file_costs_the_same_queries_at_any_number_of_tenants(
    client, system, multi_client, vendor_user, count, django_assert_max_num_queries
):
    tenants_using(system, count)
    client.force_login(vendor_user)
    with django_assert_max_num_queries(CONFIGURATION_QUERIES):
        response = client.get(reverse("client_configuration", args=[multi_client.public_id]))
    config = json.loads(response.content)
    # All of them are still in the file: what a vendor configures its system with is unchanged.
    assert len(config["tenants"]) == count
    assert sum(1 for tenant in config["tenants"] if tenant["childOrganizations"]) == len(range(0, count, 10))
    assert config["publicKeyIds"] == ["national-key"]
    assert config["scopes"] == ["nhn:jft/api", "nhn:pit/api.read"]


@pytest.mark.parametrize("count", [5, 500])
def test_the_sheet_costs_the_same_queries_at_any_number_of_tenants(
    client, system, multi_client, vendor_user, count, django_assert_max_num_queries
):
    tenants_using(system, count)
    client.force_login(vendor_user)
    with django_assert_max_num_queries(SHEET_QUERIES):
        response = client.get(reverse("client_sheet", args=[multi_client.public_id]))
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_the_configuration_file_holds_each_tenants_own_scopes_and_units(client, system, multi_client, vendor_user):
    first, second = tenants_using(system, 2)
    client.force_login(vendor_user)
    config = json.loads(client.get(reverse("client_configuration", args=[multi_client.public_id])).content)
    by_number = {tenant["organizationNumber"]: tenant for tenant in config["tenants"]}
    assert by_number[first.org_number]["scopes"] == ["nhn:jft/api", "nhn:pit/api.read"]
    assert by_number[second.org_number]["scopes"] == ["nhn:jft/api"]
    [unit] = by_number[first.org_number]["childOrganizations"]
    assert unit["name"] == f"{first.name} sjukeheim"
    assert by_number[second.org_number]["childOrganizations"] == []


def test_the_configuration_file_is_the_indented_utf8_json_a_vendor_reads(client, system, multi_client, vendor_user):
    from orders import helseid

    tenants_using(system, 3, prefix="Øyrane")
    client.force_login(vendor_user)
    response = client.get(reverse("client_configuration", args=[multi_client.public_id]))
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment;")
    # Byte for byte what json.dumps(indent=2, ensure_ascii=False) writes: the encoder changed, the file did not.
    expected = json.dumps(helseid.configuration(multi_client), indent=2, ensure_ascii=False).encode()
    assert response.content == expected
    assert "Øyrane".encode() in response.content


# The sheet: what a vendor needs on paper, not one row per tenant ---------------------------------------


def test_the_sheet_counts_the_tenants_and_does_not_grow_with_them(client, system, multi_client, vendor_user):
    tenants_using(system, 5, prefix="Liten")
    client.force_login(vendor_user)
    url = reverse("client_sheet", args=[multi_client.public_id])
    small = client.get(url).content

    tenants_using(system, 495, prefix="Stor")
    large = client.get(url).content

    assert len(large) < 1.5 * len(small), (len(small), len(large))
    text = pdf_text(large)
    assert "500 municipalities" in text
    assert "Stor 0001" not in text  # no table of every tenant; the example is the first by name
    # Where the full list is, as a URL one can type from paper.
    assert detail_url(multi_client) in text.replace(" ", "")
    for fact in (
        str(multi_client.client_id),
        "national-key",
        "DPoP",
        "nhn:jft/api",
        "nhn:pit/api.read",
        "/connect/token",
    ):
        assert fact in text.replace(" ", ""), fact


def test_the_sheet_shows_how_to_name_a_tenant_with_an_example(client, system, multi_client, vendor_user):
    first, *_ = tenants_using(system, 3)
    client.force_login(vendor_user)
    text = pdf_text(client.get(reverse("client_sheet", args=[multi_client.public_id])).content)
    compact = text.replace(" ", "")
    assert f"NO:ORGNR:{first.org_number}" in compact and "helseid_authorization" in compact
    assert "3 municipalities" in text


def test_the_bokmal_sheet_and_page_say_it_in_bokmal(client, system, multi_client, vendor_user):
    tenants_using(system, 3)
    client.force_login(vendor_user)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "nb"
    text = pdf_text(client.get(reverse("client_sheet", args=[multi_client.public_id])).content)
    assert "Klienten handler på vegne av 3 kommuner." in text
    assert "Eksempel: assertion_details for Kommune 0000" in text
    page = client.get(detail_url(multi_client, q="Ingenstedsby")).content.decode()
    assert "Finn en kommune" in page and "Ingen kommune passer til «Ingenstedsby»." in page


# The detail page's tenant list: pages of 50, search, htmx fragment --------------------------------------


def test_the_tenant_list_pages_through_every_tenant(client, system, multi_client, vendor_user):
    tenants_using(system, 120)
    client.force_login(vendor_user)
    first = client.get(detail_url(multi_client))
    last = client.get(detail_url(multi_client, side=3))
    names = [t.organisation.name for t in first.context["tenants"].object_list]
    assert names == [f"Kommune {n:04d}" for n in range(50)]
    assert [t.organisation.name for t in last.context["tenants"].object_list][-1] == "Kommune 0119"
    assert len(last.context["tenants"].object_list) == 20
    # Plain links: the next page works without JavaScript.
    assert 'href="?side=2"' in first.content.decode()
    assert "Kommune 0050" not in first.content.decode()
    # Each row's scopes are its own.
    scopes = {t.organisation.name: t.scopes for t in first.context["tenants"].object_list}
    assert scopes["Kommune 0000"] == ["nhn:jft/api", "nhn:pit/api.read"]
    assert scopes["Kommune 0001"] == ["nhn:jft/api"]


def test_the_tenant_rows_show_each_scope_on_its_line_and_escape_names(client, system, multi_client, vendor_user):
    # The rows are built in Python (orders_tags.client_tenant_rows): names stay text, scopes one per line.
    [organisation] = tenants_using(system, 1, prefix="Ås & <i>vik</i>")
    client.force_login(vendor_user)

    page = client.get(detail_url(multi_client)).content.decode()

    assert "Ås &amp; &lt;i&gt;vik&lt;/i&gt; 0000" in page and "<i>vik</i>" not in page
    assert '<code class="hash">nhn:jft/api</code><br><code class="hash">nhn:pit/api.read</code>' in page
    assert organisation.formatted_org_number in page


def test_the_tenant_list_searches_by_name_and_organisation_number(client, system, multi_client, vendor_user):
    organisations = tenants_using(system, 60)
    client.force_login(vendor_user)

    by_name = client.get(detail_url(multi_client, q="kommune 0042"))
    assert [t.organisation for t in by_name.context["tenants"].object_list] == [organisations[42]]

    number = organisations[17].org_number
    spaced = f"{number[:3]}+{number[3:6]}+{number[6:]}"  # as printed: 123 456 789
    by_number = client.get(detail_url(multi_client, q=spaced))
    assert [t.organisation for t in by_number.context["tenants"].object_list] == [organisations[17]]

    nothing = client.get(detail_url(multi_client, q="Ingenstedsby"))
    assert nothing.context["tenants"].paginator.count == 0
    assert "No municipality matches" in nothing.content.decode()


def test_paging_keeps_the_search(client, system, multi_client, vendor_user):
    tenants_using(system, 80)
    client.force_login(vendor_user)
    page = client.get(detail_url(multi_client, q="Kommune 00"))
    assert page.context["tenants"].paginator.count == 80
    assert 'href="?q=Kommune%2000&amp;side=2"' in page.content.decode()


def test_htmx_gets_only_the_tenant_fragment(client, system, multi_client, vendor_user):
    tenants_using(system, 60)
    client.force_login(vendor_user)
    response = client.get(detail_url(multi_client, side=2), headers={"HX-Request": "true"})
    html = response.content.decode()
    names = [template.name for template in response.templates]
    assert names[0] == "orders/clients/_client_tenants.html" and "base.html" not in names
    assert "<html" not in html and "Kommune 0059" in html and "Kommune 0000" not in html


def test_a_bad_page_or_search_is_no_error(client, system, multi_client, vendor_user):
    tenants_using(system, 3)
    client.force_login(vendor_user)
    for query in ({"side": "999"}, {"side": "-1"}, {"side": "x"}, {"q": "%25%27%22%3C"}, {"q": "x" * 300}):
        response = client.get(detail_url(multi_client, **query))
        assert response.status_code == 200, query


def test_a_single_tenant_client_lists_only_its_tenant(client, system, vendor_user):
    organisations = tenants_using(system, 10)
    single = helseid.client_create(
        system=system, environment="test", tenancy="single-tenant", tenant=organisations[3], by=vendor_user
    )
    client.force_login(vendor_user)
    tenants = client.get(detail_url(single)).context["tenants"]
    assert [t.organisation for t in tenants.object_list] == [organisations[3]]


# The question before disabling names a few, counts the rest --------------------------------------------


def test_the_disable_question_counts_many_tenants_and_names_a_few(client, system, multi_client, vendor_user):
    tenants_using(system, 500)
    client.force_login(vendor_user)
    page = client.get(reverse("client_disable", args=[multi_client.public_id])).content.decode()
    assert "It loses access for 500 municipalities, among them: Kommune 0000, Kommune 0001," in page
    assert "Kommune 0009." in page and "Kommune 0010" not in page


def test_the_disable_question_names_every_one_of_a_few_tenants(client, system, multi_client, vendor_user):
    tenants_using(system, 2)
    client.force_login(vendor_user)
    page = client.get(reverse("client_disable", args=[multi_client.public_id])).content.decode()
    assert "It loses access for: Kommune 0000, Kommune 0001." in page


# Isolation stays ---------------------------------------------------------------------------------------


def test_another_vendors_client_pages_are_404(client, system, multi_client):
    tenants_using(system, 5)
    stranger = AffiliationFactory(organisation=VendorFactory(), role="vendor_user").user
    client.force_login(stranger)
    for url in (
        detail_url(multi_client),
        detail_url(multi_client, q="Kommune", side=2),
        reverse("client_configuration", args=[multi_client.public_id]),
        reverse("client_sheet", args=[multi_client.public_id]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(detail_url(multi_client), headers={"HX-Request": "true"}).status_code == 404


def test_the_same_sheet_is_laid_out_once_and_a_changed_one_again(
    client, system, multi_client, vendor_user, monkeypatch
):
    from django.core.cache import cache
    from weasyprint import HTML

    cache.clear()
    layouts = []
    real_write_pdf = HTML.write_pdf

    def counting_write_pdf(self, *args, **kwargs):
        layouts.append(1)
        return real_write_pdf(self, *args, **kwargs)

    monkeypatch.setattr(HTML, "write_pdf", counting_write_pdf)
    tenants_using(system, 2)
    client.force_login(vendor_user)
    url = reverse("client_sheet", args=[multi_client.public_id])
    first, again = client.get(url).content, client.get(url).content
    assert first == again and first.startswith(b"%PDF") and len(layouts) == 1
    tenants_using(system, 1, prefix="Nykommune")  # one tenant more: another document
    changed = client.get(url).content
    assert changed != first and len(layouts) == 2
    assert "3 municipalities" in pdf_text(changed)
