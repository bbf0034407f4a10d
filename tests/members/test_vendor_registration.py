"""Vendors and partners register like members but accept the vendor terms 2.0; NHN approves them."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation

from members import services
from members.models import Affiliation, Membership, Organisation, OrganisationClaim, TermsDocument, VendorSystem
from orders import helseid
from tests.factories import UserFactory, register_confirmed
from tests.members.idporten import identified, registered_person

pytestmark = pytest.mark.django_db

BUILDER = "320000084"  # Fjordheim Bygg AS: not eligible as a member, but may register as a vendor


@pytest.fixture(autouse=True)
def _english_messages():
    with translation.override("en"):
        yield


def vendor_terms():
    return TermsDocument.objects.current(TermsDocument.Kind.VENDOR)


def test_a_company_registers_as_vendor_and_becomes_its_vendor_user_when_confirmed():
    user = UserFactory()
    claim = services.claim_submit(org_number=BUILDER, user=user, vendor_kind=Organisation.Kind.VENDOR)
    assert claim.role == Affiliation.Role.VENDOR_USER and not Affiliation.objects.exists()
    membership = register_confirmed(org_number=BUILDER, user=user, vendor_kind=Organisation.Kind.VENDOR)
    organisation = membership.organisation
    assert organisation.kind == Organisation.Kind.VENDOR
    assert Affiliation.objects.filter(user=user, organisation=organisation, role=Affiliation.Role.VENDOR_USER).exists()
    assert Membership.terms_kind_for(organisation) == TermsDocument.Kind.VENDOR


def test_a_partner_registers_as_partner():
    membership = register_confirmed(org_number=BUILDER, user=UserFactory(), vendor_kind=Organisation.Kind.PARTNER)
    assert membership.organisation.kind == Organisation.Kind.PARTNER


@pytest.mark.parametrize(
    ("number", "message"), [("320000092", "deleted"), ("320000106", "bankrupt"), ("320000122", "sub-unit")]
)
def test_dead_organisations_and_sub_units_cannot_register(number, message):
    with pytest.raises(ValidationError, match=message):
        services.claim_submit(org_number=number, user=UserFactory(), vendor_kind=Organisation.Kind.VENDOR)
    assert not Organisation.objects.filter(org_number=number).exists()


def test_the_daglig_leder_accepts_the_vendor_terms_and_nhn_approves(nhn_staff):
    applicant = UserFactory()
    membership = register_confirmed(org_number="310000108", user=applicant, vendor_kind=Organisation.Kind.VENDOR)
    organisation = membership.organisation
    jon_born = registered_person("310000108", "Jon Journal").birth_date
    with pytest.raises(PermissionDenied):  # the applicant is not in Enhetsregisteret
        services.terms_sign(
            organisation=organisation,
            document=vendor_terms(),
            shown_sha256=vendor_terms().sha256,
            user=applicant,
            person=identified("Anne Annen", jon_born),
        )
    jon = UserFactory()  # a local account; ID-porten identifies Jon Journal, DAGL of Journalhuset AS
    Affiliation.objects.create(user=jon, organisation=organisation, role=Affiliation.Role.VENDOR_USER)
    services.terms_sign(
        organisation=organisation,
        document=vendor_terms(),
        shown_sha256=vendor_terms().sha256,
        user=jon,
        person=registered_person("310000108", "Jon Journal"),
    )
    membership.refresh_from_db()
    assert membership.state == Membership.State.PENDING_APPROVAL
    assert membership.acceptance.document.kind == TermsDocument.Kind.VENDOR
    services.membership_approve(membership=membership, by=nhn_staff)
    assert membership.state == Membership.State.ACTIVE


def test_membership_terms_do_not_approve_a_vendor():
    applicant = UserFactory()
    membership = register_confirmed(org_number="310000108", user=applicant, vendor_kind=Organisation.Kind.VENDOR)
    jon = UserFactory(first_name="Jon", last_name="Journal")
    Affiliation.objects.create(user=jon, organisation=membership.organisation, role=Affiliation.Role.VENDOR_USER)
    terms = TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)
    services.terms_sign(
        organisation=membership.organisation,
        document=terms,
        shown_sha256=terms.sha256,
        user=jon,
        person=registered_person("310000108", "Jon Journal"),
    )
    membership.refresh_from_db()
    assert membership.state == Membership.State.APPLIED


def test_registering_through_the_page(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(reverse("vendor_register"), {"org_number": BUILDER, "action": "check"})
    assert response.context["check"].eligible
    response = client.post(reverse("vendor_register"), {"org_number": BUILDER, "action": "apply", "as_partner": "on"})
    claim = OrganisationClaim.objects.get(claimant=user)
    assert response["Location"] == reverse("claim_detail", args=[claim.public_id])
    assert Organisation.objects.get(org_number=BUILDER).kind == Organisation.Kind.PARTNER
    assert client.get(reverse("membership_detail", args=[BUILDER])).status_code == 404
    services.claim_decide_by_staff(claim=claim, confirm=True, by=UserFactory(is_nhn_staff=True), reason="Kjent")
    page = client.get(reverse("membership_detail", args=[BUILDER]))
    assert page.status_code == 200 and page.context["is_vendor"] is True


def test_the_vendor_terms_page_is_the_vendors_own(client, vendor, vendor_user, municipal_admin):
    terms = vendor_terms()
    url = reverse("terms_sign", args=[vendor.org_number, terms.public_id])
    client.force_login(vendor_user)
    assert client.get(url).status_code == 200
    client.force_login(municipal_admin)
    assert client.get(url).status_code == 404
    assert client.get(reverse("membership_detail", args=[vendor.org_number])).status_code == 404


def test_production_clients_need_an_approved_vendor(vendor, vendor_user, nhn_staff):
    system = VendorSystem.objects.create(vendor=vendor, name="EPJ", kind="epj")
    with pytest.raises(ValidationError, match="approved by NHN"):
        helseid.client_create(system=system, environment="prod", tenancy="multi-tenant", tenant=None, by=vendor_user)
    Membership.objects.create(organisation=vendor, applied_by=vendor_user, state=Membership.State.ACTIVE)
    assert helseid.client_create(system=system, environment="prod", tenancy="multi-tenant", tenant=None, by=vendor_user)
