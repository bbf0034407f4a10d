"""allauth's mails carry the portal's name and configured address, in the recipient's language."""

import pytest
from django.urls import reverse

from members.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://selvbetjening.nhn.no"


def reset(client, email):
    client.post(reverse("account_reset_password"), {"email": email})


@pytest.mark.parametrize(
    ("language", "greeting", "body"),
    [
        ("nb", "Hei fra Helsenett Selvbetjening,", "har bedt om å tilbakestille passordet"),
        ("en", "Hello from Helsenett Selvbetjening,", "asked to reset the password of your account"),
    ],
)
def test_the_reset_mail_names_the_portal_in_the_recipients_language(
    client, municipal_admin, mailoutbox, language, greeting, body
):
    User.objects.filter(pk=municipal_admin.pk).update(preferred_language=language)
    reset(client, municipal_admin.email)
    (mail,) = mailoutbox
    assert greeting in mail.body and body in mail.body
    assert "https://selvbetjening.nhn.no" in mail.body
    assert "127.0.0.1:8000" not in mail.body and "Takk for at du bruker" not in mail.body
    assert mail.subject.startswith("[Helsenett Selvbetjening] ")
