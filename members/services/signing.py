"""Who may sign for an organisation, signing terms (alone or jointly), delegations (fullmakt), requests to sign.

Authority rests on a person identified by ID-porten at level high within the last few minutes
(``members.authority.VerifiedPerson``), matched on birth date and name against Enhetsregisteret's
roles, or on a delegation bound to that person's identity. Names typed into the portal never count.
"""

import time
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from portal.audit import audit, client_ip
from portal.email import queue_email

from .. import authority, enhetsregisteret
from ..authority import SIGNING_ROLE_CODES, VerifiedPerson
from ..models import (
    Acceptance,
    Affiliation,
    JointSignature,
    Membership,
    Organisation,
    SigningDelegation,
    TermsDocument,
    User,
)
from ..selectors import nhn_staff_emails
from .organisations import REGISTRY_DOWN, affiliation_grant

__all__ = [
    "SIGNING_ROLE_CODES",
    "NotVerified",
    "SigningAuthority",
    "StaleTerms",
    "delegation_grant",
    "delegation_revoke",
    "delegations_bind",
    "not_verified_message",
    "open_joint_signature",
    "registered_signatories",
    "signature_request_send",
    "signing_authority_for",
    "terms_sign",
]


class StaleTerms(ValidationError):
    """The terms changed between showing them and signing them."""


class NotVerified(PermissionDenied):
    """The person has not logged in with ID-porten at level high within the last few minutes."""


@dataclass(frozen=True)
class SigningAuthority:
    kind: str  # an Acceptance.Authority value
    detail: str
    joint: bool = False  # SIFE / POFE: counts only with a second holder's co-signature
    delegated_by: str = ""  # the name of the signatory a delegation comes from
    params: dict = field(default_factory=dict)  # what `detail` is worded from (authority.authority_text)

    def for_audit(self) -> dict:
        """The authority as the audit log keeps it: a kind and parameters, worded when the log is read."""
        return {"kind": self.kind, **self.params}


def verified_with(person: VerifiedPerson) -> str:
    return f"ID-porten, {person.acr}"


def registered_signatories(organisation: Organisation) -> list[enhetsregisteret.RegistryRole]:
    """People Enhetsregisteret names as able to sign for the organisation (in office, alive)."""
    return authority.registered_signatories(organisation)


def _fresh(person: VerifiedPerson | None) -> bool:
    return (
        person is not None
        and person.provider == authority.PROVIDER
        and person.is_high
        and time.time() - person.auth_time <= authority.max_age_seconds()
    )


def _role_authority(role: enhetsregisteret.RegistryRole) -> SigningAuthority:
    # Kept in bokmål whoever signs: it is the record of a signature, in the register's own words; pages in
    # English show it marked lang="nb".
    with translation.override("nb"):
        return _role_authority_text(role)


def _role_authority_text(role: enhetsregisteret.RegistryRole) -> SigningAuthority:
    params = {"role": role.description or role.code, "code": role.code, "joint": role.joint}
    detail = authority.authority_text(authority.AUTHORITY_REGISTER_ROLE, params)
    return SigningAuthority(Acceptance.Authority.REGISTER_ROLE, detail, joint=role.joint, params=params)


