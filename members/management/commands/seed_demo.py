"""Demo data for the quick start and the browser tests. Running it again changes nothing.

Every organisation number is synthetic (starts with 2 or 3, valid mod-11), as NHN requires for
test environments; 313231593 is NHN's own synthetic test municipality.
"""

import time
from datetime import date

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils.translation import gettext as _

from members import authority, enhetsregisteret
from members.identity import pid_hash
from members.initial_terms import ensure_initial_terms
from members.models import (
    Affiliation,
    Membership,
    Organisation,
    SupportedService,
    TermsDocument,
    User,
    VendorAssignment,
    VendorSystem,
)
from members.services import (
    affiliation_grant,
    membership_apply,
    membership_approve,
    organisation_create,
    terms_sign,
    vendor_assignment_create,
)

DEMO_PASSWORD = "Demo-passord-2026"  # noqa: S105  (published demo login, synthetic data only)
# NHN staff must log in with a second factor; the demo staff login has an authenticator app with
# this published secret. `manage.py demo_totp` prints the current code, or add the secret to an app.
DEMO_TOTP_SECRET = "KRSXG5CTMVRXEZLUKN2XAZLSNRUXI5DF"  # noqa: S105

Kind = Organisation.Kind
Role = Affiliation.Role

# (org_number, name, kind, municipality_number, is_public)
ORGANISATIONS = [
    ("313231593", "Testkommune Nordvik", Kind.MUNICIPALITY, "1804", True),
    ("310000000", "Fjordheim kommune", Kind.MUNICIPALITY, "4699", True),
    ("310000019", "Vidda kommune", Kind.MUNICIPALITY, "3401", True),
    ("310000108", "Journalhuset AS", Kind.VENDOR, "", False),
    ("310000167", "Epic Demo Norge AS", Kind.VENDOR, "", False),
    ("310000205", "Trygghetsvakta AS", Kind.VENDOR, "", False),
    ("310000264", "Dosett Digital AS", Kind.VENDOR, "", False),
]

# (e-mail, first name, last name, org_number or None, roles, is_nhn_staff)
PEOPLE = [
    ("kundesenter@nhn.example", "Kari", "Kundesenter", None, (), True),
    ("admin@nordvik.example", "Ola", "Nordmann", "313231593", (Role.ADMIN,), False),
    ("signatar@nordvik.example", "Randi", "Rådmann", "313231593", (Role.SIGNATORY,), False),
    ("leser@nordvik.example", "Lise", "Leser", "313231593", (Role.VIEWER,), False),
    ("admin@fjordheim.example", "Per", "Fjord", "310000000", (Role.ADMIN,), False),
    ("signatar@fjordheim.example", "Siri", "Sjef", "310000000", (Role.SIGNATORY,), False),
    ("admin@vidda.example", "Aslak", "Vidda", "310000019", (Role.ADMIN,), False),
    ("signatar@vidda.example", "Berit", "Ordfører", "310000019", (Role.SIGNATORY,), False),
    ("utvikler@journalhuset.example", "Jon", "Journal", "310000108", (Role.VENDOR_USER,), False),
    ("utvikler@epicdemo.example", "Emma", "Epic", "310000167", (Role.VENDOR_USER,), False),
    ("utvikler@trygghetsvakta.example", "Tor", "Trygg", "310000205", (Role.VENDOR_USER,), False),
    ("utvikler@dosett.example", "Dina", "Dosett", "310000264", (Role.VENDOR_USER,), False),
]


# Memberships in different states, made through the real services so the history is real:
# (org number, admin who applies, signatory who signs or None, approved by NHN)
MEMBERSHIPS = [
    ("313231593", "admin@nordvik.example", "signatar@nordvik.example", True),
    ("310000000", "admin@fjordheim.example", "signatar@fjordheim.example", False),
    # Vendors are approved on the vendor terms, signed by their daglig leder.
    ("310000108", "utvikler@journalhuset.example", "utvikler@journalhuset.example", True),
    ("310000167", "utvikler@epicdemo.example", "utvikler@epicdemo.example", True),
    ("310000205", "utvikler@trygghetsvakta.example", "utvikler@trygghetsvakta.example", True),
    ("310000264", "utvikler@dosett.example", "utvikler@dosett.example", True),
    # Vidda kommune is left without a membership, to try the whole flow.
]

