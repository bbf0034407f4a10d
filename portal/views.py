import re
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from kombu import Connection

from members.forms import TenantSearchForm, VendorAssignmentForm, VendorSystemForm
from members.models import Affiliation, Membership, Organisation, OrganisationClaim, TermsDocument, User
from members.permissions import (
    get_member_organisation_for_user,
    get_vendor_organisation_for_user,
    is_nhn_staff,
    nhn_staff_required,
    staff_landing,
)
from members.selectors import (
    active_assignments,
    affiliations_of,
    assignable_systems,
    claims_of,
    current_membership,
    documents_awaiting_signature,
    organisation_people,
    vendor_systems_of,
    vendor_tenant_organisations,
    vendor_tenant_rows,
    vendor_tenant_summary,
)
from orders import reconciliation
from orders.forms import ClientCreateForm
from orders.helseid import clients_acting_for
from orders.models import HelseIdClient, Order, Service
from orders.selectors import attach_open_vendor_steps, service_overview

from . import email
from .decisions import staff_decide
from .forms import AuditFeedFilterForm
from .models import AuditEvent, OutgoingMessage, WorkerHeartbeat
from .pagination import CappedCountPaginator, capped_count

RECENT_EVENTS = 10
PEOPLE_ON_DASHBOARD = 10
TENANTS_PER_PAGE = 50
_ORG_NUMBER = re.compile(r"[0-9]{9}")
_NUMBER_PLACEHOLDER = "000000000"


@dataclass(frozen=True)
class Destination:
    """A dashboard the logged-in person may open from the start page."""

    title: str
    subtitle: str
    url: str
    roles: tuple[str, ...]


def start_destinations(user) -> list[Destination]:
    by_organisation: dict[int, tuple[Organisation, list[str]]] = {}
    for affiliation in affiliations_of(user):
        organisation = affiliation.organisation
        by_organisation.setdefault(organisation.pk, (organisation, []))[1].append(affiliation.get_role_display())
    destinations = []
    if is_nhn_staff(user):
        destinations.append(Destination(_("Customer centre"), "Norsk helsenett", reverse("staff_dashboard"), ()))
    for organisation, roles in by_organisation.values():
        view = "member_dashboard" if organisation.is_member_kind else "vendor_dashboard"
        destinations.append(
            Destination(
                organisation.name,
                organisation.formatted_org_number,
                reverse(view, args=[organisation.org_number]),
                tuple(roles),
            )
        )
    return destinations


def home(request):
    if not request.user.is_authenticated:
        return render(request, "portal/landing.html")
    destinations = start_destinations(request.user)
    claims = list(claims_of(request.user))
    if len(destinations) == 1 and not claims:
        return redirect(destinations[0].url)
    return render(request, "portal/start.html", {"destinations": destinations, "claims": claims})


def _role_labels(roles) -> list[str]:
    return [Affiliation.Role(role).label for role in sorted(roles)]


def _dashboard_people(organisation: Organisation) -> dict:
    """The first people with access, for a dashboard (`more_people`: the people page has the rest)."""
    people = list(organisation_people(organisation)[: PEOPLE_ON_DASHBOARD + 1])
    return {"people": people[:PEOPLE_ON_DASHBOARD], "more_people": len(people) > PEOPLE_ON_DASHBOARD}


def _recent_events(**filters):
    return AuditEvent.objects.filter(**filters).select_related("actor", "organisation")[:RECENT_EVENTS]


@login_required
def member_dashboard(request, org_number):
    if landing := staff_landing(request, org_number):
        return redirect(landing)
    organisation, roles = get_member_organisation_for_user(request, org_number)
    membership = current_membership(organisation)
    assignments = list(active_assignments(organisation))
    context = {
        "organisation": organisation,
        "membership": membership,
        "needs_new_terms": membership is not None
        and membership.needs_new_terms(TermsDocument.objects.in_force(TermsDocument.Kind.MEMBERSHIP)),
        "role_labels": _role_labels(roles),
        "is_admin": Affiliation.Role.ADMIN in roles,
        "is_signatory": Affiliation.Role.SIGNATORY in roles,
        # Every version of the terms waiting for a signature: membership, new versions, usage terms (issue 16).
        "awaiting_signature": (
            documents_awaiting_signature(organisation) if Affiliation.Role.SIGNATORY in roles else []
        ),
        **(_dashboard_people(organisation) if Affiliation.Role.ADMIN in roles else {"people": None}),
        "overview": service_overview(organisation),
        "assignments": assignments,
        "acting_clients": clients_acting_for(organisation, assignments=assignments),
        "assignment_form": (
            VendorAssignmentForm(systems=assignable_systems()) if Affiliation.Role.ADMIN in roles else None
        ),
        "events": _recent_events(organisation=organisation),
    }
    return render(request, "portal/member_dashboard.html", context)


