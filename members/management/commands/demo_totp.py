"""The current second-factor code of the demo NHN staff login, so the quick start needs no phone."""

import time

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from .seed_demo import DEMO_TOTP_SECRET


class Command(BaseCommand):
    help = "Print the current TOTP code for the demo NHN staff login (kundesenter@nhn.example)."

    def handle(self, *args, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("The demo authenticator does not exist in production.")
        code = format_hotp_value(hotp_value(DEMO_TOTP_SECRET, int(time.time()) // 30))
        seconds = 30 - int(time.time()) % 30
        self.stdout.write(f"{code}  (valid for {seconds} more seconds; each code works once)")
