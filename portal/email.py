"""E-mail through an outbox, like provisioning: nothing about a committed change is ever lost.

- `queue_email` writes an `OutgoingMessage` row (a subject / text / HTML template triple, its context,
  the language the recipients chose: one row per language) in the transaction that causes the mail; after
  commit the row is handed to Celery.
  If the broker is down the request still succeeds and the row waits.
- `message_send` (the Celery task `portal.tasks.send_outgoing_message`) locks the row
  (SELECT … FOR UPDATE SKIP LOCKED) while it sends: a duplicate delivery skips, a row sent once is
  never sent again, and the Message-ID fixed at queue time lets the mail API recognise a repeat.
- Failures are retried with backoff (`EMAIL_MAX_ATTEMPTS`, `EMAIL_BACKOFF_BASE` · 2ⁿ, capped at
  `EMAIL_BACKOFF_CAP`); a refusal, or the last attempt, leaves the row *failed* on the staff page
  `/kundesenter/e-post/`, where NHN staff retry or cancel it.
- `requeue_stale` (celery beat) re-sends due rows whose message to the broker was lost.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .audit import audit
from .clients import backoff_delay
from .models import OutgoingMessage
from .queueing import enqueue_outbox_rows

logger = logging.getLogger(__name__)

# A message may arrive a little before next_attempt_at (clocks, countdown rounding).
EARLY_TOLERANCE = timedelta(seconds=1)
State = OutgoingMessage.State


def render_email(template_prefix: str, context: dict) -> tuple[str, str, str]:
    subject = render_to_string(f"{template_prefix}_subject.txt", context).strip().replace("\n", " ")
    text = render_to_string(f"{template_prefix}.txt", context)
    html = render_to_string(f"{template_prefix}.html", context)
    return subject, text, html


def build_message(
    subject: str, text: str, html: str, recipients: list[str], *, message_key: str = ""
) -> EmailMultiAlternatives:
    # A Message-ID fixed when the mail was queued: a retry of the same mail is recognised as one.
    headers = {"Message-ID": f"<{message_key}@selvbetjening.nhn.no>"} if message_key else {}
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, recipients, headers=headers)
    message.attach_alternative(html, "text/html")
    return message


def send_email_now(
    template_prefix: str, context: dict, recipients: list[str], language: str = "nb", message_key: str = ""
) -> None:
    """Render and send at once, without the outbox (tests of the mail backends)."""
    with translation.override(language):
        subject, text, html = render_email(template_prefix, {**context, "site_url": settings.SITE_URL})
    build_message(subject, text, html, recipients, message_key=message_key).send()


def recipient_languages(recipients: list[str]) -> dict[str, list[str]]:
    """The recipients grouped by the language each chose (an address without an account: bokmål)."""
    from django.contrib.auth import get_user_model
    from django.db.models.functions import Lower

    chosen = dict(
        get_user_model()
        .objects.annotate(address=Lower("email"))
        .filter(address__in=[r.lower() for r in recipients])
        .values_list("address", "preferred_language")
    )
    groups: dict[str, list[str]] = {}
    for recipient in recipients:
        language = chosen.get(recipient.lower(), settings.LANGUAGE_CODE)
        groups.setdefault(language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE, []).append(
            recipient
        )
    return groups


def queue_email(
    template_prefix: str, context: dict, recipients: list[str], language: str | None = None
) -> OutgoingMessage | None:
    """Write the message to the outbox; it is sent after the surrounding transaction commits.

    One message per language: each recipient reads it in the language they chose (unless `language` is given).
    Nothing is mailed about a change that rolled back: the rows roll back with it.
    """
    messages = queue_emails([(template_prefix, context, recipients)], language=language)
    return messages[0] if messages else None


def queue_emails(mails: list[tuple[str, dict, list[str]]], *, language: str | None = None) -> list[OutgoingMessage]:
    """`queue_email` for many mails at once: (template prefix, context, recipients) each.

    The recipients' languages in one query, every row in one INSERT, one hand-over to the broker after
    commit, each mail split by language (for a change that tells many organisations at once: a client
    update activating every order it serves).
    """
    mails = [(template, context, sorted({r for r in recipients if r})) for template, context, recipients in mails]
    everyone = sorted({recipient for _template, _context, recipients in mails for recipient in recipients})
    if not everyone:
        return []
    groups = {language: everyone} if language else recipient_languages(everyone)
    language_of = {recipient: chosen for chosen, group in groups.items() for recipient in group}
    rows = []
    for template, context, recipients in mails:
        by_language: dict[str, list[str]] = {}
        for recipient in recipients:
            by_language.setdefault(language_of[recipient], []).append(recipient)
        rows += [
            OutgoingMessage(template=template, context=context, language=chosen, recipients=group)
            for chosen, group in sorted(by_language.items())
        ]
    messages = OutgoingMessage.objects.bulk_create(rows)
    transaction.on_commit(lambda: dispatch([message.pk for message in messages]))
    return messages


def queue_failed_message(message: EmailMultiAlternatives, *, template: str, error: Exception) -> OutgoingMessage:
    """A message someone else rendered and could not send (allauth's account mails): retried from the outbox."""
    html = next((content for content, mimetype in getattr(message, "alternatives", []) if "html" in mimetype), "")
    delay = backoff_delay(1, base=settings.EMAIL_BACKOFF_BASE, cap=settings.EMAIL_BACKOFF_CAP)
    row = OutgoingMessage.objects.create(
        template=template,
        recipients=sorted(message.to),
        subject=message.subject[:500],
        rendered=True,
        text=message.body,
        html=html,
        attempts=1,
        last_error=f"{type(error).__name__}: {error}"[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    logger.warning("E-mail %s not sent at once (%s); it is retried from the outbox", row.public_id, error)
    transaction.on_commit(lambda: dispatch([row.pk], countdown=delay))
    return row


def dispatch(message_ids: list[int], *, countdown: float | None = None) -> None:
    """Hand messages to the broker. If it is down they stay in the outbox and `requeue_stale` sends them later."""
    from .tasks import send_outgoing_message

    enqueue_outbox_rows(OutgoingMessage.objects, message_ids, send_outgoing_message, countdown=countdown)


def message_send(message_id: int, *, allow_early: bool = False) -> str | None:
    """Send one message if it is due and nobody else is sending it; return its new state, or None if skipped."""
    with transaction.atomic():
        message = (
            OutgoingMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, state=State.PENDING)
            .first()
        )
        if message is None:
            return None  # sent, failed, cancelled, or another worker holds it right now
        now = timezone.now()
        if not allow_early and message.next_attempt_at > now + EARLY_TOLERANCE:
            return None  # a stray early copy; the retry's own message comes at the right time
        message.attempts += 1
        try:
            if message.rendered:
                subject, text, html = message.subject, message.text, message.html
            else:
                with translation.override(message.language):
                    context = {**message.context, "site_url": settings.SITE_URL}
                    subject, text, html = render_email(message.template, context)
            message.subject = subject[:500]
            build_message(subject, text, html, message.recipients, message_key=str(message.message_key)).send()
        except Exception as error:  # SMTP, the mail API or anything else: the row records it, staff see it
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            if getattr(error, "retryable", True) and message.attempts < settings.EMAIL_MAX_ATTEMPTS:
                delay = backoff_delay(
                    message.attempts, base=settings.EMAIL_BACKOFF_BASE, cap=settings.EMAIL_BACKOFF_CAP
                )
                message.next_attempt_at = now + timedelta(seconds=delay)
                message.save()
                transaction.on_commit(lambda: dispatch([message.pk], countdown=delay))
                logger.warning("E-mail %s not sent (attempt %d): %s", message.public_id, message.attempts, error)
                return message.state
            message.state = State.FAILED
            message.save()
            logger.error("E-mail %s failed after %d attempt(s): %s", message.public_id, message.attempts, error)
            audit(
                action="email.failed",
                obj=message,
                after={"message": str(message.public_id), "subject": message.subject, "error": message.last_error},
            )
        else:
            # The content may hold a one-time link (invitations): once delivered it is not kept.
            message.state, message.sent_at, message.last_error, message.context = State.SENT, now, "", {}
            message.text = message.html = ""
            message.save()
    return message.state


# NHN staff: retry or cancel a failed message ------------------------------------------------------


@transaction.atomic
def message_retry(*, message: OutgoingMessage, by, request=None) -> OutgoingMessage:
    updated = OutgoingMessage.objects.filter(pk=message.pk, state=State.FAILED).update(
        state=State.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    if not updated:
        raise ValidationError(_("Only failed e-mails can be sent again."))
    message.refresh_from_db()
    audit(
        action="email.retried",
        obj=message,
        actor=by,
        after={"message": str(message.public_id), "subject": message.subject, "last_error": message.last_error},
        request=request,
    )
    transaction.on_commit(lambda: dispatch([message.pk]))
    return message


@transaction.atomic
def message_cancel(*, message: OutgoingMessage, by, reason: str, request=None) -> OutgoingMessage:
    """NHN gives up on a message (told the person another way, or no longer needed)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason; it is kept in the log."), code="reason_required")
    updated = OutgoingMessage.objects.filter(pk=message.pk, state__in=(State.PENDING, State.FAILED)).update(
        state=State.CANCELLED, context={}, text="", html=""
    )
    if not updated:
        raise ValidationError(_("This e-mail is already sent."))
    message.refresh_from_db()
    audit(
        action="email.cancelled",
        obj=message,
        actor=by,
        after={"message": str(message.public_id), "subject": message.subject, "reason": reason},
        request=request,
    )
    return message


# The sweeper ----------------------------------------------------------------------------------------


def requeue_stale() -> int:
    """Re-send due messages whose message to the broker never arrived (broker down at commit, message lost)."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.EMAIL_REQUEUE_AFTER)
    ids = list(
        OutgoingMessage.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale_before))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
    if ids:
        dispatch(ids)
    return len(ids)
