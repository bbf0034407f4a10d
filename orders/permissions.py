"""Who may see and do what with orders: the one place for those checks in the orders app."""

from django.http import Http404
from django.utils.translation import gettext as _

from members.models import Affiliation, Organisation, VendorAssignment
from members.permissions import (
    get_member_organisation_for_user,
    get_vendor_organisation_for_user,
    is_nhn_staff,
    require_role,
)

from .models import HelseIdClient, Order


def get_organisation_for_ordering(request, org_number: str, *, change: bool = False):
    """The member organisation (404 for outsiders); with change=True only administrators may act (403)."""
    organisation, roles = get_member_organisation_for_user(request, org_number)
    if change:
        require_role(roles, Affiliation.Role.ADMIN)
    return organisation, roles


def get_order_for_user(request, public_id, *, change: bool = False) -> Order:
    """An order of the user's organisation, or any order for NHN staff; 404 for everyone else."""
    order = (
        Order.objects.select_related("organisation", "service", "usage_acceptance").filter(public_id=public_id).first()
    )
    if order is None:
        raise Http404(_("No such order."))
    if is_nhn_staff(request.user) and not change:
        return order
    if not change and _vendor_of_tenant(request.user, order):
        return order  # read-only: the vendor follows what its tenants ordered
    get_organisation_for_ordering(request, order.organisation.org_number, change=change)
    return order


def _vendor_of_tenant(user, order: Order) -> bool:
    return bool(tenant_vendors_of(user, order))


def tenant_vendors_of(user, order: Order) -> list[Organisation]:
    """The vendors the user works for whose systems the order's organisation uses now (the vendor's view)."""
    if not user.is_authenticated:
        return []
    vendor_ids = (
        VendorAssignment.objects.active()
        .filter(
            organisation=order.organisation,
            system__vendor__affiliations__user=user,
            system__vendor__affiliations__role=Affiliation.Role.VENDOR_USER,
        )
        .values_list("system__vendor", flat=True)
    )
    return list(Organisation.objects.filter(pk__in=vendor_ids))


def get_client_for_user(request, public_id) -> HelseIdClient:
    """A HelseID client of one of the user's vendor organisations (NHN staff may look too); else 404."""
    client = (
        HelseIdClient.objects.select_related("system", "system__vendor", "tenant").filter(public_id=public_id).first()
    )
    if client is None:
        raise Http404(_("No such client."))
    if not is_nhn_staff(request.user):
        get_vendor_organisation_for_user(request, client.system.vendor.org_number)
    return client
