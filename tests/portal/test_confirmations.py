"""Destructive actions ask first, without JavaScript: GET on the action's URL says what will happen and changes
nothing; POST does it. The pages link to the question, not to a one-click form."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from joserfc.jwk import ECKey

from members.models import Organisation, User, VendorAssignment, VendorSystem
from orders import helseid
from orders.models import ClientKey, HelseIdClient, Order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def demo(client):
    call_command("seed_demo", stdout=io.StringIO())
    # Pages in English, as a person who chose English sees them.
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        yield


def login(client, email):
    client.force_login(User.objects.get(email=email))


@pytest.fixture
def assignment():
    return VendorAssignment.objects.active().get(
        organisation__org_number="313231593", system__name="Trygghetsvakta Responssenter", environment="test"
    )


def test_ending_a_vendor_system_says_who_loses_what_and_changes_nothing_until_confirmed(client, assignment):
    login(client, "admin@nordvik.example")
    url = reverse("assignment_end", args=["313231593", assignment.public_id])
    dashboard = client.get(reverse("member_dashboard", args=["313231593"])).content.decode()
    assert f'href="{url}"' in dashboard and f'action="{url}"' not in dashboard

    page = client.get(url).content.decode()
    assert "Trygghetsvakta AS loses access to Journaling, Patient for Testkommune Nordvik in test." in page, page
    assert "End the registration" in page and 'method="post"' in page
    assert VendorAssignment.objects.active().filter(pk=assignment.pk).exists()

    client.post(url)
    assert not VendorAssignment.objects.active().filter(pk=assignment.pk).exists()


def test_the_question_is_asked_only_of_those_who_may_act(client, assignment):
    url = reverse("assignment_end", args=["313231593", assignment.public_id])
    login(client, "leser@nordvik.example")
    assert client.get(url).status_code == 403
    login(client, "admin@fjordheim.example")
    assert client.get(reverse("assignment_end", args=["310000000", assignment.public_id])).status_code == 404
    assert client.get(url).status_code == 404


def test_cancelling_an_order_asks_first(client):
    order = Order.objects.get(organisation__org_number="310000000", service__code="vkp-journaling")
    login(client, "admin@fjordheim.example")
    url = reverse("order_cancel", args=[order.public_id])
    assert f'href="{url}"' in client.get(reverse("order_detail", args=[order.public_id])).content.decode()

    page = client.get(url).content.decode()
    assert "The order of Journaling for Fjordheim kommune in test is cancelled." in page
    order.refresh_from_db()
    assert order.state == Order.State.SUBMITTED

    client.post(url)
    order.refresh_from_db()
    assert order.state == Order.State.CANCELLED


@pytest.fixture
def vendor_client():
    system = VendorSystem.objects.get(name="Trygghetsvakta Responssenter")
    by = User.objects.get(email="utvikler@trygghetsvakta.example")
    config = helseid.client_create(system=system, environment="test", tenancy="multi-tenant", tenant=None, by=by)
    for kid in ("old-key", "new-key"):
        public = {**ECKey.generate_key("P-256").as_dict(private=False), "kid": kid, "alg": "ES256"}
        helseid.client_keys_add(client=config, keys_text=json.dumps(public), by=by)
    return config


def test_retiring_a_key_asks_first(client, vendor_client):
    key = vendor_client.keys.get(kid="old-key")
    login(client, "utvikler@trygghetsvakta.example")
    url = reverse("client_key_retire", args=[vendor_client.public_id, key.public_id])
    assert f'href="{url}"' in client.get(reverse("client_detail", args=[vendor_client.public_id])).content.decode()

    page = client.get(url).content.decode()
    assert "HelseID refuses client assertions signed with key old-key for Trygghetsvakta Responssenter in test." in page
    assert ClientKey.objects.get(pk=key.pk).retired_at is None

    client.post(url)
    assert ClientKey.objects.get(pk=key.pk).retired_at is not None


def test_disabling_a_client_asks_first(client, vendor_client):
    login(client, "utvikler@trygghetsvakta.example")
    url = reverse("client_disable", args=[vendor_client.public_id])
    page = client.get(url).content.decode()
    assert "Trygghetsvakta Responssenter stops getting tokens from HelseID with this client in test." in page
    assert "This cannot be undone." in page
    assert HelseIdClient.objects.get(pk=vendor_client.pk).state != HelseIdClient.State.DISABLED

    client.post(url)
    assert HelseIdClient.objects.get(pk=vendor_client.pk).state == HelseIdClient.State.DISABLED


def test_another_vendor_gets_no_question(client, vendor_client):
    login(client, "utvikler@journalhuset.example")
    key = vendor_client.keys.first()
    assert client.get(reverse("client_disable", args=[vendor_client.public_id])).status_code == 404
    assert client.get(reverse("client_key_retire", args=[vendor_client.public_id, key.public_id])).status_code == 404
    assert Organisation.objects.filter(org_number="310000205").exists()


def test_the_question_is_in_bokmal_by_default(client, assignment):
    client.cookies["django_language"] = "nb"
    login(client, "admin@nordvik.example")
    with translation.override("nb"):
        page = client.get(reverse("assignment_end", args=["313231593", assignment.public_id])).content.decode()
    expected = "Trygghetsvakta AS mister tilgangen til Journalføring, Pasientinformasjon for Testkommune Nordvik i test"
    assert expected + "." in page
