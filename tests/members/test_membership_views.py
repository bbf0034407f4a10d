"""Membership pages through the web, per role: what each may see and do, and what outsiders get."""

import io

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from members import services
from members.models import Acceptance, Affiliation, Membership, Organisation, OrganisationClaim, TermsDocument
from portal.models import AuditEvent
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, register_confirmed

from .idporten import registered_person, verified_in_session

pytestmark = pytest.mark.django_db

NORDVIK = "313231593"


@pytest.fixture
def nordvik():
    return OrganisationFactory(org_number=NORDVIK, name="Testkommune Nordvik")


def person(organisation, role, **names):
    user = UserFactory(**names)
    AffiliationFactory(user=user, organisation=organisation, role=role)
    return user


@pytest.fixture
def admin(nordvik):
    return person(nordvik, Affiliation.Role.ADMIN)


@pytest.fixture
def randi(nordvik):
    return person(nordvik, Affiliation.Role.SIGNATORY, first_name="Randi", last_name="Rådmann")


@pytest.fixture
def reader(nordvik):
    return person(nordvik, Affiliation.Role.VIEWER)


@pytest.fixture
def stranger(other_municipality):
    return person(other_municipality, Affiliation.Role.ADMIN)


@pytest.fixture
def terms():
    return TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)


@pytest.fixture
def applied(admin):
    return services.membership_apply(org_number=NORDVIK, user=admin)


@pytest.fixture
def signed(applied, randi, nordvik, terms):
    acceptance = services.terms_sign(
        organisation=nordvik,
        document=terms,
        shown_sha256=terms.sha256,
        user=randi,
        person=registered_person(NORDVIK, "Randi Rådmann"),
    )
    applied.refresh_from_db()
    return acceptance


def sign_url(terms):
    return reverse("terms_sign", args=[NORDVIK, terms.public_id])


def log_in_as_randi(client, randi):
    """Randi logs in, and ID-porten (at level high, just now) identifies her as the register's Randi Rådmann."""
    client.force_login(randi)
    verified_in_session(
        client, randi, name="Randi Rådmann", born=registered_person(NORDVIK, "Randi Rådmann").birth_date
    )


# Registration -----------------------------------------------------------------------------------


