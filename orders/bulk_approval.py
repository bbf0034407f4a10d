"""Bulk approval of orders as a background job (*massegodkjenning*).

Starting writes the job and one item per order in one transaction, so the orders are fixed when staff
press the button (a filter is evaluated then, on the server: no form field per order); the Celery task
is queued after commit. Each task run approves one batch, each order in its own transaction through
`services.order_approve` (the same guarded transition, audit log and provisioning as one approval),
and queues the next batch behind the provisioning work the last one queued. A broker that is down at
start, a lost message or a worker killed mid-batch leave items pending; `requeue_stale` (beat) sends
those jobs again, and an item is done exactly once: it is locked (`SKIP LOCKED`) and its outcome
committed with the approval itself.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members.models import User
from portal.audit import audit
from portal.queueing import enqueue_outbox_rows
from portal.transitions import InvalidTransition

from . import selectors, services
from .models import BulkApprovalItem, BulkApprovalJob, Environment, Order

logger = logging.getLogger(__name__)

Outcome = BulkApprovalItem.Outcome
# The queue filter's fields a job keeps (orders.views.OrderQueueFilterForm).
FILTER_FIELDS = ("state", "service", "environment", "q", "older_than_days")


# Reads --------------------------------------------------------------------------------------------


def approvable_from_filter(filters: dict):
    """The orders "approve everything matching" takes: the queue's filter, narrowed to test orders waiting for NHN.

    Production orders are looked at one by one, so they are never part of a bulk approval.
    """
    orders = selectors.order_queue(
        state=filters.get("state") or "",
        service=filters.get("service") or "",
        environment=filters.get("environment") or "",
        search=(filters.get("q") or "").strip(),
        older_than_days=filters.get("older_than_days"),
    )
    return orders.filter(state=Order.State.SUBMITTED, environment=Environment.TEST)


def recent_jobs(limit: int = 20):
    return BulkApprovalJob.objects.select_related("started_by").order_by("-created_at")[:limit]


def job_problems(job: BulkApprovalJob, limit: int = 200):
    """The items that were not approved, with why, oldest first (a page shows at most `limit`)."""
    return (
        job.items.filter(outcome__in=(Outcome.SKIPPED, Outcome.FAILED))
        .select_related("order", "order__organisation", "order__service")
        .order_by("pk")[:limit]
    )


# Starting -----------------------------------------------------------------------------------------


def bulk_approval_start_from_filter(*, filters: dict, by: User, request=None) -> BulkApprovalJob:
    """Approve every waiting test order the filter matches now (the filter as the staff member saw it)."""
    kept = {name: filters[name] for name in FILTER_FIELDS if filters.get(name) not in (None, "")}
    order_ids = list(approvable_from_filter(kept).values_list("pk", flat=True))
    if not order_ids:
        raise ValidationError(_("No test orders waiting for NHN match the filter."), code="nothing_to_approve")
    return _start(by=by, source=BulkApprovalJob.Source.FILTER, filters=kept, order_ids=order_ids, request=request)


def bulk_approval_start_for_orders(*, orders, by: User, request=None) -> BulkApprovalJob:
    """Approve the chosen orders; those that are not waiting test orders are skipped, each with its reason."""
    order_ids = list(dict.fromkeys(order.pk for order in orders))
    if not order_ids:
        raise ValidationError(_("Choose the test orders to approve."), code="nothing_chosen")
    return _start(by=by, source=BulkApprovalJob.Source.CHOSEN, filters={}, order_ids=order_ids, request=request)


@transaction.atomic
def _start(*, by: User, source: str, filters: dict, order_ids: list[int], request=None) -> BulkApprovalJob:
    job = BulkApprovalJob.objects.create(started_by=by, source=source, filter=filters, total=len(order_ids))
    BulkApprovalItem.objects.bulk_create(
        [BulkApprovalItem(job=job, order_id=order_id) for order_id in order_ids], batch_size=1000
    )
    audit(
        action="bulk_approval.started",
        obj=job,
        actor=by,
        after={"orders": job.total, "source": source, "filter": filters},
        request=request,
    )
    # After commit, so the worker finds the rows; if the broker is down the job waits for the sweeper.
    transaction.on_commit(lambda: dispatch(job.pk))
    return job


def dispatch(job_id: int) -> bool:
    from .tasks import run_bulk_approval

    return enqueue_outbox_rows(BulkApprovalJob.objects, [job_id], run_bulk_approval)


# Running ------------------------------------------------------------------------------------------


def run_batch(job_id: int) -> bool:
    """Approve the next batch of the job's items; True while items are left for another run."""
    job = BulkApprovalJob.objects.select_related("started_by").filter(pk=job_id).first()
    if job is None or job.is_finished:
        return False
    if job.state == BulkApprovalJob.State.QUEUED:
        try:
            job.start()
        except InvalidTransition:  # another delivery of the message started it a moment ago
            job.refresh_from_db()
    pending = list(
        job.items.filter(outcome=Outcome.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[: settings.BULK_APPROVAL_BATCH_SIZE]
    )
    # Reasons are written in the language of the person who started it, who reads them.
    with translation.override(job.started_by.preferred_language or settings.LANGUAGE_CODE):
        for item_id in pending:
            _approve_item(item_id, by=job.started_by)
    return not _settle(job)


def _approve_item(item_id: int, *, by: User) -> None:
    """One order, in its own transaction with its item: both commit, or neither does and it is tried again."""
    with transaction.atomic():
        item = (
            BulkApprovalItem.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("order", "order__organisation", "order__service")
            .filter(pk=item_id, outcome=Outcome.PENDING)
            .first()
        )
        if item is None:
            return  # done already, or another worker has it right now
        order = item.order
        if order.environment != Environment.TEST:
            item.outcome, item.message = Outcome.SKIPPED, _("Production orders are approved one at a time.")
        elif order.state != Order.State.SUBMITTED:
            item.outcome = Outcome.SKIPPED
            item.message = _("No longer waiting for NHN: %(state)s.") % {"state": order.get_state_display()}
        else:
            try:
                services.order_approve(order=order, by=by)
            except InvalidTransition as error:  # decided by someone else since the check above
                item.outcome, item.message = Outcome.SKIPPED, " ".join(error.messages)
            except ValidationError as error:
                item.outcome, item.message = Outcome.FAILED, " ".join(error.messages)
            except Exception:  # one order's fault must not stop the other 999; its savepoint rolled back
                logger.exception("Bulk approval item %s: approving order %s failed", item.pk, order.pk)
                item.outcome, item.message = Outcome.FAILED, _("An unexpected error; the log has the details.")
            else:
                item.outcome = Outcome.APPROVED
        item.processed_at = timezone.now()
        item.save(update_fields=["outcome", "message", "processed_at"])


def _settle(job: BulkApprovalJob) -> bool:
    """Write the job's counts; finish it when no item is left. True when finished."""
    with transaction.atomic():
        job = BulkApprovalJob.objects.select_for_update().get(pk=job.pk)
        counts = job.items.aggregate(
            approved=Count("pk", filter=Q(outcome=Outcome.APPROVED)),
            skipped=Count("pk", filter=Q(outcome=Outcome.SKIPPED)),
            failed=Count("pk", filter=Q(outcome=Outcome.FAILED)),
            pending=Count("pk", filter=Q(outcome=Outcome.PENDING)),
        )
        pending = counts.pop("pending")
        BulkApprovalJob.objects.filter(pk=job.pk).update(progressed_at=timezone.now(), **counts)
        if pending or job.state != BulkApprovalJob.State.RUNNING:
            return job.is_finished
        job.finish()
        audit(action="bulk_approval.finished", obj=job, actor=job.started_by, after=counts)
    return True


def requeue_stale() -> int:
    """Beat: send again the jobs not finished whose message was lost (broker down at start, worker killed)."""
    stale_before = timezone.now() - timedelta(seconds=settings.BULK_APPROVAL_REQUEUE_AFTER)
    ids = list(
        BulkApprovalJob.objects.filter(state__in=BulkApprovalJob.UNFINISHED)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale_before))
        .filter(Q(progressed_at__isnull=True) | Q(progressed_at__lte=stale_before))
        .order_by("created_at")
        .values_list("pk", flat=True)[:100]
    )
    for job_id in ids:
        if not dispatch(job_id):
            break  # the broker is still down; the next beat tries again
    return len(ids)
