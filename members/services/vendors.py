"""Vendor systems and the municipalities that use them."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.audit import audit
from portal.email import queue_email

from ..models import (
    Organisation,
    SupportedService,
    SystemKind,
    User,
    VendorAssignment,
    VendorSystem,
)
from ..selectors import vendor_user_emails


@transaction.atomic
def vendor_system_create(
    *, vendor: Organisation, name: str, kind: str, product: str, by: User, request=None
) -> VendorSystem:
    duplicate = ValidationError(_("You already have a system called %(name)s.") % {"name": name})
    if VendorSystem.objects.filter(vendor=vendor, name__iexact=name.strip()).exists():
        raise duplicate
    system = VendorSystem(vendor=vendor, name=name.strip(), kind=kind, product=product.strip())
    system.full_clean(validate_constraints=False)  # vendor_system_unique_name is checked by the insert
    try:
        with transaction.atomic():
            system.save()
    except IntegrityError:
        # A concurrent identical registration came first: answered as a later duplicate is.
        raise duplicate from None
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
    try:
        with transaction.atomic():
            assignment = VendorAssignment.objects.create(
                organisation=organisation, system=system, environment=environment, starts_on=starts_on, created_by=by
            )
    except IntegrityError:
        # The lock above serialises registrations; should one still collide (one EPJ, one live registration
        # per system), it is answered as a duplicate, never a 500.
        raise ValidationError(
            _("%(system)s is already registered for this environment.") % {"system": system.name}
        ) from None
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
