"""Organisations in the portal, who is affiliated with them, and Enhetsregisteret's word on them."""

from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from portal.audit import audit

from .. import enhetsregisteret, orgnr
from ..eligibility import assess, assess_vendor
from ..models import (
    Affiliation,
    Organisation,
    User,
)

REGISTRY_DOWN = _lazy(
    "Enhetsregisteret is not answering right now. Nothing was saved; please try again in a few minutes."
)


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
    affiliation.full_clean(validate_constraints=False)  # the constraint is the database's, below
    try:
        with transaction.atomic():
            affiliation.save()
    except IntegrityError:
        # Granted by a concurrent request in between (affiliation_unique_role): the same result.
        return Affiliation.objects.get(user=user, organisation=organisation, role=role)
    audit(
        action="affiliation.created",
        actor=granted_by,
        obj=affiliation,
        after={"user": user.email, "role": role},
        request=request,
    )
    return affiliation


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


def registry_snapshot(entity: enhetsregisteret.RegistryEntity) -> dict:
    snapshot = asdict(entity)
    snapshot["deleted_on"] = entity.deleted_on.isoformat() if entity.deleted_on else None
    snapshot.pop("raw", None)
    return snapshot
