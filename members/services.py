"""Write-side operations for the members app. Each guards first, then changes, audits and queues mail."""

import hashlib
import secrets
import unicodedata
from dataclasses import asdict, dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from portal.audit import audit, client_ip
from portal.email import queue_email

from . import enhetsregisteret, orgnr
from .eligibility import assess, assess_vendor
from .models import (
    Acceptance,
    Affiliation,
    FederatedIdentity,
    Invitation,
    Membership,
    Organisation,
    SigningDelegation,
    SupportedService,
    SystemKind,
    TermsDocument,
    User,
    VendorAssignment,
    VendorSystem,
)
from .selectors import admin_emails, nhn_staff_emails, vendor_user_emails

# Roles in Enhetsregisteret that carry the right to sign for the organisation: the top leader
# (daglig leder) and the persons registered with signature or procuration (signatur, prokura).
SIGNING_ROLE_CODES = frozenset({"DAGL", "SIGN", "PROK"})


REGISTRY_DOWN = _lazy(
    "Enhetsregisteret is not answering right now. Nothing was saved; please try again in a few minutes."
)


class StaleTerms(ValidationError):
    """The terms changed between showing them and signing them."""


@transaction.atomic
def organisation_create(
    *,
    org_number: str,
    name: str,
    kind: str,
    created_by: User | None = None,
    municipality_number: str = "",
    is_public: bool = False,
    parent: Organisation | None = None,
    request=None,
) -> Organisation:
    organisation = Organisation(
        org_number=org_number,
        name=name,
        kind=kind,
        municipality_number=municipality_number,
        is_public=is_public,
        parent=parent,
    )
    organisation.full_clean()
    organisation.save()
    audit(
        action="organisation.created",
        actor=created_by,
        obj=organisation,
        after={"org_number": org_number, "name": name, "kind": kind},
        request=request,
    )
    return organisation


@transaction.atomic
def affiliation_grant(
    *, user: User, organisation: Organisation, role: str, granted_by: User | None = None, request=None
) -> Affiliation:
    """Give a person a role in an organisation; granting a role they already hold changes nothing."""
    existing = Affiliation.objects.filter(user=user, organisation=organisation, role=role).first()
    if existing is not None:
        return existing
    affiliation = Affiliation(user=user, organisation=organisation, role=role)
    affiliation.full_clean()
    affiliation.save()
    audit(
        action="affiliation.created",
        actor=granted_by,
        obj=affiliation,
        after={"user": user.email, "role": role},
        request=request,
    )
    return affiliation


# Membership ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCheck:
    """What the portal found in Enhetsregisteret for a number, and whether it may become a member."""

    entity: enhetsregisteret.RegistryEntity
    eligible: bool
    kind: str | None
    is_public: bool
    reason: str


def registry_check(org_number: str, *, vendor_kind: str = "") -> RegistryCheck:
    """Validate the number, look it up and assess it. Raises ValidationError with the reason to show."""
    number = orgnr.normalise(org_number)
    orgnr.validate_org_number(number)
    try:
        entity = enhetsregisteret.lookup(number)
    except enhetsregisteret.RegistryUnavailable:
        raise ValidationError(REGISTRY_DOWN, code="registry_unavailable") from None
    if entity is None:
        raise ValidationError(
            _("%(number)s is not in Enhetsregisteret. Check the number and try again."),
            code="not_found",
            params={"number": number},
        )
    parent = None
    if entity.parent_org_number and not vendor_kind:
        try:
            parent = enhetsregisteret.lookup(entity.parent_org_number)
        except enhetsregisteret.RegistryUnavailable:
            raise ValidationError(REGISTRY_DOWN, code="registry_unavailable") from None
    if vendor_kind:
        eligibility = assess_vendor(entity, as_partner=vendor_kind == Organisation.Kind.PARTNER)
    else:
        eligibility = assess(entity, parent=parent)
    return RegistryCheck(
        entity=entity,
        eligible=eligibility.eligible,
        kind=eligibility.kind,
        is_public=eligibility.is_public,
        reason=str(eligibility.reason),
    )


def _registry_snapshot(entity: enhetsregisteret.RegistryEntity) -> dict:
    snapshot = asdict(entity)
    snapshot["deleted_on"] = entity.deleted_on.isoformat() if entity.deleted_on else None
    snapshot.pop("raw", None)
    return snapshot


