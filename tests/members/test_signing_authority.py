"""Who may sign, tried through the web as a hostile user would, with ID-porten played by the loopback provider.

The register is a fixture file in Brønnøysund's format giving the test persons roles: DAGL, SIHV
and PROK holders sign alone; two SIFE/POFE holders sign together; resigned, deregistered and
deceased holders, a namesake with another birth date, a local account with a typed matching name
and a login at level substantial are refused with a clear message and nothing is signed.
"""

import io
import json

import pytest
from django.urls import reverse
from pypdf import PdfReader

from members.models import (
    Acceptance,
    Affiliation,
    JointSignature,
    Membership,
    Organisation,
    SigningDelegation,
    TermsDocument,
)
from portal.models import AuditEvent
from tests.brreg_server import DATA_FILE
from tests.factories import AffiliationFactory, UserFactory, register_confirmed

from .idporten import PERSONS, birth_date, full_name, log_in_with_idporten

pytestmark = pytest.mark.django_db

SJOVIK = "320000009"  # a municipality in the fixture data, not in the portal
JOURNALHUSET = "310000108"  # a vendor


def _role(code, account, *, fratraadt=False, avregistrert=False, dead=False, birth=None):
    person = PERSONS[account]
    return {
        "type": {"kode": code, "beskrivelse": code},
        "person": {
            "fodselsdato": birth or birth_date(account).isoformat(),
            "navn": {"fornavn": person["given_name"], "etternavn": person["family_name"]},
            "erDoed": dead,
        },
        "fratraadt": fratraadt,
        "avregistrert": avregistrert,
    }


ROLES = [
    _role("DAGL", "dagny"),
    _role("SIHV", "siv"),
    _role("PROK", "per"),
    _role("SIFE", "fie"),
    _role("POFE", "felix"),
    _role("DAGL", "frode", fratraadt=True),
    _role("SIGN", "ada", avregistrert=True),
    _role("PROK", "dorte", dead=True),
]


