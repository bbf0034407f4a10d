import hashlib
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.choices import Environment
from portal.transitions import GuardedStateMixin, InvalidTransition

from . import orgnr


class UserManager(DjangoUserManager):
    """Users log in with their e-mail address; there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("Users need an e-mail address.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person who logs in to the portal (*bruker*)."""

    username = None
    email = models.EmailField(_("e-mail address"), unique=True)
    # NHN's customer centre (*Kundesenteret*) is a role of its own, not an organisation admin.
    is_nhn_staff = models.BooleanField(
        _("NHN customer-centre staff"),
        default=False,
        help_text=_("Approves memberships and orders and follows up provisioning for every organisation."),
    )
    # Set by the language switch; pages after a login, e-mails and PDFs to this person use it.
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=[("nb", "Norsk bokmål"), ("en", "English")], default="nb"
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.get_full_name() or self.email


class OrganisationQuerySet(models.QuerySet):
    def members(self):
        return self.filter(kind__in=Organisation.MEMBER_KINDS)

    def vendors(self):
        return self.filter(kind__in=Organisation.VENDOR_KINDS)


class Organisation(models.Model):
    """A legal entity in Enhetsregisteret that deals with NHN (*virksomhet*)."""

    class Kind(models.TextChoices):
        MUNICIPALITY = "municipality", _("Municipality")
        HEALTH_ENTERPRISE = "health_enterprise", _("Health enterprise")
        PRIVATE_PRACTICE = "private_practice", _("Private practice")
        HEALTH_REGISTRY = "health_registry", _("Health registry")
        STATE_ADMINISTRATION = "state_administration", _("State health administration")
        VENDOR = "vendor", _("Vendor")
        PARTNER = "partner", _("Partner")
        NHN = "nhn", _("Norsk helsenett")

    MEMBER_KINDS = (
        Kind.MUNICIPALITY,
        Kind.HEALTH_ENTERPRISE,
        Kind.PRIVATE_PRACTICE,
        Kind.HEALTH_REGISTRY,
        Kind.STATE_ADMINISTRATION,
    )
    # Partners (*samarbeidspartnere*) may hold vendor-like access (vendor terms 2.0).
    VENDOR_KINDS = (Kind.VENDOR, Kind.PARTNER)

    org_number = models.CharField(
        _("organisation number"), max_length=9, unique=True, validators=[orgnr.validate_org_number]
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("type"), max_length=32, choices=Kind.choices)
    municipality_number = models.CharField(_("municipality number"), max_length=4, blank=True)
    is_public = models.BooleanField(_("public organisation"), default=False)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="units",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(org_number__regex=r"^[0-9]{9}$"), name="organisation_org_number_nine_digits"
            ),
        ]
        indexes = [
            # Lists sorted by name (directory, tenant lists) read the first page off the index instead of
            # sorting 60,000 rows; the customer centre counts per kind from the index alone.
            models.Index(fields=["name", "id"], name="organisation_by_name"),
            models.Index(fields=["kind"], name="organisation_kind"),
        ]

    def __str__(self):
        return f"{self.name} ({self.org_number})"

    def save(self, *args, **kwargs):
        # An organisation number never changes: a new number is a new organisation (no transfer).
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values_list("org_number", flat=True).first()
            if stored is not None and stored != self.org_number:
                raise ValidationError(_("An organisation's number cannot be changed."), code="org_number_immutable")
        super().save(*args, **kwargs)

    @property
    def is_synthetic(self) -> bool:
        """Synthetic (test) organisations have numbers starting with 2 or 3."""
        return orgnr.is_synthetic(self.org_number)

    @property
    def formatted_org_number(self) -> str:
        return orgnr.formatted(self.org_number)

    @property
    def is_member_kind(self) -> bool:
        return self.kind in self.MEMBER_KINDS

    @property
    def is_vendor_kind(self) -> bool:
        return self.kind in self.VENDOR_KINDS


