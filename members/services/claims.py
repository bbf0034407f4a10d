"""Claims: registering an organisation makes you an applicant, not its administrator.

Registering proves nothing about the registrant (anyone can type an organisation number). The
claimant gets no right in the organisation until one of these holds:

- they are themselves a signatory in Enhetsregisteret, proven by a fresh ID-porten login at level
  high (``authority.verified_person`` + ``authority.is_signatory``);
- a signatory confirms them through an e-mailed link (single use, expiring, only its hash stored),
  after logging in with ID-porten; or
- NHN staff approve the claim with a written reason.

Only then does the claimant become administrator (vendor user in vendors and partners) and the
organisation's membership (or vendor agreement) application start. Later administrators come
from invitations.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from portal.audit import audit
from portal.email import queue_email
from portal.models import AuditEvent

from .. import authority, enhetsregisteret
from ..models import Affiliation, Membership, Organisation, OrganisationClaim, User
from ..selectors import admin_emails, nhn_staff_emails, vendor_user_emails
from .organisations import REGISTRY_DOWN, affiliation_grant, organisation_create, registry_check, registry_snapshot

Claim = OrganisationClaim
ADMIN_ROLES = (Affiliation.Role.ADMIN, Affiliation.Role.VENDOR_USER)
CONFIRMATION_REQUEST_INTERVAL_SECONDS = 60


class ClaimLinkProblem(ValidationError):
    """The confirmation link cannot be used (unknown, expired, used, decided, or the wrong person)."""


def claim_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_administered(organisation: Organisation) -> bool:
    """Whether someone already holds the organisation's administrator (vendor user) role."""
    return Affiliation.objects.filter(organisation=organisation, role__in=ADMIN_ROLES, user__is_active=True).exists()


def email_verified(user: User) -> bool:
    """Whether the person has proven they receive mail at their account's address (allauth)."""
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def refuse_if_administered(organisation: Organisation) -> None:
    """Once someone administers the organisation, waiting applications can no longer be confirmed:
    later administrators come from the administrators' invitations."""
    if is_administered(organisation):
        raise ValidationError(
            _(
                "%(name)s already has administrators in the portal: new administrators are invited by them. "
                "This application can no longer be confirmed."
            ),
            code="already_administered",
            params={"name": organisation.name},
        )


def claim_signatory_role(person, organisation) -> dict | None:
    """The verified person's signing role as an authority's parameters (name, role, code), or None."""
    if person is None:
        return None
    try:
        roles = authority.registry_roles_for(person, organisation)
    except enhetsregisteret.RegistryUnavailable:
        raise ValidationError(REGISTRY_DOWN, code="registry_unavailable") from None
    if not roles:
        return None
    role = roles[0]
    return {
        "kind": authority.AUTHORITY_CLAIM_SIGNATORY,
        "name": person.name,
        "role": role.description.lower() or role.code,
        "code": role.code,
    }


def claim_signatory_authority(person, organisation) -> str | None:
    """'Name, daglig leder (DAGL) in Enhetsregisteret' when the verified person is a signatory, else None."""
    role = claim_signatory_role(person, organisation)
    return _authority_words(role) if role else None


def _authority_words(stored: dict) -> str:
    return authority.authority_text(stored["kind"], stored)