def _tenant_rows(vendor: Organisation, organisations, *, systems=None) -> tuple[list[dict], list[dict]]:
    """The tenant rows for these organisations, and those among them whose orders are still changing."""
    tenants = vendor_tenant_rows(vendor, organisations=organisations)
    attach_open_vendor_steps(tenants, vendor, systems=systems)
    # A {% url %} costs about what the rest of a row does: reverse once, then put each tenant's number in.
    lifecycle = reverse("organisation_lifecycle", args=[_NUMBER_PLACEHOLDER])
    for tenant in tenants:
        tenant["lifecycle_url"] = lifecycle.replace(_NUMBER_PLACEHOLDER, tenant["organisation"].org_number)
    return tenants, [tenant for tenant in tenants if tenant["changing"]]


def _tenant_list(request, vendor: Organisation, *, systems=None, total=None) -> dict:
    """One page (50) of the vendor's tenants, searched by name or number: the cost of one page, whatever the total.

    `systems`: the vendor's systems, when the caller has read them already; `total`: how many tenants the
    vendor has (the summary counted them), so that the list, unless searched, does not count them again."""
    form = TenantSearchForm(request.GET)
    search = form.cleaned_data["q"].strip() if form.is_valid() else ""
    paginator = Paginator(vendor_tenant_organisations(vendor, search=search), TENANTS_PER_PAGE)
    if total is not None and not search:
        paginator.count = total
    page = paginator.get_page(request.GET.get("side"))
    # The page's organisations as a subquery of the rows' query (LIMIT/OFFSET inside it), not a query of their own.
    tenants, changing = _tenant_rows(vendor, page.object_list, systems=systems)
    return {
        "organisation": vendor,
        "search_form": form,
        "search_query": f"{urlencode({'q': search})}&" if search else "",
        "page": page,
        "tenants": tenants,
        "tenants_changing": changing,
        # Only when paging: while searching, focus stays in the search field.
        "focus_rows": bool(request.htmx) and "side" in request.GET,
    }


def _attach_support_rows(systems, catalogue) -> None:
    """Give each system `support_rows`: per listed service, each environment and whether the system supports
    the service there; the form's table then looks nothing up in a loop inside a loop inside a loop."""
    for system in systems:
        supported = {(s.service_id, s.environment) for s in system.supported_services.all()}
        system.support_rows = [
            (service, [(environment, (service.pk, environment) in supported) for environment in ("test", "prod")])
            for service in catalogue
        ]


@login_required
def vendor_dashboard(request, org_number):
    if landing := staff_landing(request, org_number):
        return redirect(landing)
    organisation, roles = get_vendor_organisation_for_user(request, org_number)
    if request.htmx:
        return render(request, "portal/_vendor_tenant_list.html", _tenant_list(request, organisation))
    systems = list(vendor_systems_of(organisation))  # the systems panel lists them; the tenant rows need them too
    _attach_support_rows(systems, list(Service.objects.filter(is_listed=True)))
    summary = vendor_tenant_summary(organisation)
    context = {
        **_tenant_list(request, organisation, systems=systems, total=summary["total"]),
        "summary": summary,
        "agreement": current_membership(organisation),
        "systems": systems,
        "system_form": VendorSystemForm(),
        # A vendor of locally installed systems may hold one single-tenant client per tenant: paged too.
        "clients": Paginator(
            HelseIdClient.objects.filter(system__vendor=organisation)
            .with_key_expiry_flag()
            .select_related("system", "tenant")
            .order_by("system__name", "environment", "tenant__name", "pk"),
            TENANTS_PER_PAGE,
        ).get_page(request.GET.get("klientside")),
        "client_form": ClientCreateForm(vendor=organisation),
        "role_labels": _role_labels(roles),
        **_dashboard_people(organisation),
        "events": _recent_events(organisation=organisation),
    }
    return render(request, "portal/vendor_dashboard.html", context)


@login_required
@require_GET
def vendor_tenant_status(request, org_number):
    """The live status: only the rows the page asked for (those still changing), and a poll while any still is."""
    organisation, _roles = get_vendor_organisation_for_user(request, org_number)
    asked = [number for number in request.GET.getlist("org") if _ORG_NUMBER.fullmatch(number)][:TENANTS_PER_PAGE]
    tenants, changing = _tenant_rows(organisation, Organisation.objects.filter(org_number__in=asked))
    context = {"organisation": organisation, "tenants": tenants, "tenants_changing": changing}
    return render(request, "portal/_vendor_tenant_status.html", context)


