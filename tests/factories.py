import itertools

import factory
from allauth.account.models import EmailAddress

from members.models import Affiliation, Organisation, User
from members.orgnr import with_check_digit

PASSWORD = "Test-passord-2026"


def _synthetic_org_numbers():
    """Valid synthetic numbers (first digit 3) in a block the demo data does not use."""
    for n in itertools.count(5_000_000):
        number = with_check_digit(f"3{n:07d}")
        if number:
            yield number


_org_numbers = _synthetic_org_numbers()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.no")
    first_name = factory.Faker("first_name", locale="no_NO")
    last_name = factory.Faker("last_name", locale="no_NO")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def verified_email(obj, create, extracted, **kwargs):
        if create:
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


# A known TOTP secret for the staff persona, so tests can compute the current code.
STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def with_totp(user, secret: str = STAFF_TOTP_SECRET):
    """Give a person an activated authenticator app (allauth MFA), as NHN staff must have."""
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(user, secret)
    return user


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    org_number = factory.LazyFunction(lambda: next(_org_numbers))
    name = factory.Sequence(lambda n: f"Testkommune {n}")
    kind = Organisation.Kind.MUNICIPALITY
    is_public = True


class VendorFactory(OrganisationFactory):
    name = factory.Sequence(lambda n: f"Leverandør {n} AS")
    kind = Organisation.Kind.VENDOR
    is_public = False


class AffiliationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Affiliation

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Affiliation.Role.ADMIN


def register_confirmed(*, org_number: str, user, vendor_kind: str = ""):
    """Register an organisation as ``user`` and have NHN confirm the claim; returns the membership."""
    from members import services

    claim = services.claim_submit(org_number=org_number, user=user, vendor_kind=vendor_kind)
    staff = User.objects.filter(is_nhn_staff=True).first() or UserFactory(is_nhn_staff=True)
    services.claim_decide_by_staff(claim=claim, confirm=True, by=staff, reason="Kjent kontaktperson (test)")
    return claim.organisation.memberships.live().get()
