"""allauth's account mails (address verification, password reset) and a mail service that is down."""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site

from .audit import client_ip
from .email import queue_failed_message

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    """Sends allauth's mails at once, as allauth expects; if the mail service fails, the message goes
    to the outbox and is retried like every other, instead of the request answering 500."""

    def get_client_ip(self, request) -> str:
        """The address allauth's rate limits count by: the one the audit log records (TRUSTED_PROXY_COUNT).

        allauth's own reading (ALLAUTH_TRUSTED_PROXY_COUNT, default 0) would take REMOTE_ADDR, which
        behind our proxy is the proxy: everyone would share one bucket, and one person guessing
        passwords would lock all others out. Without an address to vouch for, the proxy's is used.
        """
        return client_ip(request) or super().get_client_ip(request)

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
