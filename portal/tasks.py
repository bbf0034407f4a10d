from celery import shared_task
from django.utils import timezone

from .models import WorkerHeartbeat


@shared_task(bind=True)
def worker_heartbeat(self) -> str:
    """Record that a worker is alive; /healthz shows the latest beat."""
    hostname = self.request.hostname or "in-process"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"last_seen": timezone.now()})
    return hostname


@shared_task(bind=True, autoretry_for=(OSError,), retry_backoff=30, retry_jitter=True, max_retries=8)
def send_email(self, template_prefix: str, context: dict, recipients: list[str]) -> None:
    """Mail servers fail for a while; the task retries with backoff rather than losing the message."""
    from .email import send_email_now

    send_email_now(template_prefix, context, recipients)
