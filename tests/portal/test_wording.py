"""Small wording defects from issue 17, each tried on the page a person sees."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from joserfc.jwk import ECKey

from members.models import TermsDocument, User, VendorSystem
from orders import helseid

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("seed_demo", stdout=io.StringIO())


def test_the_client_page_in_bokmal_has_no_english_jargon_and_the_right_authority(client, demo):
    system = VendorSystem.objects.get(name="Trygghetsvakta Responssenter")
    by = User.objects.get(email="utvikler@trygghetsvakta.example")
    config = helseid.client_create(system=system, environment="test", tenancy="multi-tenant", tenant=None, by=by)
    public = {**ECKey.generate_key("P-256").as_dict(private=False), "kid": "k1", "alg": "ES256"}
    helseid.client_keys_add(client=config, keys_text=json.dumps(public), by=by)
    client.force_login(by)
    page = client.get(reverse("client_detail", args=[config.public_id])).content.decode()
    for english in ("Grant type<", "Tenancy (kundeforhold)", "Multi-tenant", "Grunnlag for signering"):
        assert english not in page, english
    assert "Utsteder (authority)" in page and "Tildelingstype (grant type)" in page


def test_the_login_page_has_no_developer_text(client):
    page = client.get(reverse("account_login")).content.decode()
    assert "README" not in page and "single sign-on" not in page


def test_a_title_that_names_its_version_is_not_followed_by_it_again(demo):
    document = TermsDocument.objects.filter(kind="vendor").first()
    assert document.title.endswith(document.version)
    assert document.title_with_version == document.title == str(document)
    assert TermsDocument(title="Medlemsvilkår", version="2026.1").title_with_version == "Medlemsvilkår 2026.1"


def test_a_viewer_is_told_why_the_catalogue_has_no_order_buttons(client, demo):
    client.force_login(User.objects.get(email="leser@nordvik.example"))
    page = client.get(reverse("catalogue", args=["313231593"])).content.decode()
    assert "bare en administrator i virksomheten kan bestille tjenester" in page
    client.force_login(User.objects.get(email="admin@nordvik.example"))
    page = client.get(reverse("catalogue", args=["313231593"])).content.decode()
    assert 'data-testid="read-only-catalogue"' not in page


def test_a_refused_public_key_stays_in_the_field_to_be_corrected_but_a_private_key_does_not(client, demo):
    system = VendorSystem.objects.get(name="Trygghetsvakta Responssenter")
    by = User.objects.get(email="utvikler@trygghetsvakta.example")
    config = helseid.client_create(system=system, environment="test", tenancy="multi-tenant", tenant=None, by=by)
    client.force_login(by)
    url = reverse("client_detail", args=[config.public_id])
    wrong_alg = {**ECKey.generate_key("P-256").as_dict(private=False), "kid": "k-typo", "alg": "RS256"}
    page = client.post(url, {"keys": json.dumps(wrong_alg)}).content.decode()
    assert "k-typo" in page and wrong_alg["x"] in page  # the pasted key is still there
    private = {**ECKey.generate_key("P-256").as_dict(private=True), "kid": "leak", "alg": "ES256"}
    page = client.post(url, {"keys": json.dumps(private)}).content.decode()
    assert private["d"] not in page and private["x"] not in page
