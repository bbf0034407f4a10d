"""Concurrent identical requests make one of a thing, and every one of them gets a proper answer.

Real requests in threads (one PostgreSQL connection each) against the test database. To make the race
certain rather than likely, the test holds a SHARE lock on the table the requests write to: each request
gets past its checks and then waits to insert; when all of them wait, the lock is released and they
insert at once, as a double click or ten open tabs would. Before the fix every request but one was a 500
(an uncaught IntegrityError) or made a second row.
"""

import json
import threading
import time

import psycopg
import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from members.forms import DelegationForm
from members.initial_terms import ensure_initial_terms
from members.models import Affiliation, Invitation, SigningDelegation, TermsDocument, VendorAssignment, VendorSystem
from orders import helseid
from orders.catalogue import load_catalogue
from orders.models import ClientKey, Service
from portal.models import AuditEvent
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, VendorFactory
from tests.portal.world import public_jwk

pytestmark = pytest.mark.django_db(transaction=True)

NORDVIK = "313231593"  # in members/data/enhetsregisteret.json, with Randi Rådmann as daglig leder


@pytest.fixture(autouse=True)
def _catalogue():
    if not Service.objects.exists():  # an earlier transactional test's flush dropped the data migrations' rows
        load_catalogue(Service, TermsDocument)
        ensure_initial_terms(TermsDocument)


def _psycopg():
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"] or None, port=db["PORT"] or None, password=db["PASSWORD"]
    )


def race(table: str, send, *, times: int, timeout: float = 20) -> list:
    """Call `send(client)` from `times` threads at once, each with its own logged-in Client; the responses."""
    clients = [send.login(Client(raise_request_exception=False)) for _ in range(times)]
    responses: list = [None] * times
    holder = _psycopg()
    holder.execute(f'LOCK TABLE "{table}" IN SHARE MODE')  # inserts wait; reads and row locks do not

    def run(index):
        try:
            responses[index] = send(clients[index])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    with _psycopg() as watcher:
        watcher.autocommit = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting >= times:
                break
            time.sleep(0.05)
    holder.commit()
    holder.close()
    for thread in threads:
        thread.join(timeout)
    return responses


class Sender:
    """A request to send from every thread, as one person."""

    def __init__(self, user, method, url, data):
        self.user, self.method, self.url, self.data = user, method, url, data

    def login(self, client):
        client.force_login(self.user)
        return client

    def __call__(self, client):
        return getattr(client, self.method)(self.url, self.data)


def statuses(responses) -> list[int]:
    return [response.status_code for response in responses]


@pytest.fixture
def nordvik():
    return OrganisationFactory(org_number=NORDVIK, name="Testkommune Nordvik")


@pytest.fixture
def admin(nordvik):
    return AffiliationFactory(organisation=nordvik, role=Affiliation.Role.ADMIN).user


class DelegationSender(Sender):
    """Randi delegates signing to the administrator: by choosing a colleague (before issue 11), or by
    e-mail address with a fresh ID-porten login in her session (issue 11's signing rules)."""

    by_email = "email" in DelegationForm.base_fields

    def __init__(self, randi, admin):
        data = {"email": admin.email} if self.by_email else {"delegate": str(admin.pk)}
        super().__init__(randi, "post", reverse("delegation_create", args=[NORDVIK]), data)

    def login(self, client):
        client = super().login(client)
        if self.by_email:
            from members import enhetsregisteret
            from tests.members.idporten import verified_in_session

            role = next(r for r in enhetsregisteret.roles(NORDVIK) if r.person_name.startswith("Randi"))
            verified_in_session(client, self.user, name=role.person_name, born=role.birth_date)
        return client


def test_concurrent_identical_delegations_are_one_delegation(nordvik, admin):
    randi = AffiliationFactory(
        organisation=nordvik,
        role=Affiliation.Role.SIGNATORY,
        user=UserFactory(first_name="Randi", last_name="Rådmann"),
    ).user
    responses = race("members_signingdelegation", DelegationSender(randi, admin), times=5)
    assert statuses(responses) == [302] * 5
    assert SigningDelegation.objects.filter(organisation=nordvik, revoked_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="signing.delegated").count() == 1


@pytest.mark.skipif(
    not any(c.name == "invitation_one_open_per_address" for c in Invitation._meta.constraints),
    reason="one open invitation per address comes with issue 11 (branch issue-11a); runs once that is merged",
)
def test_ten_concurrent_identical_invitations_are_one_invitation(nordvik, admin):
    url = reverse("organisation_people", args=[NORDVIK])
    send = Sender(admin, "post", url, {"email": "ny.kollega@nordvik.example", "role": "viewer"})
    responses = race("members_invitation", send, times=10)
    assert statuses(responses) == [302] * 10
    assert Invitation.objects.filter(organisation=nordvik, email="ny.kollega@nordvik.example").count() == 1


def test_concurrent_identical_system_registrations_by_a_municipality_are_one(nordvik, admin):
    system = VendorSystem.objects.create(vendor=VendorFactory(), name="Trygghetsalarm", kind="vft")
    data = {"system": str(system.pk), "environment": "test", "starts_on": "2026-12-01"}
    send = Sender(admin, "post", reverse("assignment_create", args=[NORDVIK]), data)
    responses = race("members_vendorassignment", send, times=5)
    assert statuses(responses) == [302] * 5
    assert VendorAssignment.objects.active().filter(organisation=nordvik, system=system).count() == 1


def test_concurrent_identical_vendor_system_registrations_are_one(db):
    vendor = VendorFactory()
    user = AffiliationFactory(organisation=vendor, role=Affiliation.Role.VENDOR_USER).user
    url = reverse("vendor_system_create", args=[vendor.org_number])
    send = Sender(user, "post", url, {"name": "Dosett", "kind": "vft", "product": ""})
    responses = race("members_vendorsystem", send, times=5)
    assert statuses(responses) == [302] * 5
    assert VendorSystem.objects.filter(vendor=vendor, name="Dosett").count() == 1


def test_concurrent_identical_key_uploads_add_the_key_once(db):
    vendor = VendorFactory()
    user = AffiliationFactory(organisation=vendor, role=Affiliation.Role.VENDOR_USER).user
    system = VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm", kind="vft")
    client_config = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=user
    )
    keys = json.dumps(public_jwk("rotasjon-2026"))
    send = Sender(user, "post", reverse("client_detail", args=[client_config.public_id]), {"keys": keys})
    responses = race("orders_clientkey", send, times=5)
    assert sorted(statuses(responses)) == [200, 200, 200, 200, 302]  # one added; the others told it is in use
    assert ClientKey.objects.filter(client=client_config, kid="rotasjon-2026").count() == 1
