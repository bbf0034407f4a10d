import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from members.models import Acceptance, Organisation
from portal.choices import Environment
from portal.labels import choice_label
from portal.transitions import GuardedStateMixin


class Availability(models.TextChoices):
    AVAILABLE = "available", _("Available")
    PLANNED = "planned", _("Planned")
    NOT_OFFERED = "not_offered", _("Not offered")


class Service(models.Model):
    """A VKP information service in the catalogue (*informasjonstjeneste*), e.g. Journaling or Patient."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name_nb = models.CharField(_("name (bokmål)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    description_nb = models.TextField(_("what it means for the municipality (bokmål)"))
    description_en = models.TextField(_("what it means for the municipality (English)"))
    read_by = models.CharField(_("read by"), max_length=20, help_text=_("Comma-separated sides: epj, vft, dho."))
    written_by = models.CharField(_("written by"), max_length=20, help_text=_("Comma-separated sides: epj, vft, dho."))
    # Blank: every EPJ can serve it. Otherwise the EPJ product it needs (e.g. "Epic").
    epj_restriction = models.CharField(_("only with EPJ"), max_length=50, blank=True)
    test_availability = models.CharField(
        _("in test"), max_length=20, choices=Availability.choices, default=Availability.PLANNED
    )
    prod_availability = models.CharField(
        _("in production"), max_length=20, choices=Availability.choices, default=Availability.PLANNED
    )
    planned_for = models.CharField(_("planned for"), max_length=20, blank=True, help_text=_("E.g. 2027 Q2."))
    requires_public_organisation = models.BooleanField(_("only for public organisations"), default=False)
    reader_scopes = models.CharField(_("HelseID scopes for the reader"), max_length=300, blank=True)
    writer_scopes = models.CharField(_("HelseID scopes for the writer"), max_length=300, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order in the catalogue"), default=100)
    is_listed = models.BooleanField(_("shown in the catalogue"), default=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.name

    @property
    def name(self) -> str:
        return self.name_en if get_language() == "en" else self.name_nb

    @property
    def description(self) -> str:
        return self.description_en if get_language() == "en" else self.description_nb

    def availability_in(self, environment: str) -> str:
        return self.prod_availability if environment == Environment.PRODUCTION else self.test_availability

    def is_available_in(self, environment: str) -> bool:
        return self.availability_in(environment) == Availability.AVAILABLE

    def sides(self, field: str) -> list[str]:
        return [side.strip() for side in getattr(self, field).split(",") if side.strip()]

    def scopes_for(self, side: str) -> list[str]:
        """The HelseID scopes a system on this side needs: readers get reader scopes, writers writer scopes."""
        scopes = []
        if side in self.sides("read_by"):
            scopes += self.reader_scopes.split()
        if side in self.sides("written_by"):
            scopes += self.writer_scopes.split()
        return sorted(set(scopes))


class TestEnvironmentException(models.Model):
    """NHN's permission for a real (8/9) organisation to order in the test environment."""

    __test__ = False  # the name starts with "Test"; pytest must not collect it

    organisation = models.OneToOneField(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="test_exception"
    )
    reason = models.TextField(_("reason"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved"), default=timezone.now)

    class Meta:
        verbose_name = _("test environment exception")
        verbose_name_plural = _("test environment exceptions")

    def __str__(self):
        return str(self.organisation)


class OrderQuerySet(models.QuerySet):
    def live(self):
        return self.filter(state__in=Order.LIVE)

    def for_organisation(self, organisation):
        return self.filter(organisation=organisation)


class Order(GuardedStateMixin, models.Model):
    """One service ordered by one organisation for one environment (*bestilling*)."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Waiting for NHN")
        APPROVED = "approved", _("Approved")
        PROVISIONING = "provisioning", _("Being set up")
        ACTIVE = "active", _("Active")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Set-up failed")
        ENDED = "ended", _("Ended")

    LIVE = (State.DRAFT, State.SUBMITTED, State.APPROVED, State.PROVISIONING, State.ACTIVE, State.FAILED)
    TERMINAL = (State.REJECTED, State.CANCELLED, State.ENDED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="orders"
    )
    service = models.ForeignKey(Service, verbose_name=_("service"), on_delete=models.PROTECT, related_name="orders")
    environment = models.CharField(_("environment"), max_length=10, choices=Environment.choices)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.DRAFT)
    usage_acceptance = models.ForeignKey(
        Acceptance,
        verbose_name=_("accepted usage terms"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("submitted by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    activated_at = models.DateTimeField(_("active since"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    objects = OrderQuerySet.as_manager()
    invalid_transition_message = _("The order is “%(state)s” and cannot become “%(target)s”.")

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "service", "environment"],
                condition=models.Q(state__in=["draft", "submitted", "approved", "provisioning", "active", "failed"]),
                name="order_one_live_per_service_and_environment",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "environment"], name="order_state_env"),
            # The vendor dashboard's summary (tenants in production, orders being set up) reads the organisations
            # of those orders off this index alone (issue 15: ~18 ms → ~10 ms for 3,000 tenants at national
            # scale). Partial, so that it never competes with the queue's index for the other states.
            models.Index(
                fields=["state", "environment", "organisation"],
                condition=models.Q(state__in=["approved", "provisioning", "active"]),
                name="order_live_state_env_org",
            ),
            # The staff queue walks one state in submission order (issue 15: without it the walk discarded
            # ~148,000 rows at national scale).
            models.Index(fields=["state", "submitted_at", "created_at"], name="order_queue_state_submitted"),
            # A name search finds the organisations first, then their orders: with what the queue sorts
            # and filters on in the index, that walk never reads the table (127 ms → 7 ms for "vik").
            models.Index(
                fields=["organisation", "state", "submitted_at", "created_at", "id"], name="order_by_org_queue"
            ),
        ]

    def __str__(self):
        return f"{self.service.name} ({choice_label(self, 'environment')}) – {self.organisation.name}"

    def clean(self):
        if self.environment not in Environment.values:
            raise ValidationError({"environment": _("Choose test or production.")})

    def submit(self, *, by, usage_acceptance=None) -> None:
        self._transition(
            [self.State.DRAFT],
            self.State.SUBMITTED,
            submitted_by=by,
            submitted_at=timezone.now(),
            usage_acceptance=usage_acceptance,
        )

    def cancel(self, *, by) -> None:
        self._transition(
            [self.State.DRAFT, self.State.SUBMITTED], self.State.CANCELLED, decided_by=by, decided_at=timezone.now()
        )

    def approve(self, *, by) -> None:
        self._transition([self.State.SUBMITTED], self.State.APPROVED, decided_by=by, decided_at=timezone.now())

    def reject(self, *, by, reason: str) -> None:
        self._transition(
            [self.State.SUBMITTED], self.State.REJECTED, decided_by=by, decided_at=timezone.now(), reason=reason
        )

    def start_provisioning(self) -> None:
        self._transition([self.State.APPROVED, self.State.FAILED], self.State.PROVISIONING, last_error="")

    def activate(self) -> None:
        self._transition([self.State.PROVISIONING], self.State.ACTIVE, activated_at=timezone.now())

    def fail(self, *, error: str) -> None:
        self._transition([self.State.PROVISIONING], self.State.FAILED, last_error=error)

    @classmethod
    def activate_many(cls, orders) -> None:
        """`activate` for many orders in one guarded UPDATE; the caller holds their row locks."""
        cls._transition_many(orders, [cls.State.PROVISIONING], cls.State.ACTIVE, activated_at=timezone.now())

    @classmethod
    def fail_many(cls, orders, *, error: str) -> None:
        """`fail` for many orders with the same error in one guarded UPDATE; the caller holds their row locks."""
        cls._transition_many(orders, [cls.State.PROVISIONING], cls.State.FAILED, last_error=error)

    def end(self, *, by, reason: str) -> None:
        self._transition([self.State.ACTIVE], self.State.ENDED, decided_by=by, decided_at=timezone.now(), reason=reason)


class BulkApprovalJob(GuardedStateMixin, models.Model):
    """NHN staff approving many orders at once (*massegodkjenning*), run in the background.

    The orders are fixed when it starts (one `BulkApprovalItem` each); a Celery task approves them in
    batches, each order through the same guarded transition as a single approval, and the job's
    counts say how far it has come. A worker that dies leaves the items not yet done to the next run.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Approving")
        FINISHED = "finished", _("Finished")

    class Source(models.TextChoices):
        FILTER = "filter", _("Everything matching the queue's filter")
        CHOSEN = "chosen", _("Chosen orders")

    UNFINISHED = (State.QUEUED, State.RUNNING)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(_("orders from"), max_length=10, choices=Source.choices)
    # The queue filter it was started from, as the staff member saw it (empty for chosen orders).
    filter = models.JSONField(_("filter"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    total = models.PositiveIntegerField(_("orders"), default=0)
    approved = models.PositiveIntegerField(_("approved"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # When a message was last handed to the broker and when a batch was last done: the sweeper
    # re-sends jobs where both are older than BULK_APPROVAL_REQUEUE_AFTER.
    dispatched_at = models.DateTimeField(_("sent to the queue"), null=True, blank=True)
    progressed_at = models.DateTimeField(_("last progress"), null=True, blank=True)

    invalid_transition_message = _("The bulk approval is “%(state)s” and cannot become “%(target)s”.")

    class Meta:
        verbose_name = _("bulk approval")
        verbose_name_plural = _("bulk approvals")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "created_at"], name="bulk_approval_state")]

    def __str__(self):
        return _("Bulk approval of %(count)d orders") % {"count": self.total}

    @property
    def done(self) -> int:
        return self.approved + self.skipped + self.failed

    @property
    def is_finished(self) -> bool:
        return self.state == self.State.FINISHED

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)

    def start(self) -> None:
        self._transition([self.State.QUEUED], self.State.RUNNING, started_at=timezone.now())

    def finish(self) -> None:
        self._transition([self.State.RUNNING], self.State.FINISHED, finished_at=timezone.now())


class BulkApprovalItem(models.Model):
    """One order in a bulk approval, and what became of it."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Not yet done")
        APPROVED = "approved", _("Approved")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    job = models.ForeignKey(
        BulkApprovalJob, verbose_name=_("bulk approval"), on_delete=models.CASCADE, related_name="items"
    )
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    message = models.TextField(_("message"), blank=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk approval item")
        verbose_name_plural = _("bulk approval items")
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["job", "order"], name="bulk_approval_item_once")]
        indexes = [models.Index(fields=["job", "outcome"], name="bulk_approval_item_outcome")]

    def __str__(self):
        return f"{self.job_id}: {self.order_id} ({self.outcome})"


HELSEID_AUTHORITY = {
    Environment.TEST: "https://helseid-sts.test.nhn.no",
    Environment.PRODUCTION: "https://helseid-sts.nhn.no",
}


def helseid_authority(environment: str) -> str:
    """HelseID's authority for an environment; setting ``HELSEID_CLIENT_AUTHORITIES`` overrides it."""
    overrides = getattr(settings, "HELSEID_CLIENT_AUTHORITIES", None) or {}
    return (overrides.get(environment) or HELSEID_AUTHORITY[environment]).rstrip("/")


class HelseIdClientQuerySet(models.QuerySet):
    def with_key_expiry_flag(self):
        """Each client with ``key_expires_soon``: a key in use expires within KEY_EXPIRY_REMINDER_DAYS."""
        today = timezone.localdate()
        horizon = today + timedelta(days=settings.KEY_EXPIRY_REMINDER_DAYS)
        soon = ClientKey.objects.filter(
            client=models.OuterRef("pk"), retired_at__isnull=True, expires_on__gte=today, expires_on__lte=horizon
        )
        return self.annotate(key_expires_soon=models.Exists(soon))


class HelseIdClient(GuardedStateMixin, models.Model):
    """The HelseID client configuration issued to a vendor system for an environment (*klientkonfigurasjon*)."""

    class Tenancy(models.TextChoices):
        MULTI = "multi-tenant", _("Multi-tenant: one client for all your municipalities (recommended for SaaS)")
        SINGLE = "single-tenant", _("Single-tenant: one client per municipality (locally installed systems)")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be registered in HelseID")
        ACTIVE = "active", _("Registered in HelseID")
        DISABLED = "disabled", _("Disabled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # HelseID's client_id is a GUID; the portal issues it, the registry takes it over (issue #6).
    client_id = models.UUIDField(_("client ID"), default=uuid.uuid4, unique=True, editable=False)
    system = models.ForeignKey(
        "members.VendorSystem", verbose_name=_("system"), on_delete=models.PROTECT, related_name="helseid_clients"
    )
    environment = models.CharField(_("environment"), max_length=10, choices=Environment.choices)
    tenancy = models.CharField(_("tenancy"), max_length=20, choices=Tenancy.choices, default=Tenancy.MULTI)
    tenant = models.ForeignKey(
        Organisation,
        verbose_name=_("municipality"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="single_tenant_clients",
        help_text=_("Single-tenant clients only."),
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = HelseIdClientQuerySet.as_manager()

    invalid_transition_message = _("The client is “%(state)s” and cannot become “%(target)s”.")

    class Meta:
        verbose_name = _("HelseID client")
        verbose_name_plural = _("HelseID clients")
        ordering = ["system__name", "environment"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "environment"],
                condition=models.Q(tenancy="multi-tenant") & ~models.Q(state="disabled"),
                name="helseid_one_multi_tenant_client",
            ),
            models.UniqueConstraint(
                fields=["system", "environment", "tenant"],
                condition=models.Q(tenancy="single-tenant") & ~models.Q(state="disabled"),
                name="helseid_one_single_tenant_client_per_tenant",
            ),
            models.CheckConstraint(
                condition=models.Q(tenancy="multi-tenant", tenant__isnull=True)
                | models.Q(tenancy="single-tenant", tenant__isnull=False),
                name="helseid_tenant_matches_tenancy",
            ),
        ]

    def __str__(self):
        suffix = f" – {self.tenant.name}" if self.tenant_id else ""
        return f"{self.system.name} ({choice_label(self, 'environment')}){suffix}"

    @property
    def authority(self) -> str:
        return helseid_authority(self.environment)


class ClientKey(models.Model):
    """A public key a HelseID client signs its client assertions with; several may overlap for rotation."""

    # The portal's own id for the key, used in URLs: a vendor's kid can hold anything URLs cannot.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(HelseIdClient, verbose_name=_("client"), on_delete=models.PROTECT, related_name="keys")
    kid = models.CharField(_("key ID"), max_length=200)
    alg = models.CharField(_("algorithm"), max_length=10)
    kty = models.CharField(_("key type"), max_length=10)
    size = models.PositiveIntegerField(_("size (bits)"))
    thumbprint = models.CharField(_("thumbprint"), max_length=100)
    public_jwk = models.JSONField(_("public key"))
    expires_on = models.DateField(_("expires"), null=True, blank=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    # Set when the vendor was reminded that the key expires, so the reminder goes out once.
    expiry_reminded_at = models.DateTimeField(_("reminded of expiry"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        verbose_name = _("client key")
        verbose_name_plural = _("client keys")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["client", "kid"], name="client_key_unique_kid")]

    def __str__(self):
        return f"{self.kid} ({self.alg})"

    @property
    def is_active(self) -> bool:
        return self.retired_at is None and (self.expires_on is None or self.expires_on >= timezone.localdate())

    @property
    def expires_soon(self) -> bool:
        """In use, and expiring within KEY_EXPIRY_REMINDER_DAYS: time to add the next key."""
        if not self.is_active or self.expires_on is None:
            return False
        return self.expires_on <= timezone.localdate() + timedelta(days=settings.KEY_EXPIRY_REMINDER_DAYS)


class ProvisioningTaskQuerySet(models.QuerySet):
    def open(self):
        return self.filter(state__in=ProvisioningTask.OPEN)

    def for_order(self, order):
        return self.filter(order=order).order_by("created_at", "pk")


class ProvisioningTask(models.Model):
    """One change to make in a backing service (*provisjoneringsoppgave*): the transactional outbox.

    Rows are written in the same transaction as the state change that needs them and sent to
    Celery after commit. A task does not carry the request it will make: it names its target and
    brings that target to what the database says it should be when it runs, so tasks for the same
    target may run in any order, twice, or after a newer change, and the result is still right.
    """

    class Kind(models.TextChoices):
        VKP_ACCESS = "vkp.access", _("Access in the VKP information service")
        HELSEID_CLIENT = "helseid.client", _("HelseID client")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SUCCEEDED = "succeeded", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled by NHN")
        # A newer task for the same target came while this one still waited; the newer one's run serves both.
        SUPERSEDED = "superseded", _("Replaced by a newer step")

    class Reason(models.TextChoices):
        ORDER_APPROVED = "order_approved", _("Order approved")
        ORDER_ENDED = "order_ended", _("Order ended")
        ASSIGNMENT_CREATED = "assignment_created", _("System registered by the municipality")
        ASSIGNMENT_ENDED = "assignment_ended", _("System registration ended")
        SERVICES_CHANGED = "services_changed", _("Supported services changed")
        CLIENT_CREATED = "client_created", _("Client created")
        KEYS_CHANGED = "keys_changed", _("Keys changed")
        CLIENT_DISABLED = "client_disabled", _("Client disabled")
        RECONCILIATION = "reconciliation", _("Drift found by reconciliation")

    OPEN = (State.PENDING, State.FAILED)
    DONE = (State.SUCCEEDED, State.CANCELLED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Sent as the Idempotency-Key header (with the request's own digest), so a repeated call is a replay.
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    reason = models.CharField(_("why"), max_length=30, choices=Reason.choices)
    # What the task brings up to date, e.g. "vkp:test:921234567:vkp-journaling:<system uuid>" or
    # "helseid:<client id>"; used to see which targets already have work under way.
    target = models.CharField(_("target"), max_length=200, db_index=True)
    payload = models.JSONField(_("target details"))
    order = models.ForeignKey(
        Order,
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="provisioning_tasks",
    )
    client = models.ForeignKey(
        HelseIdClient,
        verbose_name=_("client"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="provisioning_tasks",
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    # When the message was last handed to the broker; the sweeper re-sends those that never ran.
    dispatched_at = models.DateTimeField(_("sent to the queue"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    result = models.JSONField(_("what was done"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cancelled by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The task whose run does this one's work (state "superseded"). Always the newest: when that one is
    # replaced in turn, the tasks it stood for move to its replacement, so there is never a chain.
    superseded_by = models.ForeignKey(
        "self",
        verbose_name=_("replaced by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced",
    )

    objects = ProvisioningTaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("provisioning task")
        verbose_name_plural = _("provisioning tasks")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="provisioning_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state="superseded", superseded_by__isnull=False)
                | (~models.Q(state="superseded") & models.Q(superseded_by__isnull=True)),
                name="provisioning_superseded_names_its_replacement",
            ),
        ]

    def __str__(self):
        return f"{choice_label(self, 'kind')}: {self.describe()}"

    @property
    def serving(self) -> "ProvisioningTask":
        """The task whose run does this one's work: itself, or the newer one that replaced it."""
        return self.superseded_by if self.state == self.State.SUPERSEDED else self

    def describe(self) -> str:
        """One line a person understands: what this step does to which system."""
        return self.describe_step(self.kind, self.payload)

    # The payload's names the description uses: the audit log keeps these, and describes the step when shown.
    STEP_NAMES = ("system_name", "organisation_name", "service_name", "client_name", "client_id")

    def step_params(self) -> dict:
        """The step as codes and names, for the audit log (rendered in the reader's language by describe_step)."""
        return {"kind": self.kind, **{key: self.payload[key] for key in self.STEP_NAMES if key in self.payload}}

    @classmethod
    def describe_step(cls, kind: str, payload: dict) -> str:
        if kind == cls.Kind.VKP_ACCESS:
            return _("%(system)s for %(organisation)s in %(service)s") % {
                "system": payload.get("system_name", ""),
                "organisation": payload.get("organisation_name", ""),
                "service": payload.get("service_name", ""),
            }
        return _("Client %(client)s") % {"client": payload.get("client_name", payload.get("client_id", ""))}

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN


class ReconciliationRun(GuardedStateMixin, models.Model):
    """One comparison of the backing services with the database (*avstemming*), hourly or asked for by NHN staff."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Comparing")
        FINISHED = "finished", _("Finished")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Every hour")
        PERSON = "person", _("Asked for by NHN")

    UNFINISHED = (State.QUEUED, State.RUNNING)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(_("started by"), max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("asked for by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    missing = models.PositiveIntegerField(_("missing"), default=0)
    unexpected = models.PositiveIntegerField(_("unexpected"), default=0)
    changed = models.PositiveIntegerField(_("changed"), default=0)
    repaired = models.PositiveIntegerField(_("repair queued"), default=0)
    left_for_person = models.PositiveIntegerField(_("left for a person"), default=0)
    error = models.TextField(_("error"), blank=True)

    invalid_transition_message = _("The reconciliation is “%(state)s” and cannot become “%(target)s”.")

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "created_at"], name="reconciliation_run_state")]

    def __str__(self):
        return _("Reconciliation of %(when)s") % {
            "when": timezone.localtime(self.created_at).strftime("%d.%m.%Y %H:%M")
        }

    @property
    def is_unfinished(self) -> bool:
        return self.state in self.UNFINISHED

    @property
    def differences(self) -> int:
        return self.missing + self.unexpected + self.changed

    def begin(self) -> None:
        self._transition([self.State.QUEUED], self.State.RUNNING, started_at=timezone.now())

    def finish(self, **counts) -> None:
        self._transition([self.State.RUNNING], self.State.FINISHED, finished_at=timezone.now(), **counts)

    def fail(self, *, error: str) -> None:
        self._transition(list(self.UNFINISHED), self.State.FAILED, finished_at=timezone.now(), error=error)


# Words in a finding's expected/found values, as a person reads them.
FINDING_WORDS = {
    "read": _("read"),
    "write": _("write"),
    "registered": _("registered"),
    "missing": _("missing"),
    "enabled": _("enabled"),
    "disabled": _("disabled"),
}


def _finding_side_text(side: dict) -> str:
    parts = []
    if "access" in side:
        parts.append(", ".join(str(FINDING_WORDS.get(word, word)) for word in side["access"]))
    if "state" in side:
        parts.append(str(FINDING_WORDS.get(side["state"], side["state"])))
    if "keys" in side:
        parts.append(_("keys: %(kids)s") % {"kids": ", ".join(str(kid) for kid in side["keys"]) or "–"})
    if "tenants" in side:
        tenants = "; ".join(f"{org} ({', '.join(scopes)})" for org, scopes in sorted(side["tenants"].items()))
        parts.append(_("tenants: %(tenants)s") % {"tenants": tenants or "–"})
    return " · ".join(part for part in parts if part) or str(_("nothing"))


class ReconciliationFinding(GuardedStateMixin, models.Model):
    """One difference a reconciliation found between a backing service and the database (*avvik*)."""

    class Kind(models.TextChoices):
        MISSING = "missing", _("Missing in the service")
        UNEXPECTED = "unexpected", _("In the service, not in the portal")
        CHANGED = "changed", _("Different in the service")

    class Handling(models.TextChoices):
        REPAIR_QUEUED = "repair_queued", _("Repair queued")
        LEFT_FOR_PERSON = "left_for_person", _("Left for a person")
        KEPT_EARLIER = "kept_earlier", _("Kept by an earlier decision")

    class State(models.TextChoices):
        NONE = "none", _("No decision needed")
        WAITING = "waiting", _("Waiting for a decision")
        REVOKED = "revoked", _("Removed")
        KEPT = "kept", _("Kept")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    run = models.ForeignKey(
        ReconciliationRun, verbose_name=_("reconciliation"), on_delete=models.CASCADE, related_name="findings"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    handling = models.CharField(_("handling"), max_length=16, choices=Handling.choices)
    state = models.CharField(_("decision"), max_length=10, choices=State.choices, default=State.NONE)
    # The same target string as ProvisioningTask.target ("vkp:…" or "helseid:…").
    target = models.CharField(_("target"), max_length=200, db_index=True)
    # Who and what it is about, in names a person knows (organisation, service, system or client).
    subject = models.JSONField(_("about"), default=dict, blank=True)
    expected = models.JSONField(_("expected"), default=dict, blank=True)
    found = models.JSONField(_("found"), default=dict, blank=True)
    task = models.ForeignKey(
        ProvisioningTask,
        verbose_name=_("provisioning task"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    invalid_transition_message = _("The finding is “%(state)s” and cannot become “%(target)s”.")

    class Meta:
        verbose_name = _("reconciliation finding")
        verbose_name_plural = _("reconciliation findings")
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["run", "kind"], name="reconciliation_finding_kind"),
            models.Index(fields=["state", "target"], name="reconciliation_decision"),
        ]

    def __str__(self):
        return f"{choice_label(self, 'kind')}: {self.target}"

    def describe(self) -> str:
        """One line a person understands: which system has what where."""
        subject = self.subject
        if self.target.startswith("helseid:"):
            return _("Client %(client)s") % {"client": subject.get("client_name") or subject.get("client_id", "")}
        return _("%(system)s for %(organisation)s in %(service)s") % {
            "system": subject.get("system_name") or subject.get("system", ""),
            "organisation": subject.get("organisation_name") or subject.get("org_number", ""),
            "service": subject.get("service_name") or subject.get("service", ""),
        }

    @property
    def expected_text(self) -> str:
        return _finding_side_text(self.expected or {})

    @property
    def found_text(self) -> str:
        return _finding_side_text(self.found or {})

    @property
    def is_waiting(self) -> bool:
        return self.state == self.State.WAITING

    def revoke(self, *, by) -> None:
        self._transition([self.State.WAITING], self.State.REVOKED, decided_by=by, decided_at=timezone.now())

    def keep(self, *, by, reason: str) -> None:
        self._transition([self.State.WAITING], self.State.KEPT, decided_by=by, decided_at=timezone.now(), reason=reason)
