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
        "/konto/signup/", {"email": "ny@kommune.example", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/konto/confirm-email/"
    user = User.objects.get(email="ny@kommune.example")
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