@transaction.atomic
def membership_apply(*, org_number: str, user: User, vendor_kind: str = "", request=None) -> Membership:
    """Apply for membership (or, with vendor_kind, for approval as vendor or partner), registering
    the organisation in the portal if it is new. The applicant becomes its administrator (vendor user)."""
    check = registry_check(org_number, vendor_kind=vendor_kind)
    applicant_role = Affiliation.Role.VENDOR_USER if vendor_kind else Affiliation.Role.ADMIN
    if not check.eligible:
        raise ValidationError(check.reason, code="not_eligible")
    entity = check.entity

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
        affiliation_grant(user=user, organisation=organisation, role=applicant_role, granted_by=user, request=request)
    elif not Affiliation.objects.filter(user=user, organisation=organisation, role=applicant_role).exists():
        raise ValidationError(
            _(
                "%(name)s is already registered in the portal. Ask one of its administrators to give you a role, "
                "or contact NHN's customer centre."
            ),
            code="already_registered",
            params={"name": organisation.name},
        )

    live = organisation.memberships.live().first()
    if live is not None:
        raise ValidationError(
            _("%(name)s already has a membership: %(state)s."),
            code="already_member",
            params={"name": organisation.name, "state": live.get_state_display()},
        )
    membership = Membership.objects.create(
        organisation=organisation, applied_by=user, registry_snapshot=_registry_snapshot(entity)
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


# Signing ---------------------------------------------------------------------------------------


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
    delegation = SigningDelegation.objects.create(
        organisation=organisation, delegate=delegate, delegated_by=by, delegated_by_authority=authority.detail
    )
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


# Terms (NHN staff) -----------------------------------------------------------------------------


@transaction.atomic
def terms_draft_create(
    *, kind: str, service_code: str, version: str, title: str, body: str, effective_from, by: User, request=None
) -> TermsDocument:
    document = TermsDocument(
        kind=kind, service_code=service_code, version=version, title=title, body=body, effective_from=effective_from
    )
    document.full_clean()
    document.save()
    audit(action="terms.drafted", obj=document, actor=by, after={"version": version}, request=request)
    return document


@transaction.atomic
def terms_publish(*, document: TermsDocument, by: User, request=None) -> TermsDocument:
    document.publish(by=by)
    audit(
        action="terms.published",
        obj=document,
        actor=by,
        after={"version": document.version, "sha256": document.sha256},
        request=request,
    )
    return document


# Vendor systems and the municipalities that use them ----------------------------------------------


@transaction.atomic
def vendor_system_create(
    *, vendor: Organisation, name: str, kind: str, product: str, by: User, request=None
) -> VendorSystem:
    if VendorSystem.objects.filter(vendor=vendor, name__iexact=name.strip()).exists():
        raise ValidationError(_("You already have a system called %(name)s.") % {"name": name})
    system = VendorSystem(vendor=vendor, name=name.strip(), kind=kind, product=product.strip())
    system.full_clean()
    system.save()
    audit(
        action="vendor_system.created",
        obj=system,
        actor=by,
        organisation=vendor,
        after={"name": system.name, "kind": kind},
        request=request,
    )
    return system


@transaction.atomic
def vendor_assignment_create(
    *, organisation: Organisation, system: VendorSystem, environment: str, starts_on, by: User, request=None
) -> VendorAssignment:
    """The municipality registers which vendor system it uses; the vendor then sees it as a tenant."""
    if not organisation.is_member_kind:
        raise ValidationError(_("Only member organisations register the systems they use."))
    Organisation.objects.select_for_update().get(pk=organisation.pk)  # one registration at a time
    active = VendorAssignment.objects.active().filter(organisation=organisation, environment=environment)
    if active.filter(system=system).exists():
        raise ValidationError(_("%(system)s is already registered for this environment.") % {"system": system.name})
    current_epj = active.filter(kind=SystemKind.EPJ).select_related("system").first()
    if system.kind == SystemKind.EPJ and current_epj is not None:
        raise ValidationError(
            _("%(system)s is registered as your EPJ in this environment. End that first.")
            % {"system": current_epj.system.name}
        )
    assignment = VendorAssignment.objects.create(
        organisation=organisation, system=system, environment=environment, starts_on=starts_on, created_by=by
    )
    audit(
        action="vendor_assignment.created",
        obj=assignment,
        actor=by,
        after={"system": system.name, "vendor": system.vendor.org_number, "environment": environment},
        request=request,
    )
    _provision_assignment(assignment, ended=False)
    queue_email(
        "members/email/assignment_changed",
        {"organisation": organisation.name, "system": system.name, "environment": environment, "ended": False},
        vendor_user_emails(system.vendor),
    )
    return assignment


@transaction.atomic
def vendor_assignment_end(*, assignment: VendorAssignment, by: User, request=None) -> VendorAssignment:
    updated = VendorAssignment.objects.filter(pk=assignment.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    if not updated:
        raise ValidationError(_("This registration has already ended."))
    assignment.refresh_from_db()
    audit(
        action="vendor_assignment.ended",
        obj=assignment,
        actor=by,
        after={"system": assignment.system.name, "environment": assignment.environment},
        request=request,
    )
    _provision_assignment(assignment, ended=True)
    queue_email(
        "members/email/assignment_changed",
        {
            "organisation": assignment.organisation.name,
            "system": assignment.system.name,
            "environment": assignment.environment,
            "ended": True,
        },
        vendor_user_emails(assignment.system.vendor),
    )
    return assignment


@transaction.atomic
def vendor_system_set_services(
    *, system: VendorSystem, supported: set[tuple[int, str]], by: User, request=None
) -> None:
    """Replace which services (service id, environment) the system supports; the log keeps before and after."""
    current = set(system.supported_services.values_list("service_id", "environment"))
    if current == supported:
        return
    for service_id, environment in current - supported:
        system.supported_services.filter(service_id=service_id, environment=environment).delete()
    SupportedService.objects.bulk_create(
        SupportedService(system=system, service_id=service_id, environment=environment)
        for service_id, environment in supported - current
    )
    audit(
        action="vendor_system.services_changed",
        obj=system,
        actor=by,
        organisation=system.vendor,
        before={"supported": sorted(f"{s}:{e}" for s, e in current)},
        after={"supported": sorted(f"{s}:{e}" for s, e in supported)},
        request=request,
    )
    from orders.provisioning import queue_for_supported_services  # orders builds on members, not the reverse

    queue_for_supported_services(system, current ^ supported)


def _provision_assignment(assignment: VendorAssignment, *, ended: bool) -> None:
    """The orders' access for this system follows the registration (orders builds on members)."""
    from orders.models import ProvisioningTask
    from orders.provisioning import queue_for_assignment

    reason = ProvisioningTask.Reason.ASSIGNMENT_ENDED if ended else ProvisioningTask.Reason.ASSIGNMENT_CREATED
    queue_for_assignment(assignment, reason=reason)


# Federated identities (HelseID, ID-porten) -------------------------------------------------------


class IdentityConflict(ValidationError):
    """The national identity belongs to another account, or the account to another identity."""


@transaction.atomic
def federated_identity_link(*, user: User, provider: str, pid_hash: str, request=None) -> FederatedIdentity:
    """Tie a provider login to a person. One person has one identity number, so one hash per user."""
    other_number = FederatedIdentity.objects.filter(user=user).exclude(pid_hash=pid_hash).exists()
    someone_else = FederatedIdentity.objects.filter(pid_hash=pid_hash).exclude(user=user).exists()
    if other_number or someone_else:
        raise IdentityConflict(
            _("This identity belongs to another account in the portal. Nothing was linked."), code="identity_conflict"
        )
    identity = FederatedIdentity.objects.filter(user=user, provider=provider).first()
    if identity is not None:
        return identity
    identity = FederatedIdentity.objects.create(user=user, provider=provider, pid_hash=pid_hash)
    audit(action="identity.linked", actor=user, obj=identity, after={"provider": provider}, request=request)
    return identity


@transaction.atomic
def federated_user_create(
    *,
    email: str,
    first_name: str,
    last_name: str,
    provider: str,
    pid_hash: str,
    email_verified: bool,
    request=None,
) -> User:
    """A person's first federated login: an account with no password and no organisation rights.

    Rights come later, from an invitation or from registering an organisation; signing still rests
    on Enhetsregisteret's roles, checked when the person signs.
    """
    email = User.objects.normalize_email(email.strip())
    if User.objects.filter(email__iexact=email).exists() or EmailAddress.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            _(
                "%(email)s already has an account. Log in with it (e-mail and password) and link "
                "%(provider)s under “Log-in methods”."
            ),
            code="email_taken",
            params={"email": email, "provider": settings.OIDC_PROVIDERS.get(provider, {}).get("label", provider)},
        )
    user = User(email=email, first_name=first_name[:150], last_name=last_name[:150])
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=email_verified)
    audit(action="user.created", actor=user, obj=user, after={"provider": provider}, request=request)
    federated_identity_link(user=user, provider=provider, pid_hash=pid_hash, request=request)
    return user


