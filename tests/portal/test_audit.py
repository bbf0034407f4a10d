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
