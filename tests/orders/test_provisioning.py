"""The provisioning engine's rules, in process: the outbox, retries, failures, revocation and
reconciliation, with the HTTP backends talking to the simulator on loopback. The same scenarios
with a real worker and broker are in test_provisioning_worker.py."""

import json
from contextlib import contextmanager

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from members import services as member_services
from members.models import SupportedService, VendorAssignment, VendorSystem
from orders import helseid, provisioning, services
from orders.clients import SandboxVkpRegistry
from orders.models import HelseIdClient, Order, ProvisioningTask, Service
from portal.clients import backoff_delay, idempotency_key
from portal.models import AuditEvent
from tests.factories import OrganisationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

PUBLIC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "kid": "key-1",
    "alg": "ES256",
}


@pytest.fixture(autouse=True)
def _english_messages():
    with translation.override("en"):
        yield


@pytest.fixture
def nordvik():
    return OrganisationFactory(org_number="313231593", name="Testkommune Nordvik")


@pytest.fixture
def admin():
    return UserFactory()


@pytest.fixture
def staff(nhn_staff):
    return nhn_staff


@pytest.fixture
def alarm(nordvik, admin):
    """A welfare-technology system in use by Nordvik in test, supporting Journaling, with a multi-tenant client."""
    system = VendorSystem.objects.create(vendor=VendorFactory(name="Alarmhuset AS"), name="Trygghetsalarm", kind="vft")
    SupportedService.objects.create(
        system=system, service=Service.objects.get(code="vkp-journaling"), environment="test"
    )
    VendorAssignment.objects.create(organisation=nordvik, system=system, environment="test", created_by=admin)
    return system


@pytest.fixture
def client_config(alarm):
    client = helseid.client_create(
        system=alarm, environment="test", tenancy="multi-tenant", tenant=None, by=UserFactory()
    )
    helseid.client_keys_add(client=client, keys_text=json.dumps(PUBLIC_JWK), by=UserFactory())
    return client


@pytest.fixture
def submitted(nordvik, admin):
    return Order.objects.create(
        organisation=nordvik,
        service=Service.objects.get(code="vkp-journaling"),
        environment="test",
        state="submitted",
        created_by=admin,
    )


def run_outbox(limit=50):
    """What the workers do: run every pending task until none is left (retries included)."""
    for _ in range(limit):
        pending = list(ProvisioningTask.objects.filter(state="pending").values_list("pk", flat=True))
        if not pending:
            return
        for task_id in pending:
            provisioning.task_run(task_id, allow_early=True)
    raise AssertionError("the outbox never emptied")


def refreshed(obj):
    obj.refresh_from_db()
    return obj


# The outbox ------------------------------------------------------------------------------------


def test_approval_writes_its_tasks_in_the_same_transaction_and_waits_for_them(submitted, client_config, staff):
    # Without the on-commit hook running (as when the broker is down) the tasks are still there.
    services.order_approve(order=submitted, by=staff)

    assert refreshed(submitted).state == "provisioning"
    tasks = ProvisioningTask.objects.filter(order=submitted)
    assert sorted(tasks.values_list("kind", flat=True)) == ["helseid.client", "vkp.access"]
    assert all(task.dispatched_at is None and task.state == "pending" for task in tasks)


def test_the_sweeper_sends_what_was_never_sent_and_the_order_becomes_active(submitted, client_config, staff):
    services.order_approve(order=submitted, by=staff)

    sent = provisioning.requeue_stale()  # in process, sending is running

    # The order's two steps; its client task replaced the client's waiting creation and first-key tasks.
    assert sent == 2
    assert refreshed(submitted).state == "active"
    assert [(g.org_number, g.service, g.access) for g in SandboxVkpRegistry.grants.values()] == [
        ("313231593", "vkp-journaling", ("write",))
    ]
    assert refreshed(client_config).state == "active"


def test_the_sweeper_leaves_tasks_alone_that_were_just_sent(submitted, client_config, staff, settings):
    services.order_approve(order=submitted, by=staff)
    ProvisioningTask.objects.update(dispatched_at=provisioning.timezone.now())
    assert provisioning.requeue_stale() == 0


def test_running_a_task_twice_has_one_effect(submitted, client_config, staff, simulator):
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    journal_before = simulator.journal()

    assert provisioning.task_run(grant_task.pk) is None  # done already: a second delivery does nothing
    assert simulator.journal() == journal_before
    assert refreshed(grant_task).attempts == 1


def test_a_grant_task_that_leaves_its_order_waiting_takes_eight_queries(
    submitted, client_config, staff, simulator, django_assert_num_queries
):
    services.order_approve(order=submitted, by=staff)
    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")

    # Run first, so the order still waits for its client update. A read (is it still waiting?); one
    # transaction (its savepoint and release here, BEGIN/COMMIT outside tests): the task FOR UPDATE
    # SKIP LOCKED; the grant the target should hold (the system's support for the service, if the
    # organisation uses the system and has an order with access: one query); the task's UPDATE; and
    # settling its order in the same transaction (a grant is never replaced, so no lookup of replaced
    # tasks): the order FOR UPDATE, its tasks with their replacements.
    with django_assert_num_queries(8):
        assert provisioning.task_run(grant_task.pk, allow_early=True) == "succeeded"

    assert refreshed(submitted).state == "provisioning"
    assert [grant["access"] for grant in simulator.grants()] == [["write"]]


def test_the_grant_task_that_finishes_its_order_takes_eleven_queries(
    submitted, client_config, staff, simulator, django_assert_num_queries
):
    services.order_approve(order=submitted, by=staff)
    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    for task_id in (
        ProvisioningTask.objects.filter(state="pending").exclude(pk=grant_task.pk).values_list("pk", flat=True)
    ):
        provisioning.task_run(task_id, allow_early=True)

    # The eight above, and once every step is done: the guarded UPDATE of the order (nothing read
    # back: the organisation and service loaded with the order stay loaded); the audit event; the
    # organisation's e-mail addresses for the notice.
    with django_assert_num_queries(11):
        assert provisioning.task_run(grant_task.pk, allow_early=True) == "succeeded"

    assert refreshed(submitted).state == "active"
    assert AuditEvent.objects.filter(action="order.activated", object_id=str(submitted.pk)).count() == 1


