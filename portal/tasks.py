from celery import shared_task
from django.utils import timezone

from .models import WorkerHeartbeat


@shared_task(bind=True)
def worker_heartbeat(self) -> str:
    """Record that a worker is alive; /healthz shows the latest beat."""
    hostname = self.request.hostname or "in-process"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"last_seen": timezone.now()})
    return hostname
