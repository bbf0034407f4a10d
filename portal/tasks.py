from celery import shared_task
from django.utils import timezone

from .models import WorkerHeartbeat


@shared_task(bind=True)
def worker_heartbeat(self) -> str:
    """Record that a worker is alive; /healthz shows the latest beat."""
    hostname = self.request.hostname or "in-process"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"last_seen": timezone.now()})
    return hostname


@shared_task(bind=True, max_retries=8)
def send_email(self, template_prefix: str, context: dict, recipients: list[str], message_key: str = "") -> None:
    """Mail servers fail for a while; the task retries with backoff rather than losing the message."""
    from .clients import BackingServiceError, backoff_delay
    from .email import send_email_now

    countdown = backoff_delay(self.request.retries + 1, base=30, cap=1800)

    try:
        send_email_now(template_prefix, context, recipients, message_key=message_key)
    except OSError as error:
        raise self.retry(exc=error, countdown=countdown) from error
    except BackingServiceError as error:
        if not error.retryable:
            raise  # a refused message stays refused; the worker log says why
        raise self.retry(exc=error, countdown=countdown) from error
