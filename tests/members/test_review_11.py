"""Issue 11 attacked once more by an independent reviewer, through the web as a hostile user would.

Each test here failed on main before the fix committed with it (or proves a rule of the issue that
had no test of its own).
"""
# ruff: noqa: F811  (pytest fixtures imported from tests.brreg_server are used as arguments)

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import Acceptance, Affiliation, SigningDelegation, TermsDocument
from tests.brreg_server import brreg_server, http_registry  # noqa: F401
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory

from .idporten import verified_in_session

pytestmark = pytest.mark.django_db

NORDVIK = "313231593"


@pytest.mark.integration
def test_a_bound_delegate_during_a_registry_outage_gets_a_page_not_a_500(client, http_registry, brreg_server):
    """The signing pages look up whether the one who delegated still signs; with the register down
    that lookup must say "Enhetsregisteret is down", not crash."""
    nordvik = OrganisationFactory(org_number=NORDVIK, name="Testkommune Nordvik")
    dina = UserFactory(email="dina@nordvik.example")
    AffiliationFactory(user=dina, organisation=nordvik, role=Affiliation.Role.SIGNATORY)
    person = verified_in_session(client, dina, name="Dina Delegat", born=date(1980, 5, 19))
    SigningDelegation.objects.create(
        organisation=nordvik,
        delegate_email=dina.email,
        delegate=dina,
        delegate_pid_hash=person.pid_hash,
        bound_at=timezone.now(),
        delegated_by=UserFactory(),
        delegated_by_name="Randi Rådmann",
        delegated_by_birth_date=date(1970, 1, 1),
        delegated_by_authority="Daglig leder (DAGL) in Enhetsregisteret",
    )
    terms = TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)
    client.force_login(dina)
    verified_in_session(client, dina, name="Dina Delegat", born=date(1980, 5, 19))
    brreg_server.fail(status=500, times=None)
    for url in (reverse("membership_detail", args=[NORDVIK]), reverse("terms_sign", args=[NORDVIK, terms.public_id])):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.context["registry_error"] is True
        assert response.context["authority"] is None  # unprovable while the register is down
    response = client.post(
        reverse("terms_sign", args=[NORDVIK, terms.public_id]), {"sha256": terms.sha256, "confirm": "on"}
    )
    assert response.status_code == 200
    assert "Enhetsregisteret" in response.context["form"].non_field_errors()[0]
    assert not Acceptance.objects.exists()


HELSE = "320000017"  # Helse Nordvik HF: SIFE held by Hanne Marie Styreleder and by Stein Styremedlem
HANNE = ("Hanne Marie Styreleder", date(1958, 10, 2))
STEIN = ("Stein Styremedlem", date(1960, 8, 19))
LENA = ("Lena Lege", date(1975, 4, 4))  # daglig leder and SIGN of another organisation (320000025)


def _signatory_of(organisation):
    user = UserFactory()
    AffiliationFactory(user=user, organisation=organisation, role=Affiliation.Role.SIGNATORY)
    return user


def _sign_as(client, organisation, terms, name_and_birth):
    user = _signatory_of(organisation)
    client.force_login(user)
    name, born = name_and_birth
    verified_in_session(client, user, name=name, born=born)
    url = reverse("terms_sign", args=[organisation.org_number, terms.public_id])
    return client.post(url, {"sha256": terms.sha256, "confirm": "on"})


def test_a_joint_signature_is_not_completed_by_a_sole_signatory_of_another_organisation(client):
    from members.models import JointSignature, Membership
    from tests.factories import register_confirmed

    helse = register_confirmed(org_number=HELSE, user=UserFactory()).organisation
    terms = TermsDocument.objects.current(Membership.terms_kind_for(helse))
    assert _sign_as(client, helse, terms, HANNE).status_code == 302
    joint = JointSignature.objects.get(organisation=helse)

    # Lena may sign alone, but for another organisation: here she is nobody, whatever her portal role.
    refused = _sign_as(client, helse, terms, LENA)
    assert refused.status_code == 403 and "Lena Lege" in refused.content.decode()
    joint.refresh_from_db()
    assert joint.acceptance is None and joint.closed_at is None
    assert not Acceptance.objects.filter(organisation=helse).exists()

    # The second holder of the joint signature completes it; both are on the acceptance.
    assert _sign_as(client, helse, terms, STEIN).status_code == 302
    acceptance = Acceptance.objects.get(organisation=helse)
    assert (acceptance.signer_name, acceptance.cosigner_name) == (HANNE[0], STEIN[0])