@transaction.atomic
def claim_submit(*, org_number: str, user: User, vendor_kind: str = "", person=None, request=None) -> Claim:
    """Register an organisation (if new) and the person's application to administer it.

    With ``person`` (a fresh, high ID-porten login) who is a signatory, the claim is confirmed at once.
    """
    check = registry_check(org_number, vendor_kind=vendor_kind)
    if not check.eligible:
        raise ValidationError(check.reason, code="not_eligible")
    entity = check.entity
    role = Affiliation.Role.VENDOR_USER if vendor_kind else Affiliation.Role.ADMIN

    organisation = Organisation.objects.select_for_update().filter(org_number=entity.org_number).first()
    if organisation is None:
        organisation = organisation_create(
            org_number=entity.org_number,
            name=entity.name,
            kind=check.kind,
            municipality_number=entity.municipality_number,
            is_public=check.is_public,
            created_by=user,
            request=request,
        )
    elif organisation.is_vendor_kind != bool(vendor_kind):
        raise ValidationError(
            _("%(name)s is registered in the portal as a %(kind)s; register it the same way or contact NHN."),
            code="other_kind",
            params={"name": organisation.name, "kind": organisation.get_kind_display().lower()},
        )
    if is_administered(organisation):
        raise ValidationError(
            _(
                "%(name)s is already administered in the portal. Ask one of its administrators to invite you; "
                "you can send them a request below."
            ),
            code="already_administered",
            params={"name": organisation.name},
        )
    claim = Claim.objects.filter(organisation=organisation, claimant=user, state=Claim.State.PENDING).first()
    if claim is None:
        try:
            with transaction.atomic():
                claim = Claim.objects.create(
                    organisation=organisation,
                    claimant=user,
                    role=role,
                    registry_snapshot=registry_snapshot(entity),
                )
        except IntegrityError:  # a double submit: the other request made it
            claim = Claim.objects.get(organisation=organisation, claimant=user, state=Claim.State.PENDING)
        else:
            audit(
                action="claim.submitted",
                actor=user,
                obj=claim,
                after={"organisation": organisation.org_number, "role": role},
                request=request,
            )
            queue_email(
                "members/email/claim_submitted",
                {
                    "organisation": organisation.name,
                    "org_number": organisation.formatted_org_number,
                    "claimant": user.get_full_name() or user.email,
                    "claimant_email": user.email,
                    "url": reverse("staff_claim_queue"),
                },
                nhn_staff_emails(),
            )
    authority_given = claim_signatory_role(person, organisation) if person is not None else None
    if authority_given:
        _decide(
            claim,
            confirm=True,
            how=Claim.Decision.SELF_SIGNATORY,
            by=user,
            authority_given=authority_given,
            request=request,
        )
    return claim


@transaction.atomic
def claim_confirm_self(*, claim: Claim, user: User, person, request=None) -> Claim:
    """The claimant proves with ID-porten that they are a signatory themselves."""
    if claim.claimant_id != user.pk:
        raise ValidationError(_("Only the applicant can confirm their own application."), code="not_claimant")
    if person is None:
        raise ValidationError(_("Log in with ID-porten at level high first."), code="not_verified")
    authority_given = claim_signatory_role(person, claim.organisation)
    if not authority_given:
        raise ValidationError(
            _(
                "%(person)s is not a signatory for %(name)s in Enhetsregisteret. Ask one of its signatories to "
                "confirm you, or ask NHN's customer centre."
            ),
            code="not_signatory",
            params={"person": person.name, "name": claim.organisation.name},
        )
    return _decide(
        claim,
        confirm=True,
        how=Claim.Decision.SELF_SIGNATORY,
        by=user,
        authority_given=authority_given,
        request=request,
    )


