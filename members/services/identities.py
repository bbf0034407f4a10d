"""Federated identities (HelseID, ID-porten): linking, first-login accounts, names from the provider."""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.audit import audit

from ..models import (
    FederatedIdentity,
    User,
)


class IdentityConflict(ValidationError):
    """The national identity belongs to another account, or the account to another identity."""


@transaction.atomic
def federated_identity_link(*, user: User, provider: str, pid_hash: str, request=None) -> FederatedIdentity:
    """Tie a provider login to a person. One person has one identity number, so one hash per user."""
    other_number = FederatedIdentity.objects.filter(user=user).exclude(pid_hash=pid_hash).exists()
    someone_else = FederatedIdentity.objects.filter(pid_hash=pid_hash).exclude(user=user).exists()
    if other_number or someone_else:
        raise IdentityConflict(
            _("This identity belongs to another account in the portal. Nothing was linked."), code="identity_conflict"
        )
    identity = FederatedIdentity.objects.filter(user=user, provider=provider).first()
    if identity is not None:
        return identity
    identity = FederatedIdentity.objects.create(user=user, provider=provider, pid_hash=pid_hash)
    audit(action="identity.linked", actor=user, obj=identity, after={"provider": provider}, request=request)
    return identity


@transaction.atomic
def federated_user_create(
    *,
    email: str,
    first_name: str,
    last_name: str,
    provider: str,
    pid_hash: str,
    email_verified: bool,
    request=None,
) -> User:
    """A person's first federated login: an account with no password and no organisation rights.

    Rights come later, from an invitation or from registering an organisation; signing still rests
    on Enhetsregisteret's roles, checked when the person signs.
    """
    email = User.objects.normalize_email(email.strip())
    if User.objects.filter(email__iexact=email).exists() or EmailAddress.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            _(
                "%(email)s already has an account. Log in with it (e-mail and password) and link "
                "%(provider)s under “Log-in methods”."
            ),
            code="email_taken",
            params={"email": email, "provider": settings.OIDC_PROVIDERS.get(provider, {}).get("label", provider)},
        )
    user = User(email=email, first_name=first_name[:150], last_name=last_name[:150])
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=email_verified)
    audit(action="user.created", actor=user, obj=user, after={"provider": provider}, request=request)
    federated_identity_link(user=user, provider=provider, pid_hash=pid_hash, request=request)
    return user


def federated_login_recorded(*, user: User, provider: str, first_name: str, last_name: str) -> None:
    """After each federated login: the names the provider vouches for replace typed ones."""
    FederatedIdentity.objects.filter(user=user, provider=provider).update(last_login_at=timezone.now())
    changes = {
        field: value[:150]
        for field, value in (("first_name", first_name), ("last_name", last_name))
        if value and getattr(user, field) != value[:150]
    }
    if changes:
        User.objects.filter(pk=user.pk).update(**changes)
        for field, value in changes.items():
            setattr(user, field, value)


@transaction.atomic
def profile_update(*, user: User, first_name: str, last_name: str, request=None) -> User:
    """A person's own name on their account. It is shown beside what they do; it never proves authority."""
    before = {"first_name": user.first_name, "last_name": user.last_name}
    after = {"first_name": first_name[:150], "last_name": last_name[:150]}
    if before == after:
        return user
    User.objects.filter(pk=user.pk).update(**after)
    user.first_name, user.last_name = after["first_name"], after["last_name"]
    audit(action="user.profile_updated", actor=user, obj=user, before=before, after=after, request=request)
    return user
