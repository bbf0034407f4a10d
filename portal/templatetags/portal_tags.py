from datetime import date, datetime

from django import template
from django.template.loader import get_template
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

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


_TENANT_ROW = (
    '<tr id="tenant-{}"{}>\n'
    '  <th scope="row"><a class="ds-link" href="{}">{}</a><br><span class="field-help">{}</span></th>\n'
    "  <td>{}</td>\n"
    "  <td>{}</td>\n"
    '  <td aria-live="polite">{}</td>\n'
    "  <td>{}</td>\n"
    "</tr>"
)


@register.simple_tag
def tenant_rows(tenants, oob=False) -> SafeString:
    """The vendor dashboard's tenant rows (from `vendor_tenant_rows` and `attach_open_vendor_steps`), built in
    Python: the markup a template loop gave, at a fraction of its cost for a page of 50 rows (issue 15). The few
    rows with open steps render those with `portal/_vendor_tenant_steps.html`. `oob` (the live status): each row
    in a <template>, swapped out of band by its id."""
    in_production = conditional_escape(gettext("Nothing: in production."))
    swap = format_html(' hx-swap-oob="{}"', "true") if oob else ""
    steps_template = None
    rows = []
    for tenant in tenants:
        organisation = tenant["organisation"]
        membership = (
            format_html(
                '<span class="ds-tag" data-color="{}">{}</span>',
                tenant["membership_colour"],
                tenant["membership_label"],
            )
            if tenant["membership_state"]
            else "–"
        )
        orders = format_html_join(
            "",
            '<span class="ds-tag" data-color="{}">{}</span> ',
            ((colour, count) for count, colour in tenant["order_counts"]),
        )
        if tenant.get("open_steps"):
            steps_template = steps_template or get_template("portal/_vendor_tenant_steps.html")
            orders += steps_template.render({"tenant": tenant})  # safe markup, kept safe by +
        elif not orders:
            orders = "–"
        blockers = tenant["production_blockers"]
        row = format_html(
            _TENANT_ROW,
            organisation.org_number,
            swap,
            tenant["lifecycle_url"],
            organisation.name,
            organisation.formatted_org_number,
            format_html_join("<br>", "{} ({})", tenant["systems"]),
            membership,
            orders,
            format_html('<ul class="ds-list">{}</ul>', format_html_join("", "<li>{}</li>", ((b,) for b in blockers)))
            if blockers
            else in_production,
        )
        rows.append(format_html("<template>{}</template>\n", row) if oob else format_html("{}\n", row))
    return format_html_join("", "{}", ((row,) for row in rows))
