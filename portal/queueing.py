"""The one way the portal hands work to Celery: a broker that is down never reaches a response.

Every piece of background work is a row first (`orders.ProvisioningTask`, `portal.OutgoingMessage`),
so a message the broker never took is not lost: the beat sweepers send the rows again. This helper
therefore only tries, briefly, and logs a warning when the broker does not answer.
"""

import logging

from django.conf import settings

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
