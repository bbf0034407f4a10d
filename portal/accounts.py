"""allauth's account mails (address verification, password reset) and a mail service that is down."""

import logging
from dataclasses import dataclass
from urllib.parse import urlparse

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import gettext as _

from .audit import client_ip
from .email import queue_failed_message

logger = logging.getLogger(__name__)


@dataclass
class PortalSite:
    """What allauth's mails call the site: the portal's name and its configured address, not the request's host
    (which is 127.0.0.1:8000 behind a proxy or in development)."""

    name: str
    domain: str


def portal_site() -> PortalSite:
    return PortalSite(name=_("Helsenett Selvbetjening"), domain=urlparse(settings.SITE_URL).netloc)


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
        # In the language the person chose (stored on the account by the switch), else the page's language.
        user = get_user_model().objects.filter(email__iexact=email).only("preferred_language").first()
        language = user.preferred_language if user else translation.get_language()
        with translation.override(language):
            message = self.render_mail(
                template_prefix,
                email,
                {
                    "request": request,
                    "email": email,
                    **context,
                    "current_site": portal_site(),
                    "site_url": settings.SITE_URL,
                },
            )
        try:
            message.send()
        except Exception as error:  # SMTP or the mail API: the person is not to see a 500 for it
            queue_failed_message(message, template=template_prefix, error=error)