def test_one_targets_grant_is_what_the_whole_list_says_for_it(submitted, alarm, client_config, staff, admin):
    def both():
        target = ("test", "313231593", "vkp-journaling", str(alarm.public_id))
        return provisioning.desired_grant(*target), provisioning.desired_grants("test").get(target)

    assert both() == (None, None)  # submitted: no access yet
    services.order_approve(order=submitted, by=staff)
    one, listed = both()
    assert one == listed and one.access == ("write",)
    assert provisioning.desired_grant("test", "313231593", "vkp-journaling", str(alarm.public_id).upper()) is None
    assert provisioning.desired_grant("prod", "313231593", "vkp-journaling", str(alarm.public_id)) is None
    VendorAssignment.objects.filter(system=alarm).update(ended_at=provisioning.timezone.now())
    assert both() == (None, None)  # no longer uses the system


# The HTTP backends against the simulator -------------------------------------------------------------


def test_timeouts_and_5xx_are_retried_then_succeed(submitted, client_config, staff, simulator):
    simulator.fault(match="PUT /vkp/grants", status=503, times=2)
    services.order_approve(order=submitted, by=staff)
    run_outbox()

    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    assert (grant_task.state, grant_task.attempts) == ("succeeded", 3)
    assert refreshed(submitted).state == "active"
    assert simulator.grants()[0]["access"] == ["write"]


def test_a_dropped_answer_is_retried_and_recognised_as_a_replay(submitted, client_config, staff, simulator):
    simulator.fault(match="PUT /vkp/grants", drop=True, times=1)
    services.order_approve(order=submitted, by=staff)
    run_outbox()

    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    assert grant_task.attempts == 2
    grant_writes = [entry for entry in simulator.journal() if entry["path"].startswith("/vkp/grants")]
    assert len(grant_writes) == 1  # the second attempt was a replay, not a second change


def test_a_slow_answer_times_out_and_is_retried(submitted, client_config, staff, simulator, settings):
    settings.BACKING_SERVICES_TIMEOUT = 0.3
    simulator.fault(match="PUT /vkp/grants", delay=0.6, times=1)
    services.order_approve(order=submitted, by=staff)
    provisioning.task_run(ProvisioningTask.objects.get(order=submitted, kind="vkp.access").pk)

    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    assert grant_task.state == "pending" and grant_task.attempts == 1
    assert "no answer within 0.3 s" in grant_task.last_error
    assert grant_task.next_attempt_at > grant_task.created_at


def test_a_duplicate_answer_counts_as_done(submitted, client_config, staff, simulator):
    simulator.fault(match="PUT /vkp/grants", duplicate=True, times=1)
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    assert ProvisioningTask.objects.get(order=submitted, kind="vkp.access").attempts == 1
    assert refreshed(submitted).state == "active"


def test_a_4xx_fails_at_once_tells_nhn_and_waits_in_the_failures_queue(
    submitted, client_config, staff, simulator, django_capture_on_commit_callbacks
):
    simulator.fault(match="PUT /vkp/grants", status=400, code="unknown_system", message="System not known")
    services.order_approve(order=submitted, by=staff)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_outbox()

    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    assert (grant_task.state, grant_task.attempts) == ("failed", 1)
    order = refreshed(submitted)
    assert order.state == "failed"
    assert "400 unknown_system" in order.last_error and "System not known" in order.last_error
    assert [m.to for m in mail.outbox] == [[staff.email]]
    assert AuditEvent.objects.filter(action="provisioning.task_failed").count() == 1


def test_retries_stop_after_the_limit(submitted, client_config, staff, simulator, settings):
    settings.PROVISIONING_MAX_ATTEMPTS = 3
    simulator.fault(match="PUT /vkp/grants", status=500)
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    assert (grant_task.state, grant_task.attempts) == ("failed", 3)
    assert refreshed(submitted).state == "failed"


def test_staff_retry_a_failed_step_and_the_order_goes_on(submitted, client_config, staff, simulator):
    simulator.fault(match="PUT /vkp/grants", status=400, times=1)
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    assert refreshed(submitted).state == "failed"

    services.order_retry(order=submitted, by=staff)
    assert refreshed(submitted).state == "provisioning"
    run_outbox()
    assert refreshed(submitted).state == "active"


def test_staff_cancel_a_step_with_a_reason_and_the_order_no_longer_waits(submitted, client_config, staff, simulator):
    simulator.fault(match="PUT /vkp/grants", status=400, times=1)
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    grant_task = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")

    with pytest.raises(ValidationError):
        provisioning.task_cancel(task=grant_task, by=staff, reason=" ")
    provisioning.task_cancel(task=grant_task, by=staff, reason="Granted by hand in the registry")

    assert refreshed(grant_task).state == "cancelled"
    assert refreshed(submitted).state == "active"
    with pytest.raises(ValidationError):
        provisioning.task_retry(task=refreshed(grant_task), by=staff)


# Ending and changing -------------------------------------------------------------------------------


def test_ending_an_order_revokes_the_access_and_the_scopes(submitted, client_config, staff, simulator):
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    assert simulator.grants()

    services.order_end(order=refreshed(submitted), by=staff, reason="Avtalen er sagt opp")
    run_outbox()

    assert simulator.grants() == []
    assert simulator.client(client_config.client_id)["tenants"] == [{"organizationNumber": "313231593", "scopes": []}]
    revoke = ProvisioningTask.objects.get(reason="order_ended", kind="vkp.access")
    assert revoke.result == {"action": "revoked"}


def test_ending_the_system_registration_revokes_its_access(submitted, client_config, staff, admin, simulator):
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    assignment = VendorAssignment.objects.get(system=client_config.system)

    member_services.vendor_assignment_end(assignment=assignment, by=admin)
    run_outbox()

    assert simulator.grants() == []
    assert simulator.client(client_config.client_id)["tenants"] == []


