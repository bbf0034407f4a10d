"""Membership services against the offline Enhetsregisteret data (members/data/enhetsregisteret.json)."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from members import services
from members.models import (
    Acceptance,
    Affiliation,
    InvalidTransition,
    Membership,
    Organisation,
    SigningDelegation,
    TermsDocument,
)
from portal.models import AuditEvent
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory

from .idporten import identified, registered_person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_messages():
    with translation.override("en"):
        yield


NORDVIK = "313231593"  # DAGL Randi Rådmann
SJOVIK = "320000009"  # not in the portal yet; DAGL Marte Kommunedirektør


def counts():
    return (
        Organisation.objects.count(),
        Membership.objects.count(),
        Acceptance.objects.count(),
        Affiliation.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def nordvik():
    return OrganisationFactory(org_number=NORDVIK, name="Testkommune Nordvik")


@pytest.fixture
def nordvik_admin(nordvik):
    return AffiliationFactory(organisation=nordvik, role=Affiliation.Role.ADMIN).user


@pytest.fixture
def randi(nordvik):
    """The daglig leder registered in Enhetsregisteret, with a signatory role in the portal."""
    user = UserFactory(first_name="Randi", last_name="Rådmann")
    AffiliationFactory(user=user, organisation=nordvik, role=Affiliation.Role.SIGNATORY)
    return user


@pytest.fixture
def membership_terms():
    return TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)


@pytest.fixture
def applied(nordvik_admin):
    return services.membership_apply(org_number=NORDVIK, user=nordvik_admin)


def sign(user, nordvik, terms, person=None):
    """Sign as ``user`` at the keyboard, identified by ID-porten as ``person`` (by default: the account's name,
    born as Randi Rådmann is in the register, so only the name decides)."""
    if person is None:
        born = registered_person(NORDVIK, "Randi Rådmann").birth_date
        person = identified(user.get_full_name(), born)
    return services.terms_sign(
        organisation=nordvik, document=terms, shown_sha256=terms.sha256, user=user, person=person
    )


# Applying ---------------------------------------------------------------------------------------


def test_registering_a_new_organisation_makes_an_applicant_with_no_rights():
    user = UserFactory()
    claim = services.claim_submit(org_number="320 000 009", user=user)

    organisation = claim.organisation
    assert organisation.org_number == SJOVIK
    assert organisation.name == "Sjøvik kommune"
    assert organisation.kind == Organisation.Kind.MUNICIPALITY
    assert organisation.is_public
    assert claim.state == claim.State.PENDING and claim.role == Affiliation.Role.ADMIN
    assert not Affiliation.objects.filter(organisation=organisation).exists()
    assert not Membership.objects.exists()
    assert claim.registry_snapshot["org_form_code"] == "KOMM"
    assert list(AuditEvent.objects.filter(organisation=organisation).values_list("action", flat=True)) == [
        "claim.submitted",
        "organisation.created",
    ]


def test_confirmed_by_nhn_the_applicant_becomes_administrator_and_the_membership_is_applied_for(nhn_staff):
    user = UserFactory()
    claim = services.claim_submit(org_number=SJOVIK, user=user)
    services.claim_decide_by_staff(claim=claim, confirm=True, by=nhn_staff, reason="Ringt kommunen")

    organisation = claim.organisation
    assert Affiliation.objects.filter(user=user, organisation=organisation, role=Affiliation.Role.ADMIN).exists()
    membership = Membership.objects.get()
    assert membership.state == Membership.State.APPLIED and membership.applied_by == user
    assert membership.registry_snapshot["org_form_code"] == "KOMM"
    assert list(AuditEvent.objects.filter(organisation=organisation).values_list("action", flat=True))[:3] == [
        "membership.applied",
        "affiliation.created",
        "claim.confirmed",
    ]


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("12345", "9 digits"),
        ("313231594", "check digit"),
        ("123456785", "start with 8 or 9"),
        ("329999998", "not in Enhetsregisteret"),
        ("320000084", "41.200"),  # a building company
        ("320000092", "deleted"),
        ("320000106", "bankrupt"),
        ("320000122", "Fjordheim kommune"),  # a municipality's nursing home: covered by its membership
    ],
)
def test_bad_applications_are_refused_with_a_reason_and_change_nothing(number, message):
    before = counts()
    with pytest.raises(ValidationError) as error:
        services.claim_submit(org_number=number, user=UserFactory())
    assert message in " ".join(error.value.messages)
    assert counts()[:4] == before[:4]


def test_an_organisation_already_in_the_portal_needs_its_own_administrator(nordvik, nordvik_admin):
    stranger = UserFactory()
    with pytest.raises(ValidationError, match="already administered"):
        services.claim_submit(org_number=NORDVIK, user=stranger)
    with pytest.raises(ValidationError, match="Only an administrator"):
        services.membership_apply(org_number=NORDVIK, user=stranger)
    assert not Membership.objects.exists()
    assert not nordvik.claims.exists()

    services.membership_apply(org_number=NORDVIK, user=nordvik_admin)
    assert Membership.objects.get().organisation == nordvik


def test_one_live_membership_per_organisation(applied, nordvik_admin):
    with pytest.raises(ValidationError, match="already has a membership"):
        services.membership_apply(org_number=NORDVIK, user=nordvik_admin)
    assert Membership.objects.count() == 1


def test_a_rejected_organisation_may_apply_again(applied, nhn_staff, nordvik_admin):
    services.membership_reject(membership=applied, by=nhn_staff, reason="Feil virksomhet")
    again = services.membership_apply(org_number=NORDVIK, user=nordvik_admin)
    assert again.state == Membership.State.APPLIED
    assert Membership.objects.count() == 2


# Signing ----------------------------------------------------------------------------------------


def test_the_registered_daglig_leder_signs_and_the_membership_goes_to_nhn(
    applied, randi, nordvik, membership_terms, nhn_staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        acceptance = sign(randi, nordvik, membership_terms)

    assert acceptance.document == membership_terms
    assert acceptance.document_sha256 == membership_terms.sha256
    assert acceptance.authority == Acceptance.Authority.REGISTER_ROLE
    assert "Enhetsregisteret" in acceptance.authority_detail
    applied.refresh_from_db()
    assert applied.state == Membership.State.PENDING_APPROVAL
    assert applied.acceptance == acceptance
    assert [m.to for m in mail.outbox] == [[nhn_staff.email]]


def test_someone_without_signing_authority_cannot_sign(applied, nordvik, nordvik_admin, membership_terms):
    before = counts()
    with pytest.raises(PermissionDenied):
        sign(nordvik_admin, nordvik, membership_terms)
    assert counts() == before


def test_a_signatory_role_in_the_portal_is_not_enough_without_the_register(applied, nordvik, membership_terms):
    pretender = UserFactory(first_name="Ikke", last_name="Registrert")
    AffiliationFactory(user=pretender, organisation=nordvik, role=Affiliation.Role.SIGNATORY)
    with pytest.raises(PermissionDenied):
        sign(pretender, nordvik, membership_terms)


def test_a_typed_name_without_id_porten_signs_nothing(applied, randi, nordvik, membership_terms):
    before = counts()
    with pytest.raises(services.NotVerified, match="ID-porten at level high"):
        services.terms_sign(
            organisation=nordvik,
            document=membership_terms,
            shown_sha256=membership_terms.sha256,
            user=randi,
            person=None,
        )
    randi_at_substantial = identified(
        "Randi Rådmann", registered_person(NORDVIK, "Randi Rådmann").birth_date, acr="idporten-loa-substantial"
    )
    with pytest.raises(services.NotVerified):
        sign(randi, nordvik, membership_terms, person=randi_at_substantial)
    assert counts() == before


def test_terms_changed_between_reading_and_signing_are_refused(applied, randi, nordvik, membership_terms, nhn_staff):
    newer = services.terms_draft_create(
        kind=TermsDocument.Kind.MEMBERSHIP,
        service_code="",
        version="2026.2",
        title="Medlemsvilkår",
        body="Ny tekst.",
        effective_from=timezone.now(),
        by=nhn_staff,
    )
    services.terms_publish(document=newer, by=nhn_staff)
    before = counts()

    with pytest.raises(services.StaleTerms):
        sign(randi, nordvik, membership_terms)  # the page showed the old version
    with pytest.raises(services.StaleTerms):
        services.terms_sign(
            organisation=nordvik,
            document=newer,
            shown_sha256="0" * 64,
            user=randi,
            person=registered_person(NORDVIK, "Randi Rådmann"),
        )
    assert counts() == before
    applied.refresh_from_db()
    assert applied.state == Membership.State.APPLIED


def test_double_submit_gives_one_signature(applied, randi, nordvik, membership_terms):
    first = sign(randi, nordvik, membership_terms)
    second = sign(randi, nordvik, membership_terms)
    assert first.pk == second.pk
    assert Acceptance.objects.count() == 1
    assert AuditEvent.objects.filter(action="terms.signed").count() == 1


def test_a_delegate_signs_on_the_registered_signatorys_authority(
    applied, randi, nordvik, nordvik_admin, membership_terms
):
    services.delegation_grant(
        organisation=nordvik, email=nordvik_admin.email, by=randi, person=registered_person(NORDVIK, "Randi Rådmann")
    )
    admin_person = identified("Ola Delegat", registered_person(NORDVIK, "Randi Rådmann").birth_date)
    with pytest.raises(PermissionDenied):  # not bound to the delegate's identity yet
        sign(nordvik_admin, nordvik, membership_terms, person=admin_person)
    services.delegations_bind(user=nordvik_admin, person=admin_person)
    acceptance = sign(nordvik_admin, nordvik, membership_terms, person=admin_person)
    assert acceptance.authority == Acceptance.Authority.DELEGATION
    assert "Randi Rådmann" in acceptance.authority_detail
    assert acceptance.signer_name == "Ola Delegat"


def test_only_a_registered_signatory_may_delegate(nordvik, nordvik_admin, viewer):
    with pytest.raises(PermissionDenied):
        services.delegation_grant(
            organisation=nordvik,
            email=viewer.email,
            by=nordvik_admin,
            person=identified(nordvik_admin.get_full_name(), registered_person(NORDVIK, "Randi Rådmann").birth_date),
        )
    assert not SigningDelegation.objects.exists()


# Approval ---------------------------------------------------------------------------------------


@pytest.fixture
def pending(applied, randi, nordvik, membership_terms):
    sign(randi, nordvik, membership_terms)
    applied.refresh_from_db()
    mail.outbox.clear()
    return applied


def test_staff_approve_and_the_admins_are_told(pending, nhn_staff, nordvik_admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_approve(membership=pending, by=nhn_staff)
    assert pending.state == Membership.State.ACTIVE
    assert pending.decided_by == nhn_staff
    assert [m.to for m in mail.outbox] == [[nordvik_admin.email]]
    assert "Aktiv" in mail.outbox[0].subject
    event = AuditEvent.objects.get(action="membership.approved")
    assert (event.before, event.after, event.actor) == ({"state": "pending_approval"}, {"state": "active"}, nhn_staff)


def test_approving_twice_is_refused(pending, nhn_staff):
    services.membership_approve(membership=pending, by=nhn_staff)
    with pytest.raises(InvalidTransition):
        services.membership_approve(membership=pending, by=nhn_staff)
    assert AuditEvent.objects.filter(action="membership.approved").count() == 1


def test_a_stale_copy_cannot_approve_after_a_rejection(pending, nhn_staff):
    stale_copy = Membership.objects.get(pk=pending.pk)
    services.membership_reject(membership=pending, by=nhn_staff, reason="Mangler dokumentasjon")
    with pytest.raises(InvalidTransition):
        services.membership_approve(membership=stale_copy, by=nhn_staff)
    assert Membership.objects.get(pk=pending.pk).state == Membership.State.REJECTED


def test_rejection_needs_a_reason(pending, nhn_staff):
    with pytest.raises(ValidationError, match="reason"):
        services.membership_reject(membership=pending, by=nhn_staff, reason="  ")
    assert Membership.objects.get(pk=pending.pk).state == Membership.State.PENDING_APPROVAL


def test_suspend_reinstate_and_end(pending, nhn_staff):
    services.membership_approve(membership=pending, by=nhn_staff)
    services.membership_suspend(membership=pending, by=nhn_staff, reason="Sikkerhetshendelse")
    assert pending.state == Membership.State.SUSPENDED
    services.membership_reinstate(membership=pending, by=nhn_staff)
    assert pending.state == Membership.State.ACTIVE
    services.membership_end(membership=pending, by=nhn_staff, reason="Virksomheten er avviklet")
    assert pending.state == Membership.State.ENDED
    assert not pending.is_live


# New versions of the terms ----------------------------------------------------------------------


def test_a_new_version_asks_members_to_accept_again(pending, nhn_staff, randi, nordvik, membership_terms):
    services.membership_approve(membership=pending, by=nhn_staff)
    assert not pending.needs_new_terms(TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP))

    newer = services.terms_draft_create(
        kind=TermsDocument.Kind.MEMBERSHIP,
        service_code="",
        version="2027.1",
        title="Medlemsvilkår for Helsenettet",
        body="Oppdatert tekst.",
        effective_from=timezone.now(),
        by=nhn_staff,
    )
    assert not pending.needs_new_terms(TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP))  # a draft
    services.terms_publish(document=newer, by=nhn_staff)
    current = TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)
    assert current == newer
    assert pending.needs_new_terms(current)

    sign(randi, nordvik, newer)
    pending.refresh_from_db()
    assert pending.state == Membership.State.ACTIVE
    assert not pending.needs_new_terms(current)


def test_published_terms_never_change(membership_terms):
    membership_terms.body += "\nEn ekstra setning."
    with pytest.raises(ValidationError):
        membership_terms.save()
    membership_terms.refresh_from_db()
    assert membership_terms.sha256 == membership_terms.compute_sha256()


def test_publishing_twice_is_refused(nhn_staff):
    draft = services.terms_draft_create(
        kind=TermsDocument.Kind.VENDOR,
        service_code="",
        version="2.1",
        title="Leverandørvilkår",
        body="Tekst.",
        effective_from=timezone.now(),
        by=nhn_staff,
    )
    services.terms_publish(document=draft, by=nhn_staff)
    with pytest.raises(InvalidTransition):
        services.terms_publish(document=draft, by=nhn_staff)
