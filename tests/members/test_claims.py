"""Registering an organisation makes you an applicant, not its administrator; tried as a hostile user would.

Pages answer in bokmål (the portal's default language), so messages are checked in bokmål.

An outsider, a vendor user, a viewer and an administrator of another organisation each register an
unregistered municipality, health enterprise and vendor: none gets any right, sees anything of the
organisation or can order, register a system or become a tenant before a signatory or NHN confirms.
The signatory's confirmation link: wrong person, expired, used twice, refused.
"""

import re
import time
from dataclasses import asdict
from datetime import date, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from members import authority, services
from members.models import (
    Acceptance,
    Affiliation,
    Membership,
    Organisation,
    OrganisationClaim,
    TermsDocument,
    VendorAssignment,
    VendorSystem,
)
from orders.models import HelseIdClient, Order
from portal.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SJOVIK = "320000009"  # Sjøvik kommune: daglig leder Marte Kommunedirektør, born 1969-05-17
HELSE = "320000017"  # Helse Nordvik HF: daglig leder Henrik Helse, born 1962-01-15
TRYGG = "310000205"  # Trygghetsvakta AS (a vendor): daglig leder Tor Trygg, born 1977-07-07
MARTE = ("Marte Kommunedirektør", date(1969, 5, 17))
SARA = ("Sara Saksbehandler", date(1990, 3, 8))  # no role anywhere

TARGETS = {
    "municipality": (SJOVIK, "membership_register", {}),
    "health_enterprise": (HELSE, "membership_register", {}),
    "vendor": (TRYGG, "vendor_register", {}),
}


@pytest.fixture
def persona(request, municipality, vendor, viewer, vendor_user, municipal_admin):
    """The hostile user: outsider, vendor user, viewer, or administrator of another organisation."""
    return {
        "outsider": UserFactory(),
        "vendor_user": vendor_user,
        "viewer": viewer,
        "other_admin": municipal_admin,
    }[request.param]


def verify(client, user, name_and_birth, *, acr="idporten-loa-high", age=0):
    """What an ID-porten login leaves in the session (members.authority), for this test client."""
    name, born = name_and_birth
    person = authority.VerifiedPerson(
        provider="idporten", name=name, birth_date=born, acr=acr, auth_time=int(time.time()) - age, pid_hash="h"
    )
    session = client.session

    class Request:
        pass

    request = Request()
    request.session = session
    authority.remember(request, person, user_id=user.pk)
    session.save()
    return asdict(person)


def register(client, number, view, **extra):
    return client.post(reverse(view), {"org_number": number, "action": "apply", **extra})


def org_pages(number: str, *, vendor: bool) -> list[str]:
    terms = TermsDocument.objects.current(TermsDocument.Kind.VENDOR if vendor else TermsDocument.Kind.MEMBERSHIP)
    pages = [
        reverse("vendor_dashboard" if vendor else "member_dashboard", args=[number]),
        reverse("membership_detail", args=[number]),
        reverse("organisation_history", args=[number]),
        reverse("organisation_people", args=[number]),
        reverse("terms_sign", args=[number, terms.public_id]),
    ]
    if not vendor:
        pages.append(reverse("catalogue", args=[number]))
    return pages


def nothing_made_for(organisation: Organisation) -> None:
    assert not Affiliation.objects.filter(organisation=organisation).exists()
    assert not Membership.objects.filter(organisation=organisation).exists()
    assert not Order.objects.filter(organisation=organisation).exists()
    assert not VendorAssignment.objects.filter(organisation=organisation).exists()
    assert not Acceptance.objects.filter(organisation=organisation).exists()
    assert not VendorSystem.objects.filter(vendor=organisation).exists()


