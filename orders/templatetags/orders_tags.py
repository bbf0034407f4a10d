import json

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext

from orders.models import Order
from portal import rows
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


# The staff order queue's rows -------------------------------------------------------------------------
# Built in Python, as the vendor dashboard's tenant rows are: a template loop of 50 rows, each with its
# tags, links and forms, was two thirds of the queue's time at national scale (issue 15). The markup is
# what templates/orders/staff/_order_row.html gave; test_ordering.py holds the row to it.

_ORDER_ROW = (
    '<tr id="order-{public_id}">\n'
    "  <td>{choose}</td>\n"
    '  <td><a class="ds-link" href="{lifecycle_url}">{organisation}</a><br>'
    '<span class="field-help">{org_number}</span></td>\n'
    "  <td>{membership}</td>\n"
    "  <td>{usage_terms}</td>\n"
    '  <td><a class="ds-link" href="{detail_url}">{service}</a></td>\n'
    "  <td>{environment}</td>\n"
    '  <td><span class="ds-tag" data-color="{state_color}">{state}</span>{last_error}</td>\n'
    "  <td>{submitted}</td>\n"
    "  <td>\n"
    '    <div role="status">{message}</div>\n'
    '    <div class="row-actions">{actions}</div>\n'
    "  </td>\n"
    "</tr>\n"
)
_USAGE_TERMS_TAGS = {
    # usage_terms_state → (label, colour in test, colour in production)
    "signed": (gettext_lazy("Signed"), "success", "success"),
    "lapsed": (gettext_lazy("Must be accepted again"), "warning", "danger"),
    "not_signed": (gettext_lazy("Not signed"), "neutral", "warning"),
}


def _order_row(order, csrf: str, *, error=None, done=None) -> SafeString:
    from members.templatetags.members_tags import membership_state_color, membership_state_label
    from portal.templatetags.portal_tags import local_date
    from portal.templatetags.row_urls import row_reverse

    public_id, organisation, service = order.public_id, order.organisation, order.service.name
    environment = environment_label(order.environment)
    hidden = format_html('<span class="ds-sr-only"> {} ({}) – {}</span>', service, environment, organisation.name)
    choose = ""
    if order.state == Order.State.SUBMITTED and order.environment == "test":
        label = gettext("Choose %(service)s for %(org)s") % {"service": service, "org": organisation.name}
        choose = format_html(
            '<input class="ds-input" type="checkbox" name="orders" value="{}" form="bulk-form" id="choose-{}" '
            'aria-label="{}">',
            public_id,
            public_id,
            label,
        )
    if order.membership_state:
        membership = rows.tag(
            membership_state_color(order.membership_state), membership_state_label(order.membership_state)
        )
    else:
        membership = gettext("No membership")
    terms = _USAGE_TERMS_TAGS.get(order.usage_terms_state)
    usage_terms = rows.tag(terms[2 if order.environment == "prod" else 1], terms[0]) if terms else "–"
    actions = ""
    if order.state == Order.State.SUBMITTED:
        approve = rows.decision_form(
            row_reverse("staff_order_decide", public_id, "godkjenn"), csrf, gettext("Approve"), hidden
        )
        reject = rows.reason_form(
            row_reverse("staff_order_decide", public_id, "avvis"),
            csrf,
            summary=gettext("Reject"),
            hidden=hidden,
            field_id=public_id,
            reason=gettext("Reason"),
            submit=gettext("Reject order"),
        )
        actions = approve + reject
    elif order.state == Order.State.FAILED:
        actions = rows.decision_form(
            row_reverse("staff_order_decide", public_id, "prov-igjen"), csrf, gettext("Retry set-up")
        )
    return format_html(
        _ORDER_ROW,
        public_id=public_id,
        choose=choose,
        lifecycle_url=row_reverse("organisation_lifecycle", organisation.org_number),
        organisation=organisation.name,
        org_number=organisation.formatted_org_number,
        membership=membership,
        usage_terms=usage_terms,
        detail_url=row_reverse("order_detail", public_id),
        service=service,
        environment=environment,
        state_color=order_state_color(order.state),
        state=order_state_label(order.state),
        last_error=format_html('<br><span class="field-help">{}</span>', order.last_error) if order.last_error else "",
        submitted=local_date(order.submitted_at, "SHORT_DATETIME_FORMAT") if order.submitted_at else "–",
        message=rows.status_message(error, done),
        actions=actions,
    )