def test_looking_up_shows_the_register_data_and_eligibility(client):
    client.force_login(UserFactory())
    response = client.post(reverse("membership_register"), {"org_number": "320000009", "action": "check"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Sjøvik kommune" in page
    assert 'value="apply"' in page
    assert not Organisation.objects.filter(org_number="320000009").exists()


def test_the_lookup_answers_htmx_with_the_fragment_only(client):
    client.force_login(UserFactory())
    response = client.post(
        reverse("membership_register"), {"org_number": "320000009", "action": "check"}, HTTP_HX_REQUEST="true"
    )
    assert response.templates[0].name == "members/_registry_result.html"
    assert "<html" not in response.content.decode()


def test_applying_through_the_page_registers_an_application_and_shows_it(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(reverse("membership_register"), {"org_number": "320000009", "action": "apply"})
    assert response.status_code == 302
    claim = OrganisationClaim.objects.get()
    assert response["Location"] == reverse("claim_detail", args=[claim.public_id])
    assert claim.organisation.org_number == "320000009" and claim.claimant == user
    assert not Membership.objects.exists() and not Affiliation.objects.filter(user=user).exists()
    assert client.get(reverse("membership_detail", args=["320000009"])).status_code == 404


@pytest.mark.parametrize(
    ("number", "action"),
    [("abc", "check"), ("313231594", "apply"), ("320000084", "apply"), ("320000092", "apply"), ("", "apply")],
)
def test_bad_numbers_give_an_error_on_the_page_and_change_nothing(client, number, action):
    client.force_login(UserFactory())
    before = (Organisation.objects.count(), Membership.objects.count())
    response = client.post(reverse("membership_register"), {"org_number": number, "action": action})
    assert response.status_code == 200
    assert response.context["form"].errors["org_number"]
    assert (Organisation.objects.count(), Membership.objects.count()) == before


def test_looking_up_an_ineligible_organisation_shows_why_and_offers_no_apply_button(client):
    client.force_login(UserFactory())
    response = client.post(reverse("membership_register"), {"org_number": "320000092", "action": "check"})
    assert response.context["check"].eligible is False
    page = response.content.decode()
    assert 'role="alert"' in page and 'value="apply"' not in page


def test_registration_needs_login(client):
    response = client.get(reverse("membership_register"))
    assert response.status_code == 302


# The organisation's membership page ---------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "randi", "reader"])
def test_members_see_their_membership_page(client, request, who, applied):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("membership_detail", args=[NORDVIK]))
    assert response.status_code == 200
    assert "Randi Rådmann" in response.content.decode()  # who can sign, from Enhetsregisteret


@pytest.mark.parametrize("url_name", ["membership_detail", "organisation_history"])
def test_another_organisation_gets_404(client, stranger, applied, url_name):
    client.force_login(stranger)
    assert client.get(reverse(url_name, args=[NORDVIK])).status_code == 404


def test_history_shows_the_organisations_own_events_only(client, admin, applied, stranger):
    register_confirmed(org_number="310000000", user=stranger)  # Fjordheim, someone else's history
    client.force_login(admin)
    response = client.get(reverse("organisation_history", args=[NORDVIK]))
    events = list(response.context["page"].object_list)
    assert events and all(event.organisation.org_number == NORDVIK for event in events)


# Signing ------------------------------------------------------------------------------------------


def test_the_signatory_sees_the_form_and_signs(client, randi, applied, terms):
    log_in_as_randi(client, randi)
    page = client.get(sign_url(terms)).content.decode()
    assert terms.sha256 in page and 'name="confirm"' in page

    response = client.post(sign_url(terms), {"sha256": terms.sha256, "confirm": "on"})
    assert response.status_code == 302
    acceptance = Acceptance.objects.get()
    assert acceptance.signed_by == randi
    assert acceptance.signer_name == "Randi Rådmann" and acceptance.verified_with == "ID-porten, idporten-loa-high"
    assert acceptance.user_agent is not None
    assert Membership.objects.get().state == Membership.State.PENDING_APPROVAL


def test_signing_without_ticking_the_box_changes_nothing(client, randi, applied, terms):
    log_in_as_randi(client, randi)
    response = client.post(sign_url(terms), {"sha256": terms.sha256})
    assert response.status_code == 200
    assert response.context["form"].errors["confirm"]
    assert not Acceptance.objects.exists()


def test_a_viewer_sees_who_can_sign_and_can_ask_them(
    client, reader, randi, applied, terms, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(reader)
    page = client.get(sign_url(terms)).content.decode()
    assert 'name="confirm"' not in page
    assert randi.email in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("signature_request", args=[NORDVIK, terms.public_id]), {"recipient": str(randi.pk)})
    assert [m.to for m in mailoutbox] == [[randi.email]]
    assert sign_url(terms) in mailoutbox[0].body


def test_a_forged_signing_post_by_a_viewer_is_refused(client, reader, applied, terms):
    client.force_login(reader)
    response = client.post(sign_url(terms), {"sha256": terms.sha256, "confirm": "on"})
    assert response.status_code == 403
    assert not Acceptance.objects.exists()


def test_a_forged_signing_post_for_another_organisation_is_404(client, stranger, applied, terms):
    client.force_login(stranger)
    response = client.post(sign_url(terms), {"sha256": terms.sha256, "confirm": "on"})
    assert response.status_code == 404
    assert not Acceptance.objects.exists()


def test_terms_changed_since_the_page_loaded_are_not_signed(client, randi, applied, terms, nhn_staff):
    log_in_as_randi(client, randi)
    newer = services.terms_draft_create(
        kind="membership", service_code="", version="9.9", title="Nye vilkår", body="Ny tekst", by=nhn_staff,
    )  # fmt: skip
    # Signable at once, though it takes effect only after the notice period.
    services.terms_publish(document=newer, by=nhn_staff, effective_on=services.default_effective_date())
    response = client.post(sign_url(terms), {"sha256": terms.sha256, "confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == sign_url(newer)  # shown the new version to read
    assert not Acceptance.objects.exists()


def test_a_tampered_fingerprint_is_not_signed(client, randi, applied, terms):
    log_in_as_randi(client, randi)
    client.post(sign_url(terms), {"sha256": "f" * 64, "confirm": "on"})
    assert not Acceptance.objects.exists()


# Receipts ------------------------------------------------------------------------------------------


def test_the_receipt_is_a_pdf_with_the_signature_in_it(client, admin, signed, terms):
    client.force_login(admin)
    response = client.get(reverse("acceptance_receipt", args=[signed.public_id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(response.content)).pages)
    for expected in ["Testkommune Nordvik", "313 231 593", "Randi Rådmann", terms.title, terms.version]:
        assert expected in text, expected
    assert terms.sha256 in text.replace(" ", "")


def test_staff_may_download_any_receipt(client, nhn_staff, signed):
    client.force_login(nhn_staff)
    assert client.get(reverse("acceptance_receipt", args=[signed.public_id])).status_code == 200


def test_another_organisations_receipt_is_404(client, stranger, vendor_user, signed):
    for user in (stranger, vendor_user):
        client.force_login(user)
        assert client.get(reverse("acceptance_receipt", args=[signed.public_id])).status_code == 404


# NHN staff -----------------------------------------------------------------------------------------


STAFF_PAGES = ["staff_membership_queue", "staff_terms_list", "staff_terms_create"]


@pytest.mark.parametrize("url_name", STAFF_PAGES)
def test_staff_pages_open_for_staff(client, nhn_staff, url_name):
    client.force_login(nhn_staff)
    assert client.get(reverse(url_name)).status_code == 200


@pytest.mark.parametrize("url_name", STAFF_PAGES)
def test_staff_pages_refuse_members(client, admin, url_name):
    client.force_login(admin)
    assert client.get(reverse(url_name)).status_code == 403


def test_queue_lists_waiting_applications_by_default(client, nhn_staff, signed):
    client.force_login(nhn_staff)
    response = client.get(reverse("staff_membership_queue"))
    assert [m.organisation.org_number for m in response.context["page"].object_list] == [NORDVIK]


def test_queue_filters_and_searches(client, nhn_staff, signed, stranger):
    register_confirmed(org_number="310000000", user=stranger)
    client.force_login(nhn_staff)
    url = reverse("staff_membership_queue")
    found = client.get(url, {"state": "applied", "q": ""}).context["page"].object_list
    assert [m.organisation.org_number for m in found] == ["310000000"]
    found = client.get(url, {"state": "", "q": "Nordvik"}).context["page"].object_list
    assert [m.organisation.org_number for m in found] == [NORDVIK]
    found = client.get(url, {"state": "", "q": "313 231"}).context["page"].object_list
    assert [m.organisation.org_number for m in found] == [NORDVIK]


def test_htmx_approve_in_the_queue_swaps_the_row(client, nhn_staff, signed, applied):
    client.force_login(nhn_staff)
    response = client.post(
        reverse("staff_membership_decide", args=[applied.public_id, "godkjenn"]),
        {"from": "queue"},
        HTTP_HX_REQUEST="true",
    )
    assert response.templates[0].name == "members/staff/_queue_row.html"
    assert response.content.decode().lstrip().startswith("<tr")
    assert Membership.objects.get().state == Membership.State.ACTIVE


def test_htmx_reject_without_reason_shows_the_error_in_the_row(client, nhn_staff, signed, applied):
    client.force_login(nhn_staff)
    response = client.post(
        reverse("staff_membership_decide", args=[applied.public_id, "avvis"]),
        {"from": "queue", "reason": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.context["error"]
    assert Membership.objects.get().state == Membership.State.PENDING_APPROVAL


def test_staff_detail_shows_register_data_and_signature(client, nhn_staff, signed, applied):
    client.force_login(nhn_staff)
    page = client.get(reverse("staff_membership_detail", args=[applied.public_id])).content.decode()
    assert "KOMM" in page and "Randi Rådmann" in page and signed.document_sha256 in page


def test_staff_reject_with_reason_from_the_detail_page(client, nhn_staff, signed, applied):
    client.force_login(nhn_staff)
    client.post(reverse("staff_membership_decide", args=[applied.public_id, "avvis"]), {"reason": "Ikke kvalifisert"})
    applied.refresh_from_db()
    assert (applied.state, applied.reason) == (Membership.State.REJECTED, "Ikke kvalifisert")


def test_a_forged_approval_by_a_member_is_refused(client, admin, signed, applied):
    client.force_login(admin)
    response = client.post(reverse("staff_membership_decide", args=[applied.public_id, "godkjenn"]))
    assert response.status_code == 403
    assert Membership.objects.get().state == Membership.State.PENDING_APPROVAL


def test_an_unknown_decision_is_404(client, nhn_staff, applied):
    client.force_login(nhn_staff)
    assert client.post(reverse("staff_membership_decide", args=[applied.public_id, "slett"])).status_code == 404


def test_staff_draft_preview_and_publish_terms(client, nhn_staff):
    client.force_login(nhn_staff)
    response = client.post(
        reverse("staff_terms_create"),
        {
            "kind": "vendor",
            "service_code": "",
            "version": "2.1",
            "title": "Leverandørvilkår 2.1",
            "body": "Første avsnitt.\n\nAndre avsnitt.",
            "effective_from": "2026-11-01T00:00",
        },
    )
    document = TermsDocument.objects.get(version="2.1")
    assert response["Location"] == reverse("staff_terms_detail", args=[document.public_id])
    preview = client.get(response["Location"]).content.decode()
    assert "<p>Første avsnitt.</p>" in preview and document.sha256 in preview
    assert not document.is_published

    publish = {"effective_on": timezone.localdate().isoformat(), "change_note": "Nytt avsnitt."}
    client.post(response["Location"], publish)
    document.refresh_from_db()
    assert document.is_published and document.published_by == nhn_staff
    assert TermsDocument.objects.current("vendor") == document
    assert AuditEvent.objects.filter(action="terms.published", object_id=str(document.pk)).exists()


def test_usage_terms_must_name_their_service(client, nhn_staff):
    client.force_login(nhn_staff)
    response = client.post(
        reverse("staff_terms_create"),
        {"kind": "usage", "service_code": "", "version": "1", "title": "Bruksvilkår", "body": "Tekst",
         "effective_from": "2026-11-01T00:00"},
    )  # fmt: skip
    assert response.status_code == 200
    assert not TermsDocument.objects.filter(kind="usage", service_code="").exists()


@pytest.mark.parametrize("rows", [5, 500])
def test_the_queue_runs_a_bounded_number_of_queries(client, nhn_staff, terms, rows, django_assert_max_num_queries):
    signer = UserFactory()
    for _ in range(rows):
        organisation = OrganisationFactory()
        acceptance = Acceptance.objects.create(
            organisation=organisation, document=terms, document_sha256=terms.sha256, signed_by=signer,
            signer_name="Randi Rådmann", authority="register_role", authority_detail="DAGL",
        )  # fmt: skip
        Membership.objects.create(
            organisation=organisation, applied_by=signer, state="pending_approval", acceptance=acceptance
        )
    client.force_login(nhn_staff)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("staff_membership_queue"))
    assert len(response.context["page"].object_list) == min(rows, 50)


@pytest.mark.parametrize("rows", [5, 500])
def test_history_runs_a_bounded_number_of_queries(client, admin, nordvik, rows, django_assert_max_num_queries):
    from portal.audit import audit

    for _ in range(rows):
        audit(action="organisation.created", obj=nordvik, actor=admin)
    client.force_login(admin)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("organisation_history", args=[NORDVIK])).status_code == 200
