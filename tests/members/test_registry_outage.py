"""When Enhetsregisteret fails, pages say so and nothing is saved (HTTP backend, real loopback server)."""
# ruff: noqa: F811  (pytest fixtures imported from tests.brreg_server are used as arguments)

import pytest
from django.urls import reverse

from members import services
from members.models import Acceptance, Affiliation, Membership, Organisation, TermsDocument
from tests.brreg_server import brreg_server, http_registry  # noqa: F401
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory

from .idporten import registered_person, verified_in_session

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

NORDVIK = "313231593"


@pytest.fixture
def nordvik_applied(http_registry):
    nordvik = OrganisationFactory(org_number=NORDVIK, name="Testkommune Nordvik")
    admin = AffiliationFactory(organisation=nordvik, role=Affiliation.Role.ADMIN).user
    randi = UserFactory(first_name="Randi", last_name="Rådmann")
    AffiliationFactory(user=randi, organisation=nordvik, role=Affiliation.Role.SIGNATORY)
    services.membership_apply(org_number=NORDVIK, user=admin)
    return nordvik, admin, randi


def test_lookup_during_an_outage_says_so_and_saves_nothing(client, http_registry, brreg_server):
    client.force_login(UserFactory())
    brreg_server.fail(status=503, times=None)
    response = client.post(reverse("membership_register"), {"org_number": "320000009", "action": "apply"})
    assert response.status_code == 200
    assert "Enhetsregisteret" in response.context["form"].errors["org_number"][0]
    assert not Organisation.objects.filter(org_number="320000009").exists()


def test_a_slow_register_is_an_outage_too(client, http_registry, brreg_server):
    client.force_login(UserFactory())
    brreg_server.slow(times=None)
    response = client.post(reverse("membership_register"), {"org_number": "320000009", "action": "check"})
    assert "Enhetsregisteret" in response.context["form"].errors["org_number"][0]


def test_the_membership_page_still_opens_and_warns(client, nordvik_applied, brreg_server):
    _, admin, _ = nordvik_applied
    brreg_server.fail(status=500, times=None)
    client.force_login(admin)
    response = client.get(reverse("membership_detail", args=[NORDVIK]))
    assert response.status_code == 200
    assert response.context["registry_error"] is True


def test_signing_during_an_outage_signs_nothing(client, nordvik_applied, brreg_server):
    _, _, randi = nordvik_applied
    terms = TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)
    client.force_login(randi)
    born = registered_person(NORDVIK, "Randi Rådmann").birth_date
    verified_in_session(client, randi, name="Randi Rådmann", born=born)  # ID-porten has identified her
    brreg_server.fail(status=500, times=None)
    response = client.post(
        reverse("terms_sign", args=[NORDVIK, terms.public_id]), {"sha256": terms.sha256, "confirm": "on"}
    )
    assert response.status_code == 200
    assert "Enhetsregisteret" in response.context["form"].non_field_errors()[0]
    assert not Acceptance.objects.exists()
    assert Membership.objects.get().state == Membership.State.APPLIED

    brreg_server.reset()
    client.post(reverse("terms_sign", args=[NORDVIK, terms.public_id]), {"sha256": terms.sha256, "confirm": "on"})
    assert Acceptance.objects.get().signed_by == randi
