"""Memberships: applying, and NHN's decisions on them (approve, reject, suspend, reinstate, end)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from portal.audit import audit
from portal.email import queue_email

from ..models import (
    Affiliation,
    Membership,
    Organisation,
    User,
)
from ..selectors import admin_emails
from .organisations import registry_check, registry_snapshot


@transaction.atomic
def membership_apply(*, org_number: str, user: User, vendor_kind: str = "", request=None) -> Membership:
    """Apply again for membership (or, with vendor_kind, for approval as vendor or partner) of an
    organisation the person already administers (e.g. after a rejection or an ended membership).

    A new organisation is registered through a claim (``claims.claim_submit``): registering proves
    nothing, so the applicant only becomes administrator once a signatory or NHN confirms.
    """
    check = registry_check(org_number, vendor_kind=vendor_kind)
    applicant_role = Affiliation.Role.VENDOR_USER if vendor_kind else Affiliation.Role.ADMIN
    if not check.eligible:
        raise ValidationError(check.reason, code="not_eligible")
    entity = check.entity

    organisation = Organisation.objects.select_for_update().filter(org_number=entity.org_number).first()
    if (
        organisation is None
        or not Affiliation.objects.filter(user=user, organisation=organisation, role=applicant_role).exists()
    ):
        raise ValidationError(
            _("Only an administrator of %(name)s can apply for it. Register the organisation first."),
            code="not_administrator",
            params={"name": organisation.name if organisation else entity.name},
        )

    live = organisation.memberships.live().first()
    if live is not None:
        raise ValidationError(
            _("%(name)s already has a membership: %(state)s."),
            code="already_member",
            params={"name": organisation.name, "state": live.get_state_display()},
        )
    membership = Membership.objects.create(
        organisation=organisation, applied_by=user, registry_snapshot=registry_snapshot(entity)
    )
    audit(action="membership.applied", obj=membership, actor=user, after={"state": membership.state}, request=request)
    return membership


def _membership_transition(
    membership: Membership, action: str, by: User, change, request=None, reason: str = ""
) -> Membership:
    before = membership.state
    change()
    audit(
        action=action,
        obj=membership,
        actor=by,
        before={"state": before},
        after={"state": membership.state, **({"reason": reason} if reason else {})},
        request=request,
    )
    queue_email(
        "members/email/membership_changed",
        {
            "organisation": membership.organisation.name,
            "state": membership.state,
            "reason": reason,
            "url": reverse("membership_detail", args=[membership.organisation.org_number]),
        },
        admin_emails(membership.organisation),
    )
    return membership


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason; the organisation sees it."), code="reason_required")
    return reason


@transaction.atomic
def membership_approve(*, membership: Membership, by: User, request=None) -> Membership:
    return _membership_transition(
        membership, "membership.approved", by, lambda: membership.approve(by=by), request=request
    )


@transaction.atomic
def membership_reject(*, membership: Membership, by: User, reason: str, request=None) -> Membership:
    reason = _required_reason(reason)
    return _membership_transition(
        membership, "membership.rejected", by, lambda: membership.reject(by=by, reason=reason), request, reason
    )


@transaction.atomic
def membership_suspend(*, membership: Membership, by: User, reason: str, request=None) -> Membership:
    reason = _required_reason(reason)
    return _membership_transition(
        membership, "membership.suspended", by, lambda: membership.suspend(by=by, reason=reason), request, reason
    )


@transaction.atomic
def membership_reinstate(*, membership: Membership, by: User, request=None) -> Membership:
    return _membership_transition(
        membership, "membership.reinstated", by, lambda: membership.reinstate(by=by), request=request
    )


@transaction.atomic
def membership_end(*, membership: Membership, by: User, reason: str, request=None) -> Membership:
    reason = _required_reason(reason)
    return _membership_transition(
        membership, "membership.ended", by, lambda: membership.end(by=by, reason=reason), request, reason
    )
