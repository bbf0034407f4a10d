from django import template

from members.models import Membership

register = template.Library()


@register.filter
def membership_state_label(code: str) -> str:
    """The state's label in the language active when the template renders (e-mails carry codes)."""
    try:
        return Membership.State(code).label
    except ValueError:
        return code


@register.simple_tag
def federated_providers() -> list[tuple[str, str]]:
    """(name, label) of the identity providers configured on this installation."""
    from members.oidc import configured_providers

    return configured_providers()
