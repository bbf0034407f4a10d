from celery import shared_task
from django.utils import timezone

from .models import WorkerHeartbeat


@shared_task(bind=True)
def worker_heartbeat(self) -> str:
    """Record that a worker is alive; /healthz shows the latest beat."""
    hostname = self.request.hostname or "in-process"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"last_seen": timezone.now()})
    return hostname


@shared_task(bind=True, acks_late=True)
def send_outgoing_message(self, message_id: int) -> str | None:
    """Send one outbox row. Safe to deliver twice: see portal.email."""
    from .email import message_send

    # In-process (quick start, unit tests) a retry's countdown is not honoured, so it may run early.
    return message_send(message_id, allow_early=bool(self.request.is_eager))


@shared_task
def requeue_outgoing_messages() -> int:
    """Beat: re-send outbox e-mails whose message to the broker was lost."""
    from .email import requeue_stale

    return requeue_stale()


@shared_task
def send_email(template_prefix: str, context: dict, recipients: list[str], message_key: str = "") -> None:
    """Messages queued before the outbox existed may still be in the broker at upgrade: they go to the outbox."""
    from django.db import transaction

    from .email import queue_email

    with transaction.atomic():
        queue_email(template_prefix, context, recipients)
