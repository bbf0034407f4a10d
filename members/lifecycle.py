"""An organisation's whole story on one page (issue 16): where it stands, what comes next, and how it got there.

`lifecycle_summary` answers "hvor står vi / hva skjer nå" (membership, signatures, orders per
environment, systems in use, HelseID clients acting for it, failed set-up steps, and one sentence
saying what comes next or what blocks it). `timeline` merges the organisation's audit events with
its provisioning steps (grants made when it registered a vendor system included: no order links
those) newest first, in one paginated query; `timeline_entries` turns one page of it into lines.

Both take a `LifecycleViewer`: NHN staff see internal errors and reasons, the organisation's own
people a plain message instead, and a vendor only its own systems and clients, without names.
A fixed number of queries whatever the number of events.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import dateformat, timezone
from django.utils.formats import date_format, get_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.choices import Environment
from portal.labels import choice_label
from portal.models import AuditEvent

from .models import Acceptance, Membership, Organisation, TermsDocument, VendorAssignment
from .permissions import LifecycleViewer
from .selectors import AwaitingSignature, current_membership, documents_awaiting_signature

PAGE_SIZE = 50

# The timeline's kinds, as the filter offers them, and the audit actions each one covers.
KINDS = {
    "vilkar": (gettext_lazy("Terms"), ("terms.", "signing.", "signature.")),
    "medlemskap": (gettext_lazy("Membership"), ("membership.", "claim.", "organisation.")),
    "bestillinger": (gettext_lazy("Orders"), ("order.",)),
    "systemer": (
        gettext_lazy("Systems and registrations"),
        ("vendor_assignment.", "vendor_system.", "helseid_client."),
    ),
    "provisjonering": (gettext_lazy("Provisioning"), ("provisioning.",)),
    "personer": (gettext_lazy("People"), ("invitation.", "affiliation.", "user.", "identity.", "login.")),
}
# What a vendor may follow of a tenant: its orders and the registrations of the vendor's own systems.
VENDOR_KINDS = ("bestillinger", "systemer", "provisjonering")
# Steps made because the municipality registered (or stopped using) a system: they belong under "systems" too.
REGISTRATION_REASONS = ("assignment_created", "assignment_ended")
# Reasons the organisation itself is given (NHN writes them for it); other reasons are NHN's own notes.
REASONS_FOR_THE_ORGANISATION = ("membership.", "order.")


def kinds_for(viewer: LifecycleViewer) -> list[tuple[str, str]]:
    return [(code, label) for code, (label, _prefixes) in KINDS.items() if not viewer.is_vendor or code in VENDOR_KINDS]


def clean_kind(value, viewer: LifecycleViewer) -> str:
    """The kind asked for, or "" (everything) for anything the filter does not offer this reader."""
    return value if value in dict(kinds_for(viewer)) else ""


# Provisioning steps of one organisation ------------------------------------------------------------


def organisation_tasks(organisation: Organisation, viewer: LifecycleViewer) -> QuerySet:
    """The organisation's provisioning steps: VKP grants for it (by target, indexed), its orders' steps,
    and its single-tenant clients'. For a vendor, only its own systems' and clients' steps."""
    from orders.models import ProvisioningTask

    number = organisation.org_number
    mine = Q(order__organisation=organisation) | Q(client__tenant=organisation)
    for environment in Environment.values:
        mine |= Q(target__startswith=f"vkp:{environment}:{number}:")
    tasks = ProvisioningTask.objects.filter(mine)
    if viewer.is_vendor:
        tasks = tasks.filter(
            Q(payload__system__in=viewer.own_system_ids) | Q(client__system__vendor__in=viewer.vendors)
        )
    return tasks


# The summary -------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """Where the organisation stands now, and the one thing that comes next."""

    membership: Membership | None
    needs_new_terms: bool
    acceptances: list[Acceptance]
    awaiting: list[AwaitingSignature]
    orders: dict[str, list]  # environment → live orders
    assignments: list[VendorAssignment]
    clients: list[tuple]  # (HelseIdClient, scopes)
    failures: list  # failed ProvisioningTasks
    next_step: str = ""
    blocked: bool = False
    environments: list[tuple[str, str, list]] = field(default_factory=list)