@pytest.fixture(autouse=True)
def register(settings, tmp_path):
    """Enhetsregisteret as the fixture file has it, with our persons in Sjøvik's and Journalhuset's roles."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    for number in (SJOVIK, JOURNALHUSET):
        data["roller"][number] = {"rollegrupper": [{"type": {"kode": "SIGN"}, "roller": ROLES}]}
    path = tmp_path / "enhetsregisteret.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    settings.ENHETSREGISTERET_BACKEND = "members.enhetsregisteret.OfflineBackend"
    settings.ENHETSREGISTERET_DATA_FILE = path


@pytest.fixture
def sjovik():
    membership = register_confirmed(org_number=SJOVIK, user=UserFactory())
    return membership.organisation


def colleague(organisation, **names):
    """A local account with a role in the organisation (e-mail and password, no ID-porten yet)."""
    user = UserFactory(**names)
    role = Affiliation.Role.VENDOR_USER if organisation.is_vendor_kind else Affiliation.Role.SIGNATORY
    AffiliationFactory(user=user, organisation=organisation, role=role)
    return user


def membership_terms(organisation):
    return TermsDocument.objects.current(Membership.terms_kind_for(organisation))


def sign_url(organisation, document):
    return reverse("terms_sign", args=[organisation.org_number, document.public_id])


def sign(client, organisation, document):
    return client.post(sign_url(organisation, document), {"sha256": document.sha256, "confirm": "on"})


def receipt_text(client, acceptance) -> str:
    response = client.get(reverse("acceptance_receipt", args=[acceptance.public_id]))
    assert response.status_code == 200
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


def nothing_signed(organisation):
    return not Acceptance.objects.filter(organisation=organisation).exists() and not (
        JointSignature.objects.filter(organisation=organisation).exists()
    )


# Sole roles ----------------------------------------------------------------------------------------


def test_the_signing_page_asks_for_id_porten_first(client, idporten, sjovik):
    client.force_login(colleague(sjovik, first_name="Dagny", last_name="Leder"))
    terms = membership_terms(sjovik)
    page = client.get(sign_url(sjovik, terms)).content.decode()
    assert "Signering krever ID-porten på høyt nivå" in page
    assert reverse("authority_stepup") in page
    assert 'name="confirm"' not in page  # no sign form before ID-porten says who this is
    # Who can sign, as the register says: in office only, joint roles marked.
    assert "Fie Fellesskap – SIFE (i fellesskap med en annen innehaver)" in page
    assert "Dagny Leder – DAGL" in page and "Frode Fratraadt" not in page and "Dorte Doed" not in page


def test_the_step_up_asks_id_porten_for_level_high_with_a_fresh_login(client, idporten, sjovik):
    client.force_login(colleague(sjovik))
    response = client.get(reverse("authority_stepup") + "?next=/medlemskap/")
    assert response.status_code == 302
    response = client.get(response["Location"])
    query = response["Location"].split("?", 1)[1]
    assert "acr_values=idporten-loa-high" in query and "prompt=login" in query
    # An outside address is never where the step-up returns.
    response = client.get(reverse("authority_stepup") + "?next=https://evil.example/")
    assert response.status_code == 302 and "evil.example" not in response["Location"]


@pytest.mark.parametrize(
    ("account", "code"), [("dagny", "DAGL"), ("siv", "SIHV"), ("per", "PROK")], ids=["dagl", "sihv", "prok"]
)
def test_sole_role_holders_sign_the_membership_terms_alone(client, idporten, sjovik, account, code):
    user = colleague(sjovik)  # a local account with no name: ID-porten says who it is
    client.force_login(user)
    terms = membership_terms(sjovik)
    response = log_in_with_idporten(client, account, next_url=sign_url(sjovik, terms))
    assert response.status_code == 302 and response["Location"] == sign_url(sjovik, terms)

    page = client.get(sign_url(sjovik, terms)).content.decode()
    assert f"({code}) i Enhetsregisteret" in page and 'name="confirm"' in page
    response = sign(client, sjovik, terms)
    assert response.status_code == 302

    acceptance = Acceptance.objects.get(organisation=sjovik, document=terms)
    assert acceptance.signer_name == full_name(account) and acceptance.signed_by == user
    assert f"({code})" in acceptance.authority_detail and acceptance.verified_with == "ID-porten, idporten-loa-high"
    assert acceptance.cosigned_by is None
    assert Membership.objects.get(organisation=sjovik).state == Membership.State.PENDING_APPROVAL
    text = receipt_text(client, acceptance)
    assert full_name(account) in text and code in text and "ID-porten" in text


def test_a_sihv_holder_signs_the_vendor_terms_alone(client, idporten):
    membership = register_confirmed(org_number=JOURNALHUSET, user=UserFactory(), vendor_kind=Organisation.Kind.VENDOR)
    vendor = membership.organisation
    client.force_login(colleague(vendor))
    terms = membership_terms(vendor)
    assert terms.kind == TermsDocument.Kind.VENDOR
    log_in_with_idporten(client, "siv")
    assert sign(client, vendor, terms).status_code == 302
    membership.refresh_from_db()
    assert membership.state == Membership.State.PENDING_APPROVAL
    assert "(SIHV)" in membership.acceptance.authority_detail


def test_a_prok_holder_signs_usage_terms_alone(client, idporten, sjovik):
    usage = TermsDocument.objects.filter(kind=TermsDocument.Kind.USAGE).first()
    assert usage is not None
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "per")
    assert sign(client, sjovik, usage).status_code == 302
    acceptance = Acceptance.objects.get(organisation=sjovik, document=usage)
    assert acceptance.signer_name == "Per Prokurist" and "(PROK)" in acceptance.authority_detail


# Joint roles ---------------------------------------------------------------------------------------


def test_a_joint_signature_waits_for_a_second_holder_and_counts_after_it(client, idporten, sjovik):
    terms = membership_terms(sjovik)
    fie_user, felix_user = colleague(sjovik), colleague(sjovik)

    client.force_login(fie_user)
    log_in_with_idporten(client, "fie")
    response = sign(client, sjovik, terms)
    assert response.status_code == 302
    assert not Acceptance.objects.filter(organisation=sjovik).exists()  # not yet accepted
    joint = JointSignature.objects.get(organisation=sjovik, document=terms)
    assert joint.signer_name == "Fie Fellesskap" and joint.acceptance is None
    assert Membership.objects.get(organisation=sjovik).state == Membership.State.APPLIED
    page = client.get(sign_url(sjovik, terms)).content.decode()
    assert "Venter på medsignering" in page
    assert 'name="confirm"' not in page  # the same person cannot co-sign themselves

    detail = client.get(reverse("membership_detail", args=[SJOVIK])).content.decode()
    assert "Venter på medsignering" in detail and "Fie Fellesskap har signert med en rolle i fellesskap" in detail

    # Signing again as the same person still waits.
    sign(client, sjovik, terms)
    assert JointSignature.objects.filter(organisation=sjovik).count() == 1
    assert not Acceptance.objects.filter(organisation=sjovik).exists()

    client.logout()
    client.force_login(felix_user)
    log_in_with_idporten(client, "felix")
    page = client.get(sign_url(sjovik, terms)).content.decode()
    assert "Fie Fellesskap" in page and "Medsigner" in page
    assert sign(client, sjovik, terms).status_code == 302

    acceptance = Acceptance.objects.get(organisation=sjovik, document=terms)
    assert (acceptance.signer_name, acceptance.cosigner_name) == ("Fie Fellesskap", "Felix Fellesskap")
    assert (acceptance.signed_by, acceptance.cosigned_by) == (fie_user, felix_user)
    assert "(SIFE)" in acceptance.authority_detail and "(POFE)" in acceptance.cosigner_authority_detail
    assert Membership.objects.get(organisation=sjovik).state == Membership.State.PENDING_APPROVAL
    text = receipt_text(client, acceptance)
    assert "Fie Fellesskap" in text and "Felix Fellesskap" in text and "Medsignert av" in text
    detail = client.get(reverse("membership_detail", args=[sjovik.org_number])).content.decode()
    assert "medsignert av Felix Fellesskap" in detail
    assert AuditEvent.objects.filter(action="terms.cosigned").count() == 1


def test_a_joint_signature_whose_first_holder_has_resigned_since_does_not_count(client, idporten, sjovik, settings):
    terms = membership_terms(sjovik)
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "fie")
    sign(client, sjovik, terms)
    # Fie resigns from her role before anyone co-signs.
    data = json.loads(settings.ENHETSREGISTERET_DATA_FILE.read_text(encoding="utf-8"))
    data["roller"][SJOVIK]["rollegrupper"][0]["roller"][3]["fratraadt"] = True
    settings.ENHETSREGISTERET_DATA_FILE.write_text(json.dumps(data), encoding="utf-8")

    client.logout()
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "felix")
    sign(client, sjovik, terms)
    assert not Acceptance.objects.filter(organisation=sjovik).exists()
    waiting = JointSignature.objects.get(organisation=sjovik, closed_at__isnull=True)
    assert waiting.signer_name == "Felix Fellesskap"  # his signature now waits for a second holder


def test_a_sole_signatory_signing_meanwhile_closes_the_waiting_joint_signature(client, idporten, sjovik):
    terms = membership_terms(sjovik)
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "fie")
    sign(client, sjovik, terms)
    client.logout()
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "dagny")
    sign(client, sjovik, terms)
    acceptance = Acceptance.objects.get(organisation=sjovik, document=terms)
    assert acceptance.signer_name == "Dagny Leder" and acceptance.cosigned_by is None
    assert JointSignature.objects.get(organisation=sjovik).closed_at is not None


# Refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "account", ["frode", "ada", "dorte", "dagny2"], ids=["resigned", "deregistered", "deceased", "namesake"]
)
def test_holders_who_do_not_count_are_refused_and_nothing_is_signed(client, idporten, sjovik, account):
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, account)
    terms = membership_terms(sjovik)
    page = client.get(sign_url(sjovik, terms)).content.decode()
    assert 'name="confirm"' not in page and "lister ingen slik person" in page
    response = sign(client, sjovik, terms)
    assert response.status_code == 403
    assert "Ingenting ble signert" in response.content.decode()
    assert nothing_signed(sjovik)
    assert Membership.objects.get(organisation=sjovik).state == Membership.State.APPLIED


def test_a_local_account_with_a_typed_matching_name_is_refused(client, idporten, sjovik):
    client.force_login(colleague(sjovik, first_name="Dagny", last_name="Leder"))  # types the DAGL's name
    terms = membership_terms(sjovik)
    response = sign(client, sjovik, terms)
    assert response.status_code == 403
    page = response.content.decode()
    assert "ID-porten på nivå høyt" in page and "Ingenting ble signert" in page
    assert nothing_signed(sjovik)


def test_a_login_at_level_substantial_is_refused(client, idporten, settings, sjovik):
    # Even where the portal accepts substantial for logging in, signing asks for high.
    settings.OIDC_PROVIDERS["idporten"]["accepted_assurance"] = "idporten-loa-substantial,idporten-loa-high"
    settings.OIDC_PROVIDERS["idporten"]["acr_values"] = "idporten-loa-substantial"
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "dagny", acr="idporten-loa-substantial")
    terms = membership_terms(sjovik)
    page = client.get(sign_url(sjovik, terms)).content.decode()
    assert "lavere sikkerhetsnivå" in page and 'name="confirm"' not in page
    response = sign(client, sjovik, terms)
    assert response.status_code == 403 and "Ingenting ble signert" in response.content.decode()
    assert nothing_signed(sjovik)


def test_an_old_login_is_refused_until_the_person_logs_in_again(client, idporten, settings, sjovik):
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "dagny")
    settings.SIGNING_LOGIN_MAX_AGE_SECONDS = -1  # the login is now older than allowed
    terms = membership_terms(sjovik)
    assert "mer enn" in client.get(sign_url(sjovik, terms)).content.decode()
    assert sign(client, sjovik, terms).status_code == 403
    assert nothing_signed(sjovik)


def test_the_id_porten_person_belongs_to_the_account_that_logged_in(client, idporten, sjovik):
    # Someone who logs in as another account in the same browser does not inherit the signature.
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "dagny")
    client.force_login(colleague(sjovik))
    assert sign(client, sjovik, membership_terms(sjovik)).status_code == 403
    assert nothing_signed(sjovik)


# Delegation (fullmakt) ------------------------------------------------------------------------------


def test_a_delegation_binds_at_the_delegates_first_id_porten_login(
    client, idporten, sjovik, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "dagny")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("delegation_create", args=[SJOVIK]), {"email": "Dina@Sjovik.example"})
    assert response.status_code == 302
    delegation = SigningDelegation.objects.get(organisation=sjovik)
    assert delegation.delegate_email == "dina@sjovik.example" and not delegation.is_bound
    assert delegation.delegated_by_name == "Dagny Leder"
    assert any("dina@sjovik.example" in message.to for message in mailoutbox)

    # The delegate: a local account with that verified address; no role in Sjøvik until bound.
    dina = UserFactory(email="dina@sjovik.example")
    client.logout()
    client.force_login(dina)
    assert client.get(sign_url(sjovik, membership_terms(sjovik))).status_code == 404
    log_in_with_idporten(client, "dina")
    delegation.refresh_from_db()
    assert delegation.is_bound and delegation.delegate == dina
    assert Affiliation.objects.filter(user=dina, organisation=sjovik, role=Affiliation.Role.SIGNATORY).exists()

    assert sign(client, sjovik, membership_terms(sjovik)).status_code == 302
    acceptance = Acceptance.objects.get(organisation=sjovik)
    assert acceptance.authority == Acceptance.Authority.DELEGATION
    assert acceptance.signer_name == "Dina Delegat"
    assert "Dagny Leder" in acceptance.authority_detail
    assert "fullmakt fra Dagny Leder" in receipt_text(client, acceptance)


def test_a_delegation_is_for_the_person_it_bound_to(client, idporten, sjovik):
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "dagny")
    client.post(reverse("delegation_create", args=[SJOVIK]), {"email": "dina@sjovik.example"})
    dina = UserFactory(email="dina@sjovik.example")
    client.force_login(dina)
    log_in_with_idporten(client, "dina")
    # Another person at Dina's account: ID-porten refuses to link a second identity, so nothing changes.
    response = log_in_with_idporten(client, "felix")
    assert response.status_code == 400
    assert sign(client, sjovik, membership_terms(sjovik)).status_code == 403
    assert nothing_signed(sjovik)


def test_only_a_sole_signatory_verified_by_id_porten_may_delegate(client, idporten, sjovik):
    client.force_login(colleague(sjovik, first_name="Dagny", last_name="Leder"))  # typed name only
    client.post(reverse("delegation_create", args=[SJOVIK]), {"email": "x@sjovik.example"})
    log_in_with_idporten(client, "fie")  # a joint holder cannot delegate alone
    client.post(reverse("delegation_create", args=[SJOVIK]), {"email": "y@sjovik.example"})
    assert not SigningDelegation.objects.exists()


def test_the_login_that_creates_the_account_counts_as_proof(client, idporten):
    """A daglig leder new to the portal: the first ID-porten login (which asks for an e-mail address)
    identifies her, so registering her organisation confirms her at once without logging in again."""
    from members.models import OrganisationClaim

    response = log_in_with_idporten(client, "dagny", first_login=True)
    assert response["Location"] == reverse("oidc_complete")
    response = client.post(reverse("oidc_complete"), {"email": "dagny@sjovik.example"})
    assert response.status_code == 302
    response = client.post(reverse("membership_register"), {"org_number": SJOVIK, "action": "apply"})
    claim = OrganisationClaim.objects.get(organisation__org_number=SJOVIK)
    assert claim.state == OrganisationClaim.State.CONFIRMED, response.get("Location")
    assert claim.decided_how == OrganisationClaim.Decision.SELF_SIGNATORY
    assert "Dagny Leder" in claim.decided_by_authority
    assert Affiliation.objects.filter(
        user__email="dagny@sjovik.example", organisation=claim.organisation, role=Affiliation.Role.ADMIN
    ).exists()


def test_a_delegation_ends_when_the_one_who_gave_it_no_longer_signs(client, idporten, sjovik, settings):
    """Dagny delegates to Dina, then resigns as daglig leder: Dina's fullmakt no longer counts."""
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "dagny")
    client.post(reverse("delegation_create", args=[SJOVIK]), {"email": "dina@sjovik.example"})
    assert SigningDelegation.objects.get(organisation=sjovik).delegated_by_birth_date == birth_date("dagny")
    dina = UserFactory(email="dina@sjovik.example")
    client.logout()
    client.force_login(dina)
    log_in_with_idporten(client, "dina")
    assert SigningDelegation.objects.get(organisation=sjovik).is_bound

    register = json.loads(settings.ENHETSREGISTERET_DATA_FILE.read_text(encoding="utf-8"))
    for role in register["roller"][SJOVIK]["rollegrupper"][0]["roller"]:
        if role["person"]["navn"]["fornavn"] == "Dagny":
            role["fratraadt"] = True
    settings.ENHETSREGISTERET_DATA_FILE.write_text(json.dumps(register), encoding="utf-8")

    response = sign(client, sjovik, membership_terms(sjovik))
    assert response.status_code == 403
    assert "Nothing was signed" in response.content.decode() or "Ingenting ble signert" in response.content.decode()
    assert nothing_signed(sjovik)


def test_a_joint_holder_with_a_delegation_signs_alone_on_the_delegation(client, idporten, sjovik):
    """Fie holds a joint signature (SIFE) and has Dagny's fullmakt: the fullmakt lets her sign alone,
    so her signature is the acceptance, not half of a joint one (review of issue 11)."""
    client.force_login(colleague(sjovik))
    log_in_with_idporten(client, "dagny")
    client.post(reverse("delegation_create", args=[SJOVIK]), {"email": "fie@sjovik.example"})
    fie = UserFactory(email="fie@sjovik.example")
    AffiliationFactory(user=fie, organisation=sjovik, role=Affiliation.Role.SIGNATORY)
    client.logout()
    client.force_login(fie)
    log_in_with_idporten(client, "fie")
    assert SigningDelegation.objects.get(organisation=sjovik).delegate == fie
    assert sign(client, sjovik, membership_terms(sjovik)).status_code == 302
    acceptance = Acceptance.objects.get(organisation=sjovik)
    assert acceptance.authority == Acceptance.Authority.DELEGATION and acceptance.signer_name == "Fie Fellesskap"
    assert not JointSignature.objects.filter(organisation=sjovik).exists()
