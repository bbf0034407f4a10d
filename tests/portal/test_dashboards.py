import pytest
from django.urls import reverse

from members.models import Affiliation
from tests.factories import AffiliationFactory, OrganisationFactory

pytestmark = pytest.mark.django_db


def member_url(organisation):
    return reverse("member_dashboard", args=[organisation.org_number])


def vendor_url(organisation):
    return reverse("vendor_dashboard", args=[organisation.org_number])


@pytest.mark.parametrize("persona", ["municipal_admin", "signatory", "viewer"])
def test_member_roles_see_their_organisations_dashboard(client, request, persona, municipality):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(member_url(municipality))
    assert response.status_code == 200
    assert municipality.name in response.content.decode()
    assert response.templates[0].name == "portal/member_dashboard.html"


def test_admin_sees_who_has_access_and_viewer_does_not(client, municipal_admin, viewer, municipality):
    client.force_login(municipal_admin)
    assert viewer.email in client.get(member_url(municipality)).content.decode()
    client.force_login(viewer)
    page = client.get(member_url(municipality)).content.decode()
    assert municipal_admin.email not in page


def test_signatory_sees_what_waits_for_signature(client, signatory, municipal_admin, municipality):
    client.force_login(signatory)
    assert 'id="sign-heading"' in client.get(member_url(municipality)).content.decode()
    client.force_login(municipal_admin)
    assert 'id="sign-heading"' not in client.get(member_url(municipality)).content.decode()


def test_vendor_user_sees_the_vendor_dashboard(client, vendor_user, vendor):
    client.force_login(vendor_user)
    response = client.get(vendor_url(vendor))
    assert response.status_code == 200
    assert response.templates[0].name == "portal/vendor_dashboard.html"


def test_nhn_staff_sees_the_customer_centre(client, nhn_staff, municipality):
    client.force_login(nhn_staff)
    response = client.get(reverse("staff_dashboard"))
    assert response.status_code == 200
    assert response.templates[0].name == "portal/staff_dashboard.html"


# Each dashboard refuses the other roles: outsiders get 404, non-staff get 403 at the customer centre.
@pytest.mark.parametrize("persona", ["vendor_user", "outsider"])
def test_member_dashboard_refuses_everyone_else(client, request, persona, municipality):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(member_url(municipality)).status_code == 404


@pytest.mark.parametrize("persona", ["municipal_admin", "signatory", "viewer"])
def test_vendor_dashboard_refuses_everyone_else(client, request, persona, vendor):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(vendor_url(vendor)).status_code == 404


def test_nhn_staff_land_on_the_lifecycle_page_of_an_organisation_they_open(client, nhn_staff, municipality, vendor):
    """Staff have no dashboard in an organisation: its pages send them to its lifecycle page (issue 16)."""
    client.force_login(nhn_staff)
    for url, organisation in (
        (member_url(municipality), municipality),
        (vendor_url(vendor), vendor),
        (reverse("membership_detail", args=[municipality.org_number]), municipality),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == reverse("organisation_lifecycle", args=[organisation.org_number])
    assert client.get(reverse("member_dashboard", args=["399999998"])).status_code == 404


def test_a_member_role_does_not_open_the_vendor_dashboard_of_its_own_municipality(
    client, municipal_admin, municipality
):
    client.force_login(municipal_admin)
    assert client.get(vendor_url(municipality)).status_code == 404


@pytest.mark.parametrize("persona", ["municipal_admin", "signatory", "viewer", "vendor_user"])
def test_customer_centre_refuses_everyone_but_nhn_staff(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("staff_dashboard")).status_code == 403


@pytest.mark.parametrize("url_name", ["member_dashboard", "vendor_dashboard"])
def test_anonymous_is_sent_to_login(client, url_name, municipality):
    response = client.get(reverse(url_name, args=[municipality.org_number]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_anonymous_is_sent_to_login_from_the_customer_centre(client):
    response = client.get(reverse("staff_dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_unknown_organisation_is_404(client, municipal_admin):
    client.force_login(municipal_admin)
    assert client.get(reverse("member_dashboard", args=["999999999"])).status_code == 404


def test_start_page_sends_a_person_with_one_role_straight_to_it(client, municipal_admin, municipality):
    client.force_login(municipal_admin)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == member_url(municipality)


def test_start_page_lets_a_person_with_several_places_choose(client, municipal_admin, municipality, vendor):
    AffiliationFactory(user=municipal_admin, organisation=vendor, role=Affiliation.Role.VENDOR_USER)
    client.force_login(municipal_admin)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert member_url(municipality) in page and vendor_url(vendor) in page


def test_start_page_explains_what_to_do_without_any_role(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 200
    assert "kundesenter@nhn.no" in response.content.decode()


def test_anonymous_start_page_is_the_public_landing_page(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert reverse("account_login") in response.content.decode()


@pytest.mark.parametrize("rows", [5, 500])
def test_member_dashboard_queries_are_bounded(
    client, municipal_admin, municipality, django_assert_max_num_queries, rows
):
    for _ in range(rows):
        AffiliationFactory(organisation=municipality, role=Affiliation.Role.VIEWER)
    client.force_login(municipal_admin)
    with django_assert_max_num_queries(16):  # one or two per panel, whatever the number of rows
        assert client.get(member_url(municipality)).status_code == 200


@pytest.mark.parametrize("rows", [5, 500])
def test_customer_centre_queries_are_bounded(client, nhn_staff, django_assert_max_num_queries, rows):
    for _ in range(rows):
        AffiliationFactory(organisation=OrganisationFactory(), role=Affiliation.Role.ADMIN)
    client.force_login(nhn_staff)
    with django_assert_max_num_queries(9):
        assert client.get(reverse("staff_dashboard")).status_code == 200
