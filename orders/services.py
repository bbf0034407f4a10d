"""Ordering services. Every rule about what may be ordered lives in `order_blockers`."""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from members.models import (
    Acceptance,
    Membership,
    Organisation,
    SystemKind,
    TermsDocument,
    User,
    VendorAssignment,
)
from members.selectors import admin_emails, admin_emails_by_organisation, nhn_staff_emails
from portal.audit import audit
from portal.email import queue_email, queue_emails

from . import provisioning
from .models import Environment, Order, ProvisioningTask, Service, TestEnvironmentException


def usage_acceptance(organisation: Organisation, service: Service) -> Acceptance | None:
    """The organisation's signature on usage terms for the service that still counts (the newest it signed)."""
    valid = TermsDocument.objects.valid_for(TermsDocument.Kind.USAGE, service.code)
    return (
        Acceptance.objects.filter(organisation=organisation, document__in=valid)
        .order_by("-document__published_at")
        .first()
    )


def registered_epj_product(organisation: Organisation, environment: str) -> str:
    """The product family of the EPJ the organisation has registered for the environment, or ""."""
    assignment = (
        VendorAssignment.objects.active()
        .filter(organisation=organisation, environment=environment, kind=SystemKind.EPJ)
        .select_related("system")
        .first()
    )
    return assignment.system.product if assignment else ""


@dataclass(frozen=True)
class OrderingFacts:
    """What the rules need to know about an organisation in an environment, fetched once for many services."""

    active_member: bool
    test_exception: bool
    epj_product: str
    usage_terms_accepted: frozenset[str]  # service codes whose signed usage terms still count
    # The membership rests on a version older than the one now in force (*Nye vilkår må aksepteres*).
    new_terms_required: bool = False


def accepted_usage_terms(organisation: Organisation) -> frozenset[str]:
    """Service codes whose usage terms the organisation has signed in a version that still counts."""
    valid = TermsDocument.objects.valid_per_service(TermsDocument.Kind.USAGE)
    return frozenset(
        Acceptance.objects.filter(
            organisation=organisation, document__in=[pk for pks in valid.values() for pk in pks]
        ).values_list("document__service_code", flat=True)
    )


def membership_terms_lapsed(organisation: Organisation, membership: Membership | None = None) -> bool:
    """True when a newer version of the membership terms has taken effect and the organisation has not signed it."""
    if membership is None:
        membership = organisation.memberships.live().select_related("acceptance", "acceptance__document").first()
    if membership is None:
        return False
    return membership.needs_new_terms(TermsDocument.objects.in_force(Membership.terms_kind_for(organisation)))


def ordering_facts(organisation: Organisation, environment: str) -> OrderingFacts:
    return OrderingFacts(
        active_member=organisation.memberships.filter(state=Membership.State.ACTIVE).exists(),
        test_exception=TestEnvironmentException.objects.filter(organisation=organisation).exists(),
        epj_product=registered_epj_product(organisation, environment),
        usage_terms_accepted=accepted_usage_terms(organisation),
        new_terms_required=environment == Environment.PRODUCTION and membership_terms_lapsed(organisation),
    )


def order_blockers(
    *,
    organisation: Organisation,
    service: Service,
    environment: str,
    for_submit: bool = False,
    facts: OrderingFacts | None = None,
) -> list[str]:
    """Why this organisation cannot order this service in this environment now; empty when it can.

    With for_submit, the usage terms must also be accepted (production). The same rules guard the
    catalogue, the basket and the submit, so a forged POST meets exactly what the page showed.
    Pass `facts` when checking many services for the same organisation and environment.
    """
    blockers = []
    if environment not in Environment.values:
        return [_("Choose test or production.")]
    facts = facts or ordering_facts(organisation, environment)
    if not service.is_available_in(environment):
        if service.planned_for:
            blockers.append(
                _("Not available in %(environment)s yet (planned for %(when)s).")
                % {"environment": Environment(environment).label.lower(), "when": service.planned_for}
            )
        else:
            blockers.append(
                _("Not available in %(environment)s.") % {"environment": Environment(environment).label.lower()}
            )
    if service.requires_public_organisation and not organisation.is_public:
        blockers.append(_("Only public organisations may order this service."))
    if service.epj_restriction and facts.epj_product != service.epj_restriction:
        blockers.append(
            _("Works only with the %(product)s patient record system, and your organisation has not registered it.")
            % {"product": service.epj_restriction}
        )
    if environment == Environment.PRODUCTION:
        if organisation.is_synthetic:
            blockers.append(_("A synthetic test organisation cannot order for production."))
        if not facts.active_member:
            blockers.append(_("Production needs an active membership of the health network."))
        elif facts.new_terms_required:
            # After the effective date of a new version, the old signature no longer carries production
            # (DOMAIN.md: nothing in production before the membership terms are signed). Test orders go on.
            blockers.append(
                _(
                    "New terms must be accepted: an authorised signatory signs the new membership terms, "
                    "then production orders can go ahead."
                )
            )
        if for_submit and service.code not in facts.usage_terms_accepted:
            blockers.append(_("An authorised signatory must accept the usage terms first."))
    elif not organisation.is_synthetic and not facts.test_exception:
        blockers.append(
            _("The test environment takes synthetic organisations only, unless NHN has approved an exception.")
        )
    return blockers


