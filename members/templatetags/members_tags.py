from django import template

from members.models import Membership
from portal.labels import choice_labels

register = template.Library()


@register.filter
def membership_state_label(code: str) -> str:
    """The state's label in the language active when the template renders (e-mails carry codes)."""
    return choice_labels(Membership._meta.get_field("state")).get(code, code)


_MEMBERSHIP_COLORS = {
    Membership.State.ACTIVE: "success",
    Membership.State.PENDING_APPROVAL: "info",
    Membership.State.APPLIED: "info",
    Membership.State.SUSPENDED: "warning",
}


@register.filter
def membership_state_color(code: str) -> str:
    """The tag colour of a membership state (rejected and ended: danger), one lookup per row of a list."""
    return _MEMBERSHIP_COLORS.get(code, "danger")


@register.simple_tag
def federated_providers() -> list[tuple[str, str]]:
    """(name, label) of the identity providers configured on this installation."""
    from members.oidc import configured_providers

    return configured_providers()
