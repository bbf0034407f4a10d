"""The reconciliation report (issue 16): each run and what it found, against the loopback simulator,
and NHN staff's decisions on grants nobody in the portal made."""

import pytest
from django.urls import reverse

from members.models import SupportedService, VendorAssignment, VendorSystem
from orders import provisioning, reconciliation, services
from orders.models import Order, ProvisioningTask, ReconciliationFinding, ReconciliationRun, Service
from orders.tasks import reconcile_backing_services
from portal.clients import BackingServiceError
from portal.models import AuditEvent
from tests.factories import OrganisationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

ORG = "313231593"


@pytest.fixture
def nordvik():
    return OrganisationFactory(org_number=ORG, name="Testkommune Nordvik")


@pytest.fixture
def alarm(nordvik):
    """A welfare-technology system Nordvik uses in test, supporting Journaling (no HelseID client)."""
    system = VendorSystem.objects.create(vendor=VendorFactory(name="Alarmhuset AS"), name="Trygghetsalarm", kind="vft")
    SupportedService.objects.create(
        system=system, service=Service.objects.get(code="vkp-journaling"), environment="test"
    )
    VendorAssignment.objects.create(organisation=nordvik, system=system, environment="test", created_by=UserFactory())
    return system


@pytest.fixture
def active_order(nordvik, alarm, nhn_staff, simulator):
    order = Order.objects.create(
        organisation=nordvik,
        service=Service.objects.get(code="vkp-journaling"),
        environment="test",
        state="submitted",
        created_by=UserFactory(),
    )
    services.order_approve(order=order, by=nhn_staff)
    run_outbox()
    order.refresh_from_db()
    assert order.state == Order.State.ACTIVE and len(simulator.grants()) == 1
    return order


def run_outbox(limit=50):
    for _ in range(limit):
        pending = list(ProvisioningTask.objects.filter(state="pending").values_list("pk", flat=True))
        if not pending:
            return
        for task_id in pending:
            provisioning.task_run(task_id, allow_early=True)
    raise AssertionError("the outbox never emptied")


def grant_by_hand(simulator, system: str, access=("read",)):
    simulator.http.put(
        f"/vkp/grants/test/{ORG}/vkp-journaling/{system}",
        json={"access": list(access)},
        headers={"Idempotency-Key": f"by-hand-{system}"},
    ).raise_for_status()


def decide(client, finding, decision, **data):
    url = reverse("staff_finding_decide", args=[finding.public_id, decision])
    return client.post(url, data)


# What a run records ------------------------------------------------------------------------------


def test_a_missing_grant_is_repaired_and_listed(client, nhn_staff, active_order, alarm, simulator):
    simulator.http.delete(
        f"/vkp/grants/test/{ORG}/vkp-journaling/{alarm.public_id}", headers={"Idempotency-Key": "removed-by-hand"}
    ).raise_for_status()

    provisioning.reconcile()
    run_outbox()

    run = ReconciliationRun.objects.get()
    assert (run.state, run.trigger, run.missing, run.repaired, run.left_for_person) == (
        "finished",
        "schedule",
        1,
        1,
        0,
    )
    finding = run.findings.get()
    assert (finding.kind, finding.handling, finding.state) == ("missing", "repair_queued", "none")
    assert finding.task.state == ProvisioningTask.State.SUCCEEDED
    assert simulator.grants()[0]["access"] == ["write"]
    client.force_login(nhn_staff)
    page = client.get(reverse("staff_reconciliation_run", args=[run.public_id])).content.decode()
    assert "Mangler i tjenesten" in page and "Trygghetsalarm for Testkommune Nordvik" in page
    assert "Reparasjon satt i kø" in page and "hx-trigger" not in page  # finished: no polling


def test_an_unknown_grant_waits_for_a_decision_and_is_not_revoked(client, nhn_staff, alarm, simulator):
    grant_by_hand(simulator, str(alarm.public_id))  # a known system, but nobody ordered Journaling
    grant_by_hand(simulator, "not-a-system")  # nothing the portal knows

    provisioning.reconcile()
    run_outbox()

    run = ReconciliationRun.objects.get()
    assert (run.unexpected, run.repaired, run.left_for_person) == (2, 0, 2)
    assert set(run.findings.values_list("state", flat=True)) == {"waiting"}
    assert not ProvisioningTask.objects.exists()
    assert len(simulator.grants()) == 2  # nothing was revoked
    assert reconciliation.findings_waiting_count() == 2
    client.force_login(nhn_staff)
    page = client.get(reverse("staff_reconciliation")).content.decode()
    assert "Venter på en beslutning (2)" in page and "Trygghetsalarm for Testkommune Nordvik" in page
    assert "not-a-system" in page
    dashboard = client.get(reverse("staff_dashboard")).content.decode()
    assert "2 tilganger funnet ved avstemming venter på en beslutning" in dashboard


