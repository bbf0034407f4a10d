import operator
import uuid
from functools import reduce

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an audit entry."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The audit log is append-only.")

    def delete(self):
        raise AppendOnlyError("The audit log is append-only.")

    def for_organisation(self, organisation):
        return self.filter(organisation=organisation)

    def of_group(self, group: str):
        """Entries whose action belongs to one of portal.audit.ACTION_GROUPS."""
        from .audit import ACTION_GROUPS

        prefixes = ACTION_GROUPS[group][1]
        return self.filter(reduce(operator.or_, (models.Q(action__startswith=prefix) for prefix in prefixes)))

    def without_logins(self):
        from .audit import LOGIN_ACTIONS

        return self.exclude(action__in=LOGIN_ACTIONS)


class AuditEvent(models.Model):
    """One entry in the audit log (*revisjonslogg*): who did what to which object, and when."""

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        # A person with history in the log is deactivated, never deleted: the entries keep their actor.
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The e-mail at the time of the event, so the entry reads the same if the address changes later.
    actor_label = models.CharField(_("actor"), max_length=254, blank=True)
    organisation = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    action = models.CharField(_("action"), max_length=100, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object ID"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=255, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            # An organisation's events newest first (its dashboard, its lifecycle page's timeline), with the
            # columns the lifecycle page filters on: the timeline's page and its count read only the index
            # (issue 15: a bitmap heap scan of a municipality's ~4,000 events cost ~15 ms per query).
            models.Index(
                fields=["organisation", "-created_at", "-id", "action", "object_type", "object_id"],
                name="audit_org_timeline",
            ),
            # An object's history (order detail, client page) without scanning every event.
            models.Index(fields=["object_type", "object_id", "-created_at"], name="audit_object_recent"),
            # NHN's feed and the customer centre's recent activity: newest first across everything, in the
            # model's own order (the tie on -id included), so a page is read off the index instead of sorting all.
            models.Index(fields=["-created_at", "-id"], name="audit_recent"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label or '-'} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The audit log is append-only.")

    @property
    def action_label(self) -> str:
        from .audit import ACTION_LABELS

        return ACTION_LABELS.get(self.action, self.action)

    @cached_property
    def display(self):
        """The entry as the reader sees it (label, changes, actor's name), in the language active now."""
        from .audit_display import render_event

        return render_event(self)


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the periodic heartbeat task."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self):
        return f"{self.hostname} {self.last_seen:%Y-%m-%d %H:%M:%S}"


class OutgoingMessageQuerySet(models.QuerySet):
    def needing_attention(self):
        """Failed messages, and messages still retrying after a failed attempt: the staff page lists them."""
        return self.filter(
            models.Q(state=OutgoingMessage.State.FAILED) | models.Q(state=OutgoingMessage.State.PENDING, attempts__gt=0)
        )


class OutgoingMessage(models.Model):
    """One e-mail the portal sends (*utgående e-post*): the transactional outbox for mail.

    The row is written in the transaction that causes the mail and handed to Celery after commit;
    if the broker is down it waits for the sweeper. Its content is kept only until the message is
    sent or cancelled (an invitation's one-time link is in it); subject and recipients stay.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled by NHN")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The Message-ID's local part: a resend of the same message is recognised as the same message.
    message_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The subject / text / HTML template triple and what it is rendered with, when it is sent.
    template = models.CharField(_("template"), max_length=200)
    context = models.JSONField(_("content"), default=dict, blank=True)
    language = models.CharField(_("language"), max_length=10, default="nb")
    recipients = models.JSONField(_("recipients"))
    # Filled in at the first attempt, so staff see what a failed message was about.
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    # A message rendered by someone else (allauth's account mails) keeps its text here until it is sent.
    rendered = models.BooleanField(_("rendered when queued"), default=False)
    text = models.TextField(_("text"), blank=True)
    html = models.TextField(_("HTML"), blank=True)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    # When the message was last handed to the broker; the sweeper re-sends those that never ran.
    dispatched_at = models.DateTimeField(_("sent to the queue"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    objects = OutgoingMessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outgoing_message_due")]

    def __str__(self):
        return f"{self.subject or self.template} → {', '.join(self.recipients)}"[:255]

    @property
    def message_id(self) -> str:
        return f"<{self.message_key}@selvbetjening.nhn.no>"


class ApiProofJti(models.Model):
    """A DPoP proof's jti the self-service API has accepted: the same proof twice is a replay (RFC 9449 §11.1).

    Only the SHA-256 of the jti is kept, until the proof could no longer pass the iat window anyway.
    """

    jti_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.jti_hash[:12]


class ApiIdempotencyRecord(models.Model):
    """A POST to the self-service API with an Idempotency-Key: the answer is given again for the same
    key and request, and another request under the same key is refused (as portal/simulator.py does)."""

    client_id = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    request_digest = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_id", "key"], name="api_idempotency_key_once")]

    def __str__(self):
        return f"{self.client_id} {self.key}"