@transaction.atomic
def claim_request_confirmation(*, claim: Claim, email: str, by: User, request=None) -> str:
    """E-mail a signatory a link to confirm or refuse the claim; returns the link's token.

    A new request replaces the previous link (only the latest works).
    """
    if claim.claimant_id != by.pk:
        raise ValidationError(_("Only the applicant can ask for confirmation."), code="not_claimant")
    if not claim.is_pending:
        raise ValidationError(_("This application is already decided."), code="decided")
    refuse_if_administered(claim.organisation)
    email = User.objects.normalize_email(email.strip()).lower()
    if email == by.email.lower():
        raise ValidationError(
            _("Send the request to the signatory, not to yourself. If you are a signatory, confirm with ID-porten."),
            code="self",
        )
    now = timezone.now()
    if claim.token_sent_at and now - claim.token_sent_at < timedelta(seconds=CONFIRMATION_REQUEST_INTERVAL_SECONDS):
        # The link goes to an address the applicant types: no mail bombing through the portal.
        raise ValidationError(_("A request was just sent. Wait a minute before sending another."), code="too_soon")
    token = secrets.token_urlsafe(32)
    updated = Claim.objects.filter(pk=claim.pk, state=Claim.State.PENDING).update(
        token_hash=claim_token_hash(token),
        token_sent_to=email,
        token_sent_at=now,
        token_expires_at=now + timedelta(days=settings.CLAIM_CONFIRMATION_VALID_DAYS),
        token_used_at=None,
    )
    if not updated:
        raise ValidationError(_("This application is already decided."), code="decided")
    claim.refresh_from_db()
    audit(
        action="claim.confirmation_requested",
        actor=by,
        obj=claim,
        after={"email": email, "expires_at": claim.token_expires_at.isoformat()},
        request=request,
    )
    queue_email(
        "members/email/claim_confirmation",
        {
            "organisation": claim.organisation.name,
            "org_number": claim.organisation.formatted_org_number,
            "claimant": by.get_full_name() or by.email,
            "claimant_email": by.email,
            "claimant_email_verified": email_verified(by),
            "role": str(Affiliation.Role(claim.role).label),
            "url": reverse("claim_confirm", args=[token]),
            "expires_at": timezone.localtime(claim.token_expires_at).date().isoformat(),  # portal_tags.local_date
        },
        [email],
    )
    return token


def claim_for_token(token: str) -> Claim | None:
    if not token:
        return None
    return (
        Claim.objects.select_related("organisation", "claimant", "decided_by")
        .filter(token_hash=claim_token_hash(token))
        .first()
    )


def claim_link_problem(claim: Claim) -> str:
    """Why the link cannot be used any more, or '' when it can."""
    if claim.token_used_at is not None or not claim.is_pending:
        if claim.state == Claim.State.CONFIRMED:
            return _("This link has already been used: the application was confirmed on %(date)s.") % {
                "date": formats.date_format(timezone.localtime(claim.decided_at), "DATETIME_FORMAT")
            }
        if claim.state == Claim.State.REFUSED:
            return _("This link has already been used: the application was refused on %(date)s.") % {
                "date": formats.date_format(timezone.localtime(claim.decided_at), "DATETIME_FORMAT")
            }
        return _("This link has already been used.")
    if claim.token_expires_at is None or claim.token_expires_at <= timezone.now():
        return _("This link has expired. The applicant can send you a new one.")
    return ""


@transaction.atomic
def claim_decide_by_link(*, token: str, confirm: bool, user: User, person, reason: str = "", request=None) -> Claim:
    """A signatory, logged in with ID-porten, confirms or refuses the claim the link is about."""
    claim = claim_for_token(token)
    if claim is None:
        raise ClaimLinkProblem(_("This link is not valid. Check that the whole link was copied."), code="unknown")
    claim = Claim.objects.select_for_update().select_related("organisation", "claimant").get(pk=claim.pk)
    problem = claim_link_problem(claim)
    if problem:
        raise ClaimLinkProblem(problem, code="used")
    if person is None:
        raise ClaimLinkProblem(_("Log in with ID-porten at level high first."), code="not_verified")
    if claim.claimant_id == user.pk:
        raise ClaimLinkProblem(
            _("You cannot confirm your own application through this link; a signatory must."), code="own"
        )
    authority_given = claim_signatory_role(person, claim.organisation)
    if not authority_given:
        raise ClaimLinkProblem(
            _(
                "You are logged in as %(person)s, who is not a signatory for %(name)s in Enhetsregisteret. "
                "Nothing was decided. The link is meant for one of the organisation's signatories."
            )
            % {"person": person.name, "name": claim.organisation.name},
            code="wrong_person",
        )
    Claim.objects.filter(pk=claim.pk).update(token_used_at=timezone.now())
    return _decide(
        claim,
        confirm=confirm,
        how=Claim.Decision.SIGNATORY,
        by=user,
        authority_given=authority_given,
        reason=(reason or "").strip(),
        request=request,
        signatory_role=True,
    )


