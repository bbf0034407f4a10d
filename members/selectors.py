"""Read-side queries for the members app."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from portal.choices import Environment

from . import orgnr
from .models import (
    Acceptance,
    Affiliation,
    Invitation,
    Membership,
    Organisation,
    OrganisationClaim,
    SigningDelegation,
    SupportedService,
    TermsDocument,
    User,
    VendorAssignment,
    VendorSystem,
)


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
    return (
        Membership.objects.filter(organisation=organisation)
        .select_related("acceptance", "acceptance__document", "acceptance__signed_by")
        .annotate(live_first=Case(When(state__in=Membership.LIVE, then=Value(1)), default=Value(0)))
        .order_by("-live_first", "-applied_at")
        .first()
    )


def organisation_acceptances(organisation: Organisation) -> QuerySet[Acceptance]:
    return Acceptance.objects.filter(organisation=organisation).select_related("document", "signed_by", "cosigned_by")


@dataclass(frozen=True)
class AwaitingSignature:
    """A version of NHN's terms the organisation must sign, or sign again."""

    document: TermsDocument
    # The older version it signed, if any; None when it has never signed these terms.
    signed: Acceptance | None
    # The day the older signature stops counting (the new version's effective date), when it still counts.
    sign_by: datetime | None
    # True once that day has passed: *Nye vilkår må aksepteres*, production waits for the signature.
    lapsed: bool
    service: object = None  # orders.Service, for usage terms

    @property
    def is_new_version(self) -> bool:
        return self.signed is not None


def documents_awaiting_signature(
    organisation: Organisation,
    *,
    acceptances: list[Acceptance] | None = None,
    live_orders: list | None = None,
    agreement: dict | None = None,
) -> list[AwaitingSignature]:
    """Every version of the terms the organisation must sign or re-sign, with its effective date.

    Its agreement (membership terms for members, vendor terms for vendors and partners) and, for members,
    the usage terms of every service with a live production order (a draft included): the signatory's
    dashboard card and the lifecycle page list these. A fixed number of queries, whatever the number of
    services. A page that has read them already passes its `acceptances` (with their documents), its
    `live_orders` (with their services, in the services' order) and its `agreement`
    (``TermsDocument.objects.standing_per_service`` of its agreement's kind): they are not read twice.
    """
    from orders.models import Environment, Order

    kind = Membership.terms_kind_for(organisation)
    if acceptances is None:
        acceptances = Acceptance.objects.filter(organisation=organisation).select_related("document")
    signed: dict[tuple[str, str], list[Acceptance]] = {}
    for acceptance in acceptances:
        key = (acceptance.document.kind, acceptance.document.service_code)
        signed.setdefault(key, []).append(acceptance)
    wanted: list[tuple[str, str, object]] = [(kind, "", None)]
    if organisation.is_member_kind:
        if live_orders is None:
            ordered = (
                Order.objects.live()
                .filter(organisation=organisation, environment=Environment.PRODUCTION)
                .select_related("service")
                .order_by("service__sort_order")
            )
        else:
            ordered = [order for order in live_orders if order.environment == Environment.PRODUCTION]
        seen = set()
        for order in ordered:
            if order.service.code not in seen:
                seen.add(order.service.code)
                wanted.append((TermsDocument.Kind.USAGE, order.service.code, order.service))
    standing = {kind: agreement if agreement is not None else TermsDocument.objects.standing_per_service(kind)}
    if len(wanted) > 1:
        standing[TermsDocument.Kind.USAGE] = TermsDocument.objects.standing_per_service(TermsDocument.Kind.USAGE)
    waiting = []
    for terms_kind, code, service in wanted:
        terms = standing[terms_kind].get(code)
        if terms is None:
            continue
        document = terms.current
        acceptances = signed.get((terms_kind, code), [])
        if any(a.document_id == document.pk for a in acceptances):
            continue
        older = max(acceptances, key=lambda a: a.document.published_at, default=None)
        still_counts = older is not None and older.document_id in terms.valid
        waiting.append(
            AwaitingSignature(
                document=document,
                signed=older,
                sign_by=document.effective_from if still_counts else None,
                lapsed=older is not None and not still_counts,
                service=service,
            )
        )
    return waiting


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