rows.register_queue_tags(register, "order_queue", _order_row)


# A provisioning step's state, and the staff failures queue's rows --------------------------------------


@register.simple_tag
def step_state(step) -> SafeString:
    """A step's state as a tag; a replaced step shows how its replacement, whose run does its work, is doing."""
    from portal.labels import choice_label

    step = step.serving
    if step.state == "pending" and step.attempts:
        label = ngettext("Retrying after %(n)s attempt", "Retrying after %(n)s attempts", step.attempts) % {
            "n": step.attempts
        }
    else:
        label = choice_label(step, "state")
    return rows.tag(step_state_color(step), label)


_TASK_ROW = (
    '<tr id="task-{public_id}">\n'
    '  <td>{kind}<br><span class="field-help">{describe} · {reason}</span></td>\n'
    "  <td>{subject}{lifecycle}</td>\n"
    "  <td>{state}</td>\n"
    "  <td>{last_error}</td>\n"
    "  <td>\n"
    '    <div role="status">{message}</div>\n'
    "    {actions}\n"
    "  </td>\n"
    "</tr>\n"
)


def _task_row(task, csrf: str, *, error=None, done=None) -> SafeString:
    from portal.labels import choice_label
    from portal.templatetags.row_urls import row_reverse

    public_id, describe, order = task.public_id, task.describe(), task.order
    if order:
        subject = format_html(
            '<a class="ds-link" href="{}">{}</a>', row_reverse("order_detail", order.public_id), order
        )
    elif task.client:
        subject = format_html(
            '<a class="ds-link" href="{}">{}</a>', row_reverse("client_detail", task.client.public_id), task.client
        )
    else:
        subject = "–"
    org_number = (order.organisation.org_number if order else "") or task.payload.get("org_number", "")
    lifecycle = (
        format_html(
            '<br><a class="ds-link" href="{}">{}</a>',
            row_reverse("organisation_lifecycle", org_number),
            gettext("Where the organisation stands"),
        )
        if org_number
        else ""
    )
    actions = ""
    if task.state in ("failed", "pending"):
        hidden = format_html('<span class="ds-sr-only"> {}</span>', describe)
        retry = (
            rows.decision_form(
                row_reverse("staff_task_decide", public_id, "prov-igjen"), csrf, gettext("Retry"), hidden
            )
            if task.state == "failed"
            else ""
        )
        cancel = rows.reason_form(
            row_reverse("staff_task_decide", public_id, "avbryt"),
            csrf,
            summary=gettext("Cancel"),
            hidden=hidden,
            field_id=public_id,
            reason=gettext("Reason"),
            submit=gettext("Cancel the step"),
        )
        actions = format_html('<div class="row-actions">{}{}</div>', retry, cancel)
    return format_html(
        _TASK_ROW,
        public_id=public_id,
        kind=choice_label(task, "kind"),
        describe=describe,
        reason=choice_label(task, "reason"),
        subject=subject,
        lifecycle=lifecycle,
        state=step_state(task),
        last_error=task.last_error or "–",
        message=rows.status_message(error, done),
        actions=actions,
    )


rows.register_queue_tags(register, "task_queue", _task_row)


@register.simple_tag
def client_tenant_rows(tenants) -> SafeString:
    """A HelseID client's page of tenants, each with its scopes (`selectors.client_tenants_page`)."""
    none_yet = format_html('<span class="field-help">{}</span>', gettext("None yet: no active orders."))
    line_break = format_html("<br>")  # safe: format_html_join escapes a plain separator
    return format_html_join(
        "",
        '<tr><td>{}<br><span class="field-help">{}</span></td><td>{}</td></tr>',
        (
            (
                tenant.organisation.name,
                tenant.organisation.formatted_org_number,
                format_html_join(line_break, '<code class="hash">{}</code>', ((scope,) for scope in tenant.scopes))
                if tenant.scopes
                else none_yet,
            )
            for tenant in tenants
        ),
    )
