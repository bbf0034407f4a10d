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
