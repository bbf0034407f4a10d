from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_removed
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

# Pages a staff member without a second factor may still open: their account and MFA pages, the
# login and logout, the language switch and static files.
OPEN_WITHOUT_MFA = ("/konto/", "/innlogging/", "/i18n/", "/static/", "/healthz")
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)
# Set at login (and when a factor is removed) for a staff session that has no second factor yet;
# pages then need no query of their own to enforce the rule.
SESSION_KEY = "portal_staff_needs_mfa"


def has_second_factor(user) -> bool:
    return Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exists()


class StaffMfaMiddleware:
    """NHN staff who log in locally must set up a second factor (TOTP or a security key) first.

    Once they have one, allauth asks for it at every local login. A login through HelseID or
    ID-porten already demands a high security level (``accepted_assurance``), so it passes.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.session.get(SESSION_KEY)
            and request.user.is_authenticated
            and not request.path.startswith(OPEN_WITHOUT_MFA)
        ):
            if has_second_factor(request.user):  # set up since (only flagged sessions pay this query)
                del request.session[SESSION_KEY]
                return self.get_response(request)
            messages.warning(
                request,
                _(
                    "NHN staff must log in with a second factor. Set up an authenticator app or a security key "
                    "before you continue."
                ),
            )
            if getattr(request, "htmx", False):
                return HttpResponseClientRedirect(reverse("mfa_index"))
            return redirect("mfa_index")
        return self.get_response(request)


@receiver(user_logged_in, dispatch_uid="members.staff_mfa_at_login")
def staff_mfa_at_login(sender, request, user, **kwargs):
    # A federated login (the OIDC backend names its provider) was made at a high security level.
    federated = bool(getattr(user, "oidc_provider", None))
    if request is not None and user.is_nhn_staff and not federated and not has_second_factor(user):
        request.session[SESSION_KEY] = True


@receiver(authenticator_removed, dispatch_uid="members.staff_mfa_removed")
def staff_mfa_removed(sender, request, user, **kwargs):
    if request is not None and user.is_nhn_staff and not has_second_factor(user):
        request.session[SESSION_KEY] = True