def signing_authority_for(
    *, user: User, organisation: Organisation, person: VerifiedPerson | None, roles=None
) -> SigningAuthority | None:
    """On what authority this person may sign for the organisation, or None.

    ``person`` is who ID-porten says is at the keyboard (``members.authority.verified_person``);
    without one nobody may sign. A sole role beats a delegation bound to the same identity (which
    counts while the register still lists the one who gave it), and a delegation beats a joint role.
    Raises RegistryUnavailable when the register is down (a delegation cannot be checked then either).
    """
    if person is None or not user.is_authenticated:
        return None
    registry_error = None
    try:
        matched = authority.registry_roles_for(person, organisation) if roles is None else roles
    except enhetsregisteret.RegistryUnavailable as error:
        matched, registry_error = [], error
    if matched and not matched[0].joint:
        return _role_authority(matched[0])  # sole roles come first
    # A delegation lets its holder sign alone, so it beats a joint role of their own.
    delegation = (
        SigningDelegation.objects.filter(
            organisation=organisation, delegate=user, delegate_pid_hash=person.pid_hash, revoked_at__isnull=True
        )
        .select_related("delegated_by")
        .first()
    )
    if delegation is not None and registry_error is None:
        try:
            if not delegator_still_signs(delegation, organisation):
                delegation = None  # a fullmakt lasts only while the one who gave it may still sign alone
        except enhetsregisteret.RegistryUnavailable as error:
            delegation, registry_error = None, error  # unprovable now: the caller says the register is down
    if delegation is not None and registry_error is None:
        by = delegation.delegated_by_name or delegation.delegated_by.get_full_name() or delegation.delegated_by.email
        params = {
            "name": by,
            "authority": delegation.delegated_by_authority,
            "date": timezone.localtime(delegation.created_at).date().isoformat(),
        }
        with translation.override("nb"):  # the record of a signature, like a register role: bokmål
            detail = authority.authority_text(authority.AUTHORITY_DELEGATION, params)
        return SigningAuthority(Acceptance.Authority.DELEGATION, detail, delegated_by=by, params=params)
    if matched:
        return _role_authority(matched[0])  # a joint role: counts with a second holder's co-signature
    if registry_error is not None:
        raise registry_error
    return None


def delegator_still_signs(delegation: SigningDelegation, organisation: Organisation) -> bool:
    """Whether Enhetsregisteret still lists the one who delegated with a sole signing role (in office,
    not deregistered, alive), matched on name and birth date as at the delegation.

    Raises RegistryUnavailable when the register cannot answer now."""
    if delegation.delegated_by_birth_date is None:  # made before birth dates were kept: unprovable
        return False
    delegator = VerifiedPerson(
        provider=authority.PROVIDER,
        name=delegation.delegated_by_name,
        birth_date=delegation.delegated_by_birth_date,
        acr="",
        auth_time=0,
        pid_hash="",
    )
    return any(not role.joint for role in authority.registry_roles_for(delegator, organisation))


def refusal_message(organisation: Organisation, person: VerifiedPerson) -> str:
    return _(
        "Enhetsregisteret lists no %(name)s born %(birth_date)s who may sign for %(organisation)s (as daglig "
        "leder, with signature or procuration), and you have no delegation from one. Resigned, deregistered or "
        "deceased role holders do not count. Nothing was signed."
    ) % {
        "name": person.name or "–",
        "birth_date": person.birth_date.strftime("%d.%m.%Y"),
        "organisation": organisation.name,
    }


