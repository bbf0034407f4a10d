"""The no-op task the provisioning benchmark measures the queue's own speed with.

Not part of the portal: the benchmark's workers import it (`celery worker --include bench.floor`).
Each run adds one to a Redis counter, so the benchmark sees when the last one is done (results are
not stored); one INCR on the broker's own Redis is a small part of a task's cost.
"""

import redis
from celery import shared_task
from django.conf import settings

_redis: redis.Redis | None = None


@shared_task(ignore_result=True, acks_late=True)
def noop(counter: str) -> None:
    global _redis
    if _redis is None:  # made in the pool process that runs the task, not before the fork
        _redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    _redis.incr(counter)
