from django.urls import reverse

from members.oidc import PROVIDER_SESSION_KEY
from members.permissions import is_nhn_staff


def navigation(request):
    """What the header needs on every page, without queries."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", {})
    # A federated session logs out at its identity provider too; a local one through allauth.
    federated = bool(user and user.is_authenticated and session.get(PROVIDER_SESSION_KEY))
    return {
        "show_staff_link": bool(user and is_nhn_staff(user)),
        "logout_url": reverse("oidc_logout" if federated else "account_logout"),
    }