@transaction.atomic
def claim_decide_by_staff(*, claim: Claim, confirm: bool, by: User, reason: str, request=None) -> Claim:
    """NHN's customer centre decides a claim; the written reason is required and shown to the applicant."""
    if claim.claimant_id == by.pk:
        # Four eyes: a customer-centre account must not make itself administrator of any organisation.
        raise ValidationError(
            _("You cannot decide your own application; another member of NHN's customer centre must."),
            code="own_claim",
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason; the applicant sees it."), code="reason_required")
    return _decide(
        claim,
        confirm=confirm,
        how=Claim.Decision.NHN,
        by=by,
        authority_given={"kind": authority.AUTHORITY_NHN, "email": by.email},
        reason=reason,
        request=request,
    )


def _decide(
    claim: Claim,
    *,
    confirm: bool,
    how: str,
    by: User,
    authority_given: dict,
    reason: str = "",
    request=None,
    signatory_role: bool = False,
) -> Claim:
    organisation = claim.organisation
    if confirm:
        # Locked, so that two applications confirmed at the same moment do not both pass the check.
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        refuse_if_administered(organisation)
    # The claim and the e-mail keep the words; the audit log keeps the kind and parameters, worded when read.
    authority_words = _authority_words(authority_given)
    claim.decide(confirm=confirm, how=how, by=by, authority=authority_words, reason=reason)
    audit(
        action="claim.confirmed" if confirm else "claim.refused",
        actor=by,
        obj=claim,
        before={"state": Claim.State.PENDING},
        after={
            "state": claim.state,
            "how": how,
            "authority": authority_given,
            **({"reason": reason} if reason else {}),
        },
        request=request,
    )
    if confirm:
        affiliation_grant(
            user=claim.claimant, organisation=organisation, role=claim.role, granted_by=by, request=request
        )
        if signatory_role and by.pk != claim.claimant_id:
            # The confirming signatory proved their role: they may sign for the organisation here too.
            role = Affiliation.Role.VENDOR_USER if organisation.is_vendor_kind else Affiliation.Role.SIGNATORY
            affiliation_grant(user=by, organisation=organisation, role=role, granted_by=by, request=request)
        if not organisation.memberships.live().exists():
            membership = Membership.objects.create(
                organisation=organisation, applied_by=claim.claimant, registry_snapshot=claim.registry_snapshot
            )
            audit(
                action="membership.applied",
                obj=membership,
                actor=claim.claimant,
                after={"state": membership.state},
                request=request,
            )
    queue_email(
        "members/email/claim_decided",
        {
            "organisation": organisation.name,
            "confirmed": confirm,
            "authority": authority_words,
            "reason": reason,
            "url": reverse("membership_detail", args=[organisation.org_number])
            if confirm
            else reverse("claim_detail", args=[claim.public_id]),
        },
        [claim.claimant.email],
    )
    return claim


@transaction.atomic
def claim_ask_administrators(*, organisation: Organisation, user: User, request=None) -> None:
    """Someone who found the organisation already administered asks its administrators for an invitation."""
    recipients = admin_emails(organisation) + vendor_user_emails(organisation)
    if not recipients:
        raise ValidationError(_("The organisation has no administrator to ask."), code="no_admins")
    since = timezone.now() - timedelta(hours=1)
    if AuditEvent.objects.filter(
        action="claim.admins_asked", actor=user, organisation=organisation, created_at__gte=since
    ).exists():
        raise ValidationError(_("You asked them less than an hour ago. Give them time to answer."), code="too_soon")
    audit(action="claim.admins_asked", actor=user, obj=organisation, after={"email": user.email}, request=request)
    queue_email(
        "members/email/claim_ask_admins",
        {
            "organisation": organisation.name,
            "person": user.get_full_name() or user.email,
            "email": user.email,
            "url": reverse("organisation_people", args=[organisation.org_number]),
        },
        recipients,
    )