def lifecycle_summary(organisation: Organisation, viewer: LifecycleViewer) -> Summary:
    from orders.helseid import clients_acting_for
    from orders.models import Order, ProvisioningTask

    membership = current_membership(organisation)
    # The summary and its list of terms to sign share the versions, signatures and orders they read.
    agreement = TermsDocument.objects.standing_per_service(Membership.terms_kind_for(organisation))
    in_force = agreement[""].in_force if "" in agreement else None
    live_orders = list(
        Order.objects.live().filter(organisation=organisation).select_related("service").order_by("service__sort_order")
    )
    orders: dict[str, list] = {environment: [] for environment in Environment.values}
    for order in live_orders:
        orders[order.environment].append(order)
    acceptances = list(
        Acceptance.objects.filter(organisation=organisation).select_related("document", "signed_by", "cosigned_by")
    )
    assignments = list(
        VendorAssignment.objects.active()
        .filter(organisation=organisation)
        .select_related("system", "system__vendor")
        .order_by("environment", "system__name")
    )
    clients = (
        clients_acting_for(organisation, assignments=assignments, live_orders=live_orders)
        if organisation.is_member_kind
        else []
    )
    if viewer.is_vendor:
        assignments = [a for a in assignments if a.system.vendor_id in viewer.vendor_ids]
        clients = [(client, scopes) for client, scopes in clients if client.system.vendor_id in viewer.vendor_ids]
    failures = list(
        organisation_tasks(organisation, viewer)
        .filter(state=ProvisioningTask.State.FAILED)
        .select_related("order", "order__service", "client", "client__system")
        .order_by("created_at", "pk")
    )
    summary = Summary(
        membership=membership,
        needs_new_terms=membership is not None and membership.needs_new_terms(in_force),
        acceptances=acceptances,
        awaiting=documents_awaiting_signature(
            organisation, acceptances=acceptances, live_orders=live_orders, agreement=agreement
        ),
        orders=orders,
        assignments=assignments,
        clients=clients,
        failures=failures,
    )
    summary.environments = [(code, label, orders[code]) for code, label in Environment.choices]
    summary.next_step, summary.blocked = next_step(organisation, summary, viewer)
    return summary


def next_step(organisation: Organisation, summary: Summary, viewer: LifecycleViewer) -> tuple[str, bool]:
    """One sentence: what comes next, or what blocks it; and whether something blocks."""
    from orders.models import Order

    membership = summary.membership
    State = Membership.State
    if membership is None:
        return _("No membership yet: an authorised signatory must sign the membership terms."), True
    if membership.state == State.APPLIED:
        return _("The membership waits for an authorised signatory to sign the terms."), True
    if membership.state == State.PENDING_APPROVAL:
        return _("The membership is waiting for NHN's approval."), True
    if membership.state == State.SUSPENDED:
        return _("The membership is suspended: no service can be ordered until NHN reinstates it."), True
    if membership.state in Membership.TERMINAL:
        return _("The membership has ended (%(state)s): apply again to use the health network.") % {
            "state": membership.get_state_display().lower()
        }, True
    if summary.failures:
        step = summary.failures[0].describe()
        if viewer.is_staff:
            return _("Provisioning failed: %(step)s. Retry or cancel the step.") % {"step": step}, True
        return _("Provisioning failed: %(step)s. NHN is fixing the error.") % {"step": step}, True
    if summary.needs_new_terms or any(item.lapsed for item in summary.awaiting):
        return _("Production orders are blocked until the new terms are signed."), True
    live = [order for orders in summary.orders.values() for order in orders]
    if any(order.state == Order.State.SUBMITTED for order in live):
        return _("Orders are waiting for NHN's approval."), False
    if any(order.state in (Order.State.APPROVED, Order.State.PROVISIONING) for order in live):
        return _("Services are being set up."), False
    waiting = [item for item in summary.awaiting if item.sign_by]
    if waiting:
        return _("New terms must be signed by %(date)s.") % {
            "date": date_format(timezone.localtime(min(item.sign_by for item in waiting)), "SHORT_DATE_FORMAT")
        }, False
    if summary.awaiting:
        return _("Usage terms wait for a signature before production can be ordered."), False
    return _("Everything is in order."), False