@pytest.mark.parametrize("persona", ["outsider", "vendor_user", "viewer", "other_admin"], indirect=True)
@pytest.mark.parametrize("target", list(TARGETS))
def test_registering_gives_no_right_before_confirmation(client, persona, target, vendor):
    number, view, extra = TARGETS[target]
    client.force_login(persona)
    response = register(client, number, view, **extra)

    claim = OrganisationClaim.objects.get(organisation__org_number=number)
    assert response.status_code == 302 and response["Location"] == reverse("claim_detail", args=[claim.public_id])
    assert claim.state == OrganisationClaim.State.PENDING and claim.claimant == persona
    organisation = claim.organisation
    nothing_made_for(organisation)

    # Nothing of the organisation is visible: every page of it is 404, as for any stranger.
    is_vendor = organisation.is_vendor_kind
    for url in org_pages(number, vendor=is_vendor):
        assert client.get(url).status_code == 404, url
    home = client.get(reverse("home"), follow=True)
    assert home.status_code == 200
    start = client.get(reverse("home"))
    if start.status_code == 200:  # the start page lists the application, not the organisation
        assert all(d.url != reverse("member_dashboard", args=[number]) for d in start.context["destinations"])
        assert [c.organisation.org_number for c in start.context["claims"]] == [number]

    # Nothing can be done in the organisation's name.
    terms = TermsDocument.objects.current(Membership.terms_kind_for(organisation))
    forged = [
        (reverse("terms_sign", args=[number, terms.public_id]), {"sha256": terms.sha256, "confirm": "on"}),
        (reverse("delegation_create", args=[number]), {"delegate": str(persona.pk)}),
        (reverse("organisation_people", args=[number]), {"email": "venn@example.no", "role": "admin"}),
    ]
    if is_vendor:
        forged.append((reverse("vendor_system_create", args=[number]), {"name": "Spion", "kind": "vft"}))
    else:
        system = VendorSystem.objects.create(vendor=vendor, name="Journalhuset EPJ", kind="epj")
        forged += [
            (reverse("basket_add", args=[number]), {"service": "vkp-journaling", "environment": "test"}),
            (reverse("basket_submit", args=[number]), {"environment": "test"}),
            (
                reverse("assignment_create", args=[number]),
                {"system": str(system.pk), "environment": "test", "starts_on": "2026-12-01"},
            ),
        ]
    for url, data in forged:
        assert client.post(url, data).status_code == 404, url
    nothing_made_for(organisation)
    assert not Affiliation.objects.filter(user=persona, organisation=organisation).exists()


@pytest.mark.parametrize("persona", ["vendor_user"], indirect=True)
def test_a_vendor_user_cannot_make_a_claimed_municipality_its_tenant(client, persona, vendor):
    client.force_login(persona)
    register(client, SJOVIK, "membership_register")
    client.get(reverse("home"))  # reads the flash message that names Sjøvik
    sjovik = Organisation.objects.get(org_number=SJOVIK)
    system = VendorSystem.objects.create(vendor=vendor, name="Trygg VFT", kind="vft")
    response = client.post(
        reverse("client_create", args=[vendor.org_number]),
        {"system": str(system.pk), "environment": "test", "tenancy": "single-tenant", "tenant": sjovik.org_number},
    )
    assert response.status_code == 302
    assert not HelseIdClient.objects.filter(tenant=sjovik).exists()
    dashboard = client.get(reverse("vendor_dashboard", args=[vendor.org_number]))
    assert "Sjøvik" not in dashboard.content.decode()


def test_another_persons_application_is_404(client):
    claimant, other = UserFactory(), UserFactory()
    claim = services.claim_submit(org_number=SJOVIK, user=claimant)
    client.force_login(other)
    assert client.get(reverse("claim_detail", args=[claim.public_id])).status_code == 404
    assert client.post(reverse("claim_confirm_self", args=[claim.public_id])).status_code == 404
    client.force_login(claimant)
    page = client.get(reverse("claim_detail", args=[claim.public_id]))
    assert page.status_code == 200
    assert "Marte Kommunedirektør" in page.content.decode()  # who can confirm, from Enhetsregisteret


def test_several_may_apply_while_nobody_administers_so_a_squatter_blocks_nobody(client, nhn_staff):
    squatter, real = UserFactory(), UserFactory()
    services.claim_submit(org_number=SJOVIK, user=squatter)
    client.force_login(real)
    verify(client, real, MARTE)
    response = register(client, SJOVIK, "membership_register")
    assert response["Location"] == reverse("membership_detail", args=[SJOVIK])
    assert Affiliation.objects.get(organisation__org_number=SJOVIK).user == real
    # The squatter's application still waits, and still gives nothing.
    assert OrganisationClaim.objects.get(claimant=squatter).state == OrganisationClaim.State.PENDING
    assert not Affiliation.objects.filter(user=squatter).exists()


