"""The one way the portal hands work to Celery: a broker that is down never reaches a response.

Every piece of background work is a row first (`orders.ProvisioningTask`, `portal.OutgoingMessage`),
so a message the broker never took is not lost: the beat sweepers send the rows again. This helper
therefore only tries, briefly, and logs a warning when the broker does not answer.
"""

import logging

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


def enqueue(task, *args, countdown: float | None = None) -> bool:
    """Publish `task(*args)`; False (and a warning) if the broker could not be reached."""
    from .celery import app

    if app.conf.task_always_eager:
        # In-process (quick start, unit tests) there is no broker to be down: errors are the task's own.
        task.apply_async(args, countdown=countdown)
        return True
    try:
        task.apply_async(args, countdown=countdown, retry=True, retry_policy=settings.BROKER_PUBLISH_RETRY)
    except Exception as error:  # the broker's clients raise many kinds; none may undo a committed change
        logger.warning(
            "Broker unreachable (%s); %s%r stays queued in the database for the sweeper",
            type(error).__name__,
            task.name,
            args,
        )
        return False
    return True


def enqueue_outbox_rows(rows, ids: list[int], task, *, per_message: int | None = None, countdown=None) -> bool:
    """Publish `task(id)` for each outbox row (or `task(ids)` for slices of `per_message`); False if the broker is down.

    `rows` is the model's manager; its `dispatched_at` tells the sweeper what was sent. Marked before
    it is sent: marked after, the UPDATE took a row's lock while a worker that already had the message
    wanted it, and the worker skipped the row (SKIP LOCKED) until the sweeper. Called after commit, so
    the marking commits at once. The rows not sent are unmarked for the sweeper.
    """
    rows.filter(pk__in=ids).update(dispatched_at=timezone.now())
    step = per_message or 1
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        if not enqueue(task, chunk if per_message else chunk[0], countdown=countdown):
            # The broker is down: the rest would wait just as long; the sweeper sends them all.
            rows.filter(pk__in=ids[start:]).update(dispatched_at=None)
            return False
    return True
