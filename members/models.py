from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

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