@pytest.mark.parametrize(
    "hostile",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "http:evil.example", "javascript:alert(1)"],
)
def test_the_step_up_never_sends_the_browser_elsewhere(client, idporten, hostile):
    from urllib.parse import parse_qs, urlparse

    client.force_login(UserFactory())
    response = client.get(reverse("authority_stepup"), {"next": hostile})
    assert response.status_code == 302
    query = parse_qs(urlparse(response["Location"]).query)
    assert query["next"] == [reverse("home")] and query["stepup"] == ["1"]
    # And the login view the step-up leads to keeps no foreign address either.
    client.get(reverse("oidc_login_idporten"), {"next": hostile, "stepup": "1", "koble": "1"})
    assert client.session.get("oidc_login_next") in (None, "")


def test_a_verified_person_ends_with_the_session_it_was_proven_in(client):
    """Dagny's ID-porten login stays with her session: after logging out, neither another account nor
    Dagny herself logging in again by password in that browser has a verified person."""
    from members import authority

    dagny = UserFactory(password="correct horse battery")
    other = UserFactory(password="another horse battery")
    for who, password in ((other, "another horse battery"), (dagny, "correct horse battery")):
        client.force_login(dagny)
        verified_in_session(client, dagny, name="Dagny Leder", born=date(1971, 4, 3))
        client.post(reverse("account_logout"))
        response = client.post(reverse("account_login"), {"login": who.email, "password": password})
        assert response.status_code == 302
        assert int(client.session["_auth_user_id"]) == who.pk
        assert authority.SESSION_KEY not in client.session
    # Another account logged in over Dagny's session (no log-out) gets a fresh session, no person.
    client.force_login(dagny)
    verified_in_session(client, dagny, name="Dagny Leder", born=date(1971, 4, 3))
    client.force_login(other)
    assert authority.SESSION_KEY not in client.session


SUB_UNIT = "320000122"  # Fjordheim sjukeheim, a sub-unit in the fixture register


@pytest.mark.parametrize("closing", ["nedleggelsesdato", "slettedato"])
def test_a_closed_sub_unit_cannot_be_registered_through_the_web(client, settings, tmp_path, closing):
    import json

    from members.models import Organisation, OrganisationClaim
    from tests.brreg_server import DATA_FILE

    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    data["underenheter"][SUB_UNIT][closing] = "2024-05-01"
    path = tmp_path / "enhetsregisteret.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    settings.ENHETSREGISTERET_BACKEND = "members.enhetsregisteret.OfflineBackend"
    settings.ENHETSREGISTERET_DATA_FILE = path

    client.force_login(UserFactory())
    for action in ("check", "apply"):
        response = client.post(reverse("membership_register"), {"org_number": SUB_UNIT, "action": action})
        assert response.status_code == 200
        assert "ble slettet fra Enhetsregisteret" in response.content.decode()
    assert not Organisation.objects.filter(org_number=SUB_UNIT).exists()
    assert not OrganisationClaim.objects.exists()


def test_a_partners_first_vendor_user_is_an_applicant_too(client):
    from members.models import Organisation, OrganisationClaim

    builder = "310000264"  # a company in the fixture register, not in the portal
    claimant = UserFactory()
    client.force_login(claimant)
    response = client.post(reverse("vendor_register"), {"org_number": builder, "action": "apply", "as_partner": "on"})
    assert response.status_code == 302
    claim = OrganisationClaim.objects.get(organisation__org_number=builder)
    assert claim.is_pending and claim.role == Affiliation.Role.VENDOR_USER
    assert claim.organisation.kind == Organisation.Kind.PARTNER
    assert not Affiliation.objects.filter(organisation=claim.organisation).exists()
    for name in ("vendor_dashboard", "membership_detail", "organisation_people"):
        assert client.get(reverse(name, args=[builder])).status_code == 404, name
    assert client.post(reverse("vendor_system_create", args=[builder]), {"name": "X", "kind": "vft"}).status_code == 404


def test_nhn_staff_cannot_approve_their_own_application(client, nhn_staff):
    """A customer-centre account that applies to administer an organisation is an applicant like any
    other: its own approval would make anyone at NHN (or whoever holds that account) administrator of
    any organisation without a second person. Another member of staff decides."""
    from members.models import OrganisationClaim
    from tests.factories import with_totp

    client.force_login(nhn_staff)
    client.post(reverse("membership_register"), {"org_number": "320000009", "action": "apply"})
    claim = OrganisationClaim.objects.get(claimant=nhn_staff)
    response = client.post(
        reverse("staff_claim_decide", args=[claim.public_id, "godkjenn"]), {"reason": "Meg selv"}, follow=True
    )
    assert "annen i kundesenteret" in response.content.decode()
    claim.refresh_from_db()
    assert claim.is_pending
    assert not Affiliation.objects.filter(user=nhn_staff, organisation=claim.organisation).exists()

    colleague = with_totp(UserFactory(is_nhn_staff=True, email="kollega@nhn.example"))
    client.force_login(colleague)
    client.post(reverse("staff_claim_decide", args=[claim.public_id, "godkjenn"]), {"reason": "Ringte Sjøvik"})
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.CONFIRMED and claim.decided_by == colleague