def test_dropping_support_for_a_service_revokes_the_grant_and_adding_it_back_grants_it(
    submitted, client_config, staff, simulator
):
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    system, journaling = client_config.system, submitted.service

    member_services.vendor_system_set_services(system=system, supported=set(), by=UserFactory())
    run_outbox()
    assert simulator.grants() == []
    assert simulator.client(client_config.client_id)["tenants"] == [{"organizationNumber": "313231593", "scopes": []}]

    member_services.vendor_system_set_services(system=system, supported={(journaling.pk, "test")}, by=UserFactory())
    run_outbox()
    assert [grant["access"] for grant in simulator.grants()] == [["write"]]
    intents = list(
        ProvisioningTask.objects.filter(reason="services_changed", kind="vkp.access")
        .order_by("pk")
        .values_list("payload__intent", flat=True)
    )
    assert intents == ["revoke", "grant"]


def test_new_keys_and_a_disabled_client_reach_the_registry(client_config, simulator):
    run_outbox()
    # Another key pair: the same key material under a new kid is refused (issue 13).
    from joserfc.jwk import ECKey

    other = {**ECKey.generate_key("P-256").as_dict(private=False), "kid": "key-2", "alg": "ES256"}
    helseid.client_keys_add(client=client_config, keys_text=json.dumps(other), by=UserFactory())
    run_outbox()
    assert [key["kid"] for key in simulator.client(client_config.client_id)["keys"]] == ["key-1", "key-2"]

    helseid.client_disable(client=client_config, by=UserFactory())
    run_outbox()
    assert simulator.client(client_config.client_id)["enabled"] is False
    with pytest.raises(ValidationError):
        helseid.client_disable(client=refreshed(client_config), by=UserFactory())


def test_tasks_for_one_target_in_any_order_end_in_what_the_database_says(submitted, client_config, staff, simulator):
    services.order_approve(order=submitted, by=staff)
    grant = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    # The order ends before its grant task ran: the late grant task must not grant anything.
    Order.objects.filter(pk=submitted.pk).update(state="ended")
    provisioning.task_run(grant.pk)
    assert simulator.grants() == []
    assert refreshed(grant).result == {"action": "revoked"}


# Coalescing client updates ------------------------------------------------------------------------


@pytest.fixture
def ten_orders(nordvik, alarm, admin):
    """Ten submitted orders of Nordvik, each for its own service the alarm writes (the catalogue has nine)."""
    orders = []
    for index in range(10):
        service = Service.objects.create(
            code=f"test-service-{index}", name_nb=f"Tjeneste {index}", name_en=f"Service {index}",
            description_nb="-", description_en="-", read_by="epj", written_by="vft",
            writer_scopes=f"nhn:test{index}/api.write", test_availability="available",
        )  # fmt: skip
        SupportedService.objects.create(system=alarm, service=service, environment="test")
        orders.append(
            Order.objects.create(
                organisation=nordvik, service=service, environment="test", state="submitted", created_by=admin
            )
        )
    return orders


def tenant_writes(simulator, client) -> list[dict]:
    return [entry for entry in simulator.journal() if entry["path"] == f"/helseid/clients/{client.client_id}/tenants"]


def test_ten_approvals_for_one_client_make_one_client_update_and_all_ten_orders_become_active(
    client, ten_orders, client_config, admin, staff, simulator
):
    from members.models import Affiliation

    for order in ten_orders:  # faster than the workers: each approval's client task is still waiting
        services.order_approve(order=order, by=staff)
    run_outbox()

    client_tasks = ProvisioningTask.objects.filter(client=client_config)
    (update,) = client_tasks.exclude(state="superseded")
    assert (update.state, update.order) == ("succeeded", ten_orders[-1])
    # The nine earlier approvals' tasks and the client's own creation and first-key tasks.
    replaced = client_tasks.filter(state="superseded")
    assert replaced.count() == 11 and set(replaced.values_list("superseded_by", flat=True)) == {update.pk}
    assert AuditEvent.objects.filter(action="provisioning.task_superseded").count() == 11
    assert len(tenant_writes(simulator, client_config)) == 1
    assert simulator.client(client_config.client_id)["tenants"] == [
        {"organizationNumber": "313231593", "scopes": sorted(f"nhn:test{index}/api.write" for index in range(10))}
    ]
    assert [refreshed(order).state for order in ten_orders] == ["active"] * 10
    assert refreshed(client_config).state == "active"

    # The first order's page shows its replaced step as done, like its grant, and stops polling.
    Affiliation.objects.create(user=admin, organisation=ten_orders[0].organisation, role="admin")
    client.force_login(admin)
    page = client.get(reverse("order_detail", args=[ten_orders[0].public_id]), HTTP_HX_REQUEST="true")
    assert page.content.decode().count("Utført") == 2 and "hx-trigger" not in page.content.decode()


def test_the_message_of_a_replaced_client_update_runs_its_replacement(ten_orders, client_config, staff, simulator):
    for order in ten_orders[:3]:  # faster than the workers: each approval replaces the waiting client update
        services.order_approve(order=order, by=staff)
    first = ProvisioningTask.objects.get(order=ten_orders[0], kind="helseid.client")
    latest = ProvisioningTask.objects.get(order=ten_orders[2], kind="helseid.client")
    assert (first.state, first.superseded_by) == ("superseded", latest)

    # The first approval's message comes first: it runs the update that serves it, at once.
    assert provisioning.task_run(first.pk, allow_early=True) == "succeeded"

    assert refreshed(latest).state == "succeeded"
    assert len(tenant_writes(simulator, client_config)) == 1
    assert provisioning.task_run(latest.pk, allow_early=True) is None  # its own message: nothing left to do
    assert len(tenant_writes(simulator, client_config)) == 1


