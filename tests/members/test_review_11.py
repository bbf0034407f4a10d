"""Issue 11 attacked once more by an independent reviewer, through the web as a hostile user would.

Each test here failed on main before the fix committed with it (or proves a rule of the issue that
had no test of its own).
"""
# ruff: noqa: F811  (pytest fixtures imported from tests.brreg_server are used as arguments)

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import Acceptance, Affiliation, SigningDelegation, TermsDocument
from tests.brreg_server import brreg_server, http_registry  # noqa: F401
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory

from .idporten import verified_in_session

pytestmark = pytest.mark.django_db

NORDVIK = "313231593"


@pytest.mark.integration
def test_a_bound_delegate_during_a_registry_outage_gets_a_page_not_a_500(client, http_registry, brreg_server):
    """The signing pages look up whether the one who delegated still signs; with the register down
    that lookup must say "Enhetsregisteret is down", not crash."""
    nordvik = OrganisationFactory(org_number=NORDVIK, name="Testkommune Nordvik")
    dina = UserFactory(email="dina@nordvik.example")
    AffiliationFactory(user=dina, organisation=nordvik, role=Affiliation.Role.SIGNATORY)
    person = verified_in_session(client, dina, name="Dina Delegat", born=date(1980, 5, 19))
    SigningDelegation.objects.create(
        organisation=nordvik,
        delegate_email=dina.email,
        delegate=dina,
        delegate_pid_hash=person.pid_hash,
        bound_at=timezone.now(),
        delegated_by=UserFactory(),
        delegated_by_name="Randi Rådmann",
        delegated_by_birth_date=date(1970, 1, 1),
        delegated_by_authority="Daglig leder (DAGL) in Enhetsregisteret",
    )
    terms = TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)
    client.force_login(dina)
    verified_in_session(client, dina, name="Dina Delegat", born=date(1980, 5, 19))
    brreg_server.fail(status=500, times=None)
    for url in (reverse("membership_detail", args=[NORDVIK]), reverse("terms_sign", args=[NORDVIK, terms.public_id])):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.context["registry_error"] is True
        assert response.context["authority"] is None  # unprovable while the register is down
    response = client.post(
        reverse("terms_sign", args=[NORDVIK, terms.public_id]), {"sha256": terms.sha256, "confirm": "on"}
    )
    assert response.status_code == 200
    assert "Enhetsregisteret" in response.context["form"].non_field_errors()[0]
    assert not Acceptance.objects.exists()
