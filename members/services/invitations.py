"""Invitations: an administrator invites a colleague by e-mail with a role."""

import hashlib
import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.audit import audit
from portal.email import queue_email

from ..models import (
    Affiliation,
    Invitation,
    Organisation,
    User,
)
from .organisations import affiliation_grant


class InvitationNotUsable(ValidationError):
    """The invitation cannot be accepted (expired, used, withdrawn, or meant for someone else)."""


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_roles(organisation: Organisation) -> list[tuple[str, str]]:
    """The roles an administrator may invite to in this kind of organisation."""
    roles = Affiliation.VENDOR_ROLES if organisation.is_vendor_kind else Affiliation.MEMBER_ROLES
    return [(role, Affiliation.Role(role).label) for role in roles]


@transaction.atomic
def invitation_send(
    *, organisation: Organisation, email: str, role: str, by: User, request=None
) -> tuple[Invitation, str]:
    """Invite a colleague by e-mail; returns the invitation and the token the link carries."""
    email = User.objects.normalize_email(email.strip()).lower()
    if Affiliation.objects.filter(organisation=organisation, role=role, user__email__iexact=email).exists():
        raise ValidationError(
            _("%(email)s already has this role in %(name)s.") % {"email": email, "name": organisation.name},
            code="already_has_role",
        )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organisation=organisation,
        email=email,
        role=role,
        token_hash=invitation_token_hash(token),
        invited_by=by,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    invitation.full_clean()
    invitation.save()
    audit(
        action="invitation.sent",
        actor=by,
        obj=invitation,
        after={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
        request=request,
    )
    queue_email(
        "members/email/invitation",
        {
            "organisation": organisation.name,
            "role": str(Affiliation.Role(role).label),
            "invited_by": by.get_full_name() or by.email,
            "url": reverse("invitation_landing", args=[token]),
            "expires_at": timezone.localtime(invitation.expires_at).strftime("%d.%m.%Y"),
        },
        [email],
    )
    return invitation, token


def invitation_for_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organisation", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


def invitation_problem(invitation: Invitation) -> str | None:
    """Why the invitation cannot be used any more, in words for the person holding the link; None if it can."""
    status = invitation.status
    if status == Invitation.Status.ACCEPTED:
        return _("This invitation has already been used. If you accepted it, you already have the role.")
    if status == Invitation.Status.REVOKED:
        return _("The administrator has withdrawn this invitation. Ask them for a new one if you need access.")
    if status == Invitation.Status.EXPIRED:
        return _("This invitation has expired. Ask the administrator of %(name)s for a new one.") % {
            "name": invitation.organisation.name
        }
    return None


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User, request=None) -> Affiliation:
    """Bind the invited role to the person who logged in with it, once."""
    invitation = Invitation.objects.select_for_update().select_related("organisation").get(pk=invitation.pk)
    problem = invitation_problem(invitation)
    if problem:
        raise InvitationNotUsable(problem, code=invitation.status)
    addresses = {invitation.email.lower()} & {
        address.lower() for address in EmailAddress.objects.filter(user=user).values_list("email", flat=True)
    }
    if not addresses and user.email.lower() != invitation.email.lower():
        raise InvitationNotUsable(
            _(
                "This invitation was sent to another e-mail address than the one on your account (%(email)s). "
                "Log in as the person it was sent to, or ask the administrator to invite your address."
            )
            % {"email": user.email},
            code="other_person",
        )
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now(), accepted_by=user)
    invitation.refresh_from_db()
    try:
        affiliation = affiliation_grant(
            user=user,
            organisation=invitation.organisation,
            role=invitation.role,
            granted_by=invitation.invited_by,
            request=request,
        )
    except IntegrityError:  # granted in parallel: the role is there, which is what was asked
        affiliation = Affiliation.objects.get(user=user, organisation=invitation.organisation, role=invitation.role)
    audit(
        action="invitation.accepted",
        actor=user,
        obj=invitation,
        after={"email": invitation.email, "role": invitation.role},
        request=request,
    )
    return affiliation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, by: User, request=None) -> Invitation:
    updated = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise ValidationError(_("This invitation has already been used or withdrawn."))
    invitation.refresh_from_db()
    audit(action="invitation.revoked", actor=by, obj=invitation, after={"email": invitation.email}, request=request)
    return invitation
