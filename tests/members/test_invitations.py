"""Administrators invite colleagues by e-mail; the role binds at the first login after the link, once."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from members import services
from members.models import Affiliation, Invitation
from portal.models import AuditEvent
from tests.factories import PASSWORD, AffiliationFactory, UserFactory

pytestmark = pytest.mark.django_db


def people_url(organisation):
    return reverse("organisation_people", args=[organisation.org_number])


def invite(client, organisation, email="ny.kollega@kommune.example", role=Affiliation.Role.VIEWER):
    return client.post(people_url(organisation), {"email": email, "role": role})


def in_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def link_from_mail() -> str:
    return re.search(r"https?://[^/\s]+(/invitasjon/\S+/)", mail.outbox[-1].body).group(1)


def test_an_administrator_invites_a_colleague_by_email(
    client, municipal_admin, municipality, django_capture_on_commit_callbacks
):
    client.force_login(municipal_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(client, municipality, role=Affiliation.Role.SIGNATORY)
    assert response.status_code == 302

    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "ny.kollega@kommune.example",
        Affiliation.Role.SIGNATORY,
        municipal_admin,
    )
    assert invitation.expires_at > timezone.now() + timedelta(days=13)
    assert [m.to for m in mail.outbox] == [["ny.kollega@kommune.example"]]
    assert municipality.name in mail.outbox[0].subject
    token = link_from_mail().split("/")[-2]
    assert token not in invitation.token_hash and invitation.token_hash == services.invitation_token_hash(token)
    event = AuditEvent.objects.get(action="invitation.sent")
    assert event.organisation == municipality and event.actor == municipal_admin

    page = client.get(people_url(municipality)).content.decode()
    assert "ny.kollega@kommune.example" in page


@pytest.mark.parametrize("persona", ["signatory", "viewer"])
def test_members_who_are_not_administrators_get_403(client, request, municipality, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(people_url(municipality)).status_code == 403
    assert invite(client, municipality).status_code == 403
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("persona", ["outsider", "vendor_user", "nhn_staff"])
def test_people_page_of_another_organisation_is_404(client, request, municipality, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(people_url(municipality)).status_code == 404
    assert invite(client, municipality).status_code == 404


def test_vendors_invite_vendor_users_only(client, vendor_user, vendor):
    client.force_login(vendor_user)
    assert invite(client, vendor, role=Affiliation.Role.ADMIN).status_code == 200  # not a choice: form error
    assert invite(client, vendor, role=Affiliation.Role.VENDOR_USER).status_code == 302
    assert Invitation.objects.get().role == Affiliation.Role.VENDOR_USER


def test_inviting_someone_who_has_the_role_already_is_refused(client, municipal_admin, municipality, viewer):
    client.force_login(municipal_admin)
    in_english(client)
    response = invite(client, municipality, email=viewer.email.upper(), role=Affiliation.Role.VIEWER)
    assert "already has this role" in response.content.decode()
    assert not Invitation.objects.exists()


@pytest.fixture
def sent(municipal_admin, municipality):
    invitation, token = services.invitation_send(
        organisation=municipality, email="kollega@kommune.example", role=Affiliation.Role.VIEWER, by=municipal_admin
    )
    return invitation, token


def test_following_the_link_then_logging_in_binds_the_role_once(client, sent, municipality):
    invitation, token = sent
    colleague = UserFactory(email="kollega@kommune.example")
    page = client.get(f"/invitasjon/{token}/").content.decode()
    assert "Logg inn med portalkonto" in page  # both ways in are offered (ID-porten/HelseID when configured)

    response = client.post("/konto/login/", {"login": colleague.email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == f"/medlem/{municipality.org_number}/"
    assert Affiliation.objects.filter(user=colleague, organisation=municipality, role="viewer").count() == 1
    invitation.refresh_from_db()
    assert invitation.accepted_by == colleague and invitation.status == Invitation.Status.ACCEPTED
    assert AuditEvent.objects.filter(action="invitation.accepted", actor=colleague).count() == 1

    # A second login changes nothing; the link now says it is used.
    client.post("/konto/logout/")
    client.post("/konto/login/", {"login": colleague.email, "password": PASSWORD})
    assert Affiliation.objects.filter(user=colleague, organisation=municipality).count() == 1
    in_english(client)
    response = client.get(f"/invitasjon/{token}/")
    assert response.status_code == 410 and "already been used" in response.content.decode()


def test_a_logged_in_person_accepts_with_a_button(client, sent, municipality):
    _invitation, token = sent
    colleague = UserFactory(email="Kollega@Kommune.example")
    client.force_login(colleague)
    assert client.get(f"/invitasjon/{token}/").status_code == 200
    assert not Affiliation.objects.filter(user=colleague).exists()  # a GET accepts nothing
    client.post(f"/invitasjon/{token}/")
    client.post(f"/invitasjon/{token}/")  # a double click binds once
    assert Affiliation.objects.filter(user=colleague, organisation=municipality).count() == 1


def test_another_person_cannot_use_the_invitation(client, sent, outsider):
    _invitation, token = sent
    client.force_login(outsider)
    in_english(client)
    response = client.post(f"/invitasjon/{token}/")
    assert response.status_code == 403
    assert "sent to another e-mail address" in response.content.decode()
    assert not Invitation.objects.filter(accepted_at__isnull=False).exists()


def test_another_person_logging_in_after_the_link_gets_a_message_and_no_role(client, sent, municipality):
    _invitation, token = sent
    other = UserFactory(email="annen@kommune.example")
    client.get(f"/invitasjon/{token}/")
    in_english(client)
    response = client.post("/konto/login/", {"login": other.email, "password": PASSWORD}, follow=True)
    assert "sent to another e-mail address" in response.content.decode()
    assert not Affiliation.objects.filter(user=other, organisation=municipality).exists()


def test_expired_withdrawn_and_unknown_links_say_so(client, sent, municipal_admin):
    invitation, token = sent
    in_english(client)
    assert client.get("/invitasjon/not-a-real-token/").status_code == 404
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(f"/invitasjon/{token}/")
    assert response.status_code == 410 and "has expired" in response.content.decode()
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() + timedelta(days=1))
    services.invitation_revoke(invitation=invitation, by=municipal_admin)
    response = client.get(f"/invitasjon/{token}/")
    assert response.status_code == 410 and "withdrawn" in response.content.decode()


def test_an_administrator_withdraws_an_invitation_but_not_another_organisations(
    client, sent, municipal_admin, municipality, outsider, other_municipality
):
    invitation, _token = sent
    url = reverse("invitation_revoke", args=[municipality.org_number, invitation.public_id])
    client.force_login(outsider)
    assert client.post(url).status_code == 404
    foreign = reverse("invitation_revoke", args=[other_municipality.org_number, invitation.public_id])
    assert client.post(foreign).status_code == 404
    client.force_login(municipal_admin)
    client.post(url)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED
    assert AuditEvent.objects.filter(action="invitation.revoked").count() == 1


@pytest.mark.parametrize("rows", [5, 500])
def test_the_people_page_runs_a_bounded_number_of_queries(
    client, municipal_admin, municipality, django_assert_max_num_queries, rows
):
    for n in range(rows):
        AffiliationFactory(organisation=municipality, role=Affiliation.Role.VIEWER)
        services.invitation_send(
            organisation=municipality, email=f"p{n}@kommune.example", role="viewer", by=municipal_admin
        )
    client.force_login(municipal_admin)
    with django_assert_max_num_queries(8):
        assert client.get(people_url(municipality)).status_code == 200


# Binding only to a verified address; one open invitation per address (issue 11) ---------------------


def test_an_invitation_to_an_address_merely_added_to_an_account_is_refused(
    client, municipal_admin, municipality, django_capture_on_commit_callbacks
):
    client.force_login(municipal_admin)
    with django_capture_on_commit_callbacks(execute=True):
        invite(client, municipality, email="kari.nordmann@kommune.example", role=Affiliation.Role.ADMIN)
    link = link_from_mail()

    # Mallory, with an account of her own, adds Kari's address to it (allauth does not verify it for her).
    mallory = UserFactory(email="mallory@example.org")
    client.force_login(mallory)
    client.post(reverse("account_email"), {"email": "kari.nordmann@kommune.example", "action_add": ""})
    from allauth.account.models import EmailAddress

    assert EmailAddress.objects.filter(user=mallory, email="kari.nordmann@kommune.example", verified=False).exists()
    response = client.post(link)
    assert response.status_code == 403
    assert "som ikke er bekreftet på kontoen din" in response.content.decode()
    assert not Affiliation.objects.filter(user=mallory, organisation=municipality).exists()
    assert Invitation.objects.get().status == Invitation.Status.PENDING


def test_inviting_the_same_address_twice_is_one_invitation_with_a_new_link(
    client, municipal_admin, municipality, django_capture_on_commit_callbacks
):
    client.force_login(municipal_admin)
    with django_capture_on_commit_callbacks(execute=True):
        invite(client, municipality, email="ny.kollega@kommune.example", role=Affiliation.Role.VIEWER)
    first_link = link_from_mail()
    with django_capture_on_commit_callbacks(execute=True):
        invite(client, municipality, email="Ny.Kollega@Kommune.example", role=Affiliation.Role.SIGNATORY)
    second_link = link_from_mail()

    invitation = Invitation.objects.get()  # one invitation
    assert invitation.role == Affiliation.Role.SIGNATORY and first_link != second_link
    assert AuditEvent.objects.filter(action="invitation.renewed").count() == 1
    # The old link no longer works; the new one does.
    assert client.get(first_link).status_code == 404
    colleague = UserFactory(email="ny.kollega@kommune.example")
    client.force_login(colleague)
    assert client.post(second_link).status_code == 302
    assert Affiliation.objects.filter(user=colleague, organisation=municipality, role="signatory").exists()


def test_the_database_holds_one_open_invitation_per_address_and_organisation(municipal_admin, municipality):
    from django.db import IntegrityError, transaction

    services.invitation_send(organisation=municipality, email="a@kommune.example", role="viewer", by=municipal_admin)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(
            organisation=municipality,
            email="A@kommune.example",
            role="viewer",
            token_hash="0" * 64,
            invited_by=municipal_admin,
            expires_at=timezone.now() + timedelta(days=1),
        )
    # An invitation withdrawn leaves room for a new one.
    services.invitation_revoke(invitation=Invitation.objects.get(), by=municipal_admin)
    services.invitation_send(organisation=municipality, email="a@kommune.example", role="viewer", by=municipal_admin)
    assert Invitation.objects.count() == 2


def test_the_sign_up_from_an_invitation_is_filled_in_with_the_invited_address(
    client, municipal_admin, municipality, django_capture_on_commit_callbacks
):
    import html as html_lib

    client.force_login(municipal_admin)
    with django_capture_on_commit_callbacks(execute=True):
        invite(client, municipality)
    client.logout()
    page = client.get(link_from_mail()).content.decode()
    signup = re.search(r'href="(/konto/signup/[^"]+)"', page).group(1)
    form = client.get(html_lib.unescape(signup)).content.decode()
    assert re.search(r'<input[^>]*name="email"[^>]*value="ny.kollega@kommune.example"', form), form
