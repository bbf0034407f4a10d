"""Issue 16, terms publishing: an effective date, a diff, the fan-out to the right people once, the
signatory's card listing every document waiting, and staff seeing who has not signed again."""

import datetime
import re

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from members import services
from members.models import Acceptance, Affiliation, Membership, TermsDocument, TermsNotification
from members.selectors import documents_awaiting_signature
from orders import services as order_services
from orders.models import Order, Service
from portal.models import OutgoingMessage
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, VendorFactory

from .idporten import registered_person

pytestmark = pytest.mark.django_db

OSLO = "958935420"  # a real municipality in the offline register; DAGL Kari Kommunedirektør


def accept(organisation, document, signer=None):
    return Acceptance.objects.create(
        organisation=organisation, document=document, document_sha256=document.sha256,
        signed_by=signer or UserFactory(), signer_name="Kari Kommunedirektør", authority="register_role",
        authority_detail="DAGL",
    )  # fmt: skip


def member_on(organisation, document):
    """An active member whose membership rests on its signature of ``document``."""
    acceptance = accept(organisation, document)
    return Membership.objects.create(
        organisation=organisation, applied_by=UserFactory(), state=Membership.State.ACTIVE, acceptance=acceptance
    )


def person(organisation, role, language="nb", **fields):
    user = UserFactory(preferred_language=language, **fields)
    AffiliationFactory(user=user, organisation=organisation, role=role)
    return user


@pytest.fixture
def old_terms():
    return TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)


@pytest.fixture
def draft(nhn_staff, old_terms):
    return services.terms_draft_create(
        kind=TermsDocument.Kind.MEMBERSHIP,
        service_code="",
        version="2027.1",
        title="Medlemsvilkår for Helsenettet",
        body=old_terms.body.replace("NHN kan publisere", "Norsk helsenett kan publisere") + "\n\nEt nytt avsnitt.",
        by=nhn_staff,
    )


@pytest.fixture
def oslo(old_terms):
    organisation = OrganisationFactory(org_number=OSLO, name="Oslo kommune")
    member_on(organisation, old_terms)
    return organisation


@pytest.fixture
def kari(oslo):
    return person(oslo, Affiliation.Role.SIGNATORY, first_name="Kari", last_name="Kommunedirektør")


@pytest.fixture
def journaling():
    return Service.objects.get(code="vkp-journaling")


def speaking(client, language):
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    return client


def in_days(days: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


def effect_now(document):
    """The effective date has come: moved in the database, no sleeping."""
    TermsDocument.objects.filter(pk=document.pk).update(effective_from=timezone.now() - datetime.timedelta(minutes=1))
    document.refresh_from_db()


# The effective date --------------------------------------------------------------------------------


def test_the_publish_form_offers_the_notice_period_and_publishing_with_it_takes_effect_then(
    client, nhn_staff, draft, old_terms, settings, django_capture_on_commit_callbacks
):
    settings.TERMS_NOTICE_DAYS = 30
    client.force_login(nhn_staff)
    url = reverse("staff_terms_detail", args=[draft.public_id])
    page = client.get(url).content.decode()
    assert f'value="{in_days(30).isoformat()}"' in page  # the default: today + the notice period

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"effective_on": in_days(30).isoformat(), "change_note": "Nytt avsnitt."})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.is_published and draft.replaces == old_terms and draft.change_note == "Nytt avsnitt."
    assert timezone.localtime(draft.effective_from) == timezone.make_aware(
        datetime.datetime.combine(in_days(30), datetime.time.min)
    )
    # Signable at once (the newest published), but the older version is still the one in force.
    assert TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP) == draft
    assert TermsDocument.objects.in_force(TermsDocument.Kind.MEMBERSHIP) == old_terms
    assert set(TermsDocument.objects.valid_for(TermsDocument.Kind.MEMBERSHIP)) == {old_terms, draft}


def test_a_chosen_date_is_kept(nhn_staff, draft):
    services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(3), change_note="Endret.")
    assert timezone.localtime(draft.effective_from).date() == in_days(3)
    assert not draft.is_in_effect


def test_a_date_in_the_past_is_refused_with_a_translated_error(client, nhn_staff, draft):
    with pytest.raises(ValidationError):
        services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(-1), change_note="x")
    client.force_login(nhn_staff)
    with translation.override("nb"):
        response = client.post(
            reverse("staff_terms_detail", args=[draft.public_id]),
            {"effective_on": in_days(-1).isoformat(), "change_note": "Endret."},
        )
    assert response.status_code == 200
    assert "Datoen vilkårene gjelder fra kan ikke være tilbake i tid" in response.content.decode()
    draft.refresh_from_db()
    assert not draft.is_published


