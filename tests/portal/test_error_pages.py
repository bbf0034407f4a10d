"""400, 403, 404 and 500 in the portal's layout, in the person's language, with a way onward (DEBUG off)."""

import pytest
from django.test import Client
from django.urls import reverse

from members.models import VendorAssignment

pytestmark = pytest.mark.django_db


def in_layout(page: str) -> bool:
    return 'class="site-header"' in page and 'href="/"' in page and "portal.css" in page


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False


def test_404_is_in_bokmal_with_a_way_onward(client):
    response = client.get("/finnes-ikke/")
    page = response.content.decode()
    assert response.status_code == 404
    assert in_layout(page) and '<html lang="nb"' in page
    assert "Fant ikke siden" in page and "Til startsiden" in page


def test_404_in_english_for_a_person_who_chose_english(client):
    client.cookies["django_language"] = "en"
    page = client.get("/finnes-ikke/").content.decode()
    assert '<html lang="en"' in page and "Page not found" in page and "Fant ikke siden" not in page


def test_403_says_why_in_the_layout(client, municipality, viewer):
    client.force_login(viewer)
    assignment = VendorAssignment(organisation=municipality)
    response = client.get(reverse("assignment_end", args=[municipality.org_number, assignment.public_id]))
    page = response.content.decode()
    assert response.status_code == 403
    assert in_layout(page)
    assert "Rollen din i denne virksomheten gir ikke lov til dette." in page or "Du har ikke tilgang" in page
    assert "403 Forbidden" not in page


def test_a_refused_form_is_403_in_the_layout_not_djangos_bare_page(municipal_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(municipal_admin)
    response = client.post(reverse("set_language"), {"language": "en"})
    page = response.content.decode()
    assert response.status_code == 403
    assert in_layout(page) and "Skjemaet var utløpt" in page and "Forbidden" not in page


def test_400_is_in_the_layout(client):
    # A NUL in the query string of the staff search is refused as a bad request by the portal's middleware,
    # or the 400 handler is reached directly.
    from django.test import RequestFactory

    from portal.errors import bad_request

    response = bad_request(RequestFactory().get("/"))
    assert response.status_code == 400 and "site-header" in response.content.decode()


@pytest.mark.urls("tests.portal.urls_raising")
def test_500_is_in_the_layout_with_a_way_onward(client):
    client.raise_request_exception = False
    response = client.get("/feiler/")
    page = response.content.decode()
    assert response.status_code == 500
    assert in_layout(page) and "Noe gikk galt" in page and "kundesenter@nhn.no" in page


@pytest.mark.urls("tests.portal.urls_raising")
def test_500_in_english(client):
    client.raise_request_exception = False
    client.cookies["django_language"] = "en"
    page = client.get("/feiler/").content.decode()
    assert "Something went wrong" in page and '<html lang="en"' in page