# The timeline ---------------------------------------------------------------------------------------


def _kind_of_action(action: str) -> str:
    return next((code for code, (_label, prefixes) in KINDS.items() if action.startswith(prefixes)), "")


def timeline(organisation: Organisation, viewer: LifecycleViewer, kind: str = "") -> QuerySet:
    """(at, source, pk) rows, newest first: audit events ("e") and provisioning steps ("t") in one union."""
    return _timeline_rows(organisation, viewer, kind).order_by("-at", "-source", "-pk")


MAX_PAGE_NUMBER = (2**63 - 1) // PAGE_SIZE


def timeline_page(organisation: Organisation, viewer: LifecycleViewer, kind: str = "", number=None) -> Page:
    """One page (PAGE_SIZE) of `timeline` as Django's paginator gives it, with the rows and their total read in
    one query (`COUNT(*) OVER ()`): the union is read once, not once to count it and again for the page
    (issue 15). A page past the end, or an empty timeline, is left to the paginator (it counts, and answers
    with the last page)."""
    # Built once: composing the union costs more than running it (~2.5 ms of Python, and for a vendor a query).
    ordered = timeline(organisation, viewer, kind)
    paginator = Paginator(ordered, PAGE_SIZE)
    try:
        if isinstance(number, float) and not number.is_integer():
            raise ValueError
        wanted = 1 if number is None else int(number)
    except (TypeError, ValueError):
        wanted = 1  # as get_page does with what is not a page number
    # A page beyond what OFFSET takes (a 64-bit integer, on PostgreSQL and SQLite) is past the end anyway.
    if 1 <= wanted <= MAX_PAGE_NUMBER:
        rows_sql, params = ordered.order_by().query.sql_with_params()  # the outer query orders the page
        # Django's own SQL for the union, its values as parameters: nothing from the request is in the text.
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "at", "source", "pk", COUNT(*) OVER () FROM ({rows_sql}) AS "timeline" '  # noqa: S608
                'ORDER BY "at" DESC, "source" DESC, "pk" DESC LIMIT %s OFFSET %s',
                (*params, PAGE_SIZE, (wanted - 1) * PAGE_SIZE),
            )
            found = cursor.fetchall()
        if found:
            paginator.count = found[0][3]
            return paginator._get_page([row[:3] for row in found], wanted, paginator)
    return paginator.get_page(number)


def _timeline_rows(organisation: Organisation, viewer: LifecycleViewer, kind: str) -> QuerySet:
    events = AuditEvent.objects.for_organisation(organisation)
    if viewer.is_vendor:
        own = VendorAssignment.objects.filter(organisation=organisation, system__vendor__in=viewer.vendors)
        events = events.filter(
            Q(action__startswith="order.")
            | Q(
                object_type="members.vendorassignment",
                object_id__in=[str(pk) for pk in own.values_list("pk", flat=True)],
            )
        )
    tasks = organisation_tasks(organisation, viewer)
    if kind:
        events = events.filter(_prefix_filter(KINDS[kind][1]))
        if kind == "systemer":
            tasks = tasks.filter(reason__in=REGISTRATION_REASONS)
        elif kind != "provisjonering":
            tasks = tasks.none()
    event_rows = (
        events.order_by()
        .annotate(at=F("created_at"), source=Value("e", output_field=CharField()))
        .values_list("at", "source", "pk")
    )
    task_rows = (
        tasks.order_by()
        .annotate(at=Coalesce("completed_at", "created_at"), source=Value("t", output_field=CharField()))
        .values_list("at", "source", "pk")
    )
    return event_rows.union(task_rows, all=True)


def _prefix_filter(prefixes) -> Q:
    condition = Q()
    for prefix in prefixes:
        condition |= Q(action__startswith=prefix)
    return condition


@dataclass
class TimelineEntry:
    """One line of the timeline."""

    at: datetime
    kind: str
    title: str
    object_repr: str = ""
    actor: str = ""
    outcome: str = ""  # a step's state: pending, succeeded, failed, cancelled
    outcome_label: str = ""
    detail: str = ""  # an error or a reason, for those who may read it
    internal: bool = False  # the detail is NHN's internal text
    url: str = ""
    step: object = None
    # `at` as the page shows it (local time): the <time> element's ISO value and its short text.
    at_iso: str = ""
    at_text: str = ""