def current_membership_of(organisation_ref: OuterRef) -> QuerySet[Membership]:
    """As ``current_membership``, for a subquery: the referenced organisation's live membership, else its latest."""
    return (
        Membership.objects.filter(organisation=organisation_ref)
        .annotate(live_first=Case(When(state__in=Membership.LIVE, then=Value(1)), default=Value(0)))
        .order_by("-live_first", "-applied_at")
    )


# The directory's "no membership" filter value: the organisation has never applied.
NO_MEMBERSHIP = "none"


def _orders_in(environment: str) -> QuerySet:
    """The organisation's orders NHN deals with in an environment: sent and not finished (drafts are baskets)."""
    from orders.models import Order

    live = [state for state in Order.LIVE if state != Order.State.DRAFT]
    return Order.objects.filter(organisation=OuterRef("pk"), environment=environment, state__in=live)


def _count(queryset: QuerySet) -> Coalesce:
    counted = queryset.order_by().values("organisation").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def organisation_directory(
    *, search: str = "", kind: str = "", membership: str = "", environment: str = "", needs_nhn: bool = False
) -> QuerySet[Organisation]:
    """NHN staff's directory of organisations: each with its membership state, its live orders per environment
    and what waits for NHN, all annotated (one EXISTS or count subquery each), so a page is one query.

    ``search`` is a name (case-insensitive, served by the trigram index on UPPER(name)) or an organisation
    number: nine digits find exactly that organisation, fewer find the numbers starting with them.
    """
    from orders.models import Environment, Order, ProvisioningTask

    current = current_membership_of(OuterRef("pk"))
    # Two EXISTS, not one with an OR across the joins: the OR read every failed step for each row (6 of
    # the page's 10 ms at national scale, bench/pages.py); each half is read once or looked up by index.
    failed = ProvisioningTask.objects.filter(state=ProvisioningTask.State.FAILED)
    failed_order_step = Exists(failed.filter(order__organisation=OuterRef("pk")))
    failed_client_step = Exists(failed.filter(client__system__vendor=OuterRef("pk")))
    organisations = Organisation.objects.annotate(
        membership_state=Subquery(current.values("state")[:1]),
        test_orders=_count(_orders_in(Environment.TEST)),
        prod_orders=_count(_orders_in(Environment.PRODUCTION)),
        waits_membership=Exists(
            Membership.objects.filter(organisation=OuterRef("pk"), state=Membership.State.PENDING_APPROVAL)
        ),
        waits_orders=Exists(Order.objects.filter(organisation=OuterRef("pk"), state=Order.State.SUBMITTED)),
        waits_claims=Exists(OrganisationClaim.objects.pending().filter(organisation=OuterRef("pk"))),
        # A set-up that failed: the order's state says so, or a step (also a vendor's client's) that NHN must retry.
        failed_setup=ExpressionWrapper(
            Exists(Order.objects.filter(organisation=OuterRef("pk"), state=Order.State.FAILED))
            | failed_order_step
            | failed_client_step,
            output_field=BooleanField(),
        ),
    ).order_by("name", "org_number")
    number = orgnr.normalise(search)
    if number.isascii() and number.isdigit():
        organisations = (
            organisations.filter(org_number=number)
            if len(number) == 9
            else organisations.filter(org_number__startswith=number)
        )
    elif search:
        organisations = organisations.filter(name__icontains=search)
    if kind:
        organisations = organisations.filter(kind=kind)
    if membership == NO_MEMBERSHIP:
        organisations = organisations.filter(membership_state__isnull=True)
    elif membership:
        organisations = organisations.filter(membership_state=membership)
    if environment:
        organisations = organisations.filter(Exists(_orders_in(environment)))
    if needs_nhn:
        organisations = organisations.filter(
            Q(waits_membership=True) | Q(waits_orders=True) | Q(waits_claims=True) | Q(failed_setup=True)
        )
    return organisations