def _raise_if_blocked(blockers: list[str]) -> None:
    if blockers:
        raise ValidationError(blockers, code="order_blocked")


def _audit_order(order: Order, action: str, by, before: str | None, request=None, **extra) -> None:
    audit(
        action=action,
        obj=order,
        actor=by,
        before={"state": before} if before else None,
        after={"state": order.state, "service": order.service.code, "environment": order.environment, **extra},
        request=request,
    )


def _order_failed_mail(order: Order) -> tuple[str, dict]:
    return (
        "orders/email/order_failed",
        {
            "organisation": order.organisation.name,
            "service": order.service.name_nb,
            "service_en": order.service.name_en,
            "environment": order.environment,
            "error": order.last_error,
            "url": reverse("staff_order_queue") + "?state=failed",
        },
    )


def _order_changed_mail(order: Order) -> tuple[str, dict]:
    return (
        "orders/email/order_changed",
        {
            "organisation": order.organisation.name,
            "service": order.service.name_nb,
            "service_en": order.service.name_en,
            "environment": order.environment,
            "state": order.state,
            "reason": order.reason,
            "url": reverse("order_detail", args=[order.public_id]),
        },
    )


def notify_staff_of_failure(order: Order) -> None:
    queue_email(*_order_failed_mail(order), nhn_staff_emails())


def notify_organisation(order: Order) -> None:
    queue_email(*_order_changed_mail(order), admin_emails(order.organisation))


def notify_staff_of_failures(orders: list[Order]) -> None:
    """`notify_staff_of_failure` for many orders: one mail each, the staff's addresses read once."""
    if orders:
        staff = nhn_staff_emails()
        queue_emails([(*_order_failed_mail(order), staff) for order in orders])


def notify_organisations(orders: list[Order]) -> None:
    """`notify_organisation` for many orders: one mail each, every organisation's administrators in one query."""
    if orders:
        admins = admin_emails_by_organisation(order.organisation_id for order in orders)
        queue_emails([(*_order_changed_mail(order), admins.get(order.organisation_id, [])) for order in orders])


# The basket: draft orders -------------------------------------------------------------------------


@transaction.atomic
def basket_add(*, organisation: Organisation, service: Service, environment: str, by: User, request=None) -> Order:
    _raise_if_blocked(order_blockers(organisation=organisation, service=service, environment=environment))
    existing = Order.objects.live().filter(organisation=organisation, service=service, environment=environment).first()
    if existing is not None:
        if existing.state == Order.State.DRAFT:
            return existing  # a second click adds nothing
        raise ValidationError(
            _("%(service)s is already ordered for %(environment)s: %(state)s.")
            % {
                "service": service.name,
                "environment": Environment(environment).label.lower(),
                "state": existing.get_state_display(),
            },
            code="already_ordered",
        )
    try:
        with transaction.atomic():
            order = Order.objects.create(
                organisation=organisation, service=service, environment=environment, created_by=by
            )
    except IntegrityError:  # a concurrent click won the race; the constraint kept one
        return Order.objects.live().get(organisation=organisation, service=service, environment=environment)
    _audit_order(order, "order.drafted", by, None, request)
    return order


@transaction.atomic
def basket_remove(*, order: Order, by: User, request=None) -> None:
    if order.state != Order.State.DRAFT:
        raise ValidationError(_("Only orders not yet sent can be removed from the basket."))
    order.cancel(by=by)
    _audit_order(order, "order.cancelled", by, Order.State.DRAFT, request)


def basket(organisation: Organisation, environment: str):
    return (
        Order.objects.filter(organisation=organisation, environment=environment, state=Order.State.DRAFT)
        .select_related("service")
        .order_by("service__sort_order")
    )


