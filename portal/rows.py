"""The pieces of the staff queues' rows, for rows built in Python instead of a template loop.

A template loop of 50 rows, each with its tags, links and forms, was most of a queue page's time at
national scale (issue 15); ``format_html`` builds the same markup in a fraction of it. The markup here
is what the row templates gave (Designsystemet classes, htmx attributes, the CSRF token in every
form); the queues' tests hold the rows to it.
"""

import html

from django.template.defaulttags import CsrfTokenNode
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

_DECISION_FORM = (
    '<form method="post" action="{url}" hx-post="{url}" hx-target="closest tr" hx-swap="outerHTML">'
    '{csrf}<input type="hidden" name="from" value="queue">'
    '<button type="submit" class="ds-button" data-variant="primary" data-size="sm">{label}{hidden}</button>'
    "</form>"
)
_REASON_FORM = (
    '<details class="ds-details reject"><summary>{summary}{hidden}</summary>'
    '<form method="post" action="{url}" hx-post="{url}" hx-target="closest tr" hx-swap="outerHTML" class="stack">'
    '{csrf}<input type="hidden" name="from" value="queue">'
    '<label class="ds-label" for="reason-{field_id}">{reason}</label>'
    '<textarea class="ds-input" id="reason-{field_id}" name="reason" rows="2" required></textarea>'
    '<button type="submit" class="ds-button" data-variant="secondary" data-size="sm">{submit}</button>'
    "</form></details>"
)


def escape_text(value) -> str:
    """What the template engine does to a value not marked safe, for rows built with f-strings (faster
    than ``format_html`` where a row has many values); the caller marks the finished row safe."""
    return html.escape(str(value))


def csrf_input(context) -> str:
    """What ``{% csrf_token %}`` gives: read once for all the forms of a page's rows."""
    return CsrfTokenNode().render(context)


def tag(colour: str, label) -> SafeString:
    return format_html('<span class="ds-tag" data-color="{}">{}</span>', colour, label)


def status_message(error=None, done=None) -> SafeString:
    """The row's live region: the error or the confirmation of a decision just taken on it."""
    return format_html(
        "{}{}",
        format_html('<p class="ds-validation-message" data-field="validation">{}</p>', error) if error else "",
        format_html('<p class="ds-paragraph">{}</p>', done) if done else "",
    )


def decision_form(url: str, csrf: str, label, hidden="") -> SafeString:
    """A one-button decision (approve, retry) that swaps the row for its new state."""
    return format_html(_DECISION_FORM, url=url, csrf=csrf, label=label, hidden=hidden)


def reason_form(url: str, csrf: str, *, summary, hidden, field_id, reason, submit) -> SafeString:
    """A decision that needs a reason (reject, cancel), folded away in a <details>."""
    return format_html(
        _REASON_FORM,
        url=url,
        csrf=csrf,
        summary=summary,
        hidden=hidden,
        field_id=field_id,
        reason=reason,
        submit=submit,
    )


def register_queue_tags(register, name: str, build_row) -> None:
    """Register ``{% <name>_rows objects %}`` (the queue's page of rows) and ``{% <name>_row obj error=… done=… %}``
    (one row after a decision on it, with its error or confirmation) for rows ``build_row(obj, csrf, error=,
    done=)`` builds: the CSRF input read once for the page's forms."""

    def rows_tag(context, objects) -> SafeString:
        csrf = csrf_input(context)
        return format_html_join("", "{}", ((build_row(obj, csrf),) for obj in objects))

    def row_tag(context, obj, error=None, done=None) -> SafeString:
        return build_row(obj, csrf_input(context), error=error, done=done)

    register.simple_tag(rows_tag, takes_context=True, name=f"{name}_rows")
    register.simple_tag(row_tag, takes_context=True, name=f"{name}_row")