def test_a_stale_grant_the_portal_made_itself_is_still_revoked_without_asking(active_order, simulator):
    Order.objects.filter(pk=active_order.pk).update(state=Order.State.ENDED)  # its revocation never ran

    provisioning.reconcile()
    run_outbox()

    finding = ReconciliationFinding.objects.get()
    assert (finding.kind, finding.handling, finding.state) == ("unexpected", "repair_queued", "none")
    assert simulator.grants() == []


def test_the_next_run_alone_speaks_for_what_still_waits(alarm, simulator):
    grant_by_hand(simulator, "not-a-system")
    provisioning.reconcile()
    provisioning.reconcile()

    first, second = ReconciliationRun.objects.order_by("created_at", "pk")
    assert first.findings.get().state == "none" and second.findings.get().state == "waiting"
    assert reconciliation.findings_waiting_count() == 1


# Decisions ---------------------------------------------------------------------------------------


def test_remove_revokes_the_grant_in_the_simulator(
    client, nhn_staff, alarm, simulator, django_capture_on_commit_callbacks
):
    grant_by_hand(simulator, "not-a-system")
    provisioning.reconcile()
    finding = ReconciliationFinding.objects.get()
    client.force_login(nhn_staff)

    with django_capture_on_commit_callbacks(execute=True):
        response = decide(client, finding, "fjern")

    assert response.status_code == 302
    finding.refresh_from_db()
    assert (finding.state, finding.decided_by) == ("revoked", nhn_staff)
    assert finding.task.state == ProvisioningTask.State.SUCCEEDED
    assert simulator.grants() == []
    event = AuditEvent.objects.get(action="reconciliation.decided")
    assert event.actor == nhn_staff and event.after["decision"] == "revoked"
    provisioning.reconcile()
    assert ReconciliationRun.objects.order_by("-created_at", "-pk").first().differences == 0


def test_keeping_needs_a_reason_and_the_next_run_lists_it_as_kept(client, nhn_staff, alarm, simulator):
    grant_by_hand(simulator, str(alarm.public_id))
    provisioning.reconcile()
    finding = ReconciliationFinding.objects.get()
    client.force_login(nhn_staff)

    row = client.post(
        reverse("staff_finding_decide", args=[finding.public_id, "behold"]),
        {"reason": "  ", "from": "queue"},
        HTTP_HX_REQUEST="true",
    )
    assert "Oppgi en begrunnelse" in row.content.decode()
    finding.refresh_from_db()
    assert finding.state == "waiting"

    decide(client, finding, "behold", reason="Avtalt pilot med Alarmhuset")
    finding.refresh_from_db()
    assert (finding.state, finding.reason) == ("kept", "Avtalt pilot med Alarmhuset")
    assert AuditEvent.objects.get(action="reconciliation.decided").after["reason"] == "Avtalt pilot med Alarmhuset"

    provisioning.reconcile()
    later = ReconciliationRun.objects.order_by("-created_at", "-pk").first()
    kept = later.findings.get()
    assert (kept.handling, kept.state, later.left_for_person) == ("kept_earlier", "none", 0)
    assert reconciliation.findings_waiting_count() == 0
    assert len(simulator.grants()) == 1


def test_a_finding_decided_already_cannot_be_decided_again(client, nhn_staff, alarm, simulator):
    grant_by_hand(simulator, "not-a-system")
    provisioning.reconcile()
    finding = ReconciliationFinding.objects.get()
    reconciliation.finding_keep(finding=finding, by=nhn_staff, reason="Kjent")
    client.force_login(nhn_staff)

    decide(client, finding, "fjern")

    finding.refresh_from_db()
    assert finding.state == "kept" and not ProvisioningTask.objects.exists()


def test_an_unknown_decision_is_404(client, nhn_staff, alarm, simulator):
    grant_by_hand(simulator, "not-a-system")
    provisioning.reconcile()
    client.force_login(nhn_staff)
    assert decide(client, ReconciliationFinding.objects.get(), "slett").status_code == 404


