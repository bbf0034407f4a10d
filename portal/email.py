"""E-mail as subject / text / HTML template triples, sent by a Celery task queued after commit."""

import uuid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation


def render_email(template_prefix: str, context: dict) -> tuple[str, str, str]:
    subject = render_to_string(f"{template_prefix}_subject.txt", context).strip().replace("\n", " ")
    text = render_to_string(f"{template_prefix}.txt", context)
    html = render_to_string(f"{template_prefix}.html", context)
    return subject, text, html


def send_email_now(
    template_prefix: str, context: dict, recipients: list[str], language: str = "nb", message_key: str = ""
) -> None:
    with translation.override(language):
        subject, text, html = render_email(template_prefix, {**context, "site_url": settings.SITE_URL})
    # A Message-ID fixed when the mail was queued: a retry of the same mail is recognised as one.
    headers = {"Message-ID": f"<{message_key}@selvbetjening.nhn.no>"} if message_key else {}
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, recipients, headers=headers)
    message.attach_alternative(html, "text/html")
    message.send()


def queue_email(template_prefix: str, context: dict, recipients: list[str]) -> None:
    """Send after the surrounding transaction commits; nothing is mailed about a change that rolled back."""
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return
    from .tasks import send_email

    message_key = str(uuid.uuid4())
    transaction.on_commit(lambda: send_email.delay(template_prefix, context, recipients, message_key=message_key))