def test_a_signatory_who_registers_is_confirmed_at_once(client):
    user = UserFactory()
    client.force_login(user)
    verify(client, user, MARTE)
    response = register(client, SJOVIK, "membership_register")
    assert response["Location"] == reverse("membership_detail", args=[SJOVIK])
    claim = OrganisationClaim.objects.get()
    assert claim.state == OrganisationClaim.State.CONFIRMED
    assert claim.decided_how == OrganisationClaim.Decision.SELF_SIGNATORY
    assert "Marte Kommunedirektør" in claim.decided_by_authority and "DAGL" in claim.decided_by_authority
    assert Affiliation.objects.filter(user=user, organisation=claim.organisation, role=Affiliation.Role.ADMIN).exists()
    assert Membership.objects.get(organisation=claim.organisation).state == Membership.State.APPLIED
    assert client.get(reverse("membership_detail", args=[SJOVIK])).status_code == 200
    assert AuditEvent.objects.filter(action="claim.confirmed", organisation=claim.organisation).exists()


@pytest.mark.parametrize(
    ("name_and_birth", "acr", "age"),
    [
        (SARA, "idporten-loa-high", 0),  # no role
        (("Marte Kommunedirektør", date(1971, 1, 1)), "idporten-loa-high", 0),  # same name, other birth date
        (MARTE, "idporten-loa-substantial", 0),  # too low a level
        (MARTE, "idporten-loa-high", 3600),  # too old a login
    ],
)
def test_no_proof_no_confirmation(client, name_and_birth, acr, age):
    user = UserFactory(first_name="Marte", last_name="Kommunedirektør")  # a typed matching name counts for nothing
    client.force_login(user)
    verify(client, user, name_and_birth, acr=acr, age=age)
    register(client, SJOVIK, "membership_register")
    claim = OrganisationClaim.objects.get()
    assert claim.state == OrganisationClaim.State.PENDING
    response = client.post(reverse("claim_confirm_self", args=[claim.public_id]), follow=False)
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.PENDING
    nothing_made_for(claim.organisation)
    if acr == "idporten-loa-high" and age == 0:
        page = client.get(response["Location"])
        assert "har ikke signaturrett for Sjøvik kommune" in page.content.decode()
    else:  # step up: log in with ID-porten again at level high
        assert response["Location"].startswith(reverse("authority_stepup"))


def test_an_administered_organisation_says_so_and_the_administrators_can_be_asked(
    client, municipality, django_capture_on_commit_callbacks
):
    admin = Affiliation.objects.create(
        user=UserFactory(),
        organisation=Organisation.objects.create(
            org_number=SJOVIK, name="Sjøvik kommune", kind=Organisation.Kind.MUNICIPALITY
        ),
        role=Affiliation.Role.ADMIN,
    ).user
    newcomer = UserFactory()
    client.force_login(newcomer)
    response = register(client, SJOVIK, "membership_register")
    assert response.status_code == 200
    assert "har allerede administratorer" in response.context["form"].errors["org_number"][0]
    assert response.context["ask_admins"].org_number == SJOVIK
    assert not OrganisationClaim.objects.exists()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("claim_ask_admins"), {"org_number": SJOVIK})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [[admin.email]]
    assert newcomer.email in mail.outbox[0].body
    assert not Affiliation.objects.filter(user=newcomer).exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("claim_ask_admins"), {"org_number": SJOVIK})  # again at once: not mailed again
    assert len(mail.outbox) == 1


# NHN's customer centre ----------------------------------------------------------------------------


def test_nhn_confirms_only_with_a_written_reason(client, nhn_staff):
    claimant = UserFactory()
    claim = services.claim_submit(org_number=HELSE, user=claimant)
    client.force_login(nhn_staff)
    url = reverse("staff_claim_decide", args=[claim.public_id, "godkjenn"])
    client.post(url, {"reason": "  "})
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.PENDING
    client.post(url, {"reason": "Ringte Helse Nordvik HF, bekreftet av HR"})
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.CONFIRMED and claim.decided_how == OrganisationClaim.Decision.NHN
    assert claim.reason == "Ringte Helse Nordvik HF, bekreftet av HR" and claim.decided_by == nhn_staff
    assert Affiliation.objects.filter(user=claimant, organisation=claim.organisation, role="admin").exists()
    event = AuditEvent.objects.get(action="claim.confirmed")
    assert event.actor == nhn_staff and event.after["reason"] == claim.reason


