from datetime import date, datetime

from django import template
from django.urls import reverse
from django.utils import formats, timezone

from members.models import Affiliation
from portal.labels import choice_label

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


@register.filter
def display(obj, field_name: str) -> str:
    """``{{ task|display:"kind" }}``: the label of a choice field, as ``get_kind_display`` gives it but read
    once per field and language (``get_FOO_display`` rebuilds every label on each call: slow in lists)."""
    return choice_label(obj, field_name)


@register.filter
def local_date(value, kind: str = "DATE_FORMAT") -> str:
    """A date kept as ISO text (an outbox message's context is JSON) in the reader's language's format:
    "1. desember 2026" in bokmål, "1 December 2026" in English."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value  # not ISO (an older message): show it as it was written
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, kind) if isinstance(value, date) else str(value)
