"""A real Celery worker process, over the real Redis broker, writing to the real PostgreSQL test database."""

import time

import pytest

from portal.celery import app
from portal.models import WorkerHeartbeat
from portal.tasks import worker_heartbeat
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_task_sent_through_redis_runs_in_a_worker_and_writes_postgresql(celery_worker_factory):
    worker = celery_worker_factory(pool="solo")
    assert not app.conf.task_always_eager, "this test needs the real broker"

    worker_heartbeat.delay()

    beat = wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname=worker.hostname).first(),
        message="the worker did not run the task within 30 s",
    )
    assert (time.time() - beat.last_seen.timestamp()) < 60
