"""Who may sign for an organisation, signing terms, delegations (fullmakt) and requests to sign."""

import unicodedata
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from portal.audit import audit, client_ip
from portal.email import queue_email

from .. import enhetsregisteret
from ..models import (
    Acceptance,
    Affiliation,
    Membership,
    Organisation,
    SigningDelegation,
    TermsDocument,
    User,
)
from ..selectors import nhn_staff_emails
from .organisations import REGISTRY_DOWN, affiliation_grant

# Roles in Enhetsregisteret that carry the right to sign for the organisation: the top leader
# (daglig leder) and the persons registered with signature or procuration (signatur, prokura).
SIGNING_ROLE_CODES = frozenset({"DAGL", "SIGN", "PROK"})


class StaleTerms(ValidationError):
    """The terms changed between showing them and signing them."""


@dataclass(frozen=True)
class SigningAuthority:
    kind: str  # an Acceptance.Authority value
    detail: str


def _comparable_name(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(folded.split())


def registered_signatories(organisation: Organisation) -> list[enhetsregisteret.RegistryRole]:
    """People Enhetsregisteret names as able to sign for the organisation (still in office)."""
    return [
        role
        for role in enhetsregisteret.roles(organisation.org_number)
        if role.code in SIGNING_ROLE_CODES and not role.resigned
    ]


def signing_authority_for(
    *, user: User, organisation: Organisation, registered: list[enhetsregisteret.RegistryRole] | None = None
) -> SigningAuthority | None:
    """Whether this person may sign for the organisation, and on what authority.

    A role in Enhetsregisteret counts when the registered name equals the person's name in the
    portal. With ID-porten login (issue #7) the match gets stronger; until then NHN staff see the
    name match beside the signature when they approve.
    """
    if not user.is_authenticated:
        return None
    full_name = _comparable_name(user.get_full_name())
    if full_name:
        for role in registered if registered is not None else registered_signatories(organisation):
            if _comparable_name(role.person_name) == full_name:
                return SigningAuthority(
                    Acceptance.Authority.REGISTER_ROLE,
                    _("%(role)s in Enhetsregisteret") % {"role": role.description or role.code},
                )
    delegation = (
        SigningDelegation.objects.filter(organisation=organisation, delegate=user, revoked_at__isnull=True)
        .select_related("delegated_by")
        .first()
    )
    if delegation is not None:
        return SigningAuthority(
            Acceptance.Authority.DELEGATION,
            _("Delegated by %(name)s (%(authority)s) on %(date)s")
            % {
                "name": delegation.delegated_by.get_full_name() or delegation.delegated_by.email,
                "authority": delegation.delegated_by_authority,
                "date": delegation.created_at.date().isoformat(),
            },
        )
    return None


@transaction.atomic
def terms_sign(
    *, organisation: Organisation, document: TermsDocument, shown_sha256: str, user: User, request=None
) -> Acceptance:
    """Sign the version of the terms the person was shown; refuses if it is no longer the one in force."""
    try:
        authority = signing_authority_for(user=user, organisation=organisation)
    except enhetsregisteret.RegistryUnavailable:
        raise ValidationError(REGISTRY_DOWN, code="registry_unavailable") from None
    if authority is None:
        raise PermissionDenied(_("Only an authorised signatory of %(name)s may sign.") % {"name": organisation.name})
    current = TermsDocument.objects.current(document.kind, document.service_code)
    if current is None or current.pk != document.pk or current.sha256 != shown_sha256:
        raise StaleTerms(
            _("The terms changed while you were reading them. Nothing was signed: read the new version and sign it."),
            code="stale_terms",
        )

    # Lock the organisation so two submits (or two signatories) at once make one signature.
    Organisation.objects.select_for_update().get(pk=organisation.pk)
    existing = Acceptance.objects.filter(organisation=organisation, document=document).first()
    if existing is not None:
        return existing
    acceptance = Acceptance.objects.create(
        organisation=organisation,
        document=document,
        document_sha256=document.sha256,
        signed_by=user,
        signer_name=user.get_full_name() or user.email,
        authority=authority.kind,
        authority_detail=authority.detail,
        ip_address=client_ip(request) if request is not None else None,
        user_agent=(request.headers.get("User-Agent", "") if request is not None else "")[:400],
    )
    audit(
        action="terms.signed",
        obj=acceptance,
        actor=user,
        after={"document": str(document), "sha256": document.sha256, "authority": authority.detail},
        request=request,
    )
    if document.kind == Membership.terms_kind_for(organisation):
        _membership_rests_on(organisation, acceptance, user, request)
    return acceptance


def _membership_rests_on(organisation: Organisation, acceptance: Acceptance, user: User, request) -> None:
    membership = organisation.memberships.live().first()
    if membership is None:
        return
    if membership.state == Membership.State.APPLIED:
        membership.submit_for_approval(acceptance=acceptance)
        audit(
            action="membership.submitted",
            obj=membership,
            actor=user,
            before={"state": Membership.State.APPLIED},
            after={"state": membership.state},
            request=request,
        )
        queue_email(
            "members/email/membership_submitted",
            {"organisation": organisation.name, "url": reverse("staff_membership_queue")},
            nhn_staff_emails(),
        )
    else:
        # A new version of the terms signed by an existing member: the membership now rests on it.
        Membership.objects.filter(pk=membership.pk).update(acceptance=acceptance)


@transaction.atomic
def delegation_grant(*, organisation: Organisation, delegate: User, by: User, request=None) -> SigningDelegation:
    """A registered signatory lets a colleague sign on the organisation's behalf."""
    authority = signing_authority_for(user=by, organisation=organisation)
    if authority is None or authority.kind != Acceptance.Authority.REGISTER_ROLE:
        raise PermissionDenied(_("Only a signatory registered in Enhetsregisteret may delegate signing."))
    if not Affiliation.objects.filter(user=delegate, organisation=organisation).exists():
        raise ValidationError(_("The person must have a role in %(name)s first.") % {"name": organisation.name})
    existing = SigningDelegation.objects.filter(
        organisation=organisation, delegate=delegate, revoked_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            delegation = SigningDelegation.objects.create(
                organisation=organisation, delegate=delegate, delegated_by=by, delegated_by_authority=authority.detail
            )
    except IntegrityError:
        # A concurrent identical request delegated first (one open delegation per person): its result.
        return SigningDelegation.objects.get(organisation=organisation, delegate=delegate, revoked_at__isnull=True)
    affiliation_grant(
        user=delegate, organisation=organisation, role=Affiliation.Role.SIGNATORY, granted_by=by, request=request
    )
    audit(
        action="signing.delegated",
        obj=delegation,
        actor=by,
        after={"delegate": delegate.email, "authority": authority.detail},
        request=request,
    )
    return delegation


def signature_request_send(
    *, organisation: Organisation, document: TermsDocument, requested_by: User, recipient: User, request=None
) -> None:
    """E-mail a signatory a link to the terms that wait for their signature."""
    if not Affiliation.objects.filter(
        user=recipient, organisation=organisation, role=Affiliation.Role.SIGNATORY
    ).exists():
        raise ValidationError(_("Signature requests go to the organisation's signatories only."))
    with transaction.atomic():
        audit(
            action="signature.requested",
            obj=organisation,
            actor=requested_by,
            after={"recipient": recipient.email, "document": str(document)},
            request=request,
        )
        queue_email(
            "members/email/signature_requested",
            {
                "organisation": organisation.name,
                "document": str(document),
                "requested_by": requested_by.get_full_name() or requested_by.email,
                "url": reverse("terms_sign", args=[organisation.org_number, document.public_id]),
            },
            [recipient.email],
        )