def organisations_for_staff() -> QuerySet[Organisation]:
    return Organisation.objects.select_related("parent").order_by("kind", "name")


def active_assignments(organisation: Organisation) -> QuerySet[VendorAssignment]:
    return (
        VendorAssignment.objects.active().filter(organisation=organisation).select_related("system", "system__vendor")
    )


def assignable_systems() -> QuerySet[VendorSystem]:
    return VendorSystem.objects.select_related("vendor").order_by("kind", "name")


def vendor_systems_of(vendor: Organisation) -> QuerySet[VendorSystem]:
    return VendorSystem.objects.filter(vendor=vendor).prefetch_related("supported_services").order_by("kind", "name")


def tenant_organisation_ids(vendor: Organisation) -> QuerySet:
    """The organisations that have an active registration of one of this vendor's systems."""
    return VendorAssignment.objects.active().filter(system__vendor=vendor).values("organisation_id")


def vendor_tenant_organisations(vendor: Organisation, *, search: str = "") -> QuerySet[Organisation]:
    """The vendor's tenants by name, or those whose name contains `search` or whose number starts with it.

    What the vendor dashboard pages through: the database sorts, counts and cuts the page, so a vendor
    with 3,000 tenants costs what one with 50 does.
    """
    tenants = Organisation.objects.filter(pk__in=tenant_organisation_ids(vendor)).order_by("name", "pk")
    search = search.strip()
    if search:
        matches = Q(name__icontains=search)
        digits = search.replace(" ", "")
        if digits.isascii() and digits.isdigit():
            matches |= Q(org_number__startswith=digits)
        tenants = tenants.filter(matches)
    return tenants


def vendor_tenant_summary(vendor: Organisation) -> dict[str, int]:
    """How many tenants the vendor has, how many are active members, in production, or having orders set up.

    Counted by the database in one query, never by loading the tenants.
    """
    from orders.models import Order

    # Uncorrelated `IN` subqueries: PostgreSQL reads each set once and hashes it. Correlated EXISTS per
    # tenant re-read the state index for each of 3,000 tenants (0.9 s at national scale, bench/pages.py).
    in_production = Order.objects.filter(environment="prod", state=Order.State.ACTIVE).values("organisation_id")
    under_way = Order.objects.filter(state__in=(Order.State.APPROVED, Order.State.PROVISIONING)).values(
        "organisation_id"
    )
    active_member = Membership.objects.filter(state=Membership.State.ACTIVE).values("organisation_id")
    return Organisation.objects.filter(pk__in=tenant_organisation_ids(vendor)).aggregate(
        total=Count("pk"),
        active_members=Count("pk", filter=Q(pk__in=active_member)),
        in_production=Count("pk", filter=Q(pk__in=in_production)),
        under_way=Count("pk", filter=Q(pk__in=under_way)),
    )


