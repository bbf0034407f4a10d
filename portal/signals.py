from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .audit import audit


@receiver(user_logged_in, dispatch_uid="portal.audit_login")
def audit_login(sender, request, user, **kwargs):
    audit(action="user.logged_in", actor=user, request=request)


@receiver(user_logged_out, dispatch_uid="portal.audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit(action="user.logged_out", actor=user, request=request)