def test_a_failed_client_update_fails_every_order_it_serves_and_one_retry_sets_them_all_up(
    ten_orders, client_config, staff, simulator
):
    simulator.fault(match="PUT /helseid/clients", status=400, message="Client refused", times=1)
    for order in ten_orders[:3]:
        services.order_approve(order=order, by=staff)
    run_outbox()
    assert [refreshed(order).state for order in ten_orders[:3]] == ["failed"] * 3
    assert all("Client refused" in order.last_error for order in ten_orders[:3])

    services.order_retry(order=refreshed(ten_orders[0]), by=staff)  # the failed task is the third order's

    assert [refreshed(order).state for order in ten_orders[:3]] == ["provisioning"] * 3
    run_outbox()
    assert [refreshed(order).state for order in ten_orders[:3]] == ["active"] * 3


def test_staff_cancelling_a_client_update_releases_every_order_it_serves(ten_orders, client_config, staff, simulator):
    simulator.fault(match="PUT /helseid/clients", status=400, times=1)
    for order in ten_orders[:2]:
        services.order_approve(order=order, by=staff)
    run_outbox()
    (failed,) = ProvisioningTask.objects.filter(state="failed")

    provisioning.task_cancel(task=failed, by=staff, reason="Registered by hand in HelseID")

    assert [refreshed(order).state for order in ten_orders[:2]] == ["active"] * 2


def test_a_client_task_already_done_is_not_replaced_and_a_new_one_runs(ten_orders, client_config, staff, simulator):
    services.order_approve(order=ten_orders[0], by=staff)
    run_outbox()
    services.order_approve(order=ten_orders[1], by=staff)
    run_outbox()

    assert ProvisioningTask.objects.filter(client=client_config, state="succeeded").count() == 2
    assert len(tenant_writes(simulator, client_config)) == 2
    assert [refreshed(order).state for order in ten_orders[:2]] == ["active"] * 2


def orders_being_set_up(system, count: int) -> list[Order]:
    """`count` municipalities using the system, each with an administrator and a Journaling order being
    set up, no task yet (built in bulk: approving 500 one by one is slow)."""
    from members.models import Affiliation, Organisation, User

    organisations = Organisation.objects.bulk_create(OrganisationFactory.build_batch(count))
    creator = UserFactory()
    VendorAssignment.objects.bulk_create(
        VendorAssignment(organisation=organisation, system=system, environment="test", created_by=creator)
        for organisation in organisations
    )
    admins = User.objects.bulk_create(
        User(email=f"admin-{organisation.org_number}@example.no") for organisation in organisations
    )
    Affiliation.objects.bulk_create(
        Affiliation(user=user, organisation=organisation, role="admin")
        for user, organisation in zip(admins, organisations, strict=True)
    )
    journaling = Service.objects.get(code="vkp-journaling")
    return Order.objects.bulk_create(
        Order(organisation=organisation, service=journaling, environment="test", state="provisioning",
              created_by=creator)
        for organisation in organisations
    )  # fmt: skip


def orders_served_by_one_client_update(system, client, count: int) -> tuple[list[Order], ProvisioningTask]:
    """`orders_being_set_up` whose grants are done and whose client updates were replaced by one waiting
    update: the backlog a client update meets after many approvals."""
    orders = orders_being_set_up(system, count)
    journaling = orders[0].service
    reason = ProvisioningTask.Reason.ORDER_APPROVED
    update = provisioning._client_task(client, reason=reason, order=orders[-1])
    update.save()
    tasks = []
    for order in orders:
        grant = provisioning._vkp_task(
            organisation=order.organisation, service=journaling, system=system, environment="test",
            reason=reason, intent="grant", order=order,
        )  # fmt: skip
        grant.state = "succeeded"
        tasks.append(grant)
        if order != orders[-1]:
            replaced = provisioning._client_task(client, reason=reason, order=order)
            replaced.state, replaced.superseded_by = "superseded", update
            tasks.append(replaced)
    ProvisioningTask.objects.bulk_create(tasks)
    return orders, update