def vendor_tenants(vendor: Organisation, *, organisations=None) -> list[dict]:
    """Each tenant with its registrations, membership and live orders, in a fixed number of queries.

    `organisations` (a page of `vendor_tenant_organisations`, or a queryset) limits it to those; only
    the vendor's tenants among them are returned, in the same order as the tenant list.
    """
    from orders.models import Order

    assignments = VendorAssignment.objects.active().filter(system__vendor=vendor)
    if organisations is not None:
        assignments = assignments.filter(organisation__in=organisations)
    assignments = list(
        assignments.select_related("organisation", "system").order_by(
            "organisation__name", "organisation_id", "environment"
        )
    )
    organisation_ids = {a.organisation_id for a in assignments}
    memberships = {m.organisation_id: m for m in Membership.objects.live().filter(organisation_id__in=organisation_ids)}
    orders: dict[int, list] = {}
    for order in (
        Order.objects.live()
        .exclude(state=Order.State.DRAFT)
        .filter(organisation_id__in=organisation_ids)
        .select_related("service", "usage_acceptance")
        .order_by("service__sort_order")
    ):
        orders.setdefault(order.organisation_id, []).append(order)
    signed_usage: dict[int, set[str]] = {}
    for organisation_id, service_code in Acceptance.objects.filter(
        organisation_id__in=organisation_ids, document__kind=TermsDocument.Kind.USAGE
    ).values_list("organisation_id", "document__service_code"):
        signed_usage.setdefault(organisation_id, set()).add(service_code)
    tenants: dict[int, dict] = {}
    for assignment in assignments:
        tenant = tenants.setdefault(
            assignment.organisation_id,
            {
                "organisation": assignment.organisation,
                "assignments": [],
                "membership": memberships.get(assignment.organisation_id),
                "orders": orders.get(assignment.organisation_id, []),
                "signed_usage": signed_usage.get(assignment.organisation_id, set()),
            },
        )
        tenant["assignments"].append(assignment)
    for tenant in tenants.values():
        tenant["production_blockers"] = _production_blockers(tenant)
    return list(tenants.values())


def _production_blockers(tenant: dict) -> list[str]:
    """What keeps a tenant out of production, in the words a vendor needs."""
    from django.utils.translation import gettext as _

    blockers = []
    membership = tenant["membership"]
    if tenant["organisation"].is_synthetic:
        blockers.append(_("A synthetic test organisation: test environment only."))
    if membership is None or membership.state != Membership.State.ACTIVE:
        blockers.append(_("The municipality is not an active member yet."))
    in_production = {order.service.code for order in tenant["orders"] if order.environment == "prod"}
    for order in tenant["orders"]:
        service = order.service
        if order.environment == "test" and service.code not in in_production:
            if service.code not in tenant["signed_usage"]:
                blockers.append(
                    _("Usage terms for %(service)s are not signed by the municipality.") % {"service": service.name}
                )
            else:
                blockers.append(_("%(service)s is not ordered for production.") % {"service": service.name})
    return blockers


