from django import template
from django.urls import reverse

from members.models import Affiliation

register = template.Library()


@register.simple_tag(takes_context=True)
def organisation_home(context, organisation) -> str:
    """The organisation's own dashboard if the person viewing may open it, else "" (NHN staff follow an
    organisation's order or membership without being one of its people: no link that answers 404)."""
    user = context["request"].user
    roles = Affiliation.VENDOR_ROLES if organisation.is_vendor_kind else Affiliation.MEMBER_ROLES
    if not user.is_authenticated or not organisation.affiliations.filter(user=user, role__in=roles).exists():
        return ""
    view = "vendor_dashboard" if organisation.is_vendor_kind else "member_dashboard"
    return reverse(view, args=[organisation.org_number])
