"""The audit log's rows, built in Python like the staff queues' (portal/rows.py says why)."""

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.templatetags.portal_tags import local_date

register = template.Library()


def _changes(changes) -> SafeString | str:
    if not changes:
        return ""
    return format_html(
        '<ul class="audit-changes">{}</ul>', format_html_join("", "<li>{}</li>", ((c,) for c in changes))
    )


def _event_row(event, *, staff: bool, hide_actors: bool, hide_changes: bool, show_organisation: bool) -> SafeString:
    shown = event.display
    at = timezone.localtime(event.created_at)
    cells = [
        format_html(
            '<td><time datetime="{}">{}</time></td>',
            dateformat.format(at, "c"),
            local_date(at, "SHORT_DATETIME_FORMAT"),
        )
    ]
    if not hide_actors:
        if shown.actor_email:
            actor = format_html(
                '<span title="{}">{}</span><br><span class="audit-secondary wrap-anywhere">{}</span>',
                shown.actor_email,
                shown.actor_name,
                shown.actor_email,
            )
        else:
            actor = shown.actor_name
        cells.append(format_html("<td>{}</td>", actor))
    changes = "" if hide_changes else _changes(shown.changes if staff else shown.public_changes)
    cells.append(format_html("<td>{}{}</td>", shown.label, changes))
    if show_organisation:
        cells.append(format_html("<td>{}</td>", event.organisation.name if event.organisation else "–"))
    cells.append(format_html('<td lang="nb">{}</td>', event.object_repr or "–"))
    return format_html("<tr>{}</tr>\n", format_html_join("", "{}", ((cell,) for cell in cells)))


@register.simple_tag(takes_context=True)
def audit_event_rows(context, events) -> SafeString:
    """The rows of portal/_audit_events.html: the changes shown to NHN staff, the public ones to others;
    ``hide_actors``, ``hide_changes`` and ``show_organisation`` as the including page sets them."""
    options = {
        "staff": context["request"].user.is_nhn_staff,
        "hide_actors": bool(context.get("hide_actors")),
        "hide_changes": bool(context.get("hide_changes")),
        "show_organisation": bool(context.get("show_organisation")),
    }
    return format_html_join("", "{}", ((_event_row(event, **options),) for event in events))
