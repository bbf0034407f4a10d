"""Settings and URLs for bench/pages.py: the portal as it is, plus one bare login-required view.

The bare view goes through the same middleware (sessions, authentication, MFA check, CSP, locale)
as every page, so "page ÷ bare view" is what the page itself costs, whatever the machine.
"""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "pages_urls"