def federated_login_recorded(*, user: User, provider: str, first_name: str, last_name: str) -> None:
    """After each federated login: the names the provider vouches for replace typed ones."""
    FederatedIdentity.objects.filter(user=user, provider=provider).update(last_login_at=timezone.now())
    changes = {
        field: value[:150]
        for field, value in (("first_name", first_name), ("last_name", last_name))
        if value and getattr(user, field) != value[:150]
    }
    if changes:
        User.objects.filter(pk=user.pk).update(**changes)
        for field, value in changes.items():
            setattr(user, field, value)


# Invitations -------------------------------------------------------------------------------------


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


# Back-channel logout (issue 12) ------------------------------------------------------------------------


def federated_session_hash(provider: str, value: str) -> str:
    """Keyed hash of a provider's session id or subject, as ``FederatedSession`` stores it."""
    from django.utils.crypto import salted_hmac

    return salted_hmac("members.federated_session", f"{provider}:{value}", algorithm="sha256").hexdigest()


def federated_session_ids(*, provider: str, sid: str, sub: str) -> dict:
    """The keyed hashes ``FederatedSession`` keeps of a provider session id and subject."""
    return {
        "sid_hash": federated_session_hash(provider, sid) if sid else "",
        "sub_hash": federated_session_hash(provider, sub),
    }


