"""allauth's account mails (address verification, password reset) and a mail service that is down."""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site

from .email import queue_failed_message

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    """Sends allauth's mails at once, as allauth expects; if the mail service fails, the message goes
    to the outbox and is retried like every other, instead of the request answering 500."""

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        request = allauth_context.request
        message = self.render_mail(
            template_prefix,
            email,
            {"request": request, "email": email, "current_site": get_current_site(request), **context},
        )
        try:
            message.send()
        except Exception as error:  # SMTP or the mail API: the person is not to see a 500 for it
            queue_failed_message(message, template=template_prefix, error=error)