def test_nhn_refuses_and_the_applicant_gets_nothing(client, nhn_staff):
    claimant = UserFactory()
    claim = services.claim_submit(org_number=TRYGG, user=claimant, vendor_kind=Organisation.Kind.VENDOR)
    client.force_login(nhn_staff)
    client.post(reverse("staff_claim_decide", args=[claim.public_id, "avvis"]), {"reason": "Ukjent person"})
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.REFUSED
    nothing_made_for(claim.organisation)
    client.force_login(claimant)
    page = client.get(reverse("claim_detail", args=[claim.public_id]))
    assert "Ukjent person" in page.content.decode()


def test_only_nhn_staff_open_the_queue(client, municipal_admin):
    client.force_login(municipal_admin)
    assert client.get(reverse("staff_claim_queue")).status_code == 403
    claim = services.claim_submit(org_number=SJOVIK, user=municipal_admin)
    response = client.post(reverse("staff_claim_decide", args=[claim.public_id, "godkjenn"]), {"reason": "meg"})
    assert response.status_code == 403
    claim.refresh_from_db()
    assert claim.is_pending


@pytest.mark.parametrize("rows", [5, 500])
def test_the_queue_queries_are_bounded(client, nhn_staff, django_assert_max_num_queries, rows):
    sjovik = Organisation.objects.create(org_number=SJOVIK, name="Sjøvik kommune", kind="municipality")
    OrganisationClaim.objects.bulk_create(
        OrganisationClaim(organisation=sjovik, claimant=UserFactory(), role="admin") for _ in range(rows)
    )
    client.force_login(nhn_staff)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("staff_claim_queue"))
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == min(rows, 50)


# The signatory's confirmation link ----------------------------------------------------------------


@pytest.fixture
def asked(client, django_capture_on_commit_callbacks):
    """Sara applies for Sjøvik kommune and asks its daglig leder; returns (claim, link path)."""
    sara = UserFactory(first_name="Sara", last_name="Saksbehandler")
    client.force_login(sara)
    register(client, SJOVIK, "membership_register")
    claim = OrganisationClaim.objects.get()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("claim_detail", args=[claim.public_id]), {"email": "marte@sjovik.example"})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["marte@sjovik.example"]
    assert sara.email in message.body and "Sjøvik kommune" in message.body
    link = re.search(r"(/soknad/bekreft/[^/\s]+/)", message.body).group(1)
    token = link.rstrip("/").rsplit("/", 1)[1]
    claim.refresh_from_db()
    assert claim.token_hash == services.claim_token_hash(token) and token not in str(claim.__dict__)
    client.logout()
    return claim, link


def test_the_signatory_sees_who_asks_and_confirms(client, asked):
    claim, link = asked
    page = client.get(link)  # not logged in: who asks, and log in with ID-porten
    assert page.status_code == 200 and claim.claimant.email in page.content.decode()
    assert page.context["person"] is None
    marte = UserFactory()
    client.force_login(marte)
    verify(client, marte, MARTE)
    page = client.get(link)
    assert page.status_code == 200 and "Marte Kommunedirektør" in page.context["authority"]
    response = client.post(link, {"decision": "confirm"})
    assert response["Location"] == reverse("membership_detail", args=[SJOVIK])
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.CONFIRMED
    assert claim.decided_how == OrganisationClaim.Decision.SIGNATORY and claim.decided_by == marte
    assert claim.token_used_at is not None
    roles = set(Affiliation.objects.filter(organisation=claim.organisation).values_list("user_id", "role"))
    assert roles == {(claim.claimant_id, "admin"), (marte.pk, "signatory")}