def vendor_tenant_rows(vendor: Organisation, *, organisations) -> list[dict]:
    """The vendor dashboard's rows for these tenants (a page of `vendor_tenant_organisations`), in the list's order.

    Each row: the organisation, the vendor's registrations (`assignments`, and `systems` as name and
    environment), the live membership's state (`membership_state`, `_label`, `_colour`), how many live orders
    are in each state (`order_counts`: "label: count", colour), whether one is being set up (`under_way`) and
    what keeps it out of production. Two queries and no order objects, so a page costs the same however many
    orders its tenants have; every order and step is on the tenant's lifecycle page. Labels are translated
    once for the page (a `get_..._display` translates every choice of its field, each call).
    """
    from orders.models import Order, Service

    live_membership = Membership.objects.live().filter(organisation_id=OuterRef("organisation_id"))
    assignments = list(
        VendorAssignment.objects.active()
        .filter(system__vendor=vendor, organisation__in=organisations)
        .select_related("organisation", "system")
        .annotate(membership_state=Subquery(live_membership.order_by("-applied_at").values("state")[:1]))
        .order_by("organisation__name", "organisation_id", "environment")
    )
    usage_signed = Acceptance.objects.filter(
        organisation_id=OuterRef("organisation_id"),
        document__kind=TermsDocument.Kind.USAGE,
        document__service_code=OuterRef("service__code"),
    )
    counts: dict[int, dict[str, int]] = {}
    ordered: dict[int, dict[str, set[int]]] = {}  # organisation → environment → services with a live order
    signed: dict[int, set[int]] = {}  # organisation → ordered services whose usage terms it signed
    services: dict[int, Service] = {}  # the few columns the row names them by
    service_columns = ("service__code", "service__name_nb", "service__name_en", "service__sort_order")
    for organisation_id, environment, state, is_signed, service_id, *service in (
        Order.objects.live()
        .exclude(state=Order.State.DRAFT)
        .filter(organisation_id__in={a.organisation_id for a in assignments})
        .annotate(usage_signed=Exists(usage_signed))
        .values_list("organisation_id", "environment", "state", "usage_signed", "service_id", *service_columns)
    ):
        tenant_counts = counts.setdefault(organisation_id, {})
        tenant_counts[state] = tenant_counts.get(state, 0) + 1
        ordered.setdefault(organisation_id, {}).setdefault(environment, set()).add(service_id)
        if is_signed:
            signed.setdefault(organisation_id, set()).add(service_id)
        if service_id not in services:
            code, name_nb, name_en, sort_order = service
            services[service_id] = Service(
                pk=service_id, code=code, name_nb=name_nb, name_en=name_en, sort_order=sort_order
            )

    # Labels translated once for the page, not once a row.
    order_labels = dict(Order.State.choices)
    order_states = [(state, str(order_labels[state]), colour) for state, colour in _ROW_STATE_COLOURS.items()]
    membership_labels = {state: str(label) for state, label in Membership.State.choices}
    environment_labels = {environment: str(label) for environment, label in Environment.choices}
    blockers = _ProductionBlockers(services.values())

    tenants: dict[int, dict] = {}
    for assignment in assignments:
        tenant = tenants.get(assignment.organisation_id)
        if tenant is None:
            organisation = assignment.organisation
            membership_state = assignment.membership_state
            tenant_counts = counts.get(organisation.pk, {})
            tenant = tenants[organisation.pk] = {
                "organisation": organisation,
                "assignments": [],
                "systems": [],
                "membership_state": membership_state,  # None: no live membership
                "membership_label": membership_labels.get(membership_state, ""),
                "membership_colour": _MEMBERSHIP_COLOURS.get(membership_state, "danger"),
                "order_counts": [
                    (f"{label}: {tenant_counts[state]}", colour)
                    for state, label, colour in order_states
                    if state in tenant_counts
                ],
                "under_way": bool(tenant_counts.keys() & _UNDER_WAY),
                "production_blockers": blockers.of(
                    organisation, membership_state, ordered.get(organisation.pk, {}), signed.get(organisation.pk, set())
                ),
            }
        tenant["assignments"].append(assignment)
        tenant["systems"].append((assignment.system.name, environment_labels.get(assignment.environment, "")))
    return list(tenants.values())


class _ProductionBlockers:
    """What keeps a tenant out of production, one line a reason (services named together), for a page of rows:
    the sentences are translated once, not once a row."""

    def __init__(self, services):
        from django.utils.translation import gettext as _

        by_catalogue = sorted(services, key=lambda service: (service.sort_order, service.code))
        self.service_ids = [service.pk for service in by_catalogue]
        self.names = {service.pk: service.name for service in by_catalogue}
        self.synthetic = _("A synthetic test organisation: test environment only.")
        self.not_member = _("The municipality is not an active member yet.")
        self.unsigned = _("Usage terms not signed by the municipality: %(services)s")
        self.not_ordered = _("Not ordered for production: %(services)s")

    def of(self, organisation, membership_state, ordered: dict[str, set[int]], signed: set[int]) -> list[str]:
        """`ordered`: the services with a live order, by environment; `signed`: those whose usage terms are signed."""
        blockers = []
        if organisation.is_synthetic:
            blockers.append(self.synthetic)
        if membership_state != Membership.State.ACTIVE:
            blockers.append(self.not_member)
        test_only = ordered.get(Environment.TEST, set()) - ordered.get(Environment.PRODUCTION, set())
        unsigned = [pk for pk in self.service_ids if pk in test_only and pk not in signed]
        if unsigned:
            blockers.append(self.unsigned % {"services": ", ".join(self.names[pk] for pk in unsigned)})
        not_ordered = [pk for pk in self.service_ids if pk in test_only and pk in signed]
        if not_ordered:
            blockers.append(self.not_ordered % {"services": ", ".join(self.names[pk] for pk in not_ordered)})
        return blockers


