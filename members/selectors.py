"""Read-side queries for the members app."""

from django.db.models import Q, QuerySet

from .models import Acceptance, Affiliation, Membership, Organisation, SigningDelegation, TermsDocument, User


def affiliations_of(user: User) -> QuerySet[Affiliation]:
    return Affiliation.objects.filter(user=user).select_related("organisation").order_by("organisation__name", "role")


def organisation_people(organisation: Organisation) -> QuerySet[Affiliation]:
    return Affiliation.objects.filter(organisation=organisation).select_related("user").order_by("role", "user__email")


def portal_signatories(organisation: Organisation) -> QuerySet[User]:
    return User.objects.filter(
        affiliations__organisation=organisation, affiliations__role=Affiliation.Role.SIGNATORY, is_active=True
    ).order_by("last_name", "first_name")


def active_delegations(organisation: Organisation) -> QuerySet[SigningDelegation]:
    return SigningDelegation.objects.filter(organisation=organisation, revoked_at__isnull=True).select_related(
        "delegate", "delegated_by"
    )


def current_membership(organisation: Organisation) -> Membership | None:
    """The live membership, or else the latest one (rejected or ended), or None."""
    base = Membership.objects.filter(organisation=organisation).select_related(
        "acceptance", "acceptance__document", "acceptance__signed_by"
    )
    return base.live().first() or base.order_by("-applied_at").first()


def organisation_acceptances(organisation: Organisation) -> QuerySet[Acceptance]:
    return Acceptance.objects.filter(organisation=organisation).select_related("document", "signed_by")


def membership_queue(*, state: str = "", search: str = "") -> QuerySet[Membership]:
    """NHN staff's list: waiting for approval first, then the rest, newest first."""
    memberships = Membership.objects.select_related(
        "organisation", "acceptance", "acceptance__document", "applied_by"
    ).order_by("state", "-submitted_at", "-applied_at")
    if state:
        memberships = memberships.filter(state=state)
    if search:
        memberships = memberships.filter(
            Q(organisation__name__icontains=search) | Q(organisation__org_number__startswith=search.replace(" ", ""))
        )
    return memberships


def terms_documents() -> QuerySet[TermsDocument]:
    return TermsDocument.objects.select_related("published_by").order_by("kind", "service_code", "-effective_from")


def organisations_for_staff() -> QuerySet[Organisation]:
    return Organisation.objects.select_related("parent").order_by("kind", "name")
