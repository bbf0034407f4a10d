"""A real Celery worker process, over the real Redis broker, writing to the real PostgreSQL test database."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from portal.celery import app
from portal.models import WorkerHeartbeat
from portal.tasks import worker_heartbeat

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings):
    """Start `celery worker` on a queue of its own, pointed at the test database; stop it afterwards."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    hostname = f"{queue}@testhost"
    db = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_TASK_DEFAULT_QUEUE=queue,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queue, "-n", hostname,
         "--pool", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield queue, hostname
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        if os.environ.get("CELERY_TEST_VERBOSE"):
            print(output)


def test_a_task_sent_through_redis_runs_in_a_worker_and_writes_postgresql(worker):
    queue, hostname = worker
    assert not app.conf.task_always_eager, "this test needs the real broker"

    worker_heartbeat.apply_async(queue=queue)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        beat = WorkerHeartbeat.objects.filter(hostname=hostname).first()
        if beat is not None:
            break
        time.sleep(0.2)
    assert beat is not None, "the worker did not run the task within 30 s"
    assert (time.time() - beat.last_seen.timestamp()) < 60
