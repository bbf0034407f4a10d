"""NHN staff logging in locally must have a second factor before they reach any staff page."""

import io
import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core.management import call_command
from django.test import RequestFactory

from members.management.commands.seed_demo import DEMO_TOTP_SECRET
from members.middleware import SESSION_KEY
from members.models import User
from tests.factories import PASSWORD, STAFF_TOTP_SECRET, UserFactory
from tests.members.test_accounts import current_totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_without_mfa(db):
    return UserFactory(is_nhn_staff=True, email="ny.ansatt@nhn.example")


def test_staff_without_a_second_factor_cannot_reach_the_customer_centre(client, staff_without_mfa):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.post("/konto/login/", {"login": staff_without_mfa.email, "password": PASSWORD})
    for page in ("/kundesenter/", "/kundesenter/medlemskap/", "/"):
        response = client.get(page)
        assert response.status_code == 302 and response["Location"] == "/konto/2fa/", page
    response = client.get("/kundesenter/", follow=True)
    assert "NHN staff must log in with a second factor" in response.content.decode()
    assert client.get("/konto/2fa/").status_code == 200  # the way out stays open

    # Setting up TOTP lets them in.
    response = client.get("/konto/2fa/totp/activate/")
    if response.status_code == 302:  # allauth may ask for the password again first
        client.post(response["Location"], {"password": PASSWORD})
        client.get("/konto/2fa/totp/activate/")
    secret = client.session[SECRET_SESSION_KEY]
    client.post("/konto/2fa/totp/activate/", {"code": current_totp(secret)})
    assert Authenticator.objects.filter(user=staff_without_mfa, type=Authenticator.Type.TOTP).exists()
    assert client.get("/kundesenter/").status_code == 200


def test_htmx_requests_are_sent_to_the_mfa_page_too(client, staff_without_mfa):
    client.force_login(staff_without_mfa)
    response = client.get("/kundesenter/medlemskap/", headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == "/konto/2fa/"


def test_staff_with_totp_give_the_code_at_login_and_then_work(client, nhn_staff):
    response = client.post("/konto/login/", {"login": nhn_staff.email, "password": PASSWORD})
    assert response["Location"] == "/konto/2fa/authenticate/"
    assert client.get("/kundesenter/").status_code == 302  # not logged in until the code is given
    client.post("/konto/2fa/authenticate/", {"code": current_totp(STAFF_TOTP_SECRET)})
    assert client.get("/kundesenter/").status_code == 200
    assert SESSION_KEY not in client.session


def test_a_federated_staff_login_is_not_asked_for_a_local_factor(staff_without_mfa):
    request = RequestFactory().get("/")
    request.session = {}
    staff_without_mfa.oidc_provider = "helseid"  # set by members.oidc.OIDCBackend
    user_logged_in.send(sender=User, request=request, user=staff_without_mfa)
    assert SESSION_KEY not in request.session
    del staff_without_mfa.oidc_provider
    user_logged_in.send(sender=User, request=request, user=staff_without_mfa)
    assert request.session[SESSION_KEY] is True


def test_removing_the_last_factor_asks_for_a_new_one(client, nhn_staff):
    client.force_login(nhn_staff)
    assert client.get("/kundesenter/").status_code == 200
    from allauth.mfa.base.internal.flows import delete_and_cleanup

    request = RequestFactory().post("/")
    request.session = client.session
    request.user = nhn_staff
    delete_and_cleanup(request, Authenticator.objects.get(user=nhn_staff))
    request.session.save()
    assert client.get("/kundesenter/")["Location"] == "/konto/2fa/"


def test_the_demo_staff_login_has_an_authenticator_and_the_code_is_printed():
    call_command("seed_demo", stdout=io.StringIO())
    staff = User.objects.get(email="kundesenter@nhn.example")
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
    out = io.StringIO()
    call_command("demo_totp", stdout=out)
    code = re.match(r"(\d{6}) ", out.getvalue()).group(1)
    assert code in {current_totp(DEMO_TOTP_SECRET)}
