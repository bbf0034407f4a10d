"""Two complete tenants for the isolation and hostile-input suites.

`build_world()` makes an *own* side (Testkommune Nordvik, its people, the vendor whose system it uses)
and a *foreign* side (Fremmedby kommune and Fremmedleverandør AS) holding one of every object a URL
can name: membership and signature, orders with provisioning steps, an invitation, a system
registration, a vendor system, a HelseID client with a key. Every foreign object carries a name no
own object has (`FOREIGN_MARKERS`), so a page that shows foreign data is caught by a string search.
"""

import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone
from joserfc.jwk import ECKey

from members.models import (
    Acceptance,
    Affiliation,
    Invitation,
    Membership,
    Organisation,
    OrganisationClaim,
    SupportedService,
    TermsDocument,
    User,
    VendorAssignment,
    VendorSystem,
)
from members.services.invitations import invitation_token_hash
from orders import helseid, services
from orders.models import Order, ProvisioningTask, Service
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, VendorFactory, with_totp

# Strings only the foreign side's objects contain: none may appear on a page shown to the own side.
FOREIGN_MARKERS = (
    "Fremmedby kommune",
    "Fremmedleverandør AS",
    "Fremmedsystem",
    "fremmed-admin@fremmedby.example",
    "fremmed-signatar@fremmedby.example",
    "fremmed-utvikler@fremmedleverandor.example",
    "invitert@fremmedby.example",
    "fremmed-nokkel",
    "fremmed-soker@fremmedby.example",
)

PERSONAS = ("anonymous", "outsider", "viewer", "signatory", "administrator", "vendor_user", "nhn_staff")


def public_jwk(kid: str) -> dict:
    return {**ECKey.generate_key("P-256").as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}


@dataclass
class Side:
    """One tenant: a member organisation, its people, and the vendor whose system it uses."""

    organisation: Organisation
    admin: User
    signatory: User
    viewer: User
    vendor: Organisation
    vendor_user: User
    system: VendorSystem
    assignment: VendorAssignment
    membership: Membership
    acceptance: Acceptance
    submitted_order: Order
    active_order: Order
    invitation: Invitation
    invitation_token: str
    client: object
    kid: str
    task: ProvisioningTask | None = None
    claim: OrganisationClaim | None = None  # someone's application to administer the organisation


@dataclass
class World:
    own: Side
    foreign: Side
    outsider: User
    staff: User
    terms: TermsDocument
    service: Service
    extra: dict = field(default_factory=dict)

    def persona(self, name: str) -> User | None:
        return {
            "anonymous": None,
            "outsider": self.outsider,
            "viewer": self.own.viewer,
            "signatory": self.own.signatory,
            "administrator": self.own.admin,
            "vendor_user": self.own.vendor_user,
            "nhn_staff": self.staff,
        }[name]


def _side(*, name: str, vendor_name: str, system_name: str, emails: dict, kid: str, staff: User) -> Side:
    organisation = OrganisationFactory(name=name)
    admin = AffiliationFactory(
        organisation=organisation, role=Affiliation.Role.ADMIN, user=UserFactory(email=emails["admin"])
    ).user
    signatory = AffiliationFactory(
        organisation=organisation, role=Affiliation.Role.SIGNATORY, user=UserFactory(email=emails["signatory"])
    ).user
    viewer = AffiliationFactory(organisation=organisation, role=Affiliation.Role.VIEWER).user
    vendor = VendorFactory(name=vendor_name)
    vendor_user = AffiliationFactory(
        organisation=vendor, role=Affiliation.Role.VENDOR_USER, user=UserFactory(email=emails["vendor_user"])
    ).user
    system = VendorSystem.objects.create(vendor=vendor, name=system_name, kind="vft")
    journaling = Service.objects.get(code="vkp-journaling")
    SupportedService.objects.create(system=system, service=journaling, environment="test")
    assignment = VendorAssignment.objects.create(
        organisation=organisation, system=system, environment="test", created_by=admin
    )
    terms = TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)
    acceptance = Acceptance.objects.create(
        organisation=organisation, document=terms, document_sha256=terms.sha256, signed_by=signatory,
        signer_name=signatory.get_full_name(), authority="register_role", authority_detail="DAGL",
    )  # fmt: skip
    membership = Membership.objects.create(
        organisation=organisation, applied_by=admin, state="pending_approval", acceptance=acceptance
    )
    client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    helseid.client_keys_add(client=client, keys_text=json.dumps(public_jwk(kid)), by=vendor_user)
    active_order = Order.objects.create(
        organisation=organisation, service=journaling, environment="test", state="submitted", created_by=admin
    )
    services.order_approve(order=active_order, by=staff)
    submitted_order = Order.objects.create(
        organisation=organisation,
        service=Service.objects.get(code="vkp-patient"),
        environment="test",
        state="submitted",
        created_by=admin,
        submitted_at=timezone.now(),
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organisation=organisation,
        email=emails["invited"],
        role=Affiliation.Role.VIEWER,
        token_hash=invitation_token_hash(token),
        invited_by=admin,
        expires_at=timezone.now() + timedelta(days=14),
    )
    return Side(
        organisation=organisation, admin=admin, signatory=signatory, viewer=viewer, vendor=vendor,
        vendor_user=vendor_user, system=system, assignment=assignment, membership=membership,
        acceptance=acceptance, submitted_order=submitted_order, active_order=active_order,
        invitation=invitation, invitation_token=token, client=client, kid=kid,
        task=ProvisioningTask.objects.filter(order=active_order).first(),
    )  # fmt: skip


def build_world() -> World:
    staff = with_totp(UserFactory(is_nhn_staff=True, email="kundesenter@nhn.example"))
    own = _side(
        name="Testkommune Nordvik",
        vendor_name="Journalhuset AS",
        system_name="Trygghetsalarm",
        emails={
            "admin": "admin@nordvik.example",
            "signatory": "signatar@nordvik.example",
            "vendor_user": "utvikler@journalhuset.example",
            "invited": "invitert@nordvik.example",
        },
        kid="egen-nokkel",
        staff=staff,
    )
    foreign = _side(
        name="Fremmedby kommune",
        vendor_name="Fremmedleverandør AS",
        system_name="Fremmedsystem",
        emails={
            "admin": "fremmed-admin@fremmedby.example",
            "signatory": "fremmed-signatar@fremmedby.example",
            "vendor_user": "fremmed-utvikler@fremmedleverandor.example",
            "invited": "invitert@fremmedby.example",
        },
        kid="fremmed-nokkel",
        staff=staff,
    )
    outsider = AffiliationFactory(organisation=OrganisationFactory(name="Utenforby kommune")).user
    # A pending application each: the outsider's for Nordvik, a stranger's for Fremmedby.
    own.claim = OrganisationClaim.objects.create(organisation=own.organisation, claimant=outsider, role="admin")
    foreign.claim = OrganisationClaim.objects.create(
        organisation=foreign.organisation, claimant=UserFactory(email="fremmed-soker@fremmedby.example"), role="admin"
    )
    return World(
        own=own,
        foreign=foreign,
        outsider=outsider,
        staff=staff,
        terms=TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP),
        service=Service.objects.get(code="vkp-journaling"),
    )