@pytest.mark.parametrize("switch", [None, "on"])
def test_the_test_id_porten_is_not_reachable_with_production_settings(switch):
    """Production never mounts the bundled test ID-porten, even with TEST_IDPORTEN switched on (which
    the production checks refuse besides), and never points the ID-porten client at it."""
    from tests.portal.test_production_settings import run

    code = (
        "from django.urls import resolve, Resolver404\n"
        "from django.conf import settings\n"
        "try:\n"
        "    resolve('/test-idporten/authorize')\n"
        "    print('MOUNTED')\n"
        "except Resolver404:\n"
        "    print('NOT MOUNTED')\n"
        "print('CLIENT', settings.OIDC_PROVIDERS.get('idporten', {}).get('issuer', ''))\n"
    )
    result = run(["manage.py", "shell", "-c", code], TEST_IDPORTEN=switch)
    assert "NOT MOUNTED" in result.stdout, result.stdout + result.stderr
    assert "test-idporten" not in result.stdout.split("CLIENT", 1)[1]


MARTE = ("Marte Kommunedirektør", date(1969, 5, 17))  # daglig leder of Sjøvik kommune (320000009)


def test_a_squatters_waiting_application_dies_once_the_organisation_is_administered(
    client, nhn_staff, django_capture_on_commit_callbacks
):
    """Sara applied for Sjøvik first; then Sjøvik's daglig leder registered and administers it. Later
    administrators come from the administrators' invitations: Sara's application can no longer be
    confirmed (by a signatory's link, by herself or by NHN), nor can she mail a signatory a link."""
    import re

    from django.core import mail

    from members.models import OrganisationClaim

    sara = UserFactory()
    client.force_login(sara)
    client.post(reverse("membership_register"), {"org_number": "320000009", "action": "apply"})
    claim = OrganisationClaim.objects.get(claimant=sara)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("claim_detail", args=[claim.public_id]), {"email": "marte@sjovik.example"})
    link = re.search(r"(/soknad/bekreft/[^/\s]+/)", mail.outbox[-1].body).group(1)

    marte = UserFactory()
    client.force_login(marte)
    verified_in_session(client, marte, name=MARTE[0], born=MARTE[1])
    client.post(reverse("membership_register"), {"org_number": "320000009", "action": "apply"})
    assert Affiliation.objects.filter(user=marte, role=Affiliation.Role.ADMIN).exists()

    # The signatory follows Sara's old link: it is refused, nothing is decided.
    response = client.post(link, {"decision": "confirm"})
    assert response.status_code == 403 and "har allerede administratorer" in response.context["problem"]
    claim.refresh_from_db()
    assert claim.is_pending and claim.token_used_at is None
    assert not Affiliation.objects.filter(user=sara).exists()

    # Sara cannot send a new link; NHN cannot confirm her either (the administrators invite).
    client.force_login(sara)
    from datetime import timedelta

    OrganisationClaim.objects.filter(pk=claim.pk).update(token_sent_at=timezone.now() - timedelta(minutes=5))
    again = client.post(reverse("claim_detail", args=[claim.public_id]), {"email": "marte@sjovik.example"})
    assert "har allerede administratorer" in again.context["form"].errors["email"][0]
    client.force_login(nhn_staff)
    client.post(reverse("staff_claim_decide", args=[claim.public_id, "godkjenn"]), {"reason": "Ringte"})
    claim.refresh_from_db()
    assert claim.is_pending
    assert not Affiliation.objects.filter(user=sara).exists()
    # Refusing still works, so the queue can be cleared.
    client.post(reverse("staff_claim_decide", args=[claim.public_id, "avvis"]), {"reason": "Har administratorer"})
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.REFUSED


@pytest.mark.parametrize("verified", [True, False])
def test_the_signatory_is_told_when_the_applicants_address_is_unverified(
    client, verified, django_capture_on_commit_callbacks
):
    """A first ID-porten login may type any work address without verifying it; the signatory deciding
    on an application must not take that address as proof of who asks."""
    import re

    from allauth.account.models import EmailAddress
    from django.core import mail

    from members.models import OrganisationClaim

    sara = UserFactory(email="it-sjef@sjovik.example")
    EmailAddress.objects.filter(user=sara).update(verified=verified)
    client.force_login(sara)
    client.post(reverse("membership_register"), {"org_number": "320000009", "action": "apply"})
    claim = OrganisationClaim.objects.get(claimant=sara)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("claim_detail", args=[claim.public_id]), {"email": "marte@sjovik.example"})
    (message,) = mail.outbox
    warning = "it-sjef@sjovik.example er ikke bekreftet"
    assert (warning in message.body) is not verified
    assert (warning in message.alternatives[0][0]) is not verified
    link = re.search(r"(/soknad/bekreft/[^/\s]+/)", message.body).group(1)
    client.logout()
    page = client.get(link).content.decode()
    assert (warning in page) is not verified