def test_a_new_version_needs_a_change_note(client, nhn_staff, draft):
    client.force_login(nhn_staff)
    client.post(reverse("staff_terms_detail", args=[draft.public_id]), {"effective_on": in_days(30).isoformat()})
    draft.refresh_from_db()
    assert not draft.is_published


# Before and after the effective date ----------------------------------------------------------------


def test_the_old_signature_carries_production_until_the_effective_date_then_the_new_one_is_needed(
    oslo, kari, draft, nhn_staff, journaling
):
    services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(30), change_note="Endret.")
    with translation.override("nb"):
        before = order_services.order_blockers(organisation=oslo, service=journaling, environment="prod")
        assert not any("Nye vilkår" in b for b in before)
        order_services.basket_add(organisation=oslo, service=journaling, environment="prod", by=kari)

        effect_now(draft)
        after = order_services.order_blockers(organisation=oslo, service=journaling, environment="prod")
        assert any(b.startswith("Nye vilkår må aksepteres") for b in after)
        with pytest.raises(ValidationError, match="Nye vilkår må aksepteres"):
            order_services.basket_submit(organisation=oslo, environment="prod", by=kari)
        # Test orders are not held back: a vendor may prepare an integration in the meantime (DOMAIN.md).
        test = order_services.order_blockers(organisation=oslo, service=journaling, environment="test")
        assert not any("Nye vilkår" in b for b in test)
    membership = oslo.memberships.get()
    assert membership.needs_new_terms(TermsDocument.objects.in_force(TermsDocument.Kind.MEMBERSHIP))

    services.terms_sign(
        organisation=oslo,
        document=draft,
        shown_sha256=draft.sha256,
        user=kari,
        person=registered_person(OSLO, "Kari Kommunedirektør"),
    )
    membership.refresh_from_db()
    assert membership.acceptance.document == draft
    assert not order_services.order_blockers(organisation=oslo, service=journaling, environment="prod")


def test_a_production_order_sent_before_the_date_is_not_approved_after_it(oslo, kari, draft, nhn_staff, journaling):
    accept(oslo, TermsDocument.objects.current("usage", journaling.code))
    order_services.basket_add(organisation=oslo, service=journaling, environment="prod", by=kari)
    services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(30), change_note="Endret.")
    (order,) = order_services.basket_submit(organisation=oslo, environment="prod", by=kari)
    effect_now(draft)
    with pytest.raises(ValidationError):
        order_services.order_approve(order=order, by=nhn_staff)
    order.refresh_from_db()
    assert order.state == Order.State.SUBMITTED


def test_the_dashboard_and_membership_page_say_new_terms_must_be_accepted_only_after_the_date(
    client, oslo, kari, draft, nhn_staff
):
    services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(30), change_note="Endret.")
    client.force_login(kari)
    dashboard = reverse("member_dashboard", args=[OSLO])
    with translation.override("nb"):
        page = client.get(dashboard).content.decode()
        assert "Nye vilkår må aksepteres" not in page
        assert "signer innen" in page  # waiting, with its date
        effect_now(draft)
        page = client.get(dashboard).content.decode()
        assert "Nye vilkår må aksepteres" in page
        detail = client.get(reverse("membership_detail", args=[OSLO])).content.decode()
        assert "Nye vilkår må aksepteres" in detail


# The diff ---------------------------------------------------------------------------------------------


def test_the_publish_page_shows_the_changes_against_the_version_it_replaces(client, nhn_staff, draft, old_terms):
    client.force_login(nhn_staff)
    url = reverse("staff_terms_detail", args=[draft.public_id])
    for language, added, removed in (("nb", "Lagt til:", "Fjernet:"), ("en", "Added:", "Removed:")):
        page = speaking(client, language).get(url).content.decode()
        diff = page[page.index('data-testid="terms-diff"') :]
        diff = diff[: diff.index("</ol>")]
        # Each change carries a text label, not only a colour.
        assert re.search(rf"<ins><span class=\"diff-label\"[^>]*>{added}</span>Et nytt avsnitt.</ins>", diff)
        assert re.search(rf"<del><span class=\"diff-label\"[^>]*>{removed}</span>NHN kan publisere", diff)
        assert re.search(rf"<ins><span class=\"diff-label\"[^>]*>{added}</span>Norsk helsenett kan publisere", diff)
        assert old_terms.title_with_version in page
    # Once published the diff is against the version it replaced, not the newest.
    services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(30), change_note="Endret.")
    assert "Et nytt avsnitt." in client.get(url).content.decode().split('data-testid="terms-diff"')[1]