# Vendor systems (vendor org number, name, kind, product) and who uses them (org number, system, environment).
SYSTEMS = [
    ("310000108", "Journalhuset EPJ", "epj", ""),
    ("310000167", "Epic (Helseplattformen demo)", "epj", "Epic"),
    ("310000205", "Trygghetsvakta Responssenter", "vft", ""),
    ("310000264", "Dosett Medisindispenser", "vft", ""),
]
ASSIGNMENTS = [
    ("313231593", "Journalhuset EPJ", "test"),
    ("313231593", "Trygghetsvakta Responssenter", "test"),
    ("313231593", "Dosett Medisindispenser", "test"),
    ("310000000", "Epic (Helseplattformen demo)", "test"),
    ("310000000", "Trygghetsvakta Responssenter", "test"),
]

# Test-environment orders: (org number, service code, approved by NHN). Vidda has none, to try ordering.
ORDERS = [
    ("313231593", "vkp-journaling", True),
    ("313231593", "vkp-patient", True),
    ("313231593", "vkp-careplan", False),
    ("310000000", "vkp-journaling", False),
]


def ensure_user(email: str, first_name: str, last_name: str, is_nhn_staff: bool) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email, password=DEMO_PASSWORD, first_name=first_name, last_name=last_name, is_nhn_staff=is_nhn_staff
        )
    # allauth requires a verified address before login; demo addresses are verified up front.
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def _demo_person(user, organisation) -> authority.VerifiedPerson:
    """The demo signatory as ID-porten would identify them: the person the register fixture lists by their name.

    Seeding signs through the same service as a person does, so the acceptance records the role it rests on.
    """
    for role in enhetsregisteret.roles(organisation.org_number):
        if authority.counts(role) and authority.comparable_name(role.person_name) == authority.comparable_name(
            user.get_full_name()
        ):
            return authority.VerifiedPerson(
                provider=authority.PROVIDER,
                name=role.person_name,
                birth_date=role.birth_date,
                acr=authority.LEVEL_HIGH,
                auth_time=int(time.time()),
                pid_hash=pid_hash(f"demo:{user.email}"),
            )
    raise LookupError(f"{user} holds no signing role in {organisation} in the register fixture.")


