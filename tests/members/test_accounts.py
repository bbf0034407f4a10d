"""Local accounts through django-allauth: verified e-mail before first use, TOTP as second factor."""

import re
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.core import mail

from members.models import User
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def current_totp(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_sign_up_requires_a_verified_email_before_login(client):
    response = client.post(
        "/konto/signup/",
        {
            "first_name": "Nina",
            "last_name": "Ny",
            "email": "ny@kommune.example",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/konto/confirm-email/"
    user = User.objects.get(email="ny@kommune.example")
    assert (user.first_name, user.last_name) == ("Nina", "Ny")
    assert not EmailAddress.objects.get(user=user).verified
    assert "_auth_user_id" not in client.session

    # Logging in before verifying sends the person back to the verification step.
    response = client.post("/konto/login/", {"login": "ny@kommune.example", "password": PASSWORD})
    assert response["Location"] == "/konto/confirm-email/"
    assert "_auth_user_id" not in client.session

    link = re.search(r"https?://[^/\s]+(/konto/confirm-email/\S+/)", mail.outbox[-1].body).group(1)
    client.post(link)
    assert EmailAddress.objects.get(user=user).verified
    assert client.get("/").status_code == 200  # logged in on confirmation: the start page, not the landing page
    assert str(user.pk) == client.session["_auth_user_id"]


def test_totp_can_be_activated_and_is_then_required_at_login(client, municipal_admin, municipality):
    client.post("/konto/login/", {"login": municipal_admin.email, "password": PASSWORD})
    # Turning on a second factor asks for the password again first.
    response = client.get("/konto/2fa/totp/activate/")
    assert response["Location"].startswith("/konto/reauthenticate/")
    client.post(response["Location"], {"password": PASSWORD})
    assert client.get("/konto/2fa/totp/activate/").status_code == 200
    secret = client.session[SECRET_SESSION_KEY]

    response = client.post("/konto/2fa/totp/activate/", {"code": current_totp(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=municipal_admin, type=Authenticator.Type.TOTP).exists()

    client.post("/konto/logout/")
    response = client.post("/konto/login/", {"login": municipal_admin.email, "password": PASSWORD})
    assert response["Location"] == "/konto/2fa/authenticate/"
    assert "_auth_user_id" not in client.session

    wrong = "000000" if current_totp(secret) != "000000" else "111111"
    client.post("/konto/2fa/authenticate/", {"code": wrong})
    assert "_auth_user_id" not in client.session

    response = client.post("/konto/2fa/authenticate/", {"code": current_totp(secret)}, follow=True)
    assert response.redirect_chain[-1][0] == f"/medlem/{municipality.org_number}/"


def test_sign_up_asks_for_the_name(client):
    page = client.get("/konto/signup/").content.decode()
    assert 'name="first_name"' in page and 'name="last_name"' in page
    response = client.post(
        "/konto/signup/",
        {
            "first_name": "  ",
            "last_name": "",
            "email": "x@kommune.example",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) >= {"first_name", "last_name"}
    assert not User.objects.filter(email="x@kommune.example").exists()


def test_the_profile_page_changes_the_name_shown_and_audits_it(client, municipal_admin, municipality):
    from django.urls import reverse

    from portal.models import AuditEvent

    client.force_login(municipal_admin)
    assert reverse("account_profile") in client.get(reverse("login_methods")).content.decode()
    page = client.get(reverse("account_profile"))
    assert page.status_code == 200 and "ingen rettigheter" in page.content.decode()
    response = client.post(reverse("account_profile"), {"first_name": " Kari  Anne ", "last_name": "Nordmann"})
    assert response.status_code == 302
    municipal_admin.refresh_from_db()
    assert municipal_admin.get_full_name() == "Kari Anne Nordmann"
    event = AuditEvent.objects.get(action="user.profile_updated")
    assert event.after == {"first_name": "Kari Anne", "last_name": "Nordmann"}
    # Shown where the person is shown: the organisation's people page.
    people = client.get(reverse("organisation_people", args=[municipality.org_number])).content.decode()
    assert "Kari Anne Nordmann" in people
    # Too long or empty names are refused, nothing saved.
    assert client.post(reverse("account_profile"), {"first_name": "x" * 151, "last_name": ""}).status_code == 200
    municipal_admin.refresh_from_db()
    assert municipal_admin.first_name == "Kari Anne"


def test_the_profile_page_needs_a_login(client):
    from django.urls import reverse

    assert client.get(reverse("account_profile"))["Location"].startswith("/konto/login/")