def test_a_first_version_has_no_diff(client, nhn_staff):
    first = services.terms_draft_create(
        kind="usage", service_code="vkp-careplan-ny", version="1.0", title="Bruksvilkår", body="Tekst.", by=nhn_staff
    )
    client.force_login(nhn_staff)
    page = client.get(reverse("staff_terms_detail", args=[first.public_id])).content.decode()
    assert 'data-testid="terms-diff"' not in page


# The publication reaching the right people once ------------------------------------------------------


def test_a_publication_reaches_each_affected_signatory_and_administrator_once_in_their_language(
    nhn_staff, old_terms, draft, django_capture_on_commit_callbacks
):
    oslo = OrganisationFactory(org_number=OSLO, name="Oslo kommune")
    member_on(oslo, old_terms)
    bergen = OrganisationFactory(name="Bergen kommune")
    member_on(bergen, old_terms)
    person(oslo, Affiliation.Role.SIGNATORY, "nb", email="kari@oslo.example")
    ola = person(oslo, Affiliation.Role.ADMIN, "en", email="ola@oslo.example")
    AffiliationFactory(user=ola, organisation=bergen, role=Affiliation.Role.ADMIN)  # in both: one mail
    AffiliationFactory(user=ola, organisation=bergen, role=Affiliation.Role.SIGNATORY)  # two roles: still one
    person(oslo, Affiliation.Role.VIEWER, email="viewer@oslo.example")  # viewers are not told
    person(bergen, Affiliation.Role.ADMIN, "nb", email="gone@bergen.example", is_active=False)
    # Never signed the membership terms: nothing to sign again, not told.
    fresh = OrganisationFactory(name="Ny kommune")
    person(fresh, Affiliation.Role.SIGNATORY, email="ny@ny.example")
    # Vendors rest on the vendor terms: a new version of the membership terms is not theirs.
    vendor = VendorFactory(name="Leverandør AS")
    accept(vendor, TermsDocument.objects.current(TermsDocument.Kind.VENDOR))
    person(vendor, Affiliation.Role.VENDOR_USER, email="dev@leverandor.example")

    with django_capture_on_commit_callbacks(execute=True):
        services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(30), change_note="Nytt avsnitt 9.")

    messages = list(OutgoingMessage.objects.filter(template="members/email/terms_published").order_by("pk"))
    assert sorted((m.recipients[0], m.language) for m in messages) == [
        ("kari@oslo.example", "nb"),
        ("ola@oslo.example", "en"),
    ]
    told = dict(TermsNotification.objects.filter(document=draft).values_list("user__email", "organisations"))
    assert told == {"kari@oslo.example": [OSLO], "ola@oslo.example": [bergen.org_number, OSLO]}
    draft.refresh_from_db()
    assert draft.notified_at is not None

    # Running the fan-out again (a retry, a duplicate delivery, the beat) sends nothing new.
    assert services.terms_notify(draft.pk) == 0
    assert OutgoingMessage.objects.filter(template="members/email/terms_published").count() == 2

    # Sent (in-process) and rendered in each reader's language, with what changed, by when, and a link to
    # sign per organisation.
    assert {m.state for m in OutgoingMessage.objects.filter(template="members/email/terms_published")} == {"sent"}
    assert sorted(m.to[0] for m in mail.outbox) == ["kari@oslo.example", "ola@oslo.example"]
    by_address = {m.to[0]: m for m in mail.outbox}
    nb, en = by_address["kari@oslo.example"], by_address["ola@oslo.example"]
    assert nb.subject.startswith("Ny versjon av NHNs vilkår") and "signer innen" in nb.subject
    assert en.subject.startswith("New version of NHN's terms") and "sign by" in en.subject
    for message in (nb, en):
        assert "Nytt avsnitt 9." in message.body
        assert "Medlemsvilkår for Helsenettet 2027.1" in message.body
    assert "Oslo kommune: http" in nb.body and f"/medlemskap/{OSLO}/vilkar/{draft.public_id}/" in nb.body
    assert "Bergen kommune: http" in en.body and "Oslo kommune: http" in en.body
    with translation.override("nb"):
        from django.utils import formats

        assert formats.date_format(in_days(30), "DATE_FORMAT") in nb.body