@pytest.mark.parametrize("count", [5, 500])
def test_a_client_update_serving_many_orders_activates_them_all_in_the_same_few_queries(
    count, client_config, staff, simulator, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    from portal.models import OutgoingMessage

    # The client's own creation and first key, done.
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    orders, update = orders_served_by_one_client_update(client_config.system, client_config, count)

    # A read (is it still waiting?); one transaction (its savepoint and release; BEGIN/COMMIT outside tests):
    # the task FOR UPDATE, the client, its keys, tenants, their orders, the scopes, the task's UPDATE; the
    # orders it serves; and settling them all at once: their locks, their tasks, one UPDATE, one INSERT of audit
    # events, the administrators' addresses and languages, one INSERT of e-mails; the client's registration (it
    # was still pending here) and its audit event. 20 for 5 orders and for 500.
    with django_capture_on_commit_callbacks(execute=False) as callbacks, django_assert_max_num_queries(20):
        assert provisioning.task_run(update.pk, allow_early=True) == "succeeded"

    ids = [order.pk for order in orders]
    assert Order.objects.filter(pk__in=ids, state="active", activated_at__isnull=False).count() == count
    activated = AuditEvent.objects.filter(action="order.activated", object_id__in=[str(pk) for pk in ids])
    assert activated.count() == count
    event = activated.get(object_id=str(orders[0].pk))
    assert (event.organisation_id, event.after) == (orders[0].organisation_id, {"state": "active", "steps": 2})
    with translation.override("nb"):
        assert event.object_repr == str(Order.objects.get(pk=orders[0].pk))
    messages = OutgoingMessage.objects.filter(template="orders/email/order_changed")
    assert messages.count() == count
    assert sorted(address for message in messages for address in message.recipients) == sorted(
        f"admin-{order.organisation.org_number}@example.no" for order in orders
    )
    assert messages.filter(context__state="active", language="nb").count() == count
    assert len(callbacks) == 1  # the e-mails in one hand-over to the broker, not one per order


def test_a_failed_client_update_fails_all_the_orders_it_serves_and_tells_nhn_once_each(client_config, staff, simulator):
    from portal.models import OutgoingMessage

    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    orders, update = orders_served_by_one_client_update(client_config.system, client_config, 5)
    simulator.fault(match="PUT /helseid/clients", status=400, message="Client refused", times=1)

    assert provisioning.task_run(update.pk, allow_early=True) == "failed"

    assert [refreshed(order).state for order in orders] == ["failed"] * 5
    assert all("Client refused" in refreshed(order).last_error for order in orders)
    assert AuditEvent.objects.filter(action="order.failed").count() == 5
    assert AuditEvent.objects.filter(action="order.activated").count() == 0
    assert OutgoingMessage.objects.filter(template="orders/email/order_failed").count() == 5
    assert not OutgoingMessage.objects.filter(template="orders/email/order_changed").exists()


def test_settling_leaves_alone_an_order_that_is_no_longer_being_set_up(client_config, staff, simulator):
    from portal.models import OutgoingMessage

    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    orders, update = orders_served_by_one_client_update(client_config.system, client_config, 3)
    Order.objects.filter(pk=orders[1].pk).update(state="active")  # ended, or activated meanwhile: not touched
    Order.objects.filter(pk=orders[2].pk).update(state="failed", last_error="Set up by hand")

    assert provisioning.task_run(update.pk, allow_early=True) == "succeeded"

    assert [refreshed(order).state for order in orders] == ["active", "active", "failed"]
    assert refreshed(orders[2]).last_error == "Set up by hand"
    assert list(AuditEvent.objects.filter(action="order.activated").values_list("object_id", flat=True)) == [
        str(orders[0].pk)
    ]
    assert OutgoingMessage.objects.filter(template="orders/email/order_changed").count() == 1
    assert provisioning.settle_orders([orders[1].pk, orders[2].pk]) == []
    assert provisioning.settle_order(orders[1].pk).state == "active"


def test_a_batch_transition_is_all_or_none(client_config, staff, simulator):
    from django.db import transaction

    from portal.transitions import InvalidTransition

    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    orders, _update = orders_served_by_one_client_update(client_config.system, client_config, 2)
    Order.objects.filter(pk=orders[1].pk).update(state="ended")
    with pytest.raises(InvalidTransition), transaction.atomic():
        Order.activate_many(orders)
    assert [refreshed(order).state for order in orders] == ["provisioning", "ended"]


# Batches of grants ---------------------------------------------------------------------------------


def orders_waiting_on_their_grants(system, count: int) -> list[Order]:
    """`orders_being_set_up` whose client update is done and whose grant waits: a backlog of grants."""
    orders = orders_being_set_up(system, count)
    journaling = orders[0].service
    ProvisioningTask.objects.bulk_create(
        provisioning._vkp_task(
            organisation=order.organisation,
            service=journaling,
            system=system,
            environment="test",
            reason=ProvisioningTask.Reason.ORDER_APPROVED,
            intent="grant",
            order=order,
        )
        for order in orders
    )
    return orders


def grant_task_of(order) -> ProvisioningTask:
    return ProvisioningTask.objects.get(order=order, kind="vkp.access")


@pytest.mark.parametrize("count", [5, 40])
def test_a_backlog_of_grants_runs_in_one_batch_in_the_same_few_queries(
    count, client_config, simulator, django_assert_max_num_queries
):
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")  # the client's own set-up
    orders = orders_waiting_on_their_grants(client_config.system, count)
    first, *others = [grant_task_of(order) for order in orders]

    # The first task's message: one read; its transaction (savepoint and release here): the task FOR
    # UPDATE SKIP LOCKED, the other due VKP tasks likewise, the grants they should hold (orders,
    # assignments, supported services), one UPDATE of the tasks; settling their orders at once (their
    # locks, their tasks, one UPDATE, one INSERT of audit events, the administrators' addresses and
    # languages, one INSERT of e-mails). The same for 5 grants and for 40; one call each.
    with django_assert_max_num_queries(16):
        assert provisioning.task_run(first.pk, allow_early=True, batch=50) == "succeeded"

    tasks = ProvisioningTask.objects.filter(order__in=orders)
    assert list(tasks.order_by().values_list("state", "attempts").distinct()) == [("succeeded", 1)]
    assert sorted(grant["organizationNumber"] for grant in simulator.grants()) == sorted(
        order.organisation.org_number for order in orders
    )
    assert Order.objects.filter(pk__in=[order.pk for order in orders], state="active").count() == count
    assert AuditEvent.objects.filter(action="order.activated").count() == count
    # Their own messages come later and find them done: with no grant left due, two reads each (the
    # task, whether any grant is due), no transaction, nothing sent again.
    calls = len(simulator.journal())
    with django_assert_max_num_queries(2):
        assert provisioning.task_run(others[0].pk, batch=50) is None
    assert len(simulator.journal()) == calls


def test_a_grant_message_that_finds_its_grant_done_runs_the_next_due_batch(client_config, simulator):
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    orders = orders_waiting_on_their_grants(client_config.system, 5)
    done, *waiting = [grant_task_of(order) for order in orders]
    ProvisioningTask.objects.filter(pk=done.pk).update(state="succeeded")

    # In a backlog the next messages are those of grants the first batch took: each takes the next
    # batch at once instead of leaving it for the message of a grant no batch has reached.
    assert provisioning.task_run(done.pk, batch=3) is None

    assert [refreshed(task).state for task in waiting] == ["succeeded", "succeeded", "succeeded", "pending"]
    assert sorted(grant["organizationNumber"] for grant in simulator.grants()) == sorted(
        order.organisation.org_number for order in orders[1:4]
    )
    assert [refreshed(order).state for order in orders[1:]] == ["active", "active", "active", "provisioning"]


def test_a_batch_is_limited_to_its_size_oldest_first(client_config, simulator):
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    orders = orders_waiting_on_their_grants(client_config.system, 6)
    tasks = [grant_task_of(order) for order in orders]

    provisioning.task_run(tasks[-1].pk, allow_early=True, batch=3)

    states = [refreshed(task).state for task in tasks]
    assert states == ["succeeded", "succeeded", "pending", "pending", "pending", "succeeded"]


def test_each_task_in_a_batch_keeps_its_own_outcome(client_config, simulator, settings):
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    retried, failed, granted = orders_waiting_on_their_grants(client_config.system, 3)
    simulator.fault(match=f"PUT /vkp/grants/test/{retried.organisation.org_number}/", status=503)
    simulator.fault(match=f"PUT /vkp/grants/test/{failed.organisation.org_number}/", status=400)

    provisioning.task_run(grant_task_of(granted).pk, allow_early=True, batch=50)

    waiting = grant_task_of(retried)
    assert (waiting.state, waiting.attempts) == ("pending", 1)
    assert "503" in waiting.last_error
    assert refreshed(retried).state == "provisioning"
    broken = grant_task_of(failed)
    assert (broken.state, broken.attempts) == ("failed", 1) and "400" in broken.last_error
    assert refreshed(failed).state == "failed"
    event = AuditEvent.objects.get(action="provisioning.task_failed")
    assert (event.object_id, event.organisation_id) == (str(failed.pk), failed.organisation_id)
    assert event.after["error"] == broken.last_error
    assert (grant_task_of(granted).state, refreshed(granted).state) == ("succeeded", "active")


def test_a_batch_leaves_tasks_that_are_not_due_and_client_updates_alone(client_config, simulator):
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    first, later = orders_waiting_on_their_grants(client_config.system, 2)
    not_due = grant_task_of(later)
    not_due.next_attempt_at = provisioning.timezone.now() + provisioning.timedelta(minutes=5)
    not_due.save()
    update = provisioning.queue_for_client(client_config, reason=ProvisioningTask.Reason.KEYS_CHANGED)[0]

    provisioning.task_run(grant_task_of(first).pk, allow_early=True, batch=50)

    assert (refreshed(not_due).state, refreshed(not_due).attempts) == ("pending", 0)
    assert refreshed(update).state == "pending"


@pytest.fixture
def catalogue_again(transactional_db):
    from members.models import TermsDocument
    from orders.catalogue import load_catalogue

    if not Service.objects.exists():  # an earlier transactional test's flush dropped the catalogue
        load_catalogue(Service, TermsDocument)


@contextmanager
def held_by_another_worker(task: ProvisioningTask):
    """The task's row locked FOR UPDATE by a second connection, as a worker running it would, until the block ends."""
    import psycopg
    from django.db import connection

    database = connection.settings_dict
    other_worker = psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=database["NAME"]
    )
    try:
        other_worker.execute("SELECT 1 FROM orders_provisioningtask WHERE id = %s FOR UPDATE", [task.pk])
        yield
    finally:
        other_worker.rollback()
        other_worker.close()


