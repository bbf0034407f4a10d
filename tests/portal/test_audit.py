import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from portal.audit import audit
from portal.models import AppendOnlyError, AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_audit_records_actor_object_organisation_and_change(municipal_admin, municipality, rf):
    request = rf.post("/", REMOTE_ADDR="192.0.2.10")
    request.user = municipal_admin
    event = audit(
        action="organisation.created",
        obj=municipality,
        before={"name": "Gammelt"},
        after={"name": municipality.name},
        request=request,
    )
    event.refresh_from_db()
    assert event.actor == municipal_admin
    assert event.actor_label == municipal_admin.email
    assert event.organisation == municipality
    assert event.object_type == "members.organisation"
    assert event.object_id == str(municipality.pk)
    assert event.before == {"name": "Gammelt"}
    assert event.after == {"name": municipality.name}
    assert event.ip_address == "192.0.2.10"
    with translation.override("en"):
        assert event.action_label == "Organisation registered"
    with translation.override("nb"):
        assert event.action_label == "Virksomhet registrert"


def test_organisation_is_taken_from_the_object(municipal_admin, municipality):
    affiliation = municipal_admin.affiliations.get()
    event = audit(action="affiliation.created", obj=affiliation, actor=municipal_admin)
    assert event.organisation == municipality


def test_the_orm_refuses_to_change_or_delete_an_entry(municipality):
    event = audit(action="organisation.created", obj=municipality)
    event.action = "something.else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_postgresql_refuses_to_change_or_delete_an_entry(municipality):
    event = audit(action="organisation.created", obj=municipality)
    for statement in (
        "UPDATE portal_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM portal_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "organisation.created"


def test_logging_in_and_out_is_audited(client, municipal_admin):
    client.post("/konto/login/", {"login": municipal_admin.email, "password": PASSWORD})
    client.post("/konto/logout/")
    actions = list(AuditEvent.objects.filter(actor=municipal_admin).values_list("action", flat=True))
    assert actions == ["user.logged_out", "user.logged_in"]


# The client's address -------------------------------------------------------------------------------


def login(client, user, **meta):
    return client.post("/konto/login/", {"login": user.email, "password": PASSWORD}, **meta)


def logged_in_ip(user):
    return AuditEvent.objects.get(action="user.logged_in", actor=user).ip_address


def test_a_spoofed_forwarded_for_is_not_recorded(client, municipal_admin):
    response = login(client, municipal_admin, REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert response.status_code == 302
    assert logged_in_ip(municipal_admin) == "192.0.2.10"


@pytest.mark.parametrize("forwarded", ["bogus", "unknown", "192.0.2.300", "<script>", "1.2.3.4, nonsense", ","])
@pytest.mark.parametrize("proxies", [0, 1])
def test_a_forwarded_for_that_is_no_address_is_never_a_500_and_never_stored(
    client, municipal_admin, settings, forwarded, proxies
):
    settings.TRUSTED_PROXY_COUNT = proxies
    response = login(client, municipal_admin, REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=forwarded)
    assert response.status_code == 302
    # Without trusted proxies the header is not read; behind one, an entry that is no address gives none
    # (REMOTE_ADDR is then the proxy, not the person), and an empty header means no proxy added one.
    expected = "192.0.2.10" if proxies == 0 or forwarded == "," else None
    assert logged_in_ip(municipal_admin) == expected


def test_behind_one_trusted_proxy_the_address_it_saw_is_used(client, municipal_admin, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client wrote the first entry itself; our proxy appended the address it saw.
    login(client, municipal_admin, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.5")
    assert logged_in_ip(municipal_admin) == "203.0.113.5"


def test_behind_two_trusted_proxies_the_outer_ones_view_is_used(rf, settings):
    from portal.audit import client_ip

    settings.TRUSTED_PROXY_COUNT = 2
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 2001:DB8::7, 10.0.0.1")
    assert client_ip(request) == "2001:db8::7"
    # Fewer hops than proxies: the request did not come through them all; REMOTE_ADDR is what we know.
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5")) == "10.0.0.2"


def test_a_remote_addr_that_is_no_address_is_not_stored(rf):
    from portal.audit import client_ip

    assert client_ip(rf.get("/", REMOTE_ADDR="unknown")) is None
    assert client_ip(rf.get("/", REMOTE_ADDR="")) is None
