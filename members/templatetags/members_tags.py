import html

from django import template
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

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


def _e(value) -> str:
    return html.escape(str(value))  # what the template engine does to text that is not marked safe


@register.simple_tag
def timeline_items(entries) -> SafeString:
    """The lifecycle timeline's entries (`lifecycle.timeline_entries`), built in Python: the markup a template
    loop gave, at a fraction of its cost for a page of 50 (issue 15). Every value is escaped with `_e`; a
    step's state renders with `orders/_step_state.html` (safe markup)."""
    nhn_only = f'<span class="ds-tag" data-color="neutral">{_e(gettext("NHN only"))}</span> '
    step_template = None
    parts = []
    for entry in entries:
        title = _e(entry.title)
        if entry.url:
            title = f'<a class="ds-link" href="{_e(entry.url)}">{title}</a>'
        step = ""
        if entry.step:
            step_template = step_template or get_template("orders/_step_state.html")
            step = " " + step_template.render({"step": entry.step})
        about = f'<span lang="nb">{_e(entry.object_repr)}</span>' if entry.object_repr else ""
        if entry.actor:
            about += f" · {_e(entry.actor)}"
        detail = ""
        if entry.detail:
            internal = " internal" if entry.internal else ""
            detail = (
                f'<p class="ds-paragraph timeline__detail{internal}">{nhn_only if entry.internal else ""}'
                f"{_e(entry.detail)}</p>"
            )
        parts.append(
            f'\n  <li class="timeline__entry" data-kind="{_e(entry.kind)}">\n'
            f'    <p class="ds-paragraph timeline__head"><time datetime="{_e(entry.at_iso)}">{_e(entry.at_text)}</time>'
            f" · <strong>{title}</strong>{step}</p>\n"
            f'    <p class="ds-paragraph field-help">{about}</p>\n'
            f"    {detail}\n"
            "  </li>\n  "
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value in it went through _e (or is rendered markup)
