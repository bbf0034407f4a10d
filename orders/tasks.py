import logging

from celery import shared_task
from django.conf import settings

from . import bulk_approval, provisioning

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True)
def run_provisioning_tasks(self, task_ids: list[int]) -> list[str | None]:
    """Send outbox rows to their backing services, one after another. Safe to deliver twice: see orders.provisioning.

    One message for the rows one change queued (an approval's grant and client update) or a slice
    of the sweeper's. A row that raises does not keep the others from running; the first error is
    raised once they have.
    """
    # In-process (quick start, unit tests) a retry's countdown is not honoured, so it may run early.
    return _run_outbox_rows(task_ids, allow_early=bool(self.request.is_eager))


@shared_task(bind=True, acks_late=True)
def run_provisioning_task(self, task_id: int) -> str | None:
    """One outbox row: the message of earlier releases, still in a queue when this one starts."""
    return _run_outbox_rows([task_id], allow_early=bool(self.request.is_eager))[0]


def _run_outbox_rows(task_ids: list[int], *, allow_early: bool) -> list[str | None]:
    batch = settings.PROVISIONING_VKP_BATCH
    states, errors = [], []
    for task_id in task_ids:
        try:
            states.append(provisioning.task_run(task_id, allow_early=allow_early, batch=batch))
        except Exception as error:
            if errors:  # the first is raised below, and Celery logs it
                logger.exception("Provisioning task %s failed unexpectedly", task_id)
            errors.append(error)
            states.append(None)
    if errors:
        raise errors[0]
    return states


@shared_task
def requeue_provisioning_tasks() -> int:
    """Beat: re-send outbox rows whose message was lost."""
    return provisioning.requeue_stale()


@shared_task(acks_late=True)
def run_bulk_approval(job_id: int) -> bool:
    """Approve one batch of a bulk approval, then queue the next (behind the provisioning work it queued)."""
    more = bulk_approval.run_batch(job_id)
    if more:
        bulk_approval.dispatch(job_id)
    return more


@shared_task
def requeue_bulk_approvals() -> int:
    """Beat: send again bulk approvals whose message was lost or whose worker died."""
    return bulk_approval.requeue_stale()


@shared_task
def reconcile_backing_services(run_id: int | None = None) -> int:
    """Beat (no run_id) or NHN staff's "run now" (the run they asked for): compare, report and repair."""
    from portal.transitions import InvalidTransition

    from .models import ReconciliationRun

    queued = ReconciliationRun.objects.filter(state=ReconciliationRun.State.QUEUED)
    if run_id is not None:
        run = queued.filter(pk=run_id).first()
        if run is None:
            return 0  # a second delivery of the message: the run has begun or is done already
        return len(provisioning.reconcile(run))
    # A run staff asked for while the broker was down is done by the next hourly one, not left waiting.
    run = queued.filter(trigger=ReconciliationRun.Trigger.PERSON).order_by("created_at", "pk").first()
    if run is not None:
        try:
            return len(provisioning.reconcile(run))
        except InvalidTransition:
            pass  # its own message arrived a moment ago and began it; this hour's run is a new one
    return len(provisioning.reconcile())


@shared_task
def remind_expiring_keys() -> int:
    """Tell vendors about keys that expire within KEY_EXPIRY_REMINDER_DAYS, once per key."""
    from .helseid import keys_to_remind, send_expiry_reminder

    reminded = 0
    for key in keys_to_remind():
        send_expiry_reminder(key)
        reminded += 1
    return reminded
