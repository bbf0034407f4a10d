import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from members.models import Affiliation, Organisation
from tests.factories import AffiliationFactory, OrganisationFactory, VendorFactory

pytestmark = pytest.mark.django_db


def test_organisation_number_never_changes():
    organisation = OrganisationFactory(org_number="313231593")
    organisation.org_number = "310000000"
    with pytest.raises(ValidationError):
        organisation.save()
    assert Organisation.objects.get(pk=organisation.pk).org_number == "313231593"


def test_synthetic_is_derived_from_the_number():
    assert OrganisationFactory(org_number="313231593").is_synthetic
    assert not Organisation(org_number="974760673").is_synthetic


def test_database_refuses_a_number_that_is_not_nine_digits():
    with pytest.raises(IntegrityError):
        Organisation.objects.create(org_number="1234", name="Feil", kind=Organisation.Kind.MUNICIPALITY)


def test_full_clean_refuses_an_invalid_check_digit():
    with pytest.raises(ValidationError) as error:
        Organisation(org_number="313231594", name="Feil", kind=Organisation.Kind.MUNICIPALITY).full_clean()
    assert "org_number" in error.value.message_dict


def test_vendor_user_role_belongs_to_vendors_only():
    affiliation = AffiliationFactory.build(
        organisation=OrganisationFactory(), role=Affiliation.Role.VENDOR_USER, user=AffiliationFactory().user
    )
    with pytest.raises(ValidationError):
        affiliation.clean()


def test_member_roles_belong_to_member_organisations_only():
    affiliation = AffiliationFactory.build(
        organisation=VendorFactory(), role=Affiliation.Role.ADMIN, user=AffiliationFactory().user
    )
    with pytest.raises(ValidationError):
        affiliation.clean()


def test_a_person_holds_a_role_once_per_organisation():
    affiliation = AffiliationFactory()
    with pytest.raises(IntegrityError):
        Affiliation.objects.create(user=affiliation.user, organisation=affiliation.organisation, role=affiliation.role)