def test_the_wrong_person_is_told_so_and_nothing_is_decided(client, asked):
    claim, link = asked
    someone = UserFactory()
    client.force_login(someone)
    verify(client, someone, SARA)
    page = client.get(link)
    assert page.status_code == 403 and "ikke har signaturrett for Sjøvik kommune" in page.context["problem"]
    response = client.post(link, {"decision": "confirm"})
    assert response.status_code == 403 and "ikke har signaturrett" in response.context["problem"]
    claim.refresh_from_db()
    assert claim.is_pending and claim.token_used_at is None
    nothing_made_for(claim.organisation)


def test_a_login_below_high_must_step_up_first(client, asked):
    claim, link = asked
    marte = UserFactory()
    client.force_login(marte)
    verify(client, marte, MARTE, acr="idporten-loa-substantial")
    page = client.get(link)
    assert page.context["person"] is None and page.context["login_url"].startswith(reverse("authority_stepup"))
    assert client.post(link, {"decision": "confirm"}).status_code == 302
    claim.refresh_from_db()
    assert claim.is_pending


def test_the_claimant_cannot_confirm_through_the_link(client, asked):
    claim, link = asked
    client.force_login(claim.claimant)
    verify(client, claim.claimant, MARTE)  # even as a signatory: the link is for someone else
    response = client.post(link, {"decision": "confirm"})
    assert response.status_code == 403
    claim.refresh_from_db()
    assert claim.is_pending


def test_an_expired_link_says_so(client, asked):
    claim, link = asked
    OrganisationClaim.objects.filter(pk=claim.pk).update(token_expires_at=timezone.now() - timedelta(minutes=1))
    marte = UserFactory()
    client.force_login(marte)
    verify(client, marte, MARTE)
    page = client.get(link)
    assert page.status_code == 410 and "utløpt" in page.context["problem"]
    assert client.post(link, {"decision": "confirm"}).status_code == 410
    claim.refresh_from_db()
    assert claim.is_pending


def test_a_link_used_twice_says_so(client, asked):
    claim, link = asked
    marte = UserFactory()
    client.force_login(marte)
    verify(client, marte, MARTE)
    client.post(link, {"decision": "confirm"})
    again = client.post(link, {"decision": "refuse"})
    assert again.status_code == 410 and "allerede brukt: søknaden ble bekreftet" in again.context["problem"]
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.CONFIRMED
    assert AuditEvent.objects.filter(action__startswith="claim.confirmed").count() == 1


def test_a_refused_claim_gives_nothing_and_the_link_says_so(client, asked):
    claim, link = asked
    marte = UserFactory()
    client.force_login(marte)
    verify(client, marte, MARTE)
    client.post(link, {"decision": "refuse", "reason": "Ukjent for oss"})
    claim.refresh_from_db()
    assert claim.state == OrganisationClaim.State.REFUSED and claim.reason == "Ukjent for oss"
    nothing_made_for(claim.organisation)
    page = client.get(link)
    assert page.status_code == 410 and "allerede brukt: søknaden ble avslått" in page.context["problem"]
    client.force_login(claim.claimant)
    assert client.get(reverse("membership_detail", args=[SJOVIK])).status_code == 404


def test_an_unknown_or_replaced_link_is_not_valid(client, asked):
    claim, link = asked
    assert client.get("/soknad/bekreft/not-a-token/").status_code == 404
    client.force_login(claim.claimant)
    too_soon = client.post(reverse("claim_detail", args=[claim.public_id]), {"email": "annen@sjovik.example"})
    assert "Vent et minutt" in too_soon.context["form"].errors["email"][0]  # no mail bombing
    OrganisationClaim.objects.filter(pk=claim.pk).update(token_sent_at=timezone.now() - timedelta(minutes=2))
    client.post(reverse("claim_detail", args=[claim.public_id]), {"email": "annen@sjovik.example"})
    client.logout()
    assert client.get(link).status_code == 404  # a new request replaced the old link


def test_the_claimant_cannot_ask_themselves(client):
    sara = UserFactory()
    claim = services.claim_submit(org_number=SJOVIK, user=sara)
    client.force_login(sara)
    response = client.post(reverse("claim_detail", args=[claim.public_id]), {"email": sara.email})
    assert response.status_code == 200 and response.context["form"].errors["email"]
    claim.refresh_from_db()
    assert not claim.token_hash