@pytest.mark.django_db(transaction=True)
def test_a_batch_skips_a_task_another_worker_holds(catalogue_again, client_config, simulator):
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    first, held = orders_waiting_on_their_grants(client_config.system, 2)
    held_task = grant_task_of(held)
    with held_by_another_worker(held_task):
        provisioning.task_run(grant_task_of(first).pk, allow_early=True, batch=50)

        assert refreshed(held_task).state == "pending"
        assert [grant["organizationNumber"] for grant in simulator.grants()] == [first.organisation.org_number]
    # Its own message runs it once the other worker let go.
    assert provisioning.task_run(held_task.pk, allow_early=True, batch=50) == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_a_grant_message_whose_grant_another_worker_holds_runs_the_other_due_grants(
    catalogue_again, client_config, simulator
):
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")
    held, *others = orders_waiting_on_their_grants(client_config.system, 3)
    held_task = grant_task_of(held)
    with held_by_another_worker(held_task):
        assert provisioning.task_run(held_task.pk, batch=50) is None

        assert refreshed(held_task).state == "pending"
        assert [grant_task_of(order).state for order in others] == ["succeeded", "succeeded"]
        assert sorted(grant["organizationNumber"] for grant in simulator.grants()) == sorted(
            order.organisation.org_number for order in others
        )


# Messages -------------------------------------------------------------------------------------------


def messages_by_kind(broker) -> dict[str, list[int]]:
    """The provisioning rows in the broker's queue, by kind; each message holds rows of one kind."""
    import base64

    sent: dict[str, list[int]] = {}
    for raw in broker.lrange("portal", 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "orders.tasks.run_provisioning_tasks"
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        kinds = set(ProvisioningTask.objects.filter(pk__in=args[0]).values_list("kind", flat=True))
        assert len(kinds) == 1
        kind = kinds.pop()
        assert kind not in sent  # one message per kind
        sent[kind] = sorted(args[0])
    return sent


@pytest.mark.integration
def test_an_approval_and_the_sweeper_hand_rows_to_the_broker_one_message_per_kind(
    submitted, alarm, client_config, staff, own_redis, django_capture_on_commit_callbacks
):
    import redis

    # Two systems in use: the approval queues two grants and two client updates.
    second = VendorSystem.objects.create(vendor=alarm.vendor, name="Sensorsystem", kind="vft")
    SupportedService.objects.create(system=second, service=submitted.service, environment="test")
    VendorAssignment.objects.create(
        organisation=submitted.organisation, system=second, environment="test", created_by=UserFactory()
    )
    helseid.client_create(system=second, environment="test", tenancy="multi-tenant", tenant=None, by=UserFactory())
    ProvisioningTask.objects.filter(state="pending").update(state="succeeded")  # the clients' own set-up
    broker = redis.Redis.from_url(own_redis.url)

    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order=submitted, by=staff)

    rows = ProvisioningTask.objects.filter(order=submitted)
    expected = {
        kind: sorted(rows.filter(kind=kind).values_list("pk", flat=True))
        for kind in rows.values_list("kind", flat=True)
    }
    assert sorted(map(len, expected.values())) == [2, 2]
    assert messages_by_kind(broker) == expected
    # Their messages lost: the sweeper sends them again, the same way.
    broker.delete("portal")
    rows.update(dispatched_at=None)
    assert provisioning.requeue_stale() == 4
    assert messages_by_kind(broker) == expected


