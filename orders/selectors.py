"""Read-side queries for orders."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from members.models import Organisation, TermsDocument, VendorSystem

from . import services
from .models import Environment, Order, ProvisioningTask, Service


def listed_services() -> QuerySet[Service]:
    return Service.objects.filter(is_listed=True)


@dataclass
class CatalogueEntry:
    """A service as one organisation sees it for one environment."""

    service: Service
    order: Order | None
    blockers: list[str]
    usage_terms: TermsDocument | None
    usage_accepted: bool

    @property
    def can_add(self) -> bool:
        return not self.blockers and self.order is None


def catalogue_for(organisation: Organisation, environment: str) -> list[CatalogueEntry]:
    live = {
        order.service_id: order
        for order in Order.objects.live().filter(organisation=organisation, environment=environment)
    }
    usage_terms = TermsDocument.objects.current_per_service(TermsDocument.Kind.USAGE)
    facts = services.ordering_facts(organisation, environment)
    entries = []
    for service in listed_services():
        terms = usage_terms.get(service.code)
        entries.append(
            CatalogueEntry(
                service=service,
                order=live.get(service.pk),
                blockers=services.order_blockers(
                    organisation=organisation, service=service, environment=environment, facts=facts
                ),
                usage_terms=terms,
                usage_accepted=service.code in facts.usage_terms_accepted,
            )
        )
    return entries


@dataclass
class ServiceStatus:
    """One row of the municipality's overview: a service and its order in each environment."""

    service: Service
    test: Order | None
    prod: Order | None


def service_overview(organisation: Organisation) -> list[ServiceStatus]:
    latest: dict[tuple[int, str], Order] = {}
    # Live orders win over ended ones; among those, the newest.
    for order in (
        Order.objects.filter(organisation=organisation).exclude(state=Order.State.CANCELLED).order_by("created_at")
    ):
        key = (order.service_id, order.environment)
        if key not in latest or order.state in Order.LIVE or latest[key].state not in Order.LIVE:
            latest[key] = order
    # The next step for a production draft is a signature when the current usage terms are not accepted.
    accepted = services.accepted_usage_terms(organisation)
    for order in latest.values():
        order.needs_usage_terms = order.environment == Environment.PRODUCTION and order.service.code not in accepted
    return [
        ServiceStatus(
            service, latest.get((service.pk, Environment.TEST)), latest.get((service.pk, Environment.PRODUCTION))
        )
        for service in listed_services()
        if (service.pk, Environment.TEST) in latest or (service.pk, Environment.PRODUCTION) in latest
    ]


def order_queue(*, state="", service="", environment="", search="", older_than_days=None) -> QuerySet[Order]:
    orders = Order.objects.exclude(state=Order.State.DRAFT).select_related(
        "organisation", "service", "usage_acceptance"
    )
    if state:
        orders = orders.filter(state=state)
    if service:
        orders = orders.filter(service__code=service)
    if environment:
        orders = orders.filter(environment=environment)
    if search:
        orders = orders.filter(
            Q(organisation__name__icontains=search) | Q(organisation__org_number__startswith=search.replace(" ", ""))
        )
    if older_than_days:
        orders = orders.filter(submitted_at__lte=timezone.now() - timedelta(days=older_than_days))
    return orders.order_by("submitted_at", "created_at")


def provisioning_failures():
    """NHN's failures queue: failed steps first, then steps still retrying after a failed attempt."""
    return (
        ProvisioningTask.objects.filter(
            Q(state=ProvisioningTask.State.FAILED) | Q(state=ProvisioningTask.State.PENDING, attempts__gt=0)
        )
        .select_related("order", "order__organisation", "order__service", "client", "client__system")
        .order_by("-state", "created_at")  # "pending" sorts before "failed"; reversed puts failures first
    )


def order_steps(order: Order, *, vendors: list[Organisation] | None = None) -> list[ProvisioningTask]:
    """The order's provisioning steps; for a vendor (`vendors` given) only those for its own systems and clients.

    A vendor follows its tenants' orders, but other vendors' systems and clients are not its business.
    """
    steps = list(
        order.provisioning_tasks.select_related("client__system", "superseded_by").order_by("created_at", "pk")
    )
    if vendors is None:
        return steps
    own = VendorSystem.objects.filter(vendor__in=vendors).values_list("public_id", flat=True)
    own_systems = {str(public_id) for public_id in own}
    vendor_ids = {vendor.pk for vendor in vendors}
    return [
        step
        for step in steps
        if step.payload.get("system") in own_systems or (step.client_id and step.client.system.vendor_id in vendor_ids)
    ]


def steps_for_vendor(orders: list[Order], vendor: Organisation) -> dict[int, list[ProvisioningTask]]:
    """Each order's provisioning steps that concern the vendor's own systems and clients (one query)."""
    own_systems = {str(public_id) for public_id in vendor.vendor_systems.values_list("public_id", flat=True)}
    steps: dict[int, list[ProvisioningTask]] = {}
    tasks = ProvisioningTask.objects.filter(order__in=[order.pk for order in orders]).select_related(
        "client__system", "superseded_by"
    )
    for task in tasks:
        if task.payload.get("system") in own_systems or (task.client_id and task.client.system.vendor_id == vendor.pk):
            steps.setdefault(task.order_id, []).append(task)
    return steps


def attach_vendor_steps(tenants: list[dict], vendor: Organisation) -> bool:
    """Give each tenant order (from `vendor_tenants`) its steps for the vendor; True while any is under way."""
    orders = [order for tenant in tenants for order in tenant["orders"]]
    steps = steps_for_vendor(orders, vendor)
    for order in orders:
        order.vendor_steps = steps.get(order.pk, [])
    return any(
        order.state in (Order.State.APPROVED, Order.State.PROVISIONING)
        or any(step.serving.state == ProvisioningTask.State.PENDING for step in order.vendor_steps)
        for order in orders
    )
