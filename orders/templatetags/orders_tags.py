import json

from django import template

from orders.models import Order
from portal.labels import choice_labels

register = template.Library()


@register.filter
def order_state_label(code: str) -> str:
    """Label in the language active when the template renders (e-mails carry codes, not labels)."""
    return choice_labels(Order._meta.get_field("state")).get(code, code)


# The tag colour of each order state, looked up once per row instead of an if-chain in the template.
_STATE_COLORS = {
    Order.State.ACTIVE: "success",
    Order.State.FAILED: "danger",
    Order.State.REJECTED: "danger",
    Order.State.ENDED: "neutral",
    Order.State.CANCELLED: "neutral",
}


@register.filter
def order_state_color(code: str) -> str:
    return _STATE_COLORS.get(code, "info")


_STEP_COLORS = {"succeeded": "success", "failed": "danger", "cancelled": "neutral"}


@register.filter
def step_state_color(step) -> str:
    """A provisioning step's tag colour: a waiting step that has failed an attempt is a warning."""
    return _STEP_COLORS.get(step.state) or ("warning" if step.attempts else "info")


@register.filter
def environment_label(code: str) -> str:
    return choice_labels(Order._meta.get_field("environment")).get(code, code)


@register.filter
def json_pretty(value) -> str:
    """A value as indented JSON, as a vendor would paste it (autoescaped by the template)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


@register.simple_tag
def localised(nb: str, en: str = "") -> str:
    """The English text in English mode when there is one (e-mail contexts carry both), else the bokmål."""
    from django.utils.translation import get_language

    return en if en and get_language() == "en" else nb