@nhn_staff_required
def staff_dashboard(request):
    # Each kind counted up to the cap, not every organisation: one GROUP BY read all 60,000 (15 ms) at
    # national scale, eight capped counts read at most 10,001 index entries each.
    cap = CappedCountPaginator.cap
    counts = [
        (kind, label, min(total, cap), total > cap)
        for kind, label in Organisation.Kind.choices
        if (total := capped_count(Organisation.objects.filter(kind=kind), cap))
    ]
    # The WHERE lets the state index pick the few open orders; without it every order is read (bench/pages.py).
    orders = Order.objects.filter(state__in=(Order.State.SUBMITTED, Order.State.FAILED)).aggregate(
        waiting=Count("id", filter=Q(state=Order.State.SUBMITTED)),
        failed=Count("id", filter=Q(state=Order.State.FAILED)),
    )
    context = {
        # (kind, label, count, more than the count): each count links to the directory filtered by that kind.
        "organisation_counts": counts,
        "user_count": User.objects.filter(is_active=True).count(),
        "memberships_waiting": Membership.objects.filter(state=Membership.State.PENDING_APPROVAL).count(),
        "claims_waiting": OrganisationClaim.objects.pending().count(),
        "orders_waiting": orders["waiting"],
        "orders_failed": orders["failed"],
        "mail_failed": OutgoingMessage.objects.filter(state=OutgoingMessage.State.FAILED).count(),
        "findings_waiting": reconciliation.findings_waiting_count(),
        "events": _recent_events(),
    }
    return render(request, "portal/staff_dashboard.html", context)


@nhn_staff_required
def staff_audit_feed(request):
    """Everything the portal logged, newest first, for NHN's customer centre; filtered by kind and organisation."""
    form = AuditFeedFilterForm(request.GET or None)
    events = AuditEvent.objects.select_related("actor", "organisation")
    if form.is_valid():
        if form.cleaned_data["kind"]:
            events = events.of_group(form.cleaned_data["kind"])
        if form.cleaned_data["org_number"]:
            events = events.filter(organisation__org_number=form.cleaned_data["org_number"])
        if form.cleaned_data["hide_logins"]:
            events = events.without_logins()
    elif form.is_bound:
        events = events.none()  # a filter that makes no sense shows its error, not everything
    page = CappedCountPaginator(events, 50).get_page(request.GET.get("side"))
    return render(request, "portal/staff_audit_feed.html", {"form": form, "page": page})


@nhn_staff_required
def staff_outgoing_mail(request):
    """E-mail that failed, or is still retrying after a failed attempt, with retry and cancel."""
    messages_ = OutgoingMessage.objects.needing_attention().order_by("-created_at", "-pk")
    page = Paginator(messages_, 50).get_page(request.GET.get("side"))
    return render(request, "portal/staff_outgoing_mail.html", {"page": page})


STAFF_MAIL_DECISIONS = {
    "send-igjen": (email.message_retry, False, gettext_lazy("The e-mail is queued again.")),
    "avbryt": (email.message_cancel, True, gettext_lazy("The e-mail is cancelled.")),
}


@nhn_staff_required
@require_POST
def staff_mail_decide(request, message_id, decision):
    message = get_object_or_404(OutgoingMessage, public_id=message_id)
    return staff_decide(
        request,
        obj=message,
        obj_name="message",
        decision=decision,
        decisions=STAFF_MAIL_DECISIONS,
        row_template="portal/_outgoing_mail_row.html",
        detail_url=reverse("staff_outgoing_mail"),
    )


def _database_check() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # any failure means "not reachable"; the type says why
        return {"ok": False, "error": type(exc).__name__}


def _broker_check() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "in-process"}
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=settings.HEALTHZ_BROKER_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.HEALTHZ_BROKER_TIMEOUT)
        return {"ok": True, "mode": "broker"}
    except Exception as exc:
        return {"ok": False, "mode": "broker", "error": type(exc).__name__}


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_check(), "broker": _broker_check()}
    healthy = all(check["ok"] for check in checks.values())
    if checks["database"]["ok"]:
        beat = WorkerHeartbeat.objects.order_by("-last_seen").first()
        checks["worker"] = {"last_seen": beat.last_seen.isoformat() if beat else None}
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


@require_POST
def set_language(request):
    """Django's language switch, and for a logged-in person their preferred language on the account."""
    from django.views.i18n import set_language as django_set_language

    response = django_set_language(request)
    language = request.POST.get("language")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        User.objects.filter(pk=request.user.pk).exclude(preferred_language=language).update(preferred_language=language)
    return response