# The order states a tenant row counts (the live ones a vendor sees), in the row's order (what needs
# attention first), with the colour of their tag; Order.State values (members cannot import orders here).
_ROW_STATE_COLOURS = {
    "failed": "danger",
    "submitted": "info",
    "approved": "warning",
    "provisioning": "warning",
    "active": "success",
}
_UNDER_WAY = {"approved", "provisioning"}
_MEMBERSHIP_COLOURS = {"active": "success", "applied": "info", "pending_approval": "info", "suspended": "warning"}


# Who gets told: the recipient lists every notification uses.


def _emails_with_role(organisation: Organisation, role: str) -> list[str]:
    return list(
        Affiliation.objects.filter(organisation=organisation, role=role, user__is_active=True).values_list(
            "user__email", flat=True
        )
    )


def admin_emails(organisation: Organisation) -> list[str]:
    return _emails_with_role(organisation, Affiliation.Role.ADMIN)


def admin_emails_by_organisation(organisation_ids) -> dict[int, list[str]]:
    """`admin_emails` of many organisations in one query: organisation id → addresses."""
    by_organisation: dict[int, list[str]] = {}
    rows = (
        Affiliation.objects.filter(
            organisation_id__in=set(organisation_ids), role=Affiliation.Role.ADMIN, user__is_active=True
        )
        .values_list("organisation_id", "user__email")
        .order_by()
    )  # no join for the model's ordering
    for organisation_id, email in rows:
        by_organisation.setdefault(organisation_id, []).append(email)
    return by_organisation


def vendor_user_emails(vendor: Organisation) -> list[str]:
    return _emails_with_role(vendor, Affiliation.Role.VENDOR_USER)


def nhn_staff_emails() -> list[str]:
    return list(User.objects.filter(is_nhn_staff=True, is_active=True).values_list("email", flat=True))


def open_invitations(organisation: Organisation) -> QuerySet[Invitation]:
    """Invitations not accepted or withdrawn (waiting or expired), newest first."""
    return (
        Invitation.objects.filter(organisation=organisation, accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def claims_of(user: User) -> QuerySet:
    """A person's own applications to administer, open ones first (for the start page)."""
    from .models import OrganisationClaim

    return (
        OrganisationClaim.objects.filter(claimant=user)
        .exclude(state=OrganisationClaim.State.CONFIRMED)
        .select_related("organisation")
        .order_by("-state", "-created_at")
    )


def claim_queue(*, state: str) -> QuerySet:
    """NHN staff's list of applications to administer, oldest waiting first."""
    from .models import OrganisationClaim

    claims = OrganisationClaim.objects.filter(state=state).select_related("organisation", "claimant", "decided_by")
    return claims.order_by("created_at" if state == OrganisationClaim.State.PENDING else "-decided_at")


def assignment_services(assignment) -> list[str]:
    """The services the assigned system has access to for the organisation: those it supports in the environment
    that the organisation has approved orders for, set up or being set up (what ending the registration takes away)."""
    from orders.models import Order

    supported = SupportedService.objects.filter(system=assignment.system, environment=assignment.environment)
    orders = (
        Order.objects.filter(
            state__in=(Order.State.APPROVED, Order.State.PROVISIONING, Order.State.ACTIVE),
            organisation=assignment.organisation,
            environment=assignment.environment,
            service__in=supported.values("service"),
        )
        .select_related("service")
        .order_by("service__sort_order")
    )
    return [order.service.name for order in orders]
