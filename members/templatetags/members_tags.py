from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from members.models import Membership
from orders.templatetags.orders_tags import step_state
from portal import rows
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


# The staff membership queue's rows, built in Python (portal/rows.py says why) -----------------------

_MEMBERSHIP_ROW = (
    '<tr id="membership-{public_id}">\n'
    '  <td><a class="ds-link" href="{detail_url}">{organisation}</a><br>'
    '<span class="field-help">{org_number} · {kind}</span></td>\n'
    '  <td><p class="ds-paragraph">{state}</p></td>\n'
    "  <td>{signed_by}</td>\n"
    "  <td>{applied}</td>\n"
    "  <td>\n"
    '    <div role="status">{message}</div>\n'
    "    {actions}\n"
    "  </td>\n"
    "</tr>\n"
)


def _membership_row(membership, csrf: str, *, error=None, done=None) -> SafeString:
    from portal.labels import choice_label
    from portal.templatetags.portal_tags import local_date
    from portal.templatetags.row_urls import row_reverse

    public_id, organisation = membership.public_id, membership.organisation
    signed_by = "–"
    if acceptance := membership.acceptance:
        signers = (
            format_html("{} + {}", acceptance.signer_name, acceptance.cosigner_name)
            if acceptance.cosigner_name
            else acceptance.signer_name
        )
        signed_by = format_html(
            '{}<br><span class="field-help" lang="nb">{}</span>', signers, acceptance.authority_detail
        )
    applied = membership.submitted_at or membership.applied_at
    actions = ""
    if membership.state == Membership.State.PENDING_APPROVAL:
        hidden = format_html('<span class="ds-sr-only"> {}</span>', organisation.name)
        approve = rows.decision_form(
            row_reverse("staff_membership_decide", public_id, "godkjenn"), csrf, gettext("Approve"), hidden
        )
        reject = rows.reason_form(
            row_reverse("staff_membership_decide", public_id, "avvis"),
            csrf,
            summary=gettext("Reject"),
            hidden=hidden,
            field_id=public_id,
            reason=gettext("Reason"),
            submit=gettext("Reject application"),
        )
        actions = format_html('<div class="row-actions">{}{}</div>', approve, reject)
    return format_html(
        _MEMBERSHIP_ROW,
        public_id=public_id,
        detail_url=row_reverse("staff_membership_detail", public_id),
        organisation=organisation.name,
        org_number=organisation.formatted_org_number,
        kind=choice_label(organisation, "kind"),
        state=rows.tag(membership_state_color(membership.state), membership_state_label(membership.state)),
        signed_by=signed_by,
        applied=local_date(applied, "SHORT_DATETIME_FORMAT") if applied else "",
        message=rows.status_message(error, done),
        actions=actions,
    )


rows.register_queue_tags(register, "membership_queue", _membership_row)


# NHN staff's directory of organisations -------------------------------------------------------------

_DIRECTORY_ROW = (
    "<tr>\n"
    '  <td><a class="ds-link" href="{lifecycle_url}">{name}</a><br><span class="field-help">{org_number}</span></td>\n'
    "  <td>{kind}</td>\n"
    "  <td>{membership}</td>\n"
    "  <td>{test_orders}</td>\n"
    "  <td>{prod_orders}</td>\n"
    "  <td>{waits}</td>\n"
    "</tr>\n"
)


def _directory_row(organisation, needs_nhn: str) -> SafeString:
    from portal.labels import choice_label
    from portal.templatetags.row_urls import row_reverse

    if organisation.membership_state:
        membership = rows.tag(
            membership_state_color(organisation.membership_state),
            membership_state_label(organisation.membership_state),
        )
    else:
        membership = gettext("No membership")
    waiting = [
        label
        for waits, label in (
            (organisation.waits_membership, gettext("Membership waits for approval")),
            (organisation.waits_orders, gettext("Orders wait for approval")),
            (organisation.failed_setup, gettext("Set-up failed")),
            (organisation.waits_claims, gettext("Application to administer waits")),
        )
        if waits
    ]
    waits = (
        format_html(
            '{}<ul class="ds-list field-help">{}</ul>',
            needs_nhn,
            format_html_join("", "<li>{}</li>", ((label,) for label in waiting)),
        )
        if waiting
        else "–"
    )
    return format_html(
        _DIRECTORY_ROW,
        lifecycle_url=row_reverse("organisation_lifecycle", organisation.org_number),
        name=organisation.name,
        org_number=organisation.formatted_org_number,
        kind=choice_label(organisation, "kind"),
        membership=membership,
        test_orders=organisation.test_orders,
        prod_orders=organisation.prod_orders,
        waits=waits,
    )


@register.simple_tag
def directory_rows(organisations) -> SafeString:
    """The directory's rows (organisations from `selectors.organisation_directory`, with its annotations)."""
    needs_nhn = rows.tag("warning", gettext("Needs NHN"))
    return format_html_join("", "{}", ((_directory_row(organisation, needs_nhn),) for organisation in organisations))


_e = rows.escape_text


@register.simple_tag
def timeline_items(entries) -> SafeString:
    """The lifecycle timeline's entries (`lifecycle.timeline_entries`), built in Python: the markup a template
    loop gave, at a fraction of its cost for a page of 50 (issue 15). Every value is escaped with `_e`; a
    step's state is the `step_state` tag's (safe markup)."""
    nhn_only = f"{rows.tag('neutral', gettext('NHN only'))} "
    parts = []
    for entry in entries:
        title = _e(entry.title)
        if entry.url:
            title = f'<a class="ds-link" href="{_e(entry.url)}">{title}</a>'
        step = ""
        if entry.step:
            step = f" {step_state(entry.step)}"
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