# Failing and asking for a run --------------------------------------------------------------------


def test_a_failing_backing_service_gives_a_failed_run_shown_on_the_page(client, nhn_staff, simulator):
    simulator.fault(match="GET /vkp/grants", status=400, code="broken", message="Registry is broken")

    with pytest.raises(BackingServiceError):
        provisioning.reconcile()

    run = ReconciliationRun.objects.get()
    assert run.state == "failed" and "Registry is broken" in run.error and run.finished_at
    client.force_login(nhn_staff)
    page = client.get(reverse("staff_reconciliation_run", args=[run.public_id])).content.decode()
    assert "Avstemmingen feilet" in page and "Registry is broken" in page
    assert "Feilet" in client.get(reverse("staff_reconciliation")).content.decode()


def test_run_now_queues_one_run_after_commit(client, nhn_staff, simulator, django_capture_on_commit_callbacks):
    client.force_login(nhn_staff)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("staff_reconciliation_request"))

    run = ReconciliationRun.objects.get()
    assert response.url == reverse("staff_reconciliation_run", args=[run.public_id])
    assert (run.state, run.trigger, run.requested_by) == ("queued", "person", nhn_staff)
    assert len(callbacks) == 1
    page = client.get(response.url).content.decode()
    assert 'hx-trigger="every 2s"' in page  # queued: the page polls

    callbacks[0]()
    run.refresh_from_db()
    assert run.state == "finished"
    assert reconcile_backing_services(run.pk) == 0  # the message delivered twice: nothing runs again
    assert ReconciliationRun.objects.count() == 1
    assert AuditEvent.objects.get(action="reconciliation.requested").actor == nhn_staff
    partial = client.get(response.url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in partial and "<html" not in partial


def test_a_run_asked_for_while_the_broker_was_down_is_done_by_the_hourly_one(nhn_staff, simulator):
    run = reconciliation.run_request(by=nhn_staff)  # in a test transaction: its on-commit never runs

    reconcile_backing_services()  # the beat's call, without a run

    run.refresh_from_db()
    assert run.state == "finished" and ReconciliationRun.objects.count() == 1


@pytest.mark.parametrize("persona", ["municipal_admin", "vendor_user"])
def test_only_nhn_staff_may_see_or_use_the_report(client, request, persona, alarm, simulator):
    grant_by_hand(simulator, "not-a-system")
    provisioning.reconcile()
    run, finding = ReconciliationRun.objects.get(), ReconciliationFinding.objects.get()
    client.force_login(request.getfixturevalue(persona))

    assert client.get(reverse("staff_reconciliation")).status_code == 403
    assert client.get(reverse("staff_reconciliation_run", args=[run.public_id])).status_code == 403
    assert client.post(reverse("staff_reconciliation_request")).status_code == 403
    assert decide(client, finding, "fjern").status_code == 403
    assert ReconciliationRun.objects.count() == 1
    finding.refresh_from_db()
    assert finding.state == "waiting"


# Query counts ------------------------------------------------------------------------------------


def _run_with_findings(count: int) -> ReconciliationRun:
    run = ReconciliationRun.objects.create(state="finished", unexpected=count, left_for_person=count)
    ReconciliationFinding.objects.bulk_create(
        ReconciliationFinding(
            run=run,
            kind=("missing", "unexpected", "changed")[n % 3],
            handling="left_for_person",
            state="waiting",
            target=f"vkp:test:{ORG}:vkp-journaling:system-{n}",
            subject={"org_number": ORG, "service": "vkp-journaling", "system": f"system-{n}"},
            found={"access": ["read"]},
        )
        for n in range(count)
    )
    return run


@pytest.mark.parametrize("rows", [5, 500])
def test_the_report_pages_queries_are_bounded(client, nhn_staff, django_assert_max_num_queries, rows):
    run = _run_with_findings(rows)
    client.force_login(nhn_staff)
    with django_assert_max_num_queries(6):  # session, user, runs, latest run, waiting findings, their count
        assert client.get(reverse("staff_reconciliation")).status_code == 200
    with django_assert_max_num_queries(5):  # session, user, run, findings count (pages), one page of findings
        assert client.get(reverse("staff_reconciliation_run", args=[run.public_id])).status_code == 200
