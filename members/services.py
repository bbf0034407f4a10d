"""Write-side operations for the members app. Each one audits what it changed."""

from django.db import transaction

from portal.audit import audit

from .models import Affiliation, Organisation, User


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