def test_new_vendor_terms_reach_the_vendors_users_and_no_member(
    nhn_staff, old_terms, django_capture_on_commit_callbacks
):
    vendor_terms = TermsDocument.objects.current(TermsDocument.Kind.VENDOR)
    vendor = VendorFactory(name="Leverandør AS")
    accept(vendor, vendor_terms)
    person(vendor, Affiliation.Role.VENDOR_USER, "en", email="dev@leverandor.example")
    oslo = OrganisationFactory(org_number=OSLO, name="Oslo kommune")
    member_on(oslo, old_terms)
    person(oslo, Affiliation.Role.SIGNATORY, email="kari@oslo.example")
    newer = services.terms_draft_create(
        kind="vendor", service_code="", version="2.9", title="Leverandørvilkår", body="Ny tekst.", by=nhn_staff
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.terms_publish(document=newer, by=nhn_staff, effective_on=in_days(30), change_note="Endret.")
    assert [m.recipients for m in OutgoingMessage.objects.filter(template="members/email/terms_published")] == [
        ["dev@leverandor.example"]
    ]


def test_the_stale_sweeper_finishes_a_lost_fan_out_and_sends_nothing_twice(nhn_staff, oslo, kari, draft, settings):
    # Published without its task running (the message to the broker lost): nobody told yet.
    services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(30), change_note="Endret.")
    assert not OutgoingMessage.objects.filter(template="members/email/terms_published").exists()
    settings.TERMS_NOTIFY_REQUEUE_AFTER = 0
    assert services.terms_notify_stale() == 1
    assert services.terms_notify_stale() == 0  # finished: not picked up again
    assert [m.recipients for m in OutgoingMessage.objects.filter(template="members/email/terms_published")] == [
        [kari.email]
    ]


# What waits for a signature ---------------------------------------------------------------------------


def test_the_signatorys_card_lists_membership_new_version_and_usage_terms(client, nhn_staff, old_terms, journaling):
    oslo = OrganisationFactory(org_number=OSLO, name="Oslo kommune")
    kari = person(oslo, Affiliation.Role.SIGNATORY)
    admin = person(oslo, Affiliation.Role.ADMIN)
    Membership.objects.create(organisation=oslo, applied_by=admin, state=Membership.State.APPLIED)
    Order.objects.create(organisation=oslo, service=journaling, environment="prod", created_by=admin)
    usage = TermsDocument.objects.current("usage", journaling.code)

    waiting = documents_awaiting_signature(oslo)
    assert [(w.document, w.signed, w.lapsed) for w in waiting] == [(old_terms, None, False), (usage, None, False)]
    client.force_login(kari)
    page = client.get(reverse("member_dashboard", args=[OSLO])).content.decode()
    card = page[page.index('id="sign-heading"') :]
    card = card[: card.index("</section>")]
    assert reverse("terms_sign", args=[OSLO, old_terms.public_id]) in card
    assert reverse("terms_sign", args=[OSLO, usage.public_id]) in card
    assert "There are no terms waiting" not in card and "Det er ingen vilkår" not in card

    # Signed both; then a new version of the membership terms is published: it waits, with its date.
    accept(oslo, old_terms)
    accept(oslo, usage)
    assert documents_awaiting_signature(oslo) == []
    newer = services.terms_draft_create(
        kind="membership", service_code="", version="2027.1", title="Medlemsvilkår", body="Ny.", by=nhn_staff
    )
    services.terms_publish(document=newer, by=nhn_staff, effective_on=in_days(10), change_note="Endret.")
    (item,) = documents_awaiting_signature(oslo)
    assert item.document == newer and item.signed.document == old_terms and not item.lapsed
    assert timezone.localtime(item.sign_by).date() == in_days(10)
    card = client.get(reverse("member_dashboard", args=[OSLO])).content.decode()
    assert reverse("terms_sign", args=[OSLO, newer.public_id]) in card
    effect_now(newer)
    (item,) = documents_awaiting_signature(oslo)
    assert item.lapsed and item.sign_by is None


# Staff see who has not signed again ---------------------------------------------------------------------


def test_staff_see_who_has_not_signed_the_new_version_with_days_left(client, nhn_staff, old_terms, draft):
    organisations = [OrganisationFactory(name=f"Kommune {n:02d}") for n in range(53)]
    for organisation in organisations:
        member_on(organisation, old_terms)
    services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(12), change_note="Endret.")
    accept(organisations[0], draft)  # signed again: off the list
    client.force_login(nhn_staff)
    url = reverse("staff_terms_detail", args=[draft.public_id])
    page = speaking(client, "en").get(url).content.decode()
    assert "52 organisations signed an older version and have not signed this one." in page
    assert "12 days left until the effective date." in page
    assert "Kommune 00" not in page and "Kommune 01" in page
    assert "Kommune 52" not in page  # 50 a page
    second = client.get(url + "?side=2").content.decode()
    assert "Kommune 52" in second


@pytest.mark.parametrize("rows", [5, 500])
def test_the_terms_page_runs_a_bounded_number_of_queries(
    client, nhn_staff, old_terms, draft, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        member_on(OrganisationFactory(), old_terms)
    services.terms_publish(document=draft, by=nhn_staff, effective_on=in_days(12), change_note="Endret.")
    client.force_login(nhn_staff)
    with django_assert_max_num_queries(14):
        assert client.get(reverse("staff_terms_detail", args=[draft.public_id])).status_code == 200
