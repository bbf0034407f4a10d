"""Who may see and do what in the members app: the one place for those checks.

Outsiders get 404 (they must not learn an organisation is there), members without the role
for an action get 403.
"""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from .models import Acceptance, Affiliation, Membership, Organisation


def roles_in(user, organisation) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    return frozenset(Affiliation.objects.filter(user=user, organisation=organisation).values_list("role", flat=True))


def _get_organisation_with_roles(request, org_number: str, allowed_roles) -> tuple[Organisation, frozenset[str]]:
    organisation = Organisation.objects.filter(org_number=org_number).first()
    if organisation is None:
        raise Http404(_("No such organisation."))
    roles = roles_in(request.user, organisation) & frozenset(allowed_roles)
    if not roles:
        raise Http404(_("No such organisation."))
    return organisation, roles


def get_member_organisation_for_user(request, org_number: str) -> tuple[Organisation, frozenset[str]]:
    """A member organisation the user holds a member role in, and those roles; else 404."""
    return _get_organisation_with_roles(request, org_number, Affiliation.MEMBER_ROLES)


def get_agreement_organisation_for_user(request, org_number: str) -> tuple[Organisation, frozenset[str]]:
    """An organisation whose agreement with NHN the user may follow: members' and vendors' own; else 404."""
    return _get_organisation_with_roles(request, org_number, Affiliation.MEMBER_ROLES + Affiliation.VENDOR_ROLES)


def get_vendor_organisation_for_user(request, org_number: str) -> tuple[Organisation, frozenset[str]]:
    """A vendor organisation the user is a vendor user of, and those roles; else 404."""
    return _get_organisation_with_roles(request, org_number, Affiliation.VENDOR_ROLES)


def is_nhn_staff(user) -> bool:
    return user.is_authenticated and user.is_active and user.is_nhn_staff


def nhn_staff_required(view):
    """For customer-centre pages: log in first, then 403 for everybody but NHN staff."""
    from django.contrib.auth.decorators import login_required

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not is_nhn_staff(request.user):
            raise PermissionDenied(_("Only NHN customer-centre staff may open this page."))
        return view(request, *args, **kwargs)

    return wrapper


def require_role(roles: frozenset[str], *needed: str) -> None:
    """403 for a member who may look but not do this."""
    if not roles.intersection(needed):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))


def get_acceptance_for_user(request, public_id) -> Acceptance:
    """A signature (for its receipt): NHN staff see all, members their own organisation's; else 404."""
    acceptance = (
        Acceptance.objects.select_related("organisation", "document", "signed_by", "cosigned_by")
        .filter(public_id=public_id)
        .first()
    )
    if acceptance is None:
        raise Http404(_("No such signature."))
    if not is_nhn_staff(request.user):
        get_agreement_organisation_for_user(request, acceptance.organisation.org_number)
    return acceptance


def get_membership_for_staff(request, public_id) -> Membership:
    if not is_nhn_staff(request.user):
        raise PermissionDenied(_("Only NHN customer-centre staff may open this page."))
    membership = (
        Membership.objects.select_related(
            "organisation",
            "acceptance",
            "acceptance__document",
            "acceptance__signed_by",
            "acceptance__cosigned_by",
            "applied_by",
        )
        .filter(public_id=public_id)
        .first()
    )
    if membership is None:
        raise Http404(_("No such membership."))
    return membership


def get_claim_for_user(request, public_id):
    """An application to administer: the applicant's own, or any for NHN staff; else 404."""
    from .models import OrganisationClaim

    claim = (
        OrganisationClaim.objects.select_related("organisation", "claimant", "decided_by")
        .filter(public_id=public_id)
        .first()
    )
    if claim is None or (claim.claimant_id != request.user.pk and not is_nhn_staff(request.user)):
        raise Http404(_("No such application."))
    return claim


class LifecycleViewer:
    """Who is reading an organisation's lifecycle page, and so how much of it they see.

    NHN staff see everything (internal errors, reasons for their own decisions); the organisation's
    own people see their own story in plain words; a vendor whose system the organisation uses sees
    the same page limited to its own systems and clients (``vendors``), without people's names.
    """

    def __init__(self, *, is_staff: bool = False, roles: frozenset[str] = frozenset(), vendors=()):
        self.is_staff = is_staff
        self.roles = roles
        self.vendors = list(vendors)

    @property
    def is_vendor(self) -> bool:
        return bool(self.vendors)

    @property
    def vendor_ids(self) -> set[int]:
        return {vendor.pk for vendor in self.vendors}

    @cached_property
    def own_system_ids(self) -> list[str]:
        """The public ids of the vendors' systems (as provisioning steps name them): read once for the page."""
        from .models import VendorSystem

        return [
            str(pk) for pk in VendorSystem.objects.filter(vendor__in=self.vendors).values_list("public_id", flat=True)
        ]


def get_lifecycle_organisation_for_user(request, org_number: str) -> tuple[Organisation, LifecycleViewer]:
    """The organisation whose lifecycle page the user may read, and how they read it; else 404.

    Its own people (members' and vendors' own) and NHN staff; a vendor only while one of its
    systems is registered (active) by the organisation. Everybody else: 404.
    """
    from .models import VendorAssignment

    organisation = Organisation.objects.filter(org_number=org_number).first()
    if organisation is None or not request.user.is_authenticated:
        raise Http404(_("No such organisation."))
    if is_nhn_staff(request.user):
        return organisation, LifecycleViewer(is_staff=True)
    roles = roles_in(request.user, organisation)
    if roles & frozenset(Affiliation.MEMBER_ROLES + Affiliation.VENDOR_ROLES):
        return organisation, LifecycleViewer(roles=roles)
    vendor_ids = (
        VendorAssignment.objects.active()
        .filter(
            organisation=organisation,
            system__vendor__affiliations__user=request.user,
            system__vendor__affiliations__role=Affiliation.Role.VENDOR_USER,
        )
        .values("system__vendor")
    )
    vendors = list(Organisation.objects.filter(pk__in=vendor_ids))
    if not vendors:
        raise Http404(_("No such organisation."))
    return organisation, LifecycleViewer(vendors=vendors)


def staff_landing(request, org_number: str) -> str | None:
    """Where NHN staff land on an organisation's own pages (its dashboard, its membership page), which are
    for its people: its lifecycle page, the staff's one page per organisation. None for everybody else."""
    from django.urls import reverse

    if not is_nhn_staff(request.user):
        return None
    organisation = Organisation.objects.filter(org_number=org_number).first()
    if organisation is None or roles_in(request.user, organisation):
        return None
    return reverse("organisation_lifecycle", args=[organisation.org_number])