def test_a_row_that_raises_does_not_keep_the_others_in_its_message_from_running(submitted, client_config, staff):
    from orders.tasks import run_provisioning_tasks

    services.order_approve(order=submitted, by=staff)  # its rows wait: nothing ran them after commit
    grant = ProvisioningTask.objects.get(order=submitted, kind="vkp.access")
    broken = ProvisioningTask.objects.create(
        kind="helseid.client", reason="keys_changed", target="helseid:gone", payload={}
    )

    result = run_provisioning_tasks.apply(args=[[broken.pk, grant.pk]], throw=False)

    assert isinstance(result.result, HelseIdClient.DoesNotExist)  # the message fails, with the first error
    assert (refreshed(grant).state, refreshed(grant).attempts) == ("succeeded", 1)
    assert refreshed(broken).state == "pending"  # its run rolled back: it waits for the sweeper and staff


# What a client should hold, at any size ------------------------------------------------------------


def add_tenants(system, count: int) -> None:
    """`count` more municipalities using the system in test, each with an active Journaling order."""
    from members.models import Organisation

    organisations = Organisation.objects.bulk_create(OrganisationFactory.build_batch(count))
    creator = UserFactory()
    VendorAssignment.objects.bulk_create(
        VendorAssignment(organisation=organisation, system=system, environment="test", created_by=creator)
        for organisation in organisations
    )
    journaling = Service.objects.get(code="vkp-journaling")
    Order.objects.bulk_create(
        Order(organisation=organisation, service=journaling, environment="test", state="active", created_by=creator)
        for organisation in organisations
    )


@pytest.mark.parametrize("tenants", [5, 500])
def test_a_clients_tenants_take_the_same_few_queries_for_5_and_500_tenants(
    tenants, client_config, django_assert_num_queries
):
    add_tenants(client_config.system, tenants)
    client = HelseIdClient.objects.select_related("system", "system__vendor", "tenant").get(pk=client_config.pk)

    with django_assert_num_queries(4):  # keys, tenants, their orders, the services' scopes
        desired = provisioning.desired_client(client)

    assert len(desired.tenants) == tenants + 1  # and Nordvik, with no order yet
    assert desired.tenants["313231593"] == []
    assert sorted({tuple(scopes) for scopes in desired.tenants.values()}) == [(), ("nhn:jft/api",)]


# Reconciliation -------------------------------------------------------------------------------------


def test_reconciliation_repairs_drift_and_records_it(submitted, client_config, staff, simulator):
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    client_path = f"/helseid/clients/{client_config.client_id}/tenants"
    simulator.http.put(client_path, json={"tenants": []}, headers={"Idempotency-Key": "someone-by-hand"})
    simulator.http.put(
        f"/vkp/grants/test/313231593/vkp-journaling/{client_config.system.public_id}",
        json={"access": ["read", "write"]},
        headers={"Idempotency-Key": "widened-by-hand"},
    )

    drift = provisioning.reconcile()
    run_outbox()

    assert {entry["target"].split(":")[0] for entry in drift} == {"vkp", "helseid"}
    assert simulator.grants()[0]["access"] == ["write"]
    assert simulator.client(client_config.client_id)["tenants"] == [
        {"organizationNumber": "313231593", "scopes": ["nhn:jft/api"]}
    ]
    event = AuditEvent.objects.get(action="provisioning.drift_repaired")
    assert len(event.after["differences"]) == 2
    assert provisioning.reconcile() == []  # nothing left to repair


def test_reconciliation_leaves_targets_with_work_under_way_alone(submitted, client_config, staff, simulator):
    services.order_approve(order=submitted, by=staff)  # tasks pending, not yet run
    assert provisioning.reconcile() == []


def test_an_unknown_grant_in_the_registry_is_left_for_a_person(simulator, caplog):
    simulator.http.put(
        "/vkp/grants/test/313231593/vkp-journaling/not-a-system", json={"access": ["read"]},
        headers={"Idempotency-Key": "mystery"},
    )  # fmt: skip
    assert provisioning.reconcile() == []
    assert "unknown grant" in caplog.text
    assert len(simulator.grants()) == 1


# Transport details ----------------------------------------------------------------------------------


def test_the_same_change_has_the_same_idempotency_key_and_another_change_another():
    first = idempotency_key("task-1", "PUT", "/vkp/grants/x", {"access": ["read"]})
    assert first == idempotency_key("task-1", "PUT", "/vkp/grants/x", {"access": ["read"]})
    assert first != idempotency_key("task-1", "PUT", "/vkp/grants/x", {"access": ["read", "write"]})
    assert first != idempotency_key("task-2", "PUT", "/vkp/grants/x", {"access": ["read"]})


@given(attempt=st.integers(min_value=1, max_value=40))
def test_backoff_grows_exponentially_with_jitter_and_a_cap(attempt):
    delay = backoff_delay(attempt, base=2, cap=300)
    full = min(300, 2 * 2 ** (attempt - 1))
    assert full / 2 <= delay <= full


def test_every_task_in_a_process_shares_one_http_client_and_a_forked_pool_process_makes_its_own(
    submitted, client_config, staff, simulator, monkeypatch
):
    import httpx
    from celery.signals import worker_process_init, worker_process_shutdown

    from portal import clients

    made, used = [], []

    class CountingClient(httpx.Client):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

        def request(self, *args, **kwargs):
            used.append(self)
            return super().request(*args, **kwargs)

    monkeypatch.setattr(clients.httpx, "Client", CountingClient)
    clients.forget_shared_http_client()
    services.order_approve(order=submitted, by=staff)
    first, second = ProvisioningTask.objects.filter(order=submitted).order_by("pk")

    provisioning.task_run(first.pk)
    provisioning.task_run(second.pk)
    assert len(made) == 1 and set(used) == {made[0]}  # the client task made three calls, the grant one

    worker_process_init.send(sender=None)  # as in a new pool process after fork
    provisioning.queue_for_client(client_config, reason=ProvisioningTask.Reason.KEYS_CHANGED)
    run_outbox()
    assert len(made) == 2 and used[-1] is made[1]
    assert not made[0].is_closed  # the parent's sockets are left alone

    worker_process_shutdown.send(sender=None, pid=0, exitcode=0)
    assert made[1].is_closed