class Affiliation(models.Model):
    """A person's role in an organisation (*rolle i virksomheten*)."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        SIGNATORY = "signatory", _("Authorised signatory")
        VIEWER = "viewer", _("Viewer")
        VENDOR_USER = "vendor_user", _("Vendor user")

    MEMBER_ROLES = (Role.ADMIN, Role.SIGNATORY, Role.VIEWER)
    VENDOR_ROLES = (Role.VENDOR_USER,)

    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="affiliations")
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.CASCADE, related_name="affiliations"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("affiliation")
        verbose_name_plural = _("affiliations")
        ordering = ["organisation__name", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation", "role"], name="affiliation_unique_role"),
        ]

    def __str__(self):
        return f"{self.user} – {self.get_role_display()} – {self.organisation}"

    def clean(self):
        if self.role in self.VENDOR_ROLES and not self.organisation.is_vendor_kind:
            raise ValidationError({"role": _("Vendor users belong to vendor or partner organisations.")})
        if self.role in self.MEMBER_ROLES and not self.organisation.is_member_kind:
            raise ValidationError(
                {
                    "role": _(
                        "This role belongs to member organisations (municipalities and other healthcare providers)."
                    )
                }
            )


class TermsDocumentQuerySet(models.QuerySet):
    """Two questions, two answers (issue 16):

    - *What is signed now?* ``current``: the newest published version. A new version is signable the
      moment it is published, well before it takes effect.
    - *Does an older signature still count?* ``valid_for``: a signature counts while no newer version
      has taken effect, i.e. on the version ``in_force`` (the newest whose ``effective_from`` has passed)
      or on any version published after it. So after the effective date the old acceptance no longer
      counts (*Nye vilkår må aksepteres*); before it, old and new both do.
    """

    def published(self):
        return self.filter(published_at__isnull=False)

    def current(self, kind: str, service_code: str = ""):
        """The version to sign now (the newest published) for a kind (and service, for usage terms), or None."""
        return self.published().filter(kind=kind, service_code=service_code).order_by("-published_at", "-pk").first()

    def current_per_service(self, kind: str) -> dict[str, "TermsDocument"]:
        """The version to sign now for each service code, in one query."""
        # Oldest first, so each later version overwrites the one it replaced.
        return {
            document.service_code: document
            for document in self.published().filter(kind=kind).order_by("published_at", "pk")
        }

    def in_force(self, kind: str, service_code: str = ""):
        """The newest version whose effective date has passed, or None."""
        return (
            self.published()
            .filter(kind=kind, service_code=service_code, effective_from__lte=timezone.now())
            .order_by("-published_at", "-pk")
            .first()
        )

    def valid_for(self, kind: str, service_code: str = ""):
        """The versions whose signature counts now: the one in force and every one published after it."""
        versions = self.published().filter(kind=kind, service_code=service_code)
        in_force = self.in_force(kind, service_code)
        return versions if in_force is None else versions.filter(published_at__gte=in_force.published_at)

    def valid_per_service(self, kind: str) -> dict[str, set[int]]:
        """For each service code, the pks of the versions whose signature counts now, in one query."""
        return {code: set(standing.valid) for code, standing in self.standing_per_service(kind).items()}

    def standing_per_service(self, kind: str) -> dict[str, "TermsStanding"]:
        """For each service code of a kind: ``current``, ``in_force`` and ``valid_for`` at once, in one query
        (a page that needs more than one of them reads the versions once)."""
        now = timezone.now()
        by_service: dict[str, list[TermsDocument]] = {}
        for document in self.published().filter(kind=kind).order_by("published_at", "pk"):
            by_service.setdefault(document.service_code, []).append(document)
        standing = {}
        for code, versions in by_service.items():
            in_force = [i for i, document in enumerate(versions) if document.effective_from <= now]
            start = in_force[-1] if in_force else 0
            standing[code] = TermsStanding(
                current=versions[-1],
                in_force=versions[in_force[-1]] if in_force else None,
                valid=frozenset(document.pk for document in versions[start:]),
            )
        return standing


@dataclass(frozen=True)
class TermsStanding:
    """Where one kind (and service) of terms stands now; see ``TermsDocumentQuerySet.standing_per_service``."""

    current: "TermsDocument"  # the newest published version: the one to sign now
    in_force: "TermsDocument | None"  # the newest whose effective date has passed
    valid: frozenset[int]  # the versions whose signature counts now


class TermsDocument(models.Model):
    """One version of NHN's terms (*vilkår*). Immutable once published; a new version replaces it."""

    class Kind(models.TextChoices):
        MEMBERSHIP = "membership", _("Membership terms with data processing agreement")
        USAGE = "usage", _("Usage terms for a service")
        VENDOR = "vendor", _("Vendor terms")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    # The catalogue code of the service usage terms belong to (e.g. "vkp-journaling"); empty otherwise.
    service_code = models.CharField(_("service code"), max_length=64, blank=True)
    version = models.CharField(_("version"), max_length=20)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), help_text=_("Plain text. Blank lines separate paragraphs."))
    effective_from = models.DateTimeField(_("in force from"), default=timezone.now)
    # Written by NHN staff when publishing: what changed, for the e-mail and the signing page.
    change_note = models.TextField(_("what changed"), blank=True)
    # The version this one replaced when it was published (None for the first of its kind).
    replaces = models.ForeignKey(
        "self", verbose_name=_("replaces"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # When the e-mails about this publication were all queued (the fan-out task finished).
    notified_at = models.DateTimeField(_("members told"), null=True, blank=True, editable=False)
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True, editable=False)
    published_by = models.ForeignKey(
        User, verbose_name=_("published by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = TermsDocumentQuerySet.as_manager()

    class Meta:
        verbose_name = _("terms document")
        verbose_name_plural = _("terms documents")
        ordering = ["kind", "service_code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "service_code", "version"], name="terms_unique_version"),
            models.CheckConstraint(
                condition=~models.Q(kind="usage") | ~models.Q(service_code=""), name="terms_usage_names_service"
            ),
        ]

    def __str__(self):
        return self.title_with_version

    def save(self, *args, **kwargs):
        if self.pk is not None and type(self).objects.filter(pk=self.pk, published_at__isnull=False).exists():
            raise ValidationError(_("Published terms cannot be changed. Publish a new version instead."))
        self.sha256 = self.compute_sha256()
        super().save(*args, **kwargs)

    @property
    def title_with_version(self) -> str:
        """ "Leverandørvilkår 2.0", not "Leverandørvilkår 2.0 2.0" when the title already names its version."""
        return self.title if self.title.endswith(self.version) else f"{self.title} {self.version}"

    def compute_sha256(self) -> str:
        """The fingerprint a signature binds to: every word the signer was shown."""
        canonical = "\n".join([self.kind, self.service_code, self.version, self.title, self.body.replace("\r\n", "\n")])
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def publish(self, *, by: User, effective_from=None, change_note: str = "") -> None:
        """Publish this draft, replacing the newest published version of the same kind and service."""
        replaces = type(self).objects.current(self.kind, self.service_code)
        updated = (
            type(self)
            .objects.filter(pk=self.pk, published_at__isnull=True)
            .update(
                published_at=timezone.now(),
                published_by=by,
                effective_from=effective_from or self.effective_from,
                change_note=change_note,
                replaces=replaces,
            )
        )
        if not updated:
            raise InvalidTransition(_("These terms are already published."))
        self.refresh_from_db()

    @property
    def is_in_effect(self) -> bool:
        return self.effective_from <= timezone.now()


class Acceptance(models.Model):
    """An organisation's signature on one exact version of NHN's terms (*aksept av vilkår*)."""

    class Authority(models.TextChoices):
        REGISTER_ROLE = "register_role", _("Role in Enhetsregisteret")
        DELEGATION = "delegation", _("Delegation from an authorised signatory")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="acceptances"
    )
    document = models.ForeignKey(
        TermsDocument, verbose_name=_("terms"), on_delete=models.PROTECT, related_name="acceptances"
    )
    # Copied at signing, so the receipt proves which text was signed even if a bug ever touched the document.
    document_sha256 = models.CharField(_("SHA-256 of the signed text"), max_length=64)
    signed_by = models.ForeignKey(User, verbose_name=_("signed by"), on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(_("signer"), max_length=200)
    authority = models.CharField(_("authority"), max_length=20, choices=Authority.choices)
    authority_detail = models.CharField(_("authority in detail"), max_length=300)
    # How the signer was identified, e.g. "ID-porten, idporten-loa-high"; names typed into the portal never count.
    verified_with = models.CharField(_("identified with"), max_length=100, blank=True)
    signed_at = models.DateTimeField(_("signed"), default=timezone.now)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=400, blank=True)
    # A joint signature (signatur i fellesskap, SIFE/POFE) counts only with a second holder's co-signature.
    cosigned_by = models.ForeignKey(
        User, verbose_name=_("co-signed by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cosigner_name = models.CharField(_("co-signer"), max_length=200, blank=True)
    cosigner_authority_detail = models.CharField(_("co-signer's authority"), max_length=300, blank=True)
    cosigned_at = models.DateTimeField(_("co-signed"), null=True, blank=True)

    class Meta:
        verbose_name = _("acceptance")
        verbose_name_plural = _("acceptances")
        ordering = ["-signed_at"]
        constraints = [
            # A double submit, or two signatories at once, gives one signature per document.
            models.UniqueConstraint(fields=["organisation", "document"], name="acceptance_once_per_document"),
        ]

    def __str__(self):
        return f"{self.organisation.name}: {self.document} ({self.signer_name})"


class TermsNotification(models.Model):
    """One person told about one publication of terms: the row that keeps the fan-out from mailing twice."""

    document = models.ForeignKey(
        TermsDocument, verbose_name=_("terms"), on_delete=models.CASCADE, related_name="notifications"
    )
    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+")
    # The organisations the one e-mail named (a person in two affected organisations gets one mail).
    organisations = models.JSONField(_("organisations"), default=list)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("terms notification")
        verbose_name_plural = _("terms notifications")
        constraints = [
            models.UniqueConstraint(fields=["document", "user"], name="terms_notification_once_per_person"),
        ]

    def __str__(self):
        return f"{self.document} → {self.user}"


class JointSignature(models.Model):
    """One holder's signature on a joint role (*signatur i fellesskap*), waiting for a second holder.

    It becomes an Acceptance (with both names) when another holder of a joint role, a different
    person as ID-porten identifies them, signs the same version of the terms.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="joint_signatures"
    )
    document = models.ForeignKey(
        TermsDocument, verbose_name=_("terms"), on_delete=models.PROTECT, related_name="joint_signatures"
    )
    document_sha256 = models.CharField(_("SHA-256 of the signed text"), max_length=64)
    signed_by = models.ForeignKey(User, verbose_name=_("signed by"), on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(_("signer"), max_length=200)
    signer_pid_hash = models.CharField(max_length=64, editable=False)
    # With the name, what the register is asked again when the co-signer signs: is the role still held?
    signer_birth_date = models.DateField(_("signer's birth date"), null=True, blank=True)
    authority_detail = models.CharField(_("authority in detail"), max_length=300)
    verified_with = models.CharField(_("identified with"), max_length=100, blank=True)
    signed_at = models.DateTimeField(_("signed"), default=timezone.now)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=400, blank=True)
    acceptance = models.OneToOneField(
        Acceptance, null=True, blank=True, on_delete=models.PROTECT, related_name="joint_signature"
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("joint signature awaiting a co-signer")
        verbose_name_plural = _("joint signatures awaiting a co-signer")
        ordering = ["-signed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "document"],
                condition=models.Q(acceptance__isnull=True, closed_at__isnull=True),
                name="joint_signature_one_open_per_document",
            ),
        ]

    def __str__(self):
        return f"{self.organisation.name}: {self.document} ({self.signer_name}, awaiting co-signer)"


class SigningDelegation(models.Model):
    """Signing authority given by a registered signatory to a named person (*fullmakt*).

    The signatory names the person by e-mail address; the delegation binds to that person's
    national identity (its keyed hash) at their first ID-porten login, and only that person,
    identified by ID-porten again when signing, may use it.
    """

    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="delegations"
    )
    delegate_email = models.EmailField(_("delegate's e-mail address"))
    delegate = models.ForeignKey(
        User, verbose_name=_("delegate"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    delegate_pid_hash = models.CharField(max_length=64, blank=True, editable=False)
    bound_at = models.DateTimeField(_("bound to the person"), null=True, blank=True)
    delegated_by = models.ForeignKey(User, verbose_name=_("delegated by"), on_delete=models.PROTECT, related_name="+")
    delegated_by_name = models.CharField(_("delegated by (name)"), max_length=200, blank=True)
    delegated_by_authority = models.CharField(_("authority of the one delegating"), max_length=300)
    # With the name, who to look for in Enhetsregisteret each time the delegation is used.
    delegated_by_birth_date = models.DateField(_("birth date of the one delegating"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("signing delegation")
        verbose_name_plural = _("signing delegations")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "delegate"],
                condition=models.Q(revoked_at__isnull=True),
                name="delegation_one_active_per_person",
            ),
            models.UniqueConstraint(
                Lower("delegate_email"),
                "organisation",
                condition=models.Q(revoked_at__isnull=True),
                name="delegation_one_active_per_address",
            ),
        ]

    def __str__(self):
        return f"{self.delegate or self.delegate_email} ← {self.delegated_by} ({self.organisation.name})"

    @property
    def is_bound(self) -> bool:
        return bool(self.delegate_pid_hash)


class MembershipQuerySet(models.QuerySet):
    def live(self):
        return self.filter(state__in=Membership.LIVE)


class Membership(GuardedStateMixin, models.Model):
    """An organisation's membership of the health network (*medlemskap i Helsenettet*)."""

    class State(models.TextChoices):
        APPLIED = "applied", _("Applied, waiting for signature")
        PENDING_APPROVAL = "pending_approval", _("Waiting for NHN's approval")
        ACTIVE = "active", _("Active")
        REJECTED = "rejected", _("Rejected")
        SUSPENDED = "suspended", _("Suspended")
        ENDED = "ended", _("Ended")

    LIVE = (State.APPLIED, State.PENDING_APPROVAL, State.ACTIVE, State.SUSPENDED)
    TERMINAL = (State.REJECTED, State.ENDED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="memberships"
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.APPLIED)
    acceptance = models.ForeignKey(
        Acceptance, verbose_name=_("signed terms"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    applied_by = models.ForeignKey(User, verbose_name=_("applied by"), on_delete=models.PROTECT, related_name="+")
    applied_at = models.DateTimeField(_("applied"), default=timezone.now)
    submitted_at = models.DateTimeField(_("sent for approval"), null=True, blank=True)
    decided_by = models.ForeignKey(
        User, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    # What Enhetsregisteret said when the organisation applied, for NHN staff to review.
    registry_snapshot = models.JSONField(_("Enhetsregisteret data"), default=dict, blank=True)

    objects = MembershipQuerySet.as_manager()
    invalid_transition_message = _("The membership is “%(state)s” and cannot become “%(target)s”.")

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["-applied_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation"],
                condition=models.Q(state__in=["applied", "pending_approval", "active", "suspended"]),
                name="membership_one_live_per_organisation",
            ),
        ]

    def __str__(self):
        return f"{self.organisation.name}: {self.get_state_display()}"

    def submit_for_approval(self, *, acceptance: Acceptance) -> None:
        self._transition(
            [self.State.APPLIED], self.State.PENDING_APPROVAL, acceptance=acceptance, submitted_at=timezone.now()
        )

    def approve(self, *, by: User) -> None:
        self._transition([self.State.PENDING_APPROVAL], self.State.ACTIVE, decided_by=by, decided_at=timezone.now())

    def reject(self, *, by: User, reason: str) -> None:
        self._transition(
            [self.State.APPLIED, self.State.PENDING_APPROVAL],
            self.State.REJECTED,
            decided_by=by,
            decided_at=timezone.now(),
            reason=reason,
        )

    def suspend(self, *, by: User, reason: str) -> None:
        self._transition(
            [self.State.ACTIVE], self.State.SUSPENDED, decided_by=by, decided_at=timezone.now(), reason=reason
        )

    def reinstate(self, *, by: User) -> None:
        self._transition([self.State.SUSPENDED], self.State.ACTIVE, decided_by=by, decided_at=timezone.now(), reason="")

    def end(self, *, by: User, reason: str) -> None:
        self._transition(
            [self.State.ACTIVE, self.State.SUSPENDED],
            self.State.ENDED,
            decided_by=by,
            decided_at=timezone.now(),
            reason=reason,
        )

    @property
    def is_live(self) -> bool:
        return self.state in self.LIVE

    @staticmethod
    def terms_kind_for(organisation: Organisation) -> str:
        """Members rest on the membership terms; vendors and partners on the vendor terms."""
        return TermsDocument.Kind.VENDOR if organisation.is_vendor_kind else TermsDocument.Kind.MEMBERSHIP

    def needs_new_terms(self, in_force: TermsDocument | None) -> bool:
        """True when the membership rests on a version older than the one now in force (*Nye vilkår må
        aksepteres*): a newer version has reached its effective date and nobody has signed it yet.

        Pass ``TermsDocument.objects.in_force(kind)``; a version published but not yet in effect does
        not count here (the dashboard lists it as waiting for a signature, with its date)."""
        if not (in_force and self.acceptance_id) or self.acceptance.document_id == in_force.pk:
            return False
        signed = self.acceptance.document
        return signed.published_at is not None and signed.published_at < in_force.published_at


class SystemKind(models.TextChoices):
    EPJ = "epj", _("Patient record system (EPJ)")
    VFT = "vft", _("Welfare technology (VFT)")
    DHO = "dho", _("Digital home follow-up (DHO)")


class VendorSystem(models.Model):
    """A vendor's product that municipalities use, e.g. an EPJ or a safety alarm platform (*fagsystem*)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    vendor = models.ForeignKey(
        Organisation, verbose_name=_("vendor"), on_delete=models.PROTECT, related_name="vendor_systems"
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("type"), max_length=10, choices=SystemKind.choices)
    # Some services work only with one EPJ product (Epic for AllergyIntolerance, Condition, ...).
    product = models.CharField(_("product family"), max_length=100, blank=True, help_text=_("For example Epic."))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("vendor system")
        verbose_name_plural = _("vendor systems")
        ordering = ["vendor__name", "name"]
        constraints = [models.UniqueConstraint(fields=["vendor", "name"], name="vendor_system_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.vendor.name})"

    def clean(self):
        if self.vendor_id and not self.vendor.is_vendor_kind:
            raise ValidationError({"vendor": _("Only vendors and partners have vendor systems.")})


class VendorAssignmentQuerySet(models.QuerySet):
    def active(self):
        return self.filter(ended_at__isnull=True)


class VendorAssignment(models.Model):
    """A municipality's choice of a vendor system for an environment (*leverandørvalg*)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="vendor_assignments"
    )
    system = models.ForeignKey(
        VendorSystem, verbose_name=_("system"), on_delete=models.PROTECT, related_name="assignments"
    )
    # Copied from the system so the database can keep one EPJ per organisation and environment.
    kind = models.CharField(_("type"), max_length=10, choices=SystemKind.choices, editable=False)
    environment = models.CharField(_("environment"), max_length=10, choices=Environment.choices)
    starts_on = models.DateField(_("from"), default=timezone.localdate)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_by = models.ForeignKey(User, verbose_name=_("registered by"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("registered"), default=timezone.now)

    objects = VendorAssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("vendor assignment")
        verbose_name_plural = _("vendor assignments")
        ordering = ["environment", "kind", "system__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "environment"],
                condition=models.Q(kind="epj", ended_at__isnull=True),
                name="assignment_one_epj_per_environment",
            ),
            models.UniqueConstraint(
                fields=["organisation", "system", "environment"],
                condition=models.Q(ended_at__isnull=True),
                name="assignment_once_per_system_and_environment",
            ),
        ]

    def __str__(self):
        return f"{self.organisation.name}: {self.system} ({self.environment})"

    def save(self, *args, **kwargs):
        self.kind = self.system.kind
        super().save(*args, **kwargs)


class SupportedService(models.Model):
    """A VKP information service a vendor system supports in an environment (*støttet tjeneste*)."""

    system = models.ForeignKey(
        VendorSystem, verbose_name=_("system"), on_delete=models.CASCADE, related_name="supported_services"
    )
    service = models.ForeignKey("orders.Service", verbose_name=_("service"), on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(_("environment"), max_length=10, choices=Environment.choices)

    class Meta:
        verbose_name = _("supported service")
        verbose_name_plural = _("supported services")
        constraints = [
            models.UniqueConstraint(fields=["system", "service", "environment"], name="supported_service_once")
        ]

    def __str__(self):
        return f"{self.system.name}: {self.service.code} ({self.environment})"


class FederatedIdentity(models.Model):
    """A person's national identity from HelseID or ID-porten (*fødselsnummer*), held only as a keyed hash.

    The number itself is never stored: ``pid_hash`` is HMAC-SHA256 under ``IDENTITY_HASH_KEY``
    (``members.identity.pid_hash``). One person may log in through several providers; each gives
    the same number, so every row of a user carries the same hash.
    """

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="federated_identities"
    )
    provider = models.CharField(_("identity provider"), max_length=32)
    pid_hash = models.CharField(_("keyed hash of the national identity number"), max_length=64, db_index=True)
    created_at = models.DateTimeField(_("linked"), default=timezone.now)
    last_login_at = models.DateTimeField(_("last login"), null=True, blank=True)

    class Meta:
        verbose_name = _("federated identity")
        verbose_name_plural = _("federated identities")
        ordering = ["provider"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "pid_hash"], name="federated_identity_once_per_provider"),
            models.UniqueConstraint(fields=["user", "provider"], name="federated_identity_one_per_user_provider"),
        ]

    def __str__(self):
        return f"{self.user} ({self.provider})"


class FederatedSession(models.Model):
    """Which Django session a HelseID or ID-porten login made, so the provider's logout can end it.

    The provider names its session (``sid``) and the person (``sub``, a pseudonym, never the
    national identity number) in the back-channel logout token; both are kept only as keyed
    hashes (``members.oidc.federated_session_hash``).
    """

    session_key = models.CharField(_("session key"), max_length=40, unique=True)
    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="federated_sessions")
    provider = models.CharField(_("identity provider"), max_length=32)
    sid_hash = models.CharField(_("keyed hash of the provider's session id"), max_length=64, blank=True)
    sub_hash = models.CharField(_("keyed hash of the provider's subject"), max_length=64)
    created_at = models.DateTimeField(_("logged in"), default=timezone.now)

    class Meta:
        verbose_name = _("federated session")
        verbose_name_plural = _("federated sessions")
        indexes = [
            models.Index(fields=["provider", "sub_hash"], name="federated_session_sub"),
            models.Index(fields=["provider", "sid_hash"], name="federated_session_sid"),
        ]

    def __str__(self):
        return f"{self.user} ({self.provider})"


class UsedLogoutToken(models.Model):
    """A back-channel logout token already acted on, by its ``jti``: a replay of it is refused."""

    provider = models.CharField(_("identity provider"), max_length=32)
    jti_hash = models.CharField(_("SHA-256 of the token's jti"), max_length=64)
    expires_at = models.DateTimeField(_("forget after"))

    class Meta:
        verbose_name = _("used logout token")
        verbose_name_plural = _("used logout tokens")
        constraints = [models.UniqueConstraint(fields=["provider", "jti_hash"], name="used_logout_token_once")]

    def __str__(self):
        return f"{self.provider} {self.jti_hash[:12]}"


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """An administrator's invitation to a colleague to take a role in the organisation (*invitasjon*).

    The e-mail carries a random token; only its SHA-256 is stored, so the table alone cannot be
    used to accept an invitation.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        ACCEPTED = "accepted", _("Accepted")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Withdrawn")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="invitations"
    )
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=32, choices=Affiliation.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(User, verbose_name=_("invited by"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, verbose_name=_("accepted by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True) | models.Q(accepted_by__isnull=False),
                name="invitation_accepted_by_someone",
            ),
            # Inviting the same address to the same organisation again renews the one open invitation.
            models.UniqueConstraint(
                Lower("email"),
                "organisation",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_address",
            ),
        ]

    def __str__(self):
        return f"{self.email} – {self.get_role_display()} – {self.organisation.name}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING

    def get_status_display(self) -> str:
        return self.Status(self.status).label

    def clean(self):
        allowed = Affiliation.VENDOR_ROLES if self.organisation.is_vendor_kind else Affiliation.MEMBER_ROLES
        if self.role not in allowed:
            raise ValidationError({"role": _("This role does not exist in this kind of organisation.")})


class OrganisationClaimQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(state=OrganisationClaim.State.PENDING)


class OrganisationClaim(GuardedStateMixin, models.Model):
    """A person's application to administer an organisation in the portal (*søknad om å administrere*).

    Registering an organisation proves nothing about the registrant: the claimant gets no right in
    the organisation until a signatory in Enhetsregisteret (themselves, or one who confirms through
    an e-mailed link) or NHN staff, with a written reason, confirms the claim. Only the SHA-256 of
    the confirmation link's token is stored.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for confirmation")
        CONFIRMED = "confirmed", _("Confirmed")
        REFUSED = "refused", _("Refused")

    class Decision(models.TextChoices):
        SELF_SIGNATORY = "self_signatory", _("The applicant is a signatory in Enhetsregisteret")
        SIGNATORY = "signatory", _("Confirmed by a signatory in Enhetsregisteret")
        NHN = "nhn", _("Decided by NHN's customer centre")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="claims"
    )
    claimant = models.ForeignKey(User, verbose_name=_("applicant"), on_delete=models.PROTECT, related_name="claims")
    # The role the claim gives when confirmed: administrator in members, vendor user in vendors.
    role = models.CharField(_("role"), max_length=32, choices=Affiliation.Role.choices)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(_("applied"), default=timezone.now)
    decided_how = models.CharField(_("decided how"), max_length=20, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        User, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The decider's name as ID-porten gave it and their role in Enhetsregisteret, or "NHN".
    decided_by_authority = models.CharField(_("authority of the one deciding"), max_length=300, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    # What Enhetsregisteret said when the claim was made, for the decision and the membership.
    registry_snapshot = models.JSONField(_("Enhetsregisteret data"), default=dict, blank=True)
    # The confirmation link sent to a signatory: only the token's hash, its expiry and address.
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    token_sent_to = models.EmailField(_("confirmation requested from"), blank=True)
    token_sent_at = models.DateTimeField(_("confirmation requested"), null=True, blank=True)
    token_expires_at = models.DateTimeField(_("link expires"), null=True, blank=True)
    token_used_at = models.DateTimeField(_("link used"), null=True, blank=True)

    objects = OrganisationClaimQuerySet.as_manager()
    invalid_transition_message = _("The application is “%(state)s” and cannot become “%(target)s”.")

    class Meta:
        verbose_name = _("application to administer")
        verbose_name_plural = _("applications to administer")
        ordering = ["-created_at"]
        constraints = [
            # A double submit gives one application; others may still claim the same organisation.
            models.UniqueConstraint(
                fields=["organisation", "claimant"],
                condition=models.Q(state="pending"),
                name="claim_one_pending_per_person",
            ),
            models.CheckConstraint(
                condition=models.Q(state="pending") | ~models.Q(decided_how=""), name="claim_decided_says_how"
            ),
        ]

    def __str__(self):
        return f"{self.claimant} → {self.organisation.name}: {self.get_state_display()}"

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING

    def decide(self, *, confirm: bool, how: str, by: User, authority: str, reason: str = "") -> None:
        self._transition(
            [self.State.PENDING],
            self.State.CONFIRMED if confirm else self.State.REFUSED,
            decided_how=how,
            decided_by=by,
            decided_by_authority=authority,
            decided_at=timezone.now(),
            reason=reason,
        )