class Command(BaseCommand):
    help = "Create the demo organisations and logins (idempotent) and print the logins."

    def handle(self, *args, **options):
        # Demo data mails nobody: the notifications would bury the login list in the terminal.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"), transaction.atomic():
            self._seed()

    def _seed(self):
        organisations = {}
        for org_number, name, kind, municipality_number, is_public in ORGANISATIONS:
            organisation = Organisation.objects.filter(org_number=org_number).first()
            if organisation is None:
                organisation = organisation_create(
                    org_number=org_number,
                    name=name,
                    kind=kind,
                    municipality_number=municipality_number,
                    is_public=is_public,
                )
            organisations[org_number] = organisation

        rows = []
        for email, first_name, last_name, org_number, roles, is_nhn_staff in PEOPLE:
            user = ensure_user(email, first_name, last_name, is_nhn_staff)
            for role in roles:
                affiliation_grant(user=user, organisation=organisations[org_number], role=role)
            where = organisations[org_number].name if org_number else "Norsk helsenett"
            what = str(_("NHN customer centre")) if is_nhn_staff else ", ".join(str(Role(r).label) for r in roles)
            rows.append((email, where, what))

        self._seed_staff_authenticator()
        self._seed_memberships(organisations)
        self._seed_vendor_systems(organisations)
        self._seed_orders(organisations)

        self.stdout.write(self.style.SUCCESS(f"Demo data is in place. Logins (password for all: {DEMO_PASSWORD}):"))
        width = max(len(email) for email, _, _ in rows)
        for email, where, what in rows:
            self.stdout.write(f"  {email.ljust(width)}  {where} – {what}")
        self.stdout.write(
            "NHN staff log in with a second factor too: run `.venv/bin/python manage.py demo_totp` for the current "
            f"code, or add the secret {DEMO_TOTP_SECRET} to an authenticator app."
        )
        self._print_test_idporten_persons()

    def _print_test_idporten_persons(self):
        from django.conf import settings

        from members import testidporten

        if "test-idporten" not in settings.OIDC_PROVIDERS.get("idporten", {}).get("issuer", ""):
            return
        self.stdout.write("ID-porten is the bundled test ID-porten; pick a synthetic person (README: the demo walk):")
        for person in testidporten.persons():
            self.stdout.write(f"  {testidporten.full_name(person).ljust(26)} {person['note']}")

    def _seed_staff_authenticator(self):
        from allauth.mfa.models import Authenticator
        from allauth.mfa.totp.internal.auth import TOTP

        for user in User.objects.filter(is_nhn_staff=True, email__endswith=".example"):
            if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                TOTP.activate(user, DEMO_TOTP_SECRET)

    def _seed_memberships(self, organisations):
        ensure_initial_terms(TermsDocument)
        staff = User.objects.get(email="kundesenter@nhn.example")
        for org_number, admin_email, signatory_email, approve in MEMBERSHIPS:
            organisation = organisations[org_number]
            if organisation.memberships.exists():
                continue
            terms = TermsDocument.objects.current(Membership.terms_kind_for(organisation))
            membership = membership_apply(
                org_number=org_number,
                user=User.objects.get(email=admin_email),
                vendor_kind=organisation.kind if organisation.is_vendor_kind else "",
            )
            if signatory_email and terms:
                signer = User.objects.get(email=signatory_email)
                terms_sign(
                    organisation=organisation,
                    document=terms,
                    shown_sha256=terms.sha256,
                    user=signer,
                    person=_demo_person(signer, organisation),
                )
                membership.refresh_from_db()
            if approve:
                membership_approve(membership=membership, by=staff)

    def _seed_orders(self, organisations):
        from orders.models import Order, Service
        from orders.services import basket_add, basket_submit, order_approve

        staff = User.objects.get(email="kundesenter@nhn.example")
        for org_number, service_code, approve in ORDERS:
            organisation = organisations[org_number]
            service = Service.objects.filter(code=service_code).first()
            if service is None or Order.objects.filter(organisation=organisation, service=service).exists():
                continue
            admin = organisation.affiliations.filter(role=Affiliation.Role.ADMIN).first().user
            order = basket_add(organisation=organisation, service=service, environment="test", by=admin)
            basket_submit(organisation=organisation, environment="test", by=admin)
            if approve:
                order.refresh_from_db()
                order_approve(order=order, by=staff)  # the in-process provisioning makes it active

    def _seed_vendor_systems(self, organisations):
        from orders.catalogue import load_catalogue
        from orders.models import Service

        if not Service.objects.exists():  # after a flush; never over staff edits
            load_catalogue(Service, TermsDocument)

        for vendor_number, name, kind, product in SYSTEMS:
            system, created = VendorSystem.objects.get_or_create(
                vendor=organisations[vendor_number], name=name, defaults={"kind": kind, "product": product}
            )
            if created:  # every demo system supports what its side uses, in both environments
                for service in Service.objects.all():
                    if kind in service.sides("read_by") + service.sides("written_by"):
                        for environment in ("test", "prod"):
                            SupportedService.objects.create(system=system, service=service, environment=environment)
        for org_number, system_name, environment in ASSIGNMENTS:
            organisation = organisations[org_number]
            system = VendorSystem.objects.get(name=system_name)
            if not VendorAssignment.objects.filter(organisation=organisation, system=system).exists():
                admin = organisation.affiliations.filter(role=Affiliation.Role.ADMIN).first().user
                vendor_assignment_create(
                    organisation=organisation,
                    system=system,
                    environment=environment,
                    starts_on=date(2026, 9, 1),
                    by=admin,
                )
