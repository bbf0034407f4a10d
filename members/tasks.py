from celery import shared_task


@shared_task(acks_late=True)
def notify_terms_published(document_id: int) -> int:
    """Tell the organisations affected by a new version of the terms (idempotent: see members.services.terms)."""
    from .services.terms import terms_notify

    return terms_notify(document_id)


@shared_task
def notify_stale_terms_publications() -> int:
    """Beat: finish the fan-out of publications whose task was lost."""
    from .services.terms import terms_notify_stale

    return terms_notify_stale()
