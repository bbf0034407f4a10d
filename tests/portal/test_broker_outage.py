"""Redis down: what people do still succeeds, and every e-mail arrives exactly once when it is back.

A redis-server of the test's own is stopped; NHN staff approve an order, reject a membership and
publish terms, an administrator invites a colleague, all through the web. Then Redis comes back, a
real worker with beat starts, and the mail API of the backing-services simulator (a real HTTP server
on loopback) must hold each message the portal wrote, once.
"""

import re
import shutil
import time
from collections import Counter

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members import services as member_services
from members.initial_terms import ensure_initial_terms
from members.models import Affiliation, Invitation, Membership, TermsDocument
from orders.catalogue import load_catalogue
from orders.models import Order, Service
from portal.models import OutgoingMessage
from tests.conftest import wait_for
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, with_totp
from tests.members.idporten import registered_person

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server program"),
]

NORDVIK = "313231593"  # Enhetsregisteret's test data: DAGL Randi Rådmann


@pytest.fixture
def scene(own_redis, simulator, celery_worker_factory):
    """Nordvik with a membership waiting for approval, a submitted test order and a draft of new terms."""
    if not Service.objects.exists():  # an earlier transactional test's flush dropped the data migrations' rows
        load_catalogue(Service, TermsDocument)
    ensure_initial_terms(TermsDocument)
    nordvik = OrganisationFactory(org_number=NORDVIK, name="Testkommune Nordvik")
    admin = AffiliationFactory(organisation=nordvik, role=Affiliation.Role.ADMIN).user
    randi = UserFactory(first_name="Randi", last_name="Rådmann")
    AffiliationFactory(user=randi, organisation=nordvik, role=Affiliation.Role.SIGNATORY)
    staff = with_totp(UserFactory(is_nhn_staff=True, email="kundesenter@nhn.example"))
    membership = member_services.membership_apply(org_number=NORDVIK, user=admin)
    terms = TermsDocument.objects.current(TermsDocument.Kind.MEMBERSHIP)
    member_services.terms_sign(
        organisation=nordvik,
        document=terms,
        shown_sha256=terms.sha256,
        user=randi,
        person=registered_person(NORDVIK, "Randi Rådmann"),  # as her ID-porten login identifies her
    )
    order = Order.objects.create(
        organisation=nordvik,
        service=Service.objects.get(code="vkp-journaling"),
        environment="test",
        state="submitted",
        created_by=admin,
    )
    draft = member_services.terms_draft_create(
        kind=TermsDocument.Kind.MEMBERSHIP,
        service_code="",
        version="99.0",
        title="Medlemsvilkår 99.0",
        body="Nye vilkår.",
        effective_from=timezone.now(),
        by=staff,
    )
    return {
        "nordvik": nordvik,
        "admin": admin,
        "staff": staff,
        "membership": membership,
        "order": order,
        "draft": draft,
    }


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_with_redis_down_every_action_succeeds_and_each_mail_arrives_once_when_it_is_back(
    own_redis, scene, simulator, celery_worker_factory
):
    own_redis.stop()
    staff, admin = logged_in(scene["staff"]), logged_in(scene["admin"])

    approved = staff.post(reverse("staff_order_decide", args=[scene["order"].public_id, "godkjenn"]))
    rejected = staff.post(
        reverse("staff_membership_decide", args=[scene["membership"].public_id, "avvis"]),
        {"reason": "Mangler dokumentasjon"},
    )
    invited = admin.post(
        reverse("organisation_people", args=[NORDVIK]),
        {"email": "ny.kollega@nordvik.example", "role": Affiliation.Role.VIEWER},
    )
    published = staff.post(
        reverse("staff_terms_detail", args=[scene["draft"].public_id]),
        {"effective_on": timezone.localdate().isoformat(), "change_note": "Ny versjon."},
    )

    assert [r.status_code for r in (approved, rejected, invited, published)] == [302, 302, 302, 302]
    assert Order.objects.get(pk=scene["order"].pk).state == Order.State.ACTIVE  # no system needs access yet
    assert Membership.objects.get(pk=scene["membership"].pk).state == Membership.State.REJECTED
    assert Invitation.objects.filter(email="ny.kollega@nordvik.example").exists()
    assert TermsDocument.objects.get(pk=scene["draft"].pk).is_published
    waiting = OutgoingMessage.objects.filter(state="pending")
    templates = set(waiting.values_list("template", flat=True))
    assert {"orders/email/order_changed", "members/email/invitation"} <= templates
    assert any("membership" in template for template in templates)
    assert simulator.http.get("/mail/messages").json()["messages"] == []

    own_redis.start()  # empty: whatever reached it before it stopped is gone too
    celery_worker_factory(
        broker_url=own_redis.url,
        beat=True,
        env={
            "BACKING_SERVICES_URL": simulator.url,
            "EMAIL_BACKEND": "portal.clients.HttpEmailBackend",
            "EMAIL_REQUEUE_EVERY": "1",
            "EMAIL_REQUEUE_AFTER": "2",
            "PROVISIONING_REQUEUE_EVERY": "1",
            "PROVISIONING_REQUEUE_AFTER": "2",
        },
    )
    total = OutgoingMessage.objects.count()
    wait_for(
        lambda: OutgoingMessage.objects.filter(state="sent").count() == total,
        timeout=60,
        message=f"{OutgoingMessage.objects.exclude(state='sent').count()} of {total} e-mails not sent",
    )
    time.sleep(3)  # a few more sweeps: nothing may go out twice

    delivered = simulator.http.get("/mail/messages").json()["messages"]
    expected = Counter((tuple(m.recipients), m.subject) for m in OutgoingMessage.objects.all())
    assert Counter((tuple(sorted(m["to"])), m["subject"]) for m in delivered) == expected
    assert len([entry for entry in simulator.journal() if entry["path"] == "/mail/messages"]) == total
    assert not OutgoingMessage.objects.exclude(context={}).exists()

    invitation = next(m for m in delivered if m["to"] == ["ny.kollega@nordvik.example"])
    link = re.search(r"https?://[^/\s]+(/invitasjon/\S+/)", invitation["text"]).group(1)
    assert Client().get(link).status_code == 200  # the link, which lived only in the mail, works