def test_the_simulator_requires_an_idempotency_key_and_refuses_a_reused_one(simulator):
    path = "/vkp/grants/test/313231593/vkp-journaling/sys"
    assert simulator.http.put(path, json={"access": ["read"]}).status_code == 400
    assert simulator.http.put(path, json={"access": ["read"]}, headers={"Idempotency-Key": "k"}).status_code == 201
    replay = simulator.http.put(path, json={"access": ["read"]}, headers={"Idempotency-Key": "k"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert simulator.http.put(path, json={"access": ["write"]}, headers={"Idempotency-Key": "k"}).status_code == 422


def test_e_mail_through_the_mail_api_is_sent_once_however_often_the_task_runs(simulator, settings):
    from portal.email import send_email_now

    settings.EMAIL_BACKEND = "portal.clients.HttpEmailBackend"
    context = {"organisation": "Nordvik", "system": "Trygghetsalarm", "environment": "test", "ended": False}
    for _ in range(2):
        send_email_now("members/email/assignment_changed", context, ["drift@alarmhuset.example"], message_key="m-1")
    messages = simulator.http.get("/mail/messages").json()["messages"]
    assert len(messages) == 1
    assert messages[0]["to"] == ["drift@alarmhuset.example"]


# Pages ----------------------------------------------------------------------------------------------


def test_the_failures_queue_shows_the_error_and_staff_retry_from_it(
    client, submitted, client_config, staff, simulator, django_assert_max_num_queries
):
    simulator.fault(match="PUT /vkp/grants", status=400, message="System not known", times=1)
    services.order_approve(order=submitted, by=staff)
    run_outbox()
    client.force_login(staff)
    with django_assert_max_num_queries(8):
        page = client.get(reverse("staff_provisioning_failures"))
    assert "System not known" in page.content.decode()

    task = ProvisioningTask.objects.get(state="failed")
    response = client.post(
        reverse("staff_task_decide", args=[task.public_id, "prov-igjen"]), {"from": "queue"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert refreshed(task).state == "pending"
    assert refreshed(submitted).state == "provisioning"


def test_the_failures_queue_shows_a_failed_client_step_that_names_no_organisation(client, client_config, staff):
    # A HelseID client step belongs to a vendor's client, not to one organisation: no order, no org_number.
    ProvisioningTask.objects.create(
        kind=ProvisioningTask.Kind.HELSEID_CLIENT,
        reason=ProvisioningTask.Reason.KEYS_CHANGED,
        target=f"helseid:{client_config.client_id}",
        payload={"client_id": str(client_config.client_id)},
        client=client_config,
        state=ProvisioningTask.State.FAILED,
        last_error="HelseID answered 502",
    )
    client.force_login(staff)
    response = client.get(reverse("staff_provisioning_failures"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "HelseID answered 502" in page
    assert reverse("client_detail", args=[client_config.public_id]) in page


def test_the_failures_queue_is_for_nhn_staff_only(client, admin, submitted, client_config, staff):
    services.order_approve(order=submitted, by=staff)
    task = ProvisioningTask.objects.filter(order=submitted).first()
    client.force_login(admin)
    assert client.get(reverse("staff_provisioning_failures")).status_code == 403
    assert (
        client.post(reverse("staff_task_decide", args=[task.public_id, "avbryt"]), {"reason": "x"}).status_code == 403
    )
    assert refreshed(task).state == "pending"


def test_the_order_page_shows_each_step_and_polls_while_work_is_under_way(
    client, nordvik, admin, submitted, client_config, staff
):
    from members.models import Affiliation

    Affiliation.objects.create(user=admin, organisation=nordvik, role="admin")
    services.order_approve(order=submitted, by=staff)
    client.force_login(admin)
    page = client.get(reverse("order_detail", args=[submitted.public_id]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert "Trygghetsalarm for Testkommune Nordvik" in page

    run_outbox()
    page = client.get(reverse("order_detail", args=[submitted.public_id]), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in page
    assert page.count("Utført") == 2  # the page is in bokmål: both steps done


def test_the_vendor_tenant_list_shows_its_own_steps_live(
    client, submitted, client_config, staff, django_assert_max_num_queries
):
    from members.models import Affiliation

    vendor = client_config.system.vendor
    vendor_user = UserFactory()
    Affiliation.objects.create(user=vendor_user, organisation=vendor, role="vendor_user")
    other_system = VendorSystem.objects.create(vendor=VendorFactory(), name="Annen leverandørs EPJ", kind="epj")
    SupportedService.objects.create(system=other_system, service=submitted.service, environment="test")
    VendorAssignment.objects.create(organisation=submitted.organisation, system=other_system, environment="test",
                                    created_by=UserFactory())  # fmt: skip
    services.order_approve(order=submitted, by=staff)
    client.force_login(vendor_user)

    page = client.get(reverse("vendor_dashboard", args=[vendor.org_number])).content.decode()
    number = submitted.organisation.org_number
    poll = reverse("vendor_tenant_status", args=[vendor.org_number]) + f"?org={number}"
    assert f'hx-get="{poll}" hx-trigger="every 3s"' in page  # the page asks again for the changing row only
    with django_assert_max_num_queries(15):
        part = client.get(poll, HTTP_HX_REQUEST="true").content.decode()
    assert f'<tr id="tenant-{number}" hx-swap-oob="true">' in part
    assert 'hx-trigger="every 3s"' in part
    assert "Trygghetsalarm for Testkommune Nordvik" in part
    assert "Annen leverandørs EPJ" not in part  # another vendor's step is not this vendor's business
    run_outbox()
    part = client.get(poll, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in part  # done: the last answer stops the poll
    assert f'<tr id="tenant-{number}" hx-swap-oob="true">' in part  # and shows the row as it ended
    assert "every 3s" not in client.get(reverse("vendor_dashboard", args=[vendor.org_number])).content.decode()


def test_a_client_is_disabled_by_its_vendor_only(client, client_config):
    outsider = UserFactory()
    client.force_login(outsider)
    assert client.post(reverse("client_disable", args=[client_config.public_id])).status_code == 404
    assert refreshed(client_config).state != HelseIdClient.State.DISABLED