def timeline_entries(rows, viewer: LifecycleViewer) -> list[TimelineEntry]:
    """The page's rows as lines: two queries (events with the orders they point at, steps)."""
    from django.urls import reverse

    from orders.models import Order, ProvisioningTask

    rows = list(rows)
    event_ids = [pk for _at, source, pk in rows if source == "e"]
    task_ids = [pk for _at, source, pk in rows if source == "t"]
    # An order's event links to the order: its public id comes with the event (the CASE casts only an order's id).
    order_public_id = Case(
        When(
            object_type="orders.order",
            object_id__regex=r"^[0-9]{1,18}$",
            then=Subquery(
                Order.objects.filter(pk=Cast(OuterRef("object_id"), BigIntegerField())).values("public_id")[:1]
            ),
        ),
        default=None,
        output_field=UUIDField(),
    )
    events = AuditEvent.objects.annotate(order_public_id=order_public_id).in_bulk(event_ids) if event_ids else {}
    tasks = (
        ProvisioningTask.objects.select_related("order", "order__service", "client", "client__system").in_bulk(task_ids)
        if task_ids
        else {}
    )
    # Many events point at the same few orders: each order's link is reversed once.
    order_urls = {}
    for event in events.values():
        if event.order_public_id and event.order_public_id not in order_urls:
            order_urls[event.order_public_id] = reverse("order_detail", args=[event.order_public_id])
    entries = []
    for _at, source, pk in rows:
        if source == "e" and pk in events:
            entries.append(_event_entry(events[pk], viewer, order_urls))
        elif source == "t" and pk in tasks:
            entries.append(_task_entry(tasks[pk], viewer, reverse))
    # What `|date:"c"` and `|date:"SHORT_DATETIME_FORMAT"` give, with the format looked up once for the page.
    short = get_format("SHORT_DATETIME_FORMAT")
    for entry in entries:
        local = timezone.localtime(entry.at)
        entry.at_iso, entry.at_text = dateformat.format(local, "c"), dateformat.format(local, short)
    return entries


def _event_entry(event: AuditEvent, viewer: LifecycleViewer, order_urls: dict) -> TimelineEntry:
    after = event.after or {}
    kind = _kind_of_action(event.action)
    entry = TimelineEntry(
        at=event.created_at,
        kind=kind,
        title=str(event.action_label),
        object_repr=event.object_repr,
        actor="" if viewer.is_vendor else (event.actor_label or _("System")),
    )
    error = after.get("error") or after.get("last_error") or ""
    reason = after.get("reason") or ""
    if viewer.is_staff:
        entry.detail, entry.internal = (error or reason), bool(error or reason)
    elif error:
        entry.detail = _("A set-up step failed. NHN has been told and is fixing it.")
    elif reason and event.action.startswith(REASONS_FOR_THE_ORGANISATION) and not viewer.is_vendor:
        entry.detail = reason
    if event.order_public_id:
        entry.url = order_urls[event.order_public_id]
    return entry


def _task_entry(task, viewer: LifecycleViewer, reverse) -> TimelineEntry:
    system = task.payload.get("system_name", "")
    if task.reason == "assignment_created":
        title = _("Access granted when %(system)s was registered") % {"system": system}
    elif task.reason == "assignment_ended":
        title = _("Access removed when the registration of %(system)s ended") % {"system": system}
    else:
        title = f"{choice_label(task, 'kind')}: {choice_label(task, 'reason')}"
    entry = TimelineEntry(
        at=task.completed_at or task.created_at,
        kind="provisjonering",
        title=title,
        object_repr=task.describe(),
        outcome=task.state,
        outcome_label=choice_label(task, "state"),
        step=task,
    )
    if task.state == task.State.FAILED or (task.state == task.State.PENDING and task.attempts):
        if viewer.is_staff:
            entry.detail, entry.internal = task.last_error, bool(task.last_error)
        else:
            entry.detail = _("A set-up step failed. NHN has been told and is fixing it.")
    if task.order_id:
        entry.url = reverse("order_detail", args=[task.order.public_id])
    return entry
