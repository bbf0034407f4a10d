"""Each person reads mail in the language they chose with the switch (stored on their account)."""

import pytest
from django.urls import reverse

from members.models import User
from portal.email import queue_email
from portal.models import OutgoingMessage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CONTEXT = {"organisation": "Vidda kommune", "system": "Trygghetsvakta Responssenter", "environment": "prod"}


def test_the_switch_stores_the_choice_on_the_account(client, municipal_admin):
    client.force_login(municipal_admin)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert User.objects.get(pk=municipal_admin.pk).preferred_language == "en"
    client.post(reverse("set_language"), {"language": "nb", "next": "/"})
    assert User.objects.get(pk=municipal_admin.pk).preferred_language == "nb"


def test_after_a_login_in_a_new_browser_pages_are_in_the_chosen_language(client, municipal_admin):
    User.objects.filter(pk=municipal_admin.pk).update(preferred_language="en")
    client.force_login(municipal_admin)
    assert '<html lang="en"' in client.get(reverse("login_methods")).content.decode()
    client.cookies["django_language"] = "nb"  # the switch in this browser decides over the account
    assert '<html lang="nb"' in client.get(reverse("login_methods")).content.decode()


def test_one_mail_per_language_each_in_the_recipients_language(mailoutbox, django_capture_on_commit_callbacks):
    english = UserFactory(email="Vendor.Dev@example.org", preferred_language="en")
    UserFactory(email="utvikler@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        queue_email(
            "members/email/assignment_changed",
            {**CONTEXT, "ended": True},
            ["vendor.dev@example.org", "utvikler@example.org", "nobody@example.org"],
        )
    assert OutgoingMessage.objects.count() == 2
    by_recipients = {tuple(mail.to): mail for mail in mailoutbox}
    english_mail = by_recipients[("vendor.dev@example.org",)]
    norwegian_mail = by_recipients[("nobody@example.org", "utvikler@example.org")]
    assert english_mail.subject == "Vidda kommune no longer uses Trygghetsvakta Responssenter"
    assert "has ended its registration of Trygghetsvakta Responssenter (Production)" in english_mail.body
    assert english.preferred_language == "en"
    assert "Trygghetsvakta Responssenter" in norwegian_mail.subject
    assert norwegian_mail.subject != english_mail.subject
    assert "(Produksjon)" in norwegian_mail.body


def test_an_approved_service_gives_its_administrators_one_mail_in_their_language(
    mailoutbox, django_capture_on_commit_callbacks
):
    import io

    from django.core.management import call_command

    from orders.models import Order
    from orders.services import order_approve

    call_command("seed_demo", stdout=io.StringIO())
    User.objects.filter(email="admin@fjordheim.example").update(preferred_language="en")
    order = Order.objects.get(organisation__org_number="310000000", service__code="vkp-journaling")
    with django_capture_on_commit_callbacks(execute=True):
        order_approve(order=order, by=User.objects.get(email="kundesenter@nhn.example"))
    order.refresh_from_db()
    mails = [mail for mail in mailoutbox if "admin@fjordheim.example" in mail.to]
    assert len(mails) == 1, [(m.subject, order.state) for m in mails]
    assert mails[0].subject == "Journaling for Fjordheim kommune: Active"