def not_verified_message() -> str:
    minutes = max(1, authority.max_age_seconds() // 60)
    return _(
        "Signing for an organisation needs a log-in with ID-porten at level high within the last %(minutes)s "
        "minutes, so that the portal knows who you are. Names typed into the portal do not count. Nothing was "
        "signed: log in with ID-porten again and sign."
    ) % {"minutes": minutes}


def open_joint_signature(organisation: Organisation, document: TermsDocument) -> JointSignature | None:
    """The joint signature on this version waiting for a second holder, if any."""
    return (
        JointSignature.objects.filter(
            organisation=organisation, document=document, acceptance__isnull=True, closed_at__isnull=True
        )
        .select_related("signed_by")
        .first()
    )


@transaction.atomic
def terms_sign(
    *,
    organisation: Organisation,
    document: TermsDocument,
    shown_sha256: str,
    user: User,
    person: VerifiedPerson | None,
    request=None,
) -> Acceptance | JointSignature:
    """Sign the version of the terms the person was shown.

    Returns the Acceptance, or, for the first holder of a joint role, the JointSignature that waits
    for a second holder. Refuses (PermissionDenied, nothing stored) without a fresh ID-porten login
    at level high or without authority, and (StaleTerms) if the version is no longer in force.
    """
    if not _fresh(person):
        raise NotVerified(not_verified_message())
    try:
        signing = signing_authority_for(user=user, organisation=organisation, person=person)
    except enhetsregisteret.RegistryUnavailable:
        raise ValidationError(REGISTRY_DOWN, code="registry_unavailable") from None
    if signing is None:
        raise PermissionDenied(refusal_message(organisation, person))
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
    evidence = {
        "ip_address": client_ip(request) if request is not None else None,
        "user_agent": (request.headers.get("User-Agent", "") if request is not None else "")[:400],
    }
    pending = open_joint_signature(organisation, document)
    if signing.joint:
        if pending is None:
            return _joint_signature_start(organisation, document, user, person, signing, evidence, request)
        if pending.signer_pid_hash == person.pid_hash or pending.signed_by_id == user.pk:
            return pending  # the same person again: still waiting for a second holder
        if not _still_holds_a_role(pending, organisation):
            # The first holder has left the role since: their half no longer counts; this one starts anew.
            JointSignature.objects.filter(pk=pending.pk).update(closed_at=timezone.now())
            return _joint_signature_start(organisation, document, user, person, signing, evidence, request)
        return _joint_signature_complete(pending, user, person, signing, request)

    acceptance = Acceptance.objects.create(
        organisation=organisation,
        document=document,
        document_sha256=document.sha256,
        signed_by=user,
        signer_name=person.name,
        authority=signing.kind,
        authority_detail=signing.detail,
        verified_with=verified_with(person),
        **evidence,
    )
    if pending is not None:  # a sole signatory signed meanwhile: the joint signature is not needed
        JointSignature.objects.filter(pk=pending.pk).update(closed_at=timezone.now())
    audit(
        action="terms.signed",
        obj=acceptance,
        actor=user,
        after={"document": str(document), "sha256": document.sha256, "authority": signing.for_audit()},
        request=request,
    )
    _signed(organisation, acceptance, user, request)
    return acceptance


def _still_holds_a_role(pending: JointSignature, organisation: Organisation) -> bool:
    first = VerifiedPerson(
        provider=authority.PROVIDER,
        name=pending.signer_name,
        birth_date=pending.signer_birth_date,
        acr=authority.LEVEL_HIGH,
        auth_time=0,
        pid_hash=pending.signer_pid_hash,
    )
    return pending.signer_birth_date is not None and authority.is_signatory(first, organisation)


def _joint_signature_start(organisation, document, user, person, signing, evidence, request) -> JointSignature:
    try:
        with transaction.atomic():
            joint = JointSignature.objects.create(
                organisation=organisation,
                document=document,
                document_sha256=document.sha256,
                signed_by=user,
                signer_name=person.name,
                signer_pid_hash=person.pid_hash,
                signer_birth_date=person.birth_date,
                authority_detail=signing.detail,
                verified_with=verified_with(person),
                **evidence,
            )
    except IntegrityError:  # another holder started one at the same moment (the lock makes this rare)
        return open_joint_signature(organisation, document)
    audit(
        action="terms.signed_jointly",
        obj=joint,
        actor=user,
        after={
            "document": str(document),
            "sha256": document.sha256,
            "authority": signing.for_audit(),
            "complete": False,
        },
        request=request,
    )
    return joint


def _joint_signature_complete(pending: JointSignature, user, person, signing, request) -> Acceptance:
    acceptance = Acceptance.objects.create(
        organisation=pending.organisation,
        document=pending.document,
        document_sha256=pending.document_sha256,
        signed_by=pending.signed_by,
        signer_name=pending.signer_name,
        authority=Acceptance.Authority.REGISTER_ROLE,
        authority_detail=pending.authority_detail,
        verified_with=pending.verified_with,
        signed_at=pending.signed_at,
        ip_address=pending.ip_address,
        user_agent=pending.user_agent,
        cosigned_by=user,
        cosigner_name=person.name,
        cosigner_authority_detail=signing.detail,
        cosigned_at=timezone.now(),
    )
    JointSignature.objects.filter(pk=pending.pk).update(acceptance=acceptance)
    audit(
        action="terms.cosigned",
        obj=acceptance,
        actor=user,
        after={
            "document": str(pending.document),
            "sha256": pending.document_sha256,
            "signed_by": pending.signer_name,
            "cosigned_by": person.name,
            "authority": signing.for_audit(),
        },
        request=request,
    )
    _signed(pending.organisation, acceptance, user, request)
    return acceptance


def _signed(organisation: Organisation, acceptance: Acceptance, user: User, request) -> None:
    if acceptance.document.kind == Membership.terms_kind_for(organisation):
        _membership_rests_on(organisation, acceptance, user, request)


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


# Delegation (fullmakt) ---------------------------------------------------------------------------------


@transaction.atomic
def delegation_grant(
    *, organisation: Organisation, email: str, by: User, person: VerifiedPerson | None, request=None
) -> SigningDelegation:
    """A signatory who may sign alone lets a named person (by e-mail) sign on the organisation's behalf.

    The delegation binds to that person's identity at their first ID-porten login after this.
    """
    if not _fresh(person):
        raise NotVerified(not_verified_message())
    try:
        signing = signing_authority_for(user=by, organisation=organisation, person=person)
    except enhetsregisteret.RegistryUnavailable:
        raise ValidationError(REGISTRY_DOWN, code="registry_unavailable") from None
    if signing is None or signing.kind != Acceptance.Authority.REGISTER_ROLE or signing.joint:
        raise PermissionDenied(
            _("Only a person Enhetsregisteret lists as able to sign alone may delegate signing. Nothing was delegated.")
        )
    email = User.objects.normalize_email(email.strip()).lower()
    existing = SigningDelegation.objects.filter(
        organisation=organisation, delegate_email__iexact=email, revoked_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            delegation = SigningDelegation.objects.create(
                organisation=organisation,
                delegate_email=email,
                delegated_by=by,
                delegated_by_name=person.name,
                delegated_by_birth_date=person.birth_date,
                delegated_by_authority=signing.detail,
            )
    except IntegrityError:  # the same delegation made in parallel
        return SigningDelegation.objects.get(
            organisation=organisation, delegate_email__iexact=email, revoked_at__isnull=True
        )
    audit(
        action="signing.delegated",
        obj=delegation,
        actor=by,
        after={"delegate": email, "authority": signing.for_audit()},
        request=request,
    )
    queue_email(
        "members/email/delegation",
        {
            "organisation": organisation.name,
            "delegated_by": person.name,
            "url": reverse("membership_detail", args=[organisation.org_number]),
        },
        [email],
    )
    return delegation


def delegations_bind(*, user: User, person: VerifiedPerson | None, request=None) -> list[SigningDelegation]:
    """At an ID-porten login: delegations to one of the person's verified addresses bind to their identity."""
    from allauth.account.models import EmailAddress

    if person is None or person.provider != authority.PROVIDER:
        return []
    addresses = [
        address.lower()
        for address in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    ]
    if not addresses:
        return []
    bound = []
    with transaction.atomic():
        candidates = SigningDelegation.objects.select_for_update().filter(
            delegate_pid_hash="", revoked_at__isnull=True, delegate_email__in=addresses
        )
        for delegation in candidates.select_related("organisation", "delegated_by"):
            SigningDelegation.objects.filter(pk=delegation.pk).update(
                delegate=user, delegate_pid_hash=person.pid_hash, bound_at=timezone.now()
            )
            affiliation_grant(
                user=user,
                organisation=delegation.organisation,
                role=Affiliation.Role.SIGNATORY,
                granted_by=delegation.delegated_by,
                request=request,
            )
            audit(
                action="signing.delegation_bound",
                obj=delegation,
                actor=user,
                after={"delegate": delegation.delegate_email},
                request=request,
            )
            bound.append(delegation)
    return bound


@transaction.atomic
def delegation_revoke(*, delegation: SigningDelegation, by: User, request=None) -> None:
    updated = SigningDelegation.objects.filter(pk=delegation.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
        audit(
            action="signing.delegation_revoked",
            obj=delegation,
            actor=by,
            after={"delegate": delegation.delegate_email},
            request=request,
        )


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
