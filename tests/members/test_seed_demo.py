import pytest
from django.core.management import call_command

from members.models import Affiliation, Membership, Organisation, TermsDocument, User
from members.orgnr import has_valid_check_digit
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def _counts():
    return (Organisation.objects.count(), User.objects.count(), Affiliation.objects.count(), AuditEvent.objects.count())


def test_seed_demo_creates_every_role_and_prints_the_logins(capsys):
    call_command("seed_demo")
    output = capsys.readouterr().out

    assert Organisation.objects.filter(kind=Organisation.Kind.MUNICIPALITY).count() == 3
    assert Organisation.objects.filter(kind=Organisation.Kind.VENDOR).count() == 4
    assert Organisation.objects.filter(org_number="313231593").exists()
    assert User.objects.filter(is_nhn_staff=True).count() == 1
    for role in Affiliation.Role:
        assert Affiliation.objects.filter(role=role).exists(), role
    for user in User.objects.all():
        assert user.email in output
    assert "Demo-passord-2026" in output


def test_seed_demo_uses_only_valid_synthetic_numbers():
    call_command("seed_demo")
    for number in Organisation.objects.values_list("org_number", flat=True):
        assert number[0] in "23" and has_valid_check_digit(number), number


def test_seed_demo_twice_changes_nothing():
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first


def test_demo_logins_work(client):
    call_command("seed_demo")
    response = client.post(
        "/konto/login/", {"login": "admin@nordvik.example", "password": "Demo-passord-2026"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/medlem/313231593/"


def test_seed_demo_restores_the_first_published_terms_after_a_flush():
    TermsDocument.objects.all().delete()
    call_command("seed_demo")
    assert TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP).version == "2026.1"
    assert Membership.objects.filter(state=Membership.State.ACTIVE).count() == 5  # Nordvik and the four vendors
    assert Membership.objects.filter(state=Membership.State.PENDING_APPROVAL).count() == 1
