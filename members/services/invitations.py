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
    """Invite a colleague by e-mail; returns the invitation and the token the link carries.

    One address has one open invitation per organisation: inviting it again renews that
    invitation (new link, new expiry, the role now asked for) and the old link stops working.
    """
    email = User.objects.normalize_email(email.strip()).lower()
    if Affiliation.objects.filter(organisation=organisation, role=role, user__email__iexact=email).exists():
        raise ValidationError(
            _("%(email)s already has this role in %(name)s.") % {"email": email, "name": organisation.name},
            code="already_has_role",
        )
    token = secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS)
    invitation = _open_invitation(organisation, email)
    renewed = invitation is not None
    if invitation is None:
        invitation = Invitation(
            organisation=organisation,
            email=email,
            role=role,
            token_hash=invitation_token_hash(token),
            invited_by=by,
            expires_at=expires_at,
        )
        invitation.full_clean()
        try:
            with transaction.atomic():
                invitation.save()
        except IntegrityError:  # the same invitation sent at the same moment: renew that one
            invitation, renewed = _open_invitation(organisation, email), True
    if renewed:
        invitation.role, invitation.token_hash = role, invitation_token_hash(token)
        invitation.invited_by, invitation.expires_at = by, expires_at
        invitation.full_clean(exclude=["token_hash"])
        invitation.save(update_fields=["role", "token_hash", "invited_by", "expires_at"])
    audit(
        action="invitation.renewed" if renewed else "invitation.sent",
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
            "expires_at": timezone.localtime(invitation.expires_at).date().isoformat(),  # portal_tags.local_date
        },
        [email],
    )
    return invitation, token


def _open_invitation(organisation: Organisation, email: str) -> Invitation | None:
    """The invitation to this address not yet accepted or withdrawn (expired ones too), locked."""
    return (
        Invitation.objects.select_for_update()
        .filter(organisation=organisation, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )


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
    # Only an address the person has proven they receive mail at: an address merely added to an
    # account (allauth's unverified EmailAddress) proves nothing. A first federated login from the
    # invitation link creates the account with the invited address verified (the link came there).
    verified = {
        address.lower()
        for address in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    }
    if invitation.email.lower() not in verified:
        if invitation.email.lower() in {
            address.lower() for address in EmailAddress.objects.filter(user=user).values_list("email", flat=True)
        }:
            raise InvitationNotUsable(
                _(
                    "This invitation was sent to %(email)s, which is not verified on your account. Open the "
                    "verification e-mail sent to that address (under “E-mail addresses”), then open the "
                    "invitation again."
                )
                % {"email": invitation.email},
                code="unverified_address",
            )
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
