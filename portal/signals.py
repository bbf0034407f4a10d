from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .audit import audit


@receiver(user_logged_in, dispatch_uid="portal.audit_login")
def audit_login(sender, request, user, **kwargs):
    # The OIDC backend names the provider; everything else is a local (allauth) login.
    method = getattr(user, "oidc_provider", None) or "local"
    audit(action="user.logged_in", actor=user, after={"method": method}, request=request)


@receiver(user_logged_out, dispatch_uid="portal.audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit(action="user.logged_out", actor=user, request=request)