def federated_session_record(*, session_key: str, user: User, provider: str, sid_hash: str, sub_hash: str) -> None:
    """Remembers that this Django session came from this provider session (for its back-channel logout)."""
    from .models import FederatedSession

    FederatedSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "provider": provider, "sid_hash": sid_hash, "sub_hash": sub_hash},
    )


def federated_session_forget(*, session_key: str | None) -> None:
    from .models import FederatedSession

    if session_key:
        FederatedSession.objects.filter(session_key=session_key).delete()


def logout_token_use(*, provider: str, jti: str, keep_seconds: int) -> bool:
    """Records a logout token's ``jti`` as used; False when it was used before (a replay)."""
    from .models import UsedLogoutToken

    now = timezone.now()
    UsedLogoutToken.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            UsedLogoutToken.objects.create(
                provider=provider,
                jti_hash=hashlib.sha256(jti.encode()).hexdigest(),
                expires_at=now + timedelta(seconds=keep_seconds),
            )
    except IntegrityError:
        return False
    return True


def federated_sessions_end(*, provider: str, sid: str | None, sub: str | None) -> int:
    """Ends every session of the person the provider logged out, from that provider; returns how many.

    The person is found by ``sub`` (or, without one, by the provider session ``sid``); all of their
    sessions that came from this provider end, not only the one the provider names. Sessions from
    other providers or local logins are left alone.
    """
    from importlib import import_module

    from .models import FederatedSession

    rows = FederatedSession.objects.filter(provider=provider)
    if sub:
        people = rows.filter(sub_hash=federated_session_hash(provider, sub))
    elif sid:
        people = rows.filter(sid_hash=federated_session_hash(provider, sid))
    else:
        return 0
    sessions = list(
        rows.filter(user_id__in=people.values("user_id")).select_related("user").order_by("user_id", "session_key")
    )
    store = import_module(settings.SESSION_ENGINE).SessionStore
    with transaction.atomic():
        for row in sessions:
            store(session_key=row.session_key).delete()
        FederatedSession.objects.filter(pk__in=[row.pk for row in sessions]).delete()
        for user in {row.user_id: row.user for row in sessions}.values():
            ended = sum(1 for row in sessions if row.user_id == user.pk)
            audit(action="user.logged_out_by_provider", actor=user, after={"provider": provider, "sessions": ended})
    return len(sessions)
