"""Read-side queries for orders."""

from dataclasses import dataclass
from datetime import timedelta

from django.core.paginator import Page, Paginator
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from members.models import Acceptance, Organisation, TermsDocument, VendorSystem
from members.selectors import current_membership_of
from portal.pagination import CappedCountPaginator

from . import services
from .helseid import Tenant, client_tenant_organisations, tenant_scopes
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
        Order.objects.filter(organisation=organisation)
        .exclude(state=Order.State.CANCELLED)
        .select_related("service")
        .order_by("created_at")
    ):
        key = (order.service_id, order.environment)
        if key not in latest or order.state in Order.LIVE or latest[key].state not in Order.LIVE:
            latest[key] = order
    # The next step for a production draft is a signature when the current usage terms are not accepted.
    accepted = services.accepted_usage_terms(organisation)
    for order in latest.values():
        order.needs_usage_terms = order.environment == Environment.PRODUCTION and order.service.code not in accepted
    # The listed services among those ordered, in the catalogue's order: from the orders, not another query.
    ordered = {order.service_id: order.service for order in latest.values() if order.service.is_listed}
    return [
        ServiceStatus(
            service, latest.get((service.pk, Environment.TEST)), latest.get((service.pk, Environment.PRODUCTION))
        )
        for service in sorted(ordered.values(), key=lambda service: (service.sort_order, service.code))
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


def order_queue_page(orders: QuerySet[Order], page_number) -> Page:
    """One page of the staff queue, for any number of matching orders.

    The page's ids first: sorting only the orders' own columns, which an index holds, instead of
    joining organisation, service and acceptance to thousands of matches before the sort. The count
    stops at ``CappedCountPaginator.cap``. Then the page's 50 orders with everything the rows show.
    """
    page = CappedCountPaginator(orders.values_list("pk", flat=True), 50).get_page(page_number)
    ids = list(page.object_list)
    found = {order.pk: order for order in with_membership_state(orders.filter(pk__in=ids))}
    page.object_list = attach_usage_terms_state([found[pk] for pk in ids if pk in found])
    return page


def with_membership_state(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Each order with ``membership_state``: its organisation's current membership state (None: never applied)."""
    current = current_membership_of(OuterRef("organisation"))
    return orders.annotate(membership_state=Subquery(current.values("state")[:1]))


class UsageTermsState:
    """Where an order's organisation stands with the usage terms of the order's service."""

    SIGNED = "signed"  # a version whose signature still counts
    NOT_SIGNED = "not_signed"  # never signed
    LAPSED = "lapsed"  # signed a version a newer one has replaced in force: must be accepted again
    NONE = ""  # the service has no published usage terms


def attach_usage_terms_state(orders: list[Order]) -> list[Order]:
    """Give each order ``usage_terms_state`` (a ``UsageTermsState``): two queries for any number of orders.

    A signature counts as ``TermsDocument.objects.valid_per_service`` says (as ``services.accepted_usage_terms``
    does for ordering), so the queue shows what the submit and the approval will find.
    """
    if not orders:
        return orders
    valid = TermsDocument.objects.valid_per_service(TermsDocument.Kind.USAGE)
    signed: dict[tuple[int, str], set[int]] = {}
    for organisation_id, document_id, code in Acceptance.objects.filter(
        organisation_id__in={order.organisation_id for order in orders},
        document__kind=TermsDocument.Kind.USAGE,
        document__service_code__in={order.service.code for order in orders},
    ).values_list("organisation_id", "document_id", "document__service_code"):
        signed.setdefault((organisation_id, code), set()).add(document_id)
    for order in orders:
        code = order.service.code
        documents = signed.get((order.organisation_id, code), set())
        if code not in valid:
            order.usage_terms_state = UsageTermsState.NONE
        elif documents & valid[code]:
            order.usage_terms_state = UsageTermsState.SIGNED
        elif documents:
            order.usage_terms_state = UsageTermsState.LAPSED
        else:
            order.usage_terms_state = UsageTermsState.NOT_SIGNED
    return orders


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


def steps_for_vendor(
    orders: list[Order],
    vendor: Organisation,
    *,
    registered_systems: frozenset[str] = frozenset(),
    org_numbers: frozenset[str] | None = None,
) -> tuple[dict[int, list[ProvisioningTask]], dict[str, list[ProvisioningTask]]]:
    """Each order's provisioning steps that concern the vendor's own systems and clients, and (by the tenant's
    number) the grants still being made or failed because a tenant registered one of `registered_systems`:
    no order links those (issue 16). Open registration steps only (the indexed state), of the tenants
    `org_numbers` when given (not every tenant's); the lifecycle page has the done ones. One query for both."""
    own_systems = {str(public_id) for public_id in vendor.vendor_systems.values_list("public_id", flat=True)}
    wanted = Q(order__in=[order.pk for order in orders])
    if registered_systems:
        registration_grants = Q(
            state__in=ProvisioningTask.OPEN,
            kind=ProvisioningTask.Kind.VKP_ACCESS,
            order__isnull=True,
            reason=ProvisioningTask.Reason.ASSIGNMENT_CREATED,
            payload__system__in=sorted(registered_systems & own_systems),
        )
        if org_numbers is not None:
            registration_grants &= Q(payload__org_number__in=sorted(org_numbers))
        wanted |= registration_grants
    steps: dict[int, list[ProvisioningTask]] = {}
    registration: dict[str, list[ProvisioningTask]] = {}
    tasks = (
        ProvisioningTask.objects.filter(wanted)
        .select_related("client__system", "superseded_by")
        .order_by("created_at", "pk")
    )
    for task in tasks:
        if task.order_id is None:
            registration.setdefault(task.payload.get("org_number", ""), []).append(task)
        elif task.payload.get("system") in own_systems or (
            task.client_id and task.client.system.vendor_id == vendor.pk
        ):
            steps.setdefault(task.order_id, []).append(task)
    return steps, registration


def attach_vendor_steps(tenants: list[dict], vendor: Organisation) -> bool:
    """Give each tenant order (from `vendor_tenants`) all its steps for the vendor (`vendor_steps`), for the
    API's full view of a tenant; True while an order, one of those steps or a grant the tenant's
    registration of the vendor's systems is making is under way. (The dashboard's rows, a summary, come
    from `attach_open_vendor_steps`.)"""
    orders = [order for tenant in tenants for order in tenant["orders"]]
    registered = frozenset(str(a.system.public_id) for tenant in tenants for a in tenant["assignments"])
    numbers = frozenset(tenant["organisation"].org_number for tenant in tenants)
    steps, registration = steps_for_vendor(orders, vendor, registered_systems=registered, org_numbers=numbers)
    for order in orders:
        order.vendor_steps = steps.get(order.pk, [])
    return any(_under_way(order) for order in orders) or any(
        step.state == ProvisioningTask.State.PENDING for found in registration.values() for step in found
    )


# A tenant row shows this many of its open steps; the lifecycle page has them all.
STEPS_PER_ROW = 3


def attach_open_vendor_steps(tenants: list[dict], vendor: Organisation, *, systems=None) -> bool:
    """Give each tenant row (from `vendor_tenant_rows`) the vendor's steps still open for it (`open_steps`, the
    first few; `more_steps`, how many more): those of its live orders that concern the vendor's systems or
    clients, and the grants its registration of the vendor's systems is making. True while any row is changing.

    Each row also gets `changing`: True while an order is being set up or one of those steps is waiting, the
    rows the dashboard's live status asks for again. One query over the open (indexed) steps of these rows,
    and one for the vendor's systems unless the caller has them (`systems`).
    """
    if not tenants:
        return False
    by_organisation = {tenant["organisation"].pk: tenant for tenant in tenants}
    by_number = {tenant["organisation"].org_number: tenant for tenant in tenants}
    if systems is None:
        own_systems = {str(public_id) for public_id in vendor.vendor_systems.values_list("public_id", flat=True)}
    else:
        own_systems = {str(system.public_id) for system in systems}
    registered = sorted({str(a.system.public_id) for tenant in tenants for a in tenant["assignments"]} & own_systems)
    wanted = Q(
        order__organisation_id__in=list(by_organisation),
        order__state__in=[state for state in Order.LIVE if state != Order.State.DRAFT],
    ) & (Q(payload__system__in=sorted(own_systems)) | Q(client__system__vendor=vendor))
    if registered:
        wanted |= Q(
            kind=ProvisioningTask.Kind.VKP_ACCESS,
            order__isnull=True,
            reason=ProvisioningTask.Reason.ASSIGNMENT_CREATED,
            payload__system__in=registered,
            payload__org_number__in=list(by_number),
        )
    for tenant in tenants:
        tenant["open_steps"], tenant["more_steps"], tenant["changing"] = [], 0, tenant["under_way"]
    steps = (
        ProvisioningTask.objects.open()
        .filter(wanted)
        .annotate(tenant_id=F("order__organisation_id"))
        .order_by("created_at", "pk")
    )
    for step in steps:
        tenant = by_organisation.get(step.tenant_id) if step.order_id else by_number.get(step.payload.get("org_number"))
        if tenant is None:
            continue
        if len(tenant["open_steps"]) < STEPS_PER_ROW:
            tenant["open_steps"].append(step)
        else:
            tenant["more_steps"] += 1
        if step.state == ProvisioningTask.State.PENDING:
            tenant["changing"] = True
    return any(tenant["changing"] for tenant in tenants)


def _under_way(order: Order) -> bool:
    # A replaced step is under way while the step that replaced it is (`serving`).
    return order.state in (Order.State.APPROVED, Order.State.PROVISIONING) or any(
        step.serving.state == ProvisioningTask.State.PENDING for step in order.vendor_steps
    )


def client_tenants_page(client, *, search: str = "", page_number=None, per_page: int = 50) -> Page:
    """One page of the municipalities a HelseID client acts for, each with its scopes.

    The same few queries at any number of tenants: a count, the page's organisations, and the scopes
    of those organisations only (`helseid.tenant_scopes`).
    """
    organisations = client_tenant_organisations(client)
    if search:
        organisations = organisations.filter(
            Q(name__icontains=search) | Q(org_number__startswith=search.replace(" ", ""))
        )
    page = Paginator(organisations, per_page).get_page(page_number)
    shown = list(page.object_list)
    scopes = tenant_scopes(client, [organisation.pk for organisation in shown])
    page.object_list = [Tenant(organisation, scopes.get(organisation.pk, [])) for organisation in shown]
    return page