@transaction.atomic
def basket_submit(*, organisation: Organisation, environment: str, by: User, request=None) -> list[Order]:
    """Send every draft order for the environment to NHN, all or none."""
    drafts = list(basket(organisation, environment).select_for_update(of=("self",)))
    if not drafts:
        raise ValidationError(_("The basket is empty."))
    problems = []
    facts = ordering_facts(organisation, environment)
    for order in drafts:
        for blocker in order_blockers(
            organisation=organisation, service=order.service, environment=environment, for_submit=True, facts=facts
        ):
            problems.append(f"{order.service.name}: {blocker}")
    _raise_if_blocked(problems)

    for order in drafts:
        order.submit(by=by, usage_acceptance=usage_acceptance(organisation, order.service))
        _audit_order(order, "order.submitted", by, Order.State.DRAFT, request)
    queue_email(
        "orders/email/orders_submitted",
        {
            "organisation": organisation.name,
            "services": [order.service.name_nb for order in drafts],
            "environment": environment,
            "url": reverse("staff_order_queue"),
        },
        nhn_staff_emails(),
    )
    if _auto_approves(organisation, environment):
        for order in drafts:
            order_approve(order=order, by=None, request=request)
    return drafts


def _auto_approves(organisation: Organisation, environment: str) -> bool:
    # NHN may let test orders from active members through without a person looking (a setting).
    return (
        settings.ORDERS_AUTO_APPROVE_TEST
        and environment == Environment.TEST
        and organisation.memberships.filter(state=Membership.State.ACTIVE).exists()
    )


# Decisions and life cycle -------------------------------------------------------------------------


@transaction.atomic
def order_cancel(*, order: Order, by: User, request=None) -> Order:
    before = order.state
    order.cancel(by=by)
    _audit_order(order, "order.cancelled", by, before, request)
    return order


@transaction.atomic
def order_approve(*, order: Order, by: User | None, request=None) -> Order:
    if order.environment == Environment.PRODUCTION and membership_terms_lapsed(order.organisation):
        # Sent before a new version took effect, looked at after: it waits for the new signature.
        raise ValidationError(
            _(
                "New terms must be accepted: an authorised signatory signs the new membership terms, "
                "then production orders can go ahead."
            ),
            code="new_terms_required",
        )
    order.approve(by=by)
    _audit_order(order, "order.approved", by, Order.State.SUBMITTED, request, automatic=by is None)
    # No mail yet: the administrators get one when the service is active (or one if it is rejected), not an
    # "approved" followed by an "active" for every service.
    # The outbox rows commit with the approval; with nothing to set up the order is active at once.
    order.start_provisioning()
    _audit_order(order, "order.provisioning", by, Order.State.APPROVED, request)
    provisioning.queue_for_order(order, reason=ProvisioningTask.Reason.ORDER_APPROVED)
    provisioning.settle_order(order.pk)
    order.refresh_from_db()
    return order


@transaction.atomic
def order_reject(*, order: Order, by: User, reason: str, request=None) -> Order:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason; the organisation sees it."), code="reason_required")
    order.reject(by=by, reason=reason)
    _audit_order(order, "order.rejected", by, Order.State.SUBMITTED, request, reason=reason)
    notify_organisation(order)
    return order


def orders_approve_test_in_bulk(*, orders, by: User, request=None) -> tuple[int, list[str]]:
    """Approve many test-environment orders; production orders are each looked at one by one."""
    approved, problems = 0, []
    for order in orders:
        if order.environment != Environment.TEST:
            problems.append(_("%(order)s: production orders are approved one at a time.") % {"order": order})
            continue
        try:
            order_approve(order=order, by=by, request=request)
            approved += 1
        except ValidationError as error:
            problems.append(f"{order}: {error.messages[0]}")
    return approved, problems


@transaction.atomic
def order_retry(*, order: Order, by: User, request=None) -> Order:
    """Retry every failed step of the order's set-up."""
    order.refresh_from_db()  # the page may be older than the last attempt
    if order.state != Order.State.FAILED:
        raise ValidationError(_("Only orders whose set-up failed can be retried."))
    audit(action="order.retried", obj=order, actor=by, after={"last_error": order.last_error}, request=request)
    for task in provisioning.failed_steps(order):  # a newer task that replaced the order's own may be the one
        provisioning.task_retry(task=task, by=by, request=request)
    order.refresh_from_db()
    return order


@transaction.atomic
def order_end(*, order: Order, by: User, reason: str, request=None) -> Order:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason; the organisation sees it."), code="reason_required")
    order.end(by=by, reason=reason)
    _audit_order(order, "order.ended", by, Order.State.ACTIVE, request, reason=reason)
    notify_organisation(order)
    provisioning.queue_for_order(order, reason=ProvisioningTask.Reason.ORDER_ENDED)
    return order


@transaction.atomic
def service_update(*, service: Service, form, by: User, request=None) -> Service:
    """NHN staff change a catalogue entry (availability, texts, scopes); the log keeps what changed."""
    before = {field: form.initial.get(field) for field in form.changed_data}
    form.save()
    audit(
        action="service.updated",
        obj=service,
        actor=by,
        before={k: str(v) for k, v in before.items()},
        after={field: str(form.cleaned_data[field]) for field in form.changed_data},
        request=request,
    )
    return service
